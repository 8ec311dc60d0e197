"""The record of purged sites, kept in the audit log (staff.AuditEntry).

A purge erases a site for good, but a backup taken before it still holds the site: a restore of that archive would
bring the site back (installed, as the archive had it, with its checklists and its customers' contacts), and nothing
would purge it again (the expiry purge only takes uninstalled sites). So every purge leaves an audit entry naming the
site's id, written in the purge's own transaction, and a restore leaves out every site it names. The audit log is the
ledger because it is append-only, also across restores (a restore never removes an entry and adds the archive's
missing ones), and it is in every backup."""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q

from staff.models import AuditAction, AuditEntry

TENANT_LABEL = "tenants.tenant"
SYSTEM_ACTOR_ID = "system"
# Before purges recorded themselves, only the admin action's own entry named a staff purge (ACTION, this detail),
# written whether or not the purge went through (the broker down refuses it): such an entry counts for a site with no
# live row, which a refused purge leaves in place.
LEGACY_STAFF_PURGE_DETAIL = "purge_now"


def purge_record(*, tenant_id: str, reason: str, user=None) -> AuditEntry:
    """The durable record of a purge, inside the purge's transaction: it lands with the purge or not at all."""
    return AuditEntry.objects.create(
        actor_id=str(user.pk) if user is not None else SYSTEM_ACTOR_ID,
        actor_username=user.get_username() if user is not None else f"{SYSTEM_ACTOR_ID} ({reason})"[:150],
        action=AuditAction.PURGE,
        detail=reason[:100],
        model=TENANT_LABEL,
        object_ids=[str(tenant_id)],
        object_count=1,
    )


def purged_tenant_ids(tenant_ids: Iterable[str], *, live: Iterable[str] = ()) -> set[str]:
    """Which of these site ids the audit log records as purged. `live`: the ids of sites with a live row, for which an
    entry of the old staff action does not count (its purge was refused)."""
    wanted = {str(pk) for pk in tenant_ids}
    if not wanted:
        return set()
    live_ids = {str(pk) for pk in live}
    entries = AuditEntry.objects.filter(
        Q(action=AuditAction.PURGE) | Q(action=AuditAction.ACTION, detail=LEGACY_STAFF_PURGE_DETAIL), model=TENANT_LABEL
    )
    purged = set()
    for action, object_ids in entries.values_list("action", "object_ids"):
        for pk in object_ids if isinstance(object_ids, list) else ():
            if str(pk) in wanted and (action == AuditAction.PURGE or str(pk) not in live_ids):
                purged.add(str(pk))
    return purged


def purged_at(tenant_id: str) -> datetime | None:
    """When the site's purge was recorded (its entry is written last in the purge's transaction, just before the
    commit), or None when no purge of it is recorded."""
    wanted = str(tenant_id)
    entries = AuditEntry.objects.filter(action=AuditAction.PURGE, model=TENANT_LABEL).order_by("-created_at")
    for object_ids, created_at in entries.values_list("object_ids", "created_at"):
        if isinstance(object_ids, list) and wanted in (str(pk) for pk in object_ids):
            return created_at
    return None
