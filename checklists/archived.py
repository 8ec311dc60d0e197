"""The input rules (validation.py) applied to checklist records read from a backup. A module of its own because it
needs both the rules and the text format, which builds on them."""

from core.exceptions import ValidationFailed

from .textformat import parse
from .validation import (
    BUILTIN_STATUSES,
    STATUS_KEY,
    clean_color,
    clean_item_fields,
    clean_status_key,
    clean_status_name,
    clean_template_name,
)


def check_archived_record(label: str, fields: dict) -> None:
    """The same rules for a checklist item or template read from a backup (core/backup.py): an archive is data from
    outside this process, and a restore must not store what the API would refuse."""
    if label == "checklists.checklistitem":
        item = {name: fields.get(name) for name in ("text", "assignee_account_id")}
        # Every field the rules know, and the header rule, as far as the archive's version of the model has them.
        item.update(
            (name, fields[name])
            for name in ("status", "mandatory", "due_date", "is_header", "customer_visible")
            if name in fields
        )
        clean_item_fields(item, partial=False, statuses=_ArchivedStatus())
    elif label == "checklists.template":
        clean_template_name(fields.get("name"))
        if not isinstance(fields.get("text"), str):
            raise ValidationFailed({"text": "must be a string"})
        parse(fields["text"], _AnyStatus())
    elif label == "checklists.sitestatus":
        clean_status_key(fields.get("key"))
        clean_status_name(fields.get("name"))
        clean_color(fields.get("color"))


class _AnyStatus:
    """A template in an archive may name the site's own statuses, restored beside it: any well-formed key passes
    (the box grammar of the text format already limits it to one)."""

    def __contains__(self, key) -> bool:
        return isinstance(key, str)


class _ArchivedStatus:
    """An item in an archive may carry one of its site's own statuses, restored beside it: a built-in status or any
    well-formed status key passes."""

    def __contains__(self, key) -> bool:
        return isinstance(key, str) and (key in BUILTIN_STATUSES or STATUS_KEY.fullmatch(key) is not None)
