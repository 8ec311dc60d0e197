"""The record of purged sites, kept in the audit log (staff.AuditEntry).

A purge erases a site for good, but a backup taken before it still holds the site: a restore of that archive would
bring the site back (installed, as the archive had it, with its checklists and its customers' contacts), and nothing
would purge it again (the expiry purge only takes uninstalled sites). So every purge leaves an audit entry naming the
site's id, written in the purge's own transaction, and a restore leaves out every site it names. The audit log is the
ledger because it is append-only, also across restores (a restore never removes an entry and adds the archive's
missing ones), and it is in every backup.

The audit log alone is not enough: a restore into an empty database (a new host after losing the old one) has no
log to read, and the archive restored, taken before the purge, does not hold the purge's entry. So the ledger is
also kept beside the backups, in the backups storage: one small file per purged site, named by its id, in
LEDGER_FOLDER (the archive listing and the retention look at the storage's top level only, so it is never pruned).
Written after the purge commits (before, a purge rolled back would leave a file naming a live site, which a restore
would then erase), and made whole from the audit log by every backup run (a write that failed after the commit: the
storage down). A restore reads both."""

import contextlib
import json
import logging
import os
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db.models import Q

from core.db import on_commit
from staff.models import AuditAction, AuditEntry

from .models import Tenant

logger = logging.getLogger(__name__)

TENANT_LABEL = "tenants.tenant"
SYSTEM_ACTOR_ID = "system"
# Before purges recorded themselves, only the admin action's own entry named a staff purge (ACTION, this detail),
# written whether or not the purge went through (the broker down refuses it): such an entry counts for a site with no
# live row, which a refused purge leaves in place.
LEGACY_STAFF_PURGE_DETAIL = "purge_now"
# In the backups storage: LEDGER_FOLDER/<site id>LEDGER_SUFFIX per purged site. Only the id: no clientKey, no URL.
LEDGER_FOLDER = "purged-sites"
LEDGER_SUFFIX = ".purged"


def purge_record(*, tenant_id: str, reason: str, user=None) -> AuditEntry:
    """The durable record of a purge, inside the purge's transaction: it lands with the purge or not at all. The copy
    beside the backups follows once the purge has committed."""
    on_commit(lambda: purge_ledger_file_add([tenant_id]))
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


def _ledger_storage():
    return storages["backups"]


def _site_id(name: str) -> str | None:
    """The site id a ledger file names, or None for anything else in the folder. Two writers of the same site may
    leave a second file, which the storage names "<id>_<random>.purged": the same id."""
    if not name.endswith(LEDGER_SUFFIX):
        return None
    try:
        return str(uuid.UUID(name[:36]))
    except ValueError:
        return None


def purge_ledger_file_add(tenant_ids: Iterable[str], *, present: set[str] | None = None) -> int:
    """Write the ledger file of each of these purged sites that has none yet; returns how many were written.
    `present`: the ids the ledger already names, when the caller has listed it (else each file is looked for)."""
    storage = _ledger_storage()
    written = 0
    for tenant_id in sorted({str(uuid.UUID(str(pk))) for pk in tenant_ids}):
        name = f"{LEDGER_FOLDER}/{tenant_id}{LEDGER_SUFFIX}"
        if (tenant_id in present) if present is not None else storage.exists(name):
            continue
        folder = _local_folder(storage)
        if folder is not None:
            os.makedirs(folder, mode=0o700, exist_ok=True)  # as the backups' own folder: its owner's alone
        record = {"tenant_id": tenant_id, "recorded_at": datetime.now(UTC).isoformat()}
        storage.save(name, ContentFile(json.dumps(record).encode()))
        written += 1
    if written:
        logger.info("purge ledger written beside the backups", extra={"count": written})
    return written


def _local_folder(storage) -> str | None:
    try:
        return storage.path(LEDGER_FOLDER)
    except NotImplementedError:  # a bucket: no folders to make
        return None


def purge_ledger_file_ids(*, beside: str | None = None) -> set[str]:
    """The site ids the ledger beside the backups names: the backups storage's, and when `beside` names an archive
    file outside it (copied to a new host), the ledger folder next to that file too. No folder: none purged yet.
    Any other failure to read it goes up: a restore that cannot read the ledger must not go on without it."""
    names: list[str] = []
    with contextlib.suppress(FileNotFoundError):
        names += _ledger_storage().listdir(LEDGER_FOLDER)[1]
    if beside is not None:
        folder = os.path.join(os.path.dirname(os.path.abspath(beside)), LEDGER_FOLDER)
        if os.path.isdir(folder):
            names += os.listdir(folder)
    return {pk for pk in map(_site_id, names) if pk is not None}


def purge_ledger_file_sync() -> int:
    """Make the ledger beside the backups whole from the audit log (a purge whose file could not be written after
    its commit); run by every backup. Returns how many files were written."""
    entries = AuditEntry.objects.filter(
        Q(action=AuditAction.PURGE) | Q(action=AuditAction.ACTION, detail=LEGACY_STAFF_PURGE_DETAIL), model=TENANT_LABEL
    )
    named = set()
    for object_ids in entries.values_list("object_ids", flat=True):
        for pk in object_ids if isinstance(object_ids, list) else ():
            try:
                named.add(str(uuid.UUID(str(pk))))
            except ValueError:
                continue
    live = Tenant._base_manager.filter(pk__in=named).values_list("pk", flat=True)
    return purge_ledger_file_add(purged_tenant_ids(named, live=live), present=purge_ledger_file_ids())
