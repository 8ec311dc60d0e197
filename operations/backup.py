"""Backups of all application data: one compressed, encrypted, checksummed archive, written and read as a stream so
memory stays flat however large the data grows. The same format on SQLite and MongoDB (Django's JSON lines).

Archive layout:
    MAGIC, header length (4 bytes), header (JSON: format, created_at, key_id, salt, database)
    frames: length (4 bytes) + AES-256-GCM(zlib stream chunk); the nonce is the frame number, and the header's digest,
            the frame number and a "last frame" flag are authenticated with it (no reordering, no cut-off tail)
    a zero length, then the SHA-256 of every byte before it.
The plaintext is JSON lines: one record per line (Django's python serializer as JSON), then {"end": {"counts": ...}}.
"""

import base64
import contextlib
import hashlib
import json
import logging
import os
import secrets
import struct
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from time import monotonic, sleep

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.core.files import File
from django.core.files.storage import storages
from django.core.serializers.base import DeserializationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.serializers.python import Deserializer as PythonDeserializer
from django.db import DatabaseError, connection
from django.db.models import Q
from pymongo.errors import PyMongoError

from checklists.archived import check_archived_record
from checklists.services import checklist_data_delete
from contacts.services import contacts_merge_duplicates
from core.db import CommitUnknown, atomic, chunked, is_write_conflict
from core.exceptions import ValidationFailed
from core.jsonbody import BadJson, loads
from core.middleware import dependency_unavailable
from staff.audit import audit_entry_minimised
from tenants.purge_ledger import (
    LEDGER_FOLDER,
    LEGACY_STAFF_PURGE_DETAIL,
    purge_ledger_read,
    purge_ledger_sync,
    purged_site_ids_in,
    purged_tenant_ids,
)
from tenants.selectors import tenant_cache_forget
from tenants.services import tenant_erase_restored

from . import privacy
from .retention import backups_to_keep

logger = logging.getLogger(__name__)

MAGIC = b"HEROCHECKLIST-BACKUP\n"
FORMAT = 1
FRAME_BYTES = 1 << 20
SUFFIX = ".hcbak"
# An archive being written: hidden (a leading dot) and not ending in SUFFIX, so nothing takes it for an archive.
PARTIAL_PREFIX = "."
PARTIAL_SUFFIX = ".partial"
STALE_PARTIAL_SECONDS = 3600
BATCH = 1000
# No record of ours comes near this (an item's text is bounded, a template's too); a longer line is refused before it
# is held whole.
MAX_LINE_BYTES = 16 << 20
# Parents before children, so a restore inserts in this order and deletes in the reverse one.
MODELS = (
    "tenants.Tenant",
    "checklists.Checklist",
    "checklists.ChecklistItem",
    "checklists.Template",
    "checklists.SiteStatus",
    "checklists.ChecklistChange",
    "contacts.License",
    "contacts.Contact",
    "contacts.ContactLink",
    "contacts.EmailDelivery",
    "contacts.PollCursor",
    "operations.ReportedAccount",
    "staff.AuditEntry",
)
# Models that moved between apps, as older archives name them -> as this release does (the tables kept their names).
LABEL_ALIASES = {"core.reportedaccount": "operations.reportedaccount", "core.auditentry": "staff.auditentry"}
# What `restore --tenant` replaces: the site and everything keyed to it.
TENANT_MODELS = (
    "tenants.Tenant",
    "checklists.Checklist",
    "checklists.ChecklistItem",
    "checklists.Template",
    "checklists.SiteStatus",
    "checklists.ChecklistChange",
)

_LABELS = frozenset(label.lower() for label in MODELS)  # the only models a restore writes
_TENANT_LABELS = frozenset(label.lower() for label in TENANT_MODELS)  # as records name their model
# A site's live credentials and install state: Atlassian's lifecycle owns them, not our backups. A restore keeps
# the live row's values (a reinstall since the backup gave the site a new shared secret; putting the archived one
# back would make every call 401). Only a site with no live row at all (a restore into an empty database) gets the
# archived values, its last known ones.
TENANT_LIVE_FIELDS = (
    "client_key",
    "installation_id",
    "cloud_id",
    "base_url",
    "display_url",
    "entitlement_id",
    "entitlement_number",
    "state",
    "installed_at",
    "install_generation",  # lowered by a restore, tokens of a later install would pass a reinstall after it
    "enabled_at",
    "disabled_at",
    "uninstalled_at",
    "lifecycle_signed_at",
    "shared_secret_encrypted",
    "forge_api_base_url",
    "forge_system_token_encrypted",
    "forge_system_token_expires_at",
)


class ArchiveError(Exception):
    """The archive is damaged, foreign or unreadable; nothing was written."""


class PurgedSiteRefused(ArchiveError):
    """`restore --tenant` named a site the audit log records as purged: a restore never brings a purged site back
    (tenants.purge_ledger). Nothing was written."""


class LedgerUnreadable(ArchiveError):
    """A ledger beside the backups could not be read, of purged sites (tenants.purge_ledger) or of erased accounts
    (operations.privacy): without it a restore could bring a purged site or an erased account back. Nothing was
    written."""


class Restored(dict[str, int]):
    """What a restore wrote, per model (as records name their model), without the purged sites it left out; how many
    those were in `purged_left_out`."""

    purged_left_out: int = 0


# What the restore command and the admin page say about the purged sites a restore left out.
LEFT_OUT = (
    "left out {} purged site(s): the archive predates their purge, which the audit log records; a restore never "
    "brings a purged site back (its data, licenses and contacts were erased again)"
)


class RestoreRefused(Exception):
    """The database refused the restore's writes for a reason of its own, not the archive's: busy (another transaction
    holds the same records: a write, a restore still running, or a killed restore's transaction that MongoDB keeps
    until its transactionLifetimeLimitSeconds, 60 by default), unreachable, or it never confirmed the commit. Nothing
    was written (or, for the commit, the restore may have landed); running the same restore again is safe: it
    replaces the data either way."""


def _keys() -> dict[str, bytes]:
    """key id -> raw key, for every configured backup key (the first one writes)."""
    keys = {}
    for encoded in settings.BACKUP_ENCRYPTION_KEYS:
        raw = base64.urlsafe_b64decode(encoded.encode())
        keys[hashlib.sha256(b"herochecklist-backup-key-id" + raw).hexdigest()[:16]] = raw
    return keys


def _derive(raw: bytes, salt: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"herochecklist-backup-v1").derive(raw)
    return AESGCM(key)


def _nonce(frame: int) -> bytes:
    return frame.to_bytes(12, "big")


def _aad(header_digest: bytes, frame: int, last: bool) -> bytes:
    return header_digest + frame.to_bytes(8, "big") + (b"\x01" if last else b"\x00")


class _Writer:
    """A text stream for the serializer: compresses, cuts into frames, encrypts, hashes, writes."""

    def __init__(self, out):
        self.out = out
        self.hasher = hashlib.sha256()
        key_id, raw = next(iter(_keys().items()))
        salt = os.urandom(16)
        header = json.dumps(
            {
                "format": FORMAT,
                "app": "herochecklist",
                "created_at": datetime.now(UTC).isoformat(),
                "key_id": key_id,
                "salt": base64.b64encode(salt).decode(),
                "database": connection.vendor,
            }
        ).encode()
        self._emit(MAGIC + struct.pack(">I", len(header)) + header)
        self.header_digest = hashlib.sha256(header).digest()
        self.aead = _derive(raw, salt)
        self.compressor = zlib.compressobj(6)
        self.pending = bytearray()
        self.frame = 0

    def _emit(self, data: bytes) -> None:
        self.hasher.update(data)
        self.out.write(data)

    def _frame(self, data: bytes, last: bool) -> None:
        sealed = self.aead.encrypt(_nonce(self.frame), bytes(data), _aad(self.header_digest, self.frame, last))
        self._emit(struct.pack(">I", len(sealed)) + sealed)
        self.frame += 1

    def write(self, text: str) -> None:
        self.pending += self.compressor.compress(text.encode())
        # Keep the tail back: the last frame must be flagged as last, and only close() knows which one that is.
        while len(self.pending) > FRAME_BYTES:
            self._frame(self.pending[:FRAME_BYTES], last=False)
            del self.pending[:FRAME_BYTES]

    def close(self) -> str:
        self.pending += self.compressor.flush()
        self._frame(self.pending, last=True)
        self._emit(struct.pack(">I", 0))
        digest = self.hasher.digest()
        self.out.write(digest)
        return digest.hex()


@dataclass
class BackupResult:
    name: str
    size: int
    sha256: str
    counts: dict[str, int] = field(default_factory=dict)


def backup_storage():
    return storages["backups"]


def archive_name(when: datetime) -> str:
    return f"herochecklist-{when.astimezone(UTC):%Y%m%d-%H%M%S}{SUFFIX}"


class _Encoder(DjangoJSONEncoder):
    """Django's encoder cuts datetimes to milliseconds; a backup keeps every microsecond SQLite stored."""

    def default(self, o):
        if isinstance(o, (datetime, time)):
            return o.isoformat()
        return super().default(o)


def backup_write(out) -> tuple[str, dict[str, int]]:
    """Stream every application record into `out` (a binary file). Returns the checksum and the record counts."""
    writer = _Writer(out)
    serializer = serializers.get_serializer("python")()
    counts = {}
    for label in MODELS:
        counts[label] = 0
        for chunk in chunked(apps.get_model(label)._base_manager.all(), BATCH):
            for record in serializer.serialize(chunk):
                writer.write(json.dumps(record, cls=_Encoder, ensure_ascii=False) + "\n")
            counts[label] += len(chunk)
    writer.write(json.dumps({"end": {"counts": counts}}) + "\n")
    return writer.close(), counts


# An archive on a disk is readable by its owner only, whatever the storage's options say (BACKUP_STORAGE_OPTIONS for
# a folder replaced the default options and their 0o600, and the umask's 0o644 let every local account copy the
# archives), in a folder its first backup makes for its owner alone. Encrypted anyway: this keeps them from being
# copied off the host for an offline attack on the key.
ARCHIVE_MODE = 0o600
FOLDER_MODE = 0o700


def backup_create(*, now: datetime | None = None) -> BackupResult:
    """Write an archive to the backups storage (BACKUP_DIR, or the configured bucket) under a dated name.

    On a folder, the archive is written under a hidden partial name, flushed and synced to the disk, then renamed to
    its dated name (an atomic step): a run that fails mid-write (a full disk) or is killed never leaves a truncated
    archive under a name that backup_list, the retention and a restore take for a backup. Storage.save() wrote straight
    to the final name, and a full disk left the first part of an archive there, which retention counted as a good
    backup (and could keep in place of the last good one). A failed run removes its partial; a killed run's partial
    is removed by the next prune once it is stale.

    First the ledger of purged sites beside the backups is made whole from the audit log (tenants.purge_ledger): a
    purge whose file could not be written then is in it before any archive that lacks the purge could be needed."""
    purge_ledger_sync()
    name = archive_name(now or datetime.now(UTC))
    storage = backup_storage()
    try:
        final = storage.path(name)
    except NotImplementedError:
        return _create_remote(storage, name)
    partial = f"{PARTIAL_PREFIX}{name}.{os.getpid()}-{secrets.token_hex(4)}{PARTIAL_SUFFIX}"
    folder = os.path.dirname(final)
    os.makedirs(folder, mode=FOLDER_MODE, exist_ok=True)
    try:
        with storage.open(partial, "wb") as out:
            # Before any byte: the storage's mode (as save() would set it), never one that lets others read.
            os.chmod(storage.path(partial), (storage.file_permissions_mode or ARCHIVE_MODE) & ARCHIVE_MODE)
            digest, counts = backup_write(out)
            size = out.tell()
            out.flush()
            os.fsync(out.fileno())
        os.replace(storage.path(partial), final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(storage.path(partial))
        raise
    # The rename itself reaches the disk only with the folder's own sync.
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return BackupResult(name=name, size=size, sha256=digest, counts=counts)


def _create_remote(storage, name: str) -> BackupResult:
    """A storage without local paths (S3 and the like): the archive is written to a temporary file first, then
    uploaded. An object store shows an object only once its upload completed (a failed multipart upload is
    aborted), so there is no partial to hide."""
    with tempfile.TemporaryFile() as tmp:
        digest, counts = backup_write(tmp)
        size = tmp.tell()
        tmp.seek(0)
        saved = storage.save(name, File(tmp, name=name))
    return BackupResult(name=saved, size=size, sha256=digest, counts=counts)


def backup_list() -> list[str]:
    """The archives in the storage, oldest first. A partial (hidden, PARTIAL_SUFFIX) is never one of them."""
    _dirs, files = backup_storage().listdir("")
    return sorted(name for name in files if name.startswith("herochecklist-") and name.endswith(SUFFIX))


def _stale_partials_remove(now: datetime) -> list[str]:
    """Partials left by killed runs. A run in progress writes its partial continuously (a frame at least every few
    seconds), so one untouched for STALE_PARTIAL_SECONDS belongs to no run."""
    storage = backup_storage()
    _dirs, files = storage.listdir("")
    stale = [
        name
        for name in files
        if name.startswith(PARTIAL_PREFIX + "herochecklist-")
        and name.endswith(PARTIAL_SUFFIX)
        and (now - storage.get_modified_time(name)).total_seconds() > STALE_PARTIAL_SECONDS
    ]
    for name in stale:
        storage.delete(name)
    return stale


# --- reading ------------------------------------------------------------------------------------------------------


def _read_exact(src, size: int, what: str) -> bytes:
    data = src.read(size)
    if len(data) != size:
        raise ArchiveError(f"damaged archive: it ends inside the {what}")
    return data


def _plaintext_chunks(src) -> Iterator[bytes]:
    """Decrypted, decompressed bytes of the archive, checking everything on the way."""
    hasher = hashlib.sha256()

    def take(size, what):
        data = _read_exact(src, size, what)
        hasher.update(data)
        return data

    if src.read(len(MAGIC)) != MAGIC:
        raise ArchiveError("not a HeroChecklist backup (unknown file signature)")
    hasher.update(MAGIC)
    (header_len,) = struct.unpack(">I", take(4, "header"))
    if header_len > 64 * 1024:
        raise ArchiveError("damaged archive: impossible header length")
    header_bytes = take(header_len, "header")
    try:
        header = loads(header_bytes)  # not yet authenticated: anyone's bytes, nested thousands deep perhaps
        key_id, salt, version = header["key_id"], base64.b64decode(header["salt"]), header["format"]
    except (BadJson, ValueError, KeyError, TypeError) as exc:
        raise ArchiveError("damaged archive: unreadable header") from exc
    if version != FORMAT:
        raise ArchiveError(f"archive format {version} is not supported by this version (expects {FORMAT})")
    raw = _keys().get(key_id)
    if raw is None:
        raise ArchiveError("foreign archive: it was encrypted with a key this deployment does not have")
    aead = _derive(raw, salt)
    header_digest = hashlib.sha256(header_bytes).digest()
    decompressor = zlib.decompressobj()
    frame, saw_last = 0, False
    while True:
        (length,) = struct.unpack(">I", take(4, "frame length"))
        if length == 0:
            break
        if saw_last or length > FRAME_BYTES + 1024:
            raise ArchiveError(f"damaged archive: unexpected data at frame {frame}")
        sealed = take(length, f"frame {frame}")
        for last in (False, True):
            try:
                compressed = aead.decrypt(_nonce(frame), sealed, _aad(header_digest, frame, last))
                saw_last = last
                break
            except InvalidTag:
                continue
        else:
            raise ArchiveError(f"damaged or foreign archive: frame {frame} fails authentication")
        try:
            # Out in bounded pieces: a frame of a few compressed bytes may stand for gigabytes.
            while compressed:
                yield decompressor.decompress(compressed, FRAME_BYTES)
                compressed = decompressor.unconsumed_tail
        except zlib.error as exc:
            raise ArchiveError(f"damaged archive: frame {frame} does not decompress") from exc
        frame += 1
    if not saw_last:
        raise ArchiveError("damaged archive: its last frame is missing")
    if src.read(32) != hasher.digest() or src.read(1):
        raise ArchiveError("damaged archive: the checksum does not match")
    yield decompressor.flush()


def _records(src) -> Iterator[dict]:
    """Every record of the archive, then the end marker's counts are checked against what was read."""
    counts: dict[str, int] = {}
    tail = b""
    end = None
    for chunk in _plaintext_chunks(src):
        lines = (tail + chunk).split(b"\n")
        tail = lines.pop()
        if len(tail) > MAX_LINE_BYTES:
            raise ArchiveError(f"damaged archive: a record is longer than {MAX_LINE_BYTES} bytes")
        for line in lines:
            if end is not None:
                raise ArchiveError("damaged archive: records after the end marker")
            if len(line) > MAX_LINE_BYTES:
                raise ArchiveError(f"damaged archive: a record is longer than {MAX_LINE_BYTES} bytes")
            try:
                record = loads(line)
            except BadJson as exc:
                raise ArchiveError("damaged archive: a record is not valid JSON") from exc
            if not isinstance(record, dict):
                raise ArchiveError("damaged archive: a record is not a JSON object")
            if "end" in record:
                end = record["end"]
                if not isinstance(end, dict) or not isinstance(end.get("counts", {}), dict):
                    raise ArchiveError("damaged archive: unreadable end marker")
                continue
            label = record.get("model", "")
            if not isinstance(label, str) or LABEL_ALIASES.get(label, label) not in _LABELS:
                raise ArchiveError(f"the archive holds a record of a model backups never hold ({str(label)[:100]!r})")
            if not isinstance(record.get("pk"), (str, int)) or not isinstance(record.get("fields"), dict):
                raise ArchiveError(f"damaged archive: a {label} record has no primary key or no fields")
            counts[label] = counts.get(label, 0) + 1
            record["model"] = LABEL_ALIASES.get(label, label)
            yield record
    if tail or end is None:
        raise ArchiveError("damaged archive: the end marker is missing")
    expected = {str(label).lower(): n for label, n in end.get("counts", {}).items() if n}
    if expected != counts:
        raise ArchiveError("damaged archive: record counts do not match its end marker")


def archive_open(name_or_path: str):
    if os.path.isfile(name_or_path):
        return open(name_or_path, "rb")  # noqa: SIM115 (the caller closes it)
    missing = ArchiveError(f"no archive named {name_or_path!r} in the backups storage or on disk")
    # The storage holds archives at its top level only: a name reaching elsewhere ("../", a folder, an absolute path)
    # is not one of them, whatever the storage would make of it.
    if not name_or_path or "/" in name_or_path or "\\" in name_or_path or name_or_path in (".", ".."):
        raise missing
    storage = backup_storage()
    try:
        if not storage.exists(name_or_path):
            raise missing
        return storage.open(name_or_path, "rb")
    except (SuspiciousOperation, ValueError, OSError):
        raise missing from None


def _is_tenant(record: dict, tenant: str) -> bool:
    """Whether an archived tenant record is the site named by id, clientKey, installationId or site host."""
    if record["model"] != "tenants.tenant":
        return False
    fields = record["fields"]
    candidates = {
        str(record["pk"]),
        str(fields.get("client_key") or ""),
        str(fields.get("installation_id") or ""),
        str(fields.get("base_url") or "").removeprefix("https://").rstrip("/"),
    } - {""}
    return tenant in candidates or tenant.removeprefix("https://").rstrip("/") in candidates


def _check_text(record: dict) -> None:
    """Checklist text in an archive passes the API's input rules, and every record's fields read as its model's, or
    the restore stops before writing anything."""
    try:
        check_archived_record(record["model"], record["fields"])
    except ValidationFailed as exc:
        why = "; ".join(f"{k}: {v}" for k, v in list(exc.errors.items())[:3])
        raise ArchiveError(
            f"the archive's {record['model']} {record.get('pk')} breaks the input rules ({why})"
        ) from None
    try:
        next(iter(PythonDeserializer([record])))
    except (DeserializationError, ValidationError, ValueError, TypeError, LookupError):
        # The reason names field values (customer data): only the record is named.
        raise ArchiveError(f"the archive's {record['model']} {str(record['pk'])[:64]} has unreadable fields") from None


def _check_owner(record: dict, owners: dict[str, str]) -> None:
    """A site's records name a site of the archive, listed before them, and a checklist of that same site: a record
    keyed to one site but pointing into another's data (another tenant's ids) is refused, on a whole restore as on
    one site's, where the other site's rows are live and would otherwise take it in."""
    label, fields = record["model"], record["fields"]
    if label == "tenants.tenant":
        owners["tenants.tenant:" + str(record["pk"])] = str(record["pk"])
        return
    if label not in _TENANT_LABELS:
        return
    site = str(fields.get("tenant"))
    if owners.get("tenants.tenant:" + site) != site:
        raise ArchiveError(f"the archive's {label} {str(record['pk'])[:64]} belongs to no site of the archive")
    if label == "checklists.checklist":
        owners["checklists.checklist:" + str(record["pk"])] = site
    elif "checklist" in fields and owners.get("checklists.checklist:" + str(fields["checklist"])) != site:
        raise ArchiveError(
            f"the archive's {label} {str(record['pk'])[:64]} points at a checklist that is not its site's"
        )


def _scan(name_or_path: str, tenant: str | None = None) -> tuple[dict[str, int], tuple[str, str] | None]:
    """One full read of the archive, writing nothing: its record counts and, when asked, the named site's primary
    key and clientKey. Raises ArchiveError for a damaged or foreign archive, or a site it does not hold."""
    counts: dict[str, int] = {}
    found = None
    owners: dict[str, str] = {}  # the archive's sites and checklists -> their site
    with archive_open(name_or_path) as src:
        for record in _records(src):
            counts[record["model"]] = counts.get(record["model"], 0) + 1
            _check_text(record)
            _check_owner(record, owners)
            if tenant and found is None and _is_tenant(record, tenant):
                found = str(record["pk"]), str(record["fields"].get("client_key") or "")
    if tenant and found is None:
        raise ArchiveError(f"the archive holds no tenant {tenant!r}")
    return counts, found


def archive_verify(name_or_path: str) -> dict[str, int]:
    """Read the whole archive without writing anything; returns its record counts or raises ArchiveError."""
    return _scan(name_or_path)[0]


def _wanted(record: dict, tenant_pk: str | None) -> bool:
    if tenant_pk is None:
        return True
    label = record["model"]
    if label == "tenants.tenant":
        return str(record["pk"]) == tenant_pk
    return label in _TENANT_LABELS and str(record["fields"].get("tenant")) == tenant_pk


def _delete_existing(tenant_pk: str | None, client_key: str | None) -> list:
    """Returns the ids of licenses that pointed at the replaced site, to point them at the restored one."""
    # Raw deletes: no per-row signals. The audit log is append-only: never deleted, not even by a whole restore.
    if tenant_pk is None:
        for label in reversed(MODELS):
            if label == "staff.AuditEntry":
                continue
            model = apps.get_model(label)
            model._base_manager.all()._raw_delete(model._base_manager.db)
        return []
    Tenant = apps.get_model("tenants.Tenant")
    doomed = list(Tenant.objects.filter(pk=tenant_pk).values_list("pk", flat=True))
    # The same site may have been purged and installed again since, under a new id.
    doomed += list(Tenant.objects.filter(client_key=client_key).values_list("pk", flat=True))
    checklist_data_delete(tenant_ids=doomed)
    License = apps.get_model("contacts.License")
    licenses = list(License.objects.filter(tenant_id__in=doomed).values_list("pk", flat=True))
    License.objects.filter(pk__in=licenses).update(tenant=None)
    Tenant._base_manager.filter(pk__in=doomed)._raw_delete(Tenant._base_manager.db)
    return licenses


@contextmanager
def _archived_timestamps(model):
    """bulk_create stamps auto_now/auto_now_add fields with the current time; a restore must keep the archived ones.
    (Flips the field flags for the duration: restores are not run beside live writes to the same models.)"""
    flagged = [
        f for f in model._meta.concrete_fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    saved = [(f, f.auto_now, f.auto_now_add) for f in flagged]
    for f in flagged:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def _live_tenant_fields(tenants) -> dict[str, dict]:
    """clientKey and primary key -> the TENANT_LIVE_FIELDS of each live site about to be replaced."""
    live = {}
    for row in tenants.values("pk", *TENANT_LIVE_FIELDS):
        fields = {name: row[name] for name in TENANT_LIVE_FIELDS}
        live[str(row["pk"])] = live[row["client_key"]] = fields
    return live


def _keep_live(record: dict, live: dict[str, dict]) -> dict:
    """An archived tenant record with the live site's credentials and install state in place of the archived ones."""
    current = live.get(str(record["pk"])) or live.get(record["fields"].get("client_key"))
    if current is None:
        return record
    return {**record, "fields": {**record["fields"], **current}}


def _new_audit_entries(model, objects: list) -> list:
    """The archived audit entries the live log does not hold yet (the log only grows). An archive taken before the
    trail hashed what staff type holds their searches in clear: they are added as the migration left the live ones
    (staff.audit), so a restore never brings the clear text back."""
    present = set(model._base_manager.filter(pk__in=[o.pk for o in objects]).values_list("pk", flat=True))
    added = [o for o in objects if o.pk not in present]
    for entry in added:
        for name, value in (audit_entry_minimised(entry) or {}).items():
            setattr(entry, name, value)
    return added


def archive_restore(name_or_path: str, *, tenant: str | None = None, busy_wait: float = 0.0) -> Restored:
    """Replace the database's application data (or one tenant's) with the archive's. The archive is read and checked
    in full first; a damaged or foreign one raises ArchiveError before anything is written. The writes are one
    transaction. Never restored: live sites' credentials and install state (TENANT_LIVE_FIELDS), and sites the audit
    log records as purged (tenants.purge_ledger: a whole restore erases them again in its transaction, as the purge
    did, and counts them in `purged_left_out`; `tenant` naming one raises PurgedSiteRefused). Never removed: audit
    entries (the archive's missing ones are added). Staff accounts are not in archives (README: Operations).

    A transaction lost to a concurrent one is run again for up to `busy_wait` seconds (the restore command waits
    RESTORE_BUSY_WAIT_SECONDS: a restore killed mid-write leaves its transaction open on MongoDB, holding every record
    it touched, until the server aborts it a minute later; a re-run conflicted with it all that time, and was told the
    archive was bad). Then, or when the database refuses for another reason of its own, RestoreRefused."""
    _counts, found = _scan(name_or_path, tenant)
    tenant_pk, client_key = found or (None, None)
    # The purges the ledger beside the backups records: in an empty database (a new host) there is no audit log to
    # name them, and the archive, taken before them, does not either. Read before the transaction (files, not rows);
    # an unreadable ledger stops the restore rather than let it bring a purged site back.
    try:
        beside = name_or_path if os.path.isfile(name_or_path) else None
        ledger = purge_ledger_read(beside=beside)
        erased = privacy.erased_account_marks(beside=beside)
    except (OSError, ValueError) as exc:
        raise LedgerUnreadable(
            f"the ledgers beside the backups ({LEDGER_FOLDER}/, {privacy.ERASED_FOLDER}/) could not be read "
            f"({type(exc).__name__}); without them a restore could bring a purged site or an erased account back"
        ) from None
    Tenant = apps.get_model("tenants.Tenant")
    # Raw writes send no signals: the cached rows of every replaced and restored site are forgotten by hand.
    replaced = Tenant.objects.all()
    if tenant_pk is not None:
        replaced = replaced.filter(Q(pk=tenant_pk) | Q(client_key=client_key))
    give_up_at = monotonic() + busy_wait
    pause = 1.0
    while True:
        restored = Restored()
        try:
            with atomic(), archive_open(name_or_path) as src:
                _replace(src, replaced, tenant_pk, client_key, restored, ledger, erased)
            return restored
        except CommitUnknown:
            raise RestoreRefused(
                "the database never confirmed the restore's commit: it may have landed or not (run it again: it "
                "replaces the data either way)"
            ) from None
        except (DatabaseError, PyMongoError) as exc:
            conflict = is_write_conflict(exc)
            if conflict and monotonic() + pause < give_up_at:
                logger.warning("restore conflicted with another transaction; trying again", extra={"wait": pause})
                sleep(pause)
                pause = min(pause * 2, 10.0)
                continue
            if conflict:
                raise RestoreRefused(
                    "the database is busy: another transaction holds these records (a write or a restore still "
                    "running, or a killed restore's, which MongoDB aborts after transactionLifetimeLimitSeconds, 60 "
                    "by default); nothing was written, try again in a minute"
                ) from None
            if dependency_unavailable(exc):  # the database, not the archive: locked, unreachable, timed out
                raise RestoreRefused(
                    f"the database could not take the restore ({type(exc).__name__}: locked or unreachable); nothing "
                    "was written, try again"
                ) from None
            # The transaction is rolled back: nothing was written. The database's message may quote record values.
            raise _unwritable(exc) from None
        except DeserializationError as exc:
            raise _unwritable(exc) from None


def _unwritable(exc: Exception) -> ArchiveError:
    return ArchiveError(
        f"the archive's records could not be written ({type(exc).__name__}: a duplicated id, a missing value or a "
        "reference to a record that does not exist)"
    )


def _replace(
    src,
    replaced,
    tenant_pk: str | None,
    client_key: str | None,
    restored: Restored,
    ledger: list[dict],
    erased: set[str],
) -> None:
    """archive_restore's writes, inside its transaction. `ledger`: the purge entries kept beside the backups
    (tenants.purge_ledger); `erased`: the marks of the accounts erased (operations.privacy)."""
    Tenant = apps.get_model("tenants.Tenant")
    AuditEntry = apps.get_model("staff.AuditEntry")
    live_ids = [str(pk) for pk in Tenant.objects.values_list("pk", flat=True)]
    # Read in the transaction, so a purge that committed since the scan counts too.
    if tenant_pk is not None and (
        tenant_pk in purged_site_ids_in(ledger) or purged_tenant_ids([tenant_pk], live=live_ids)
    ):
        raise PurgedSiteRefused(
            f"the archive's site {tenant_pk} was purged (the audit log records its purge): a restore never brings a "
            "purged site back; if the customer installs the app again, Atlassian's lifecycle creates the site anew"
        )
    touched = list(replaced.only("client_key", "installation_id"))
    live = _live_tenant_fields(replaced)
    licenses = _delete_existing(tenant_pk, client_key)
    batch: list[dict] = []
    archived_sites: list[str] = []

    def flush():
        if batch:
            records = [_keep_live(r, live) for r in batch] if batch[0]["model"] == "tenants.tenant" else batch
            objects = [obj.object for obj in PythonDeserializer(records)]
            model = type(objects[0])
            if model is AuditEntry:
                objects = _new_audit_entries(model, objects)
            with _archived_timestamps(model):
                model._base_manager.bulk_create(objects, batch_size=BATCH)
            if model is Tenant:
                touched.extend(objects)
                archived_sites.extend(str(o.pk) for o in objects)
            restored[batch[0]["model"]] = restored.get(batch[0]["model"], 0) + len(objects)
            batch.clear()

    archive_legacy: list[str] = []  # the archive's entries of the old staff purge action (purged_tenant_ids)
    for record in _records(src):
        if record["model"] == "staff.auditentry" and record["fields"].get("detail") == LEGACY_STAFF_PURGE_DETAIL:
            archive_legacy.append(str(record["pk"]))
        if not _wanted(record, tenant_pk):
            continue
        if batch and (batch[0]["model"] != record["model"] or len(batch) >= BATCH):
            flush()
        batch.append(record)
    flush()
    if licenses:
        apps.get_model("contacts.License").objects.filter(pk__in=licenses).update(tenant_id=tenant_pk)
    # The purge entries kept beside the backups that the log lacks (an empty database, an archive older than them)
    # are added as an archive's are: the log only grows.
    _ledger_entries_add(ledger)
    # After the archive's and the ledger's audit entries are in: a purge recorded only there counts too.
    purged = purged_tenant_ids(
        archived_sites, live=live_ids, archive_entries=archive_legacy, archive_sites=archived_sites
    )
    _purged_erase(purged, restored)
    if "contacts.contact" in restored:
        # An archive of an earlier release may hold one mailbox under several spellings (contacts migration 0006):
        # the restored contacts follow the rule every other write path does, inside the restore's transaction.
        merged = contacts_merge_duplicates()
        if merged.groups:
            logger.info("restored contacts merged", extra={"groups": merged.groups, "removed": merged.removed})
    # Last, over what the restore left: an account erased since the archive was taken is erased again.
    privacy.erased_accounts_again(erased)
    tenant_cache_forget(touched)


def _ledger_entries_add(ledger: list[dict]) -> None:
    if not ledger:
        return
    AuditEntry = apps.get_model("staff.AuditEntry")
    entries = _new_audit_entries(AuditEntry, [obj.object for obj in PythonDeserializer(ledger)])
    with _archived_timestamps(AuditEntry):
        AuditEntry._base_manager.bulk_create(entries, batch_size=BATCH)


def _purged_erase(purged: set[str], restored: Restored) -> None:
    """A whole restore's purged sites (the archive was taken before their purge) erased again as the purge erased
    them: their checklists, licenses and the contacts only they had. Written, then erased in the same transaction: the
    purge's own deletions decide what goes (a contact another license names stays), not a second copy of its rules."""
    if not purged:
        return
    for tenant_id in sorted(purged):
        tenant_erase_restored(tenant_id=tenant_id)
    # A whole restore emptied these tables first: what they hold now is exactly what it restored. (Not the audit log,
    # which it only adds to.)
    for label in list(restored):
        if label != "staff.auditentry":
            restored[label] = apps.get_model(label)._base_manager.count()
            if not restored[label]:
                del restored[label]
    restored.purged_left_out = len(purged)
    logger.warning("restore left out purged sites", extra={"count": len(purged)})


def taken_at(name: str) -> datetime | None:
    try:
        return datetime.strptime(name.removeprefix("herochecklist-").removesuffix(SUFFIX), "%Y%m%d-%H%M%S").replace(
            tzinfo=UTC
        )
    except ValueError:
        return None


def backups_prune(*, today=None) -> list[str]:
    """Delete the archives the retention policy no longer keeps, and the partials of killed runs; returns the names of
    the archives."""
    _stale_partials_remove(datetime.now(UTC))
    taken = {name: when for name in backup_list() if (when := taken_at(name)) is not None}
    keep = backups_to_keep(
        taken,
        today or datetime.now(UTC).date(),
        daily_days=settings.BACKUP_DAILY_KEEP_DAYS,
        weekly_weeks=settings.BACKUP_WEEKLY_KEEP_WEEKS,
    )
    doomed = sorted(set(taken) - keep)
    for name in doomed:
        backup_storage().delete(name)
    return doomed


# --- monitoring ---------------------------------------------------------------------------------------------------


def backup_metric_families():
    """For /metrics (read at scrape time): when the newest archive in the store was taken. One listing of the store
    per scrape; no archive at all reports nothing, which the backup alert treats as missing too."""
    from prometheus_client.core import GaugeMetricFamily

    try:
        names = backup_list()
    except FileNotFoundError:  # the folder is made by the first backup
        names = []
    # An archive dated ahead of now (a run whose clock was ahead) is not the newest: it would say "backed up" until
    # that date came, whatever happened meanwhile, and the backup-age alert could not fire. An hour of leeway for
    # hosts whose clocks differ a little.
    latest = datetime.now(UTC) + timedelta(hours=1)
    stamps = [when for when in map(taken_at, names) if when is not None and when <= latest]
    if not stamps:
        return []
    family = GaugeMetricFamily(
        "herochecklist_backup_last_success_timestamp_seconds", "When the newest backup archive was taken, Unix time"
    )
    family.add_metric([], max(stamps).timestamp())
    return [family]
