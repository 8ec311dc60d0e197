"""Adding items from text to a checklist (Jira Automation, scripts, MCP): one write, like applying a template."""

from core import context
from core.exceptions import ValidationFailed
from tenants.models import Tenant
from tenants.types import IssueRef

from .. import textformat
from ..models import MAX_ITEMS, Checklist, ChecklistItem
from ..statuses import SiteStatuses
from .items import _sync_entries
from .writes import ITEM_FIELDS, Actor, _Change, _checklist_write


def checklist_append_text(*, tenant: Tenant, issue: IssueRef, actor: Actor, text: str) -> Checklist | None:
    """Append the items of `text` (the text format; a plain line is a to-do item) after the existing ones, in one
    write; existing items keep their ids. The text passes the one rule set (textformat.parse -> validation)."""
    if not isinstance(text, str):
        raise ValidationFailed({"text": "must be text in the checklist text format"})
    entries = textformat.parse(text, SiteStatuses(tenant))
    if not entries:
        raise ValidationFailed({"text": "must hold at least one item"})
    context.mark_sensitive(*(e.text for e in entries))

    def mutate(checklist: Checklist, items: list[ChecklistItem]) -> list[_Change]:
        if len(items) + len(entries) > MAX_ITEMS:
            raise ValidationFailed({"items": f"cannot exceed {MAX_ITEMS} in one checklist"})
        current = [textformat.Entry(**{n: getattr(i, n) for n in ITEM_FIELDS}) for i in items]
        return _sync_entries(checklist, items, current + entries, actor)

    return _checklist_write(tenant=tenant, issue=issue, actor=actor, expected_version=None, mutate=mutate)
