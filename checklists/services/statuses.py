"""The site's own statuses: create, change and remove them. Changing whether one counts as done recounts every
checklist that uses it; removing one in use moves its items (and the template lines that name it) to another status
in the same transaction, with a history entry per item, so no item is ever left with a status nobody defined."""

import functools
import re
import unicodedata
import uuid
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from core.db import atomic, on_commit
from core.exceptions import Conflict, ValidationFailed
from tenants.models import Tenant

from .. import textformat
from ..models import (
    MAX_SITE_STATUSES,
    MAX_STATUS_KEY,
    ChangeAction,
    Checklist,
    ChecklistChange,
    ChecklistItem,
    SiteStatus,
    Template,
)
from ..progress import progress_counts
from ..statuses import SiteStatuses, panel_statuses_forget
from ..tasks import schedule_progress_sync
from ..validation import (
    STATUS_KEY,
    clean_bool,
    clean_color,
    clean_status,
    clean_status_key,
    clean_status_name,
)
from .writes import Actor

DEFAULT_COLOR = "#8590a2"


def _key_from_name(name: str) -> str:
    """ "In review" -> "in_review": the key an admin gets when they give none."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    key = re.sub(r"[^a-z0-9]+", "_", ascii_name).strip("_")[:MAX_STATUS_KEY].rstrip("_")
    if not STATUS_KEY.fullmatch(key):
        raise ValidationFailed({"key": "cannot be made from this name; give one (lowercase letters, digits, _)"})
    return key


def _clean(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    checks = {"name": clean_status_name, "color": clean_color, "key": clean_status_key}
    for name, check in checks.items():
        if name in data and data[name] is not None:
            try:
                cleaned[name] = check(data[name])
            except ValidationFailed as exc:
                errors.update(exc.errors)
        elif name == "name" and not partial:
            errors["name"] = "is required"
    if "counts_as_done" in data:
        try:
            cleaned["counts_as_done"] = clean_bool(data["counts_as_done"], "counts_as_done")
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return cleaned


@atomic
def status_create(*, tenant: Tenant, data: dict[str, Any]) -> SiteStatus:
    on_commit(functools.partial(panel_statuses_forget, tenant.pk))  # each of these writes: the panel's list is stale
    fields = _clean(data, partial=False)
    fields.setdefault("key", _key_from_name(fields["name"]))
    fields.setdefault("color", DEFAULT_COLOR)
    Tenant.objects.hold(tenant.pk)
    existing = list(SiteStatus.objects.filter(tenant=tenant).values_list("key", flat=True))
    if len(existing) >= MAX_SITE_STATUSES:
        raise ValidationFailed({"statuses": f"of a site's own cannot exceed {MAX_SITE_STATUSES}"})
    if fields["key"] in existing:
        raise ValidationFailed({"key": "is taken by another status of this site"})
    return SiteStatus.objects.create(tenant=tenant, position=len(existing), **fields)


def status_update(*, status: SiteStatus, data: dict[str, Any]) -> SiteStatus:
    on_commit(functools.partial(panel_statuses_forget, status.tenant_id))
    """Name, colour and whether it counts as done; the key stays (items and texts hold it)."""
    if "key" in data and data["key"] != status.key:
        raise ValidationFailed({"key": "cannot change; add a new status and remove this one to move its items"})
    fields = _clean({k: v for k, v in data.items() if k != "key"}, partial=True)
    recount = "counts_as_done" in fields and fields["counts_as_done"] != status.counts_as_done
    with atomic():
        for name, value in fields.items():
            setattr(status, name, value)
        status.save()
        if recount:
            checklists_recount(status.tenant_id, _checklists_using(status))
    return status


def _checklists_using(status: SiteStatus) -> list[uuid.UUID]:
    return list(
        ChecklistItem.objects.filter(tenant_id=status.tenant_id, status=status.key)
        .values_list("checklist_id", flat=True)
        .distinct()
    )


def checklists_recount(tenant_id: uuid.UUID, checklist_ids: Iterable[uuid.UUID]) -> None:
    """Progress counts of these checklists under the site's statuses as they are now in this transaction, and their
    Jira property marked behind (property_synced_version 0), so the push, or the sweep, writes the new numbers."""
    complete = SiteStatuses(tenant_id).complete
    for checklist_id in checklist_ids:
        rows = ChecklistItem.objects.filter(checklist_id=checklist_id).values_list("status", "is_header", "mandatory")
        counts = progress_counts(rows, complete)
        Checklist.objects.filter(id=checklist_id).update(**counts, property_synced_version=0, updated_at=timezone.now())
        on_commit(functools.partial(schedule_progress_sync, checklist_id))


def status_delete(*, tenant: Tenant, status: SiteStatus, actor: Actor, move_to: str | None) -> int:
    """Remove a status. Items that have it go to `move_to` (required when there are any: 409 naming how many
    otherwise), each checklist written once with a new version and a history entry per moved item; template lines
    that name it move too. Returns how many items moved."""
    on_commit(functools.partial(panel_statuses_forget, tenant.pk))
    statuses = SiteStatuses(tenant)
    moved: list[uuid.UUID] = []
    with atomic():
        in_use = ChecklistItem.objects.filter(tenant=tenant, status=status.key).count()
        templates = _templates_naming(tenant, status.key, statuses)
        if (in_use or templates) and move_to is None:
            raise Conflict(
                "Items have this status: say where they go (moveTo).",
                status=409,
                inUse=in_use,
                templates=len(templates),
            )
        if move_to is not None:
            clean_status(move_to, statuses, "moveTo")
            if move_to == status.key:
                raise ValidationFailed({"moveTo": "must be another status than the one removed"})
            moved = _move_items(tenant, status.key, move_to, actor)
            for template, entries in templates:
                template.text = textformat.serialize(
                    [_with_status(e, move_to) if e.status == status.key else e for e in entries]
                )
                template.save(update_fields=["text", "updated_at"])
        status.delete()
        # Items that moved to a status counting differently: their checklists' numbers change.
        checklists_recount(tenant.id, moved)
    return in_use


def _templates_naming(
    tenant: Tenant, key: str, statuses: SiteStatuses
) -> list[tuple[Template, list[textformat.Entry]]]:
    """(template, its entries) for each template with a line of this status. The cheap text test first: most
    templates never name it."""
    found = []
    for template in Template.objects.filter(tenant=tenant):
        if f"[{key}]" not in template.text:
            continue
        try:
            entries = textformat.parse(template.text, statuses)
        except ValidationFailed:
            continue  # stored before today's rules; opening it is refused anyway (services/templates.py)
        if any(e.status == key for e in entries):
            found.append((template, entries))
    return found


def _with_status(entry: textformat.Entry, status: str) -> textformat.Entry:
    return textformat.Entry(
        entry.text, status, entry.is_header, entry.mandatory, entry.assignee_account_id, entry.due_date
    )


def _move_items(tenant: Tenant, old: str, new: str, actor: Actor) -> list[uuid.UUID]:
    """Every item of status `old` to `new`, one version bump per checklist; returns the checklists' ids."""
    now = timezone.now()
    by_checklist: dict[uuid.UUID, list[uuid.UUID]] = {}
    for item_id, checklist_id in ChecklistItem.objects.filter(tenant=tenant, status=old).values_list(
        "id", "checklist_id"
    ):
        by_checklist.setdefault(checklist_id, []).append(item_id)
    for checklist in Checklist.objects.filter(tenant=tenant, id__in=list(by_checklist)):
        # The same version bump as every checklist write (services/writes.py): a panel holding the old version
        # gets 412 on its next write instead of overwriting the move.
        bumped = Checklist.objects.filter(id=checklist.id, version=checklist.version).update(
            version=checklist.version + 1, updated_at=now
        )
        if bumped != 1:
            raise Conflict("A checklist changed while its items were moving; please retry.", status=409)
        item_ids = by_checklist[checklist.id]
        ChecklistItem.objects.filter(id__in=item_ids).update(status=new, updated_by=actor.account_id, updated_at=now)
        ChecklistChange.objects.bulk_create(
            ChecklistChange(
                id=uuid.uuid4(),
                tenant=tenant,
                checklist=checklist,
                version=checklist.version + 1,
                action=ChangeAction.ITEM_UPDATED,
                actor_account_id=actor.account_id,
                item_id=item_id,
                source="status",
                changes={"status": {"before": old, "after": new}},
            )
            for item_id in item_ids
        )
    return list(by_checklist)
