"""The audit trail of staff access to customer data (see staff.models.AuditEntry).

The trail names records (by id) and never holds their data. What staff type into the console, a list's search text
and the values of its filters, is often customer data itself (an email, a name, an issue key, words of an item), so
it is stored as a keyed hash (HMAC-SHA256 under a key derived from SECRET_KEY for this purpose alone) with a few
facts that identify nobody (length, what it looked like). An investigator asks "did anyone search for x" by hashing
the candidate: the audit log's own search box does (AuditEntryAdmin), and that search is audited in turn."""

import ipaddress
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.admin.options import IS_FACETS_VAR, IS_POPUP_VAR, TO_FIELD_VAR
from django.contrib.admin.views.main import ALL_VAR, ERROR_FLAG, ORDER_VAR, PAGE_VAR, SEARCH_VAR
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.utils.crypto import salted_hmac

from core.db import atomic, chunked

from .models import AuditEntry, SearchKind

MIGRATE_BATCH = 500
MAX_IDS_PER_ENTRY = 500  # a page holds at most a few hundred rows; "select all" is recorded as ["*"]
# The purpose string keeps these hashes apart from every other value keyed by SECRET_KEY (sessions, panel tokens).
_HASH_SALT = "herochecklist.staff.audit.search.v1"
# A filter value in `path` is the hash's first 16 hex digits (64 bits: no accidental match in any real log), so a
# query string with several filters still fits the column.
FILTER_HASH_PREFIX = "hmac-"
_FILTER_HASH_DIGITS = 16
_FILTER_HASHED = re.compile(rf"{FILTER_HASH_PREFIX}[0-9a-f]{{{_FILTER_HASH_DIGITS}}}")
# The admin's own list parameters (page, ordering, show all, error flag, popup, facets): they say nothing about anyone.
_PLAIN_PARAMS = {PAGE_VAR, ORDER_VAR, ALL_VAR, ERROR_FLAG, IS_POPUP_VAR, TO_FIELD_VAR, IS_FACETS_VAR}
# Values of typed fields (numbers, dates, UUIDs, booleans) kept as typed: digits, hex and date punctuation only, so a
# value that is not what the field holds (a name typed into ?created_at__year=) is hashed like any text.
_PLAIN_TYPED_VALUE = re.compile(r"[0-9a-fA-FTZ:.+\-, ]{0,64}|[Tt]rue|[Ff]alse")
_PLAIN_TYPED_FIELDS = (
    models.BooleanField,
    models.IntegerField,  # and AutoField, PositiveIntegerField...
    models.FloatField,
    models.DecimalField,
    models.DateField,  # and DateTimeField
    models.TimeField,
    models.DurationField,
    models.UUIDField,
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_ISSUE_KEY = re.compile(r"[a-z][a-z0-9_]*-[0-9]+")
_IDENTIFIER = re.compile(r"[0-9]+|[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


def client_ip(request) -> str:
    """The caller's address: REMOTE_ADDR, or behind N trusted proxies of ours, the N-th X-Forwarded-For entry from the
    right (the address our outermost proxy saw). Entries further left are written by the client and never trusted."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        if len(hops) >= proxies:
            return hops[-proxies][:45]
    return request.META.get("REMOTE_ADDR", "")[:45]


def search_normalise(text: str) -> str:
    # The admin's searches ignore case and split on whitespace: " X@Example.com" finds what "x@example.com" finds,
    # and hashes the same, so an investigator need not guess how it was typed.
    return " ".join(text.split()).casefold()


def search_hash(text: str, *, secret: str | None = None) -> str:
    return salted_hmac(_HASH_SALT, search_normalise(text), secret=secret, algorithm="sha256").hexdigest()


def search_hash_candidates(text: str) -> list[str]:
    """The text's hash under SECRET_KEY and under each of SECRET_KEY_FALLBACKS: entries written before a key
    rotation were hashed under the old key."""
    return [search_hash(text), *(search_hash(text, secret=str(old)) for old in settings.SECRET_KEY_FALLBACKS)]


def filter_hash(hashed: str) -> str:
    return FILTER_HASH_PREFIX + hashed[:_FILTER_HASH_DIGITS]


def search_kind(text: str) -> str:
    text = search_normalise(text)
    if _EMAIL.fullmatch(text):
        return SearchKind.EMAIL
    if _ISSUE_KEY.fullmatch(text):
        return SearchKind.ISSUE_KEY
    if _IDENTIFIER.fullmatch(text):
        return SearchKind.IDENTIFIER
    return SearchKind.TEXT


def _plain_filter_value(model: type[models.Model] | None, lookup: str, value: str) -> bool:
    """Whether a list filter's value identifies nobody, judged by the field the lookup reaches: a choice of a field
    with choices, or a number, date, UUID, boolean or related record's id in the shape those take. Everything else
    (a name, an email, a URL, an account id) is hashed."""
    field: Any = None
    for part in lookup.split(LOOKUP_SEP):
        if part == "isnull":
            return value in ("0", "1", "True", "False", "true", "false")
        if model is None:
            return False
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            break  # a lookup or transform (exact, year, in...): the value is compared with the field reached
        if field.is_relation and isinstance(field.related_model, type):
            model = field.related_model
            field = model._meta.pk  # a related record's id, or the start of the next step
    if field is None:
        return False
    if getattr(field, "choices", None):
        allowed = {str(key) for key, _label in field.flatchoices}
        return all(v in allowed for v in value.split(","))
    return isinstance(field, _PLAIN_TYPED_FIELDS) and bool(_PLAIN_TYPED_VALUE.fullmatch(value))


def audit_query(model: type[models.Model] | None, query: str) -> tuple[str, str | None]:
    """A list's query string as the trail keeps it, and its search text (None without one). The search leaves the
    query string (it is recorded as a hash); the admin's own parameters and plain filter values stay as they were;
    any other filter value becomes `hmac-` and its hash's first 16 hex digits. Idempotent: a value already hashed
    stays as it is (the data migration and a restore of an old archive may meet one)."""
    kept: list[tuple[str, str]] = []
    search = None
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == SEARCH_VAR:
            search = value
        elif name in _PLAIN_PARAMS or _FILTER_HASHED.fullmatch(value) or _plain_filter_value(model, name, value):
            kept.append((name, value))
        else:
            kept.append((name, filter_hash(search_hash(value))))
    return urlencode(kept), search


def audit_fields(model: type[models.Model] | None, full_path: str) -> dict:
    """The path and search fields of an entry for a request to `full_path`."""
    path, _, query = full_path.partition("?")
    query, search = audit_query(model, query)
    fields: dict = {"path": f"{path}?{query}" if query else path}
    if search is not None and search.strip():
        fields.update(
            search_hash=search_hash(search), search_length=len(search.strip()), search_kind=search_kind(search)
        )
    fields["path"] = fields["path"][: AuditEntry._meta.get_field("path").max_length]
    return fields


# One host gets a whole IPv6 /64 (SLAAC and privacy addresses pick any address in it at will).
LOCKOUT_IPV6_PREFIX = 64


def client_network(request) -> str:
    """The caller as the sign-in lockout counts it (AXES_CLIENT_IP_CALLABLE): client_ip, with an IPv6 address taken
    as the first address of its /64 and an IPv4-mapped one as that IPv4 address. Counted per exact address, one host
    had the failure limit's guesses at a password and second factor from each of 2**64 addresses, and a dual-stack
    listener gave an IPv4 caller two counts. The audit trail keeps the exact address (client_ip)."""
    raw = client_ip(request)
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw  # not an address (a misconfigured proxy chain): counted as it came, as before
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, LOCKOUT_IPV6_PREFIX), strict=False).network_address)
    return str(address)


def audit_record(
    *,
    request,
    action: str,
    model: type[models.Model] | str,
    object_ids: Iterable = (),
    object_count: int | None = None,
    detail: str = "",
    with_query: bool = False,
) -> AuditEntry:
    label = model if isinstance(model, str) else model._meta.label_lower
    ids = [str(i) for i in object_ids][:MAX_IDS_PER_ENTRY]
    user = request.user
    return AuditEntry.objects.create(
        actor_id=str(user.pk),
        actor_username=user.get_username(),
        action=action,
        detail=detail[:100],
        model=label,
        object_ids=ids,
        object_count=len(ids) if object_count is None else object_count,
        ip_address=client_ip(request),
        **audit_fields(
            None if isinstance(model, str) else model, request.get_full_path() if with_query else request.path
        ),
    )


def _audited_model(apps, label: str) -> type[models.Model] | None:
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):  # "core.backup" names no model; a removed model's filters are all hashed
        return None


def audit_entry_minimised(entry, *, apps=django_apps) -> dict | None:
    """The fields to write over an entry recorded before searches were hashed, whose path holds the search text and
    filter values in clear; None if it holds none (an entry recorded since, or already converted)."""
    if "?" not in entry.path:
        return None
    fields = audit_fields(_audited_model(apps, entry.model), entry.path)
    return fields if fields["path"] != entry.path else None


def audit_entries_minimise(*, apps=django_apps) -> int:
    """Convert every stored entry with a query string (staff/migrations/0003); the number converted. Each write
    conditional on the path read, a transaction per batch by primary key: a run stopped midway leaves each batch
    whole or untouched, and the next run finishes the rest. The one sanctioned change to the append-only log,
    through the base manager (a plain one, not AuditQuerySet): it removes data the entry should never have held, and
    changes nothing of who did what, when."""
    Entry = apps.get_model("staff", "AuditEntry")
    converted = 0
    for chunk in chunked(Entry._base_manager.filter(path__contains="?").only("pk", "model", "path"), MIGRATE_BATCH):
        with atomic():
            for entry in chunk:
                fields = audit_entry_minimised(entry, apps=apps)
                if fields:
                    converted += Entry._base_manager.filter(pk=entry.pk, path=entry.path).update(**fields)
    return converted


# The apps whose records are customer data (the audited pages'): their admin log entries name records by id.
CUSTOMER_DATA_APPS = ("tenants", "checklists", "contacts", "operations")


def admin_log_minimise(*, apps=django_apps) -> int:
    """Name by id every entry of Django's admin log about customer data that an earlier release wrote with str(obj)
    (a contact's email, a site's name) as AuditedAdmin's log methods do now (staff/migrations/0003); the number
    changed. Conditional row writes in batches, like audit_entries_minimise."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    LogEntry = apps.get_model("admin", "LogEntry")
    types = list(ContentType.objects.filter(app_label__in=CUSTOMER_DATA_APPS).values_list("pk", flat=True))
    entries = LogEntry._base_manager.filter(content_type_id__in=types).only("pk", "object_id", "object_repr")
    converted = 0
    for chunk in chunked(entries, MIGRATE_BATCH):
        with atomic():
            for entry in chunk:
                by_id = (entry.object_id or "")[:200]
                if entry.object_repr != by_id:
                    converted += LogEntry._base_manager.filter(pk=entry.pk, object_repr=entry.object_repr).update(
                        object_repr=by_id
                    )
    return converted
