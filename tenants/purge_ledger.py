"""The record of purged sites, kept in the audit log (staff.AuditEntry).

A purge erases a site for good, but a backup taken before it still holds the site: a restore of that archive would
bring the site back (installed, as the archive had it, with its checklists and its customers' contacts), and nothing
would purge it again (the expiry purge only takes uninstalled sites). So every purge leaves an audit entry naming the
site's id, written in the purge's own transaction, and a restore leaves out every site it names. The audit log is the
ledger because it is append-only, also across restores (a restore never removes an entry and adds the archive's
missing ones), and it is in every backup.

The audit log alone is not enough: a restore into an empty database (a new host after losing the old one) has no
log to read, and the archive restored, taken before the purge, does not hold the purge's entries. So every purge
entry (the site's, and each license purged with it: contacts.services) is also kept beside the backups, in
LEDGER_FOLDER of the backups storage: one small file per entry, the entry as a backup holds it (ids and keyed hashes
only, no customer data). The archive listing and the retention look at the storage's top level only, so it is never
pruned. Written after the purge commits (before, a purge rolled back would leave an entry naming a live site, which a
restore would then erase), and made whole from the audit log by every backup run (a write that failed after the
commit: the storage down). A restore adds the entries its audit log lacks, as it adds an archive's: the log is whole
again, for the restore itself (the sites it leaves out) and after it (a license purged with its site stays out of the
next Marketplace report)."""

import contextlib
import json
import logging
import os
import uuid
from collections.abc import Iterable
from datetime import datetime

from django.core import serializers
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.serializers.json import DjangoJSONEncoder
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
# In the backups storage: LEDGER_FOLDER/<entry id>LEDGER_SUFFIX per purge entry.
LEDGER_FOLDER = "purge-ledger"
LEDGER_SUFFIX = ".json"
AUDIT_LABEL = "staff.auditentry"


def purge_record(*, tenant_id: str, reason: str, user=None) -> AuditEntry:
    """The durable record of a purge, inside the purge's transaction: it lands with the purge or not at all. The copy
    beside the backups follows once the purge has committed."""
    entry = AuditEntry.objects.create(
        actor_id=str(user.pk) if user is not None else SYSTEM_ACTOR_ID,
        actor_username=user.get_username() if user is not None else f"{SYSTEM_ACTOR_ID} ({reason})"[:150],
        action=AuditAction.PURGE,
        detail=reason[:100],
        model=TENANT_LABEL,
        object_ids=[str(tenant_id)],
        object_count=1,
    )
    purge_entry_keep(entry)
    return entry


def purge_entry_keep(entry: AuditEntry) -> None:
    """The copy of a purge's entry beside the backups, written once the purge's transaction has committed."""
    on_commit(lambda: purge_ledger_write([entry]))


def purged_tenant_ids(
    tenant_ids: Iterable[str],
    *,
    live: Iterable[str] = (),
    archive_entries: Iterable[str] = (),
    archive_sites: Iterable[str] = (),
) -> set[str]:
    """Which of these site ids the audit log records as purged. `live`: the ids of sites with a live row, for which an
    entry of the old staff action does not count (its purge was refused). Such an entry that a restored archive holds
    (`archive_entries`, by id) is judged by that archive's sites instead (`archive_sites`): the archive, taken after
    the action, still holding the site says the purge was refused, whatever the database held before the restore (an
    empty one holds nothing)."""
    wanted = {str(pk) for pk in tenant_ids}
    if not wanted:
        return set()
    live_ids = {str(pk) for pk in live}
    in_archive = {str(pk) for pk in archive_entries}
    archived = {str(pk) for pk in archive_sites}
    entries = AuditEntry.objects.filter(
        Q(action=AuditAction.PURGE) | Q(action=AuditAction.ACTION, detail=LEGACY_STAFF_PURGE_DETAIL), model=TENANT_LABEL
    )
    purged = set()
    for entry_id, action, object_ids in entries.values_list("pk", "action", "object_ids"):
        standing = archived if str(entry_id) in in_archive else live_ids
        for pk in object_ids if isinstance(object_ids, list) else ():
            if str(pk) in wanted and (action == AuditAction.PURGE or str(pk) not in standing):
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


def _ledger_storage():
    return storages["backups"]


def _record(entry: AuditEntry) -> dict:
    """The entry as a backup holds it, without where the staff member was (address, page): the ledger is kept for
    good, and the purge is what it is for."""
    record = serializers.serialize("python", [entry])[0]
    record["fields"].update(ip_address="", path="")
    return record


def purge_ledger_write(entries: Iterable[AuditEntry], *, present: set[str] | None = None) -> int:
    """Write the ledger file of each of these purge entries that has none yet; returns how many were written.
    `present`: the entry ids the ledger already holds, when the caller has listed it (else each file is looked for)."""
    storage = _ledger_storage()
    written = 0
    for entry in entries:
        name = f"{LEDGER_FOLDER}/{entry.pk}{LEDGER_SUFFIX}"
        if (str(entry.pk) in present) if present is not None else storage.exists(name):
            continue
        folder = _local_folder(storage)
        if folder is not None:
            os.makedirs(folder, mode=0o700, exist_ok=True)  # as the backups' own folder: its owner's alone
        storage.save(name, ContentFile(json.dumps(_record(entry), cls=DjangoJSONEncoder).encode()))
        written += 1
    if written:
        logger.info("purge ledger written beside the backups", extra={"count": written})
    return written


def _local_folder(storage) -> str | None:
    try:
        return storage.path(LEDGER_FOLDER)
    except NotImplementedError:  # a bucket: no folders to make
        return None


def _ledger_names(storage_names: list[str]) -> list[str]:
    return [n for n in storage_names if n.endswith(LEDGER_SUFFIX) and not n.startswith(".")]


def purge_ledger_read(*, beside: str | None = None) -> list[dict]:
    """The purge entries kept beside the backups, as backup records: the backups storage's, and when `beside` names
    an archive file outside it (copied to a new host), those of the ledger folder next to that file too. No folder:
    nothing purged yet. A file that cannot be read, or is not a purge entry, raises (OSError, ValueError): a restore
    must not go on without the ledger. Each entry once, by its id: the folder beside an archive named by its path in
    the backups folder is the storage's own, and two writers of one entry leave two files of it; an entry twice was
    added to the audit log twice (a duplicate key, the restore refused)."""
    records: dict[str, dict] = {}
    storage = _ledger_storage()
    names: list[str] = []
    with contextlib.suppress(FileNotFoundError):
        names = _ledger_names(storage.listdir(LEDGER_FOLDER)[1])
    for name in names:
        with storage.open(f"{LEDGER_FOLDER}/{name}", "rb") as src:
            _add(records, _checked(src.read(), name))
    if beside is not None:
        folder = os.path.join(os.path.dirname(os.path.abspath(beside)), LEDGER_FOLDER)
        if os.path.isdir(folder):
            for name in _ledger_names(os.listdir(folder)):
                with open(os.path.join(folder, name), "rb") as src:
                    _add(records, _checked(src.read(), name))
    return list(records.values())


def _add(records: dict[str, dict], record: dict) -> None:
    records.setdefault(str(record["pk"]), record)


def _checked(data: bytes, name: str) -> dict:
    try:
        record = json.loads(data)
    except ValueError:
        raise ValueError(f"{LEDGER_FOLDER}/{name} is not JSON") from None
    if not isinstance(record, dict):
        raise ValueError(f"{LEDGER_FOLDER}/{name} is not a purge entry")
    fields = record.get("fields")
    if (
        record.get("model") != AUDIT_LABEL
        or not isinstance(fields, dict)
        or fields.get("action") not in (AuditAction.PURGE, AuditAction.ACTION)
        # Named by its id (two writers of one entry: the storage names the second "<id>_<random>.json").
        or not name.startswith(str(record.get("pk")))
    ):
        raise ValueError(f"{LEDGER_FOLDER}/{name} is not a purge entry")
    return record


def purged_site_ids_in(records: list[dict]) -> set[str]:
    """The sites these ledger records name as purged (a purge's own entry: the old staff action's needs the live rows,
    purged_tenant_ids, once the records are in the audit log)."""
    return {
        str(pk)
        for record in records
        if record["fields"].get("action") == AuditAction.PURGE and record["fields"].get("model") == TENANT_LABEL
        for pk in (record["fields"].get("object_ids") or [])
    }


def purge_ledger_sync() -> int:
    """Make the ledger beside the backups whole from the audit log (a purge whose files could not be written after
    its commit); run by every backup. Every purge entry, and the old staff action's entries of sites with no live
    row. Returns how many files were written."""
    entries = list(
        AuditEntry.objects.filter(
            Q(action=AuditAction.PURGE)
            | Q(action=AuditAction.ACTION, detail=LEGACY_STAFF_PURGE_DETAIL, model=TENANT_LABEL)
        )
    )
    legacy = [e for e in entries if e.action == AuditAction.ACTION]
    named = {str(pk) for e in legacy for pk in (e.object_ids if isinstance(e.object_ids, list) else ())}
    live = {str(pk) for pk in Tenant._base_manager.filter(pk__in=_uuids(named)).values_list("pk", flat=True)}
    kept = [
        e
        for e in entries
        if e.action == AuditAction.PURGE
        or not {str(pk) for pk in (e.object_ids if isinstance(e.object_ids, list) else ())} & live
    ]
    present: set[str] = set()
    with contextlib.suppress(FileNotFoundError):
        present = {n.removesuffix(LEDGER_SUFFIX) for n in _ledger_names(_ledger_storage().listdir(LEDGER_FOLDER)[1])}
    return purge_ledger_write(kept, present=present)


def _uuids(values: Iterable[str]) -> list[str]:
    found = []
    for value in values:
        with contextlib.suppress(ValueError):
            found.append(str(uuid.UUID(value)))
    return found
