"""Writes to contacts: license ingestion, HubSpot sync claims and outcomes, onboarding/offboarding emails."""

import contextlib
import functools
import hashlib
import logging
import smtplib
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlparse

from celery import current_app
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone
from redis.exceptions import RedisError

from checklists.validation import clean_line
from core.counters import flag_add, flag_clear, shared_lock
from core.db import atomic, atomic_or_joined, on_commit
from core.exceptions import ValidationFailed
from core.rows import update_each
from staff.audit import search_hash, search_hash_candidates
from staff.models import AuditAction, AuditEntry, SearchKind
from tenants.models import Tenant, TenantState
from tenants.purge_ledger import SYSTEM_ACTOR_ID, purge_entry_keep

from .models import Contact, ContactLink, ContactRole, EmailDelivery, EmailKind, License, PollCursor, SyncState

logger = logging.getLogger(__name__)

CLAIM_EXPIRY = timedelta(minutes=15)
MAX_SYNC_ATTEMPTS = 10  # pushes of one contact that HubSpot's answer did not mention, before it counts as failed
UNANSWERED = "HubSpot's answer named neither a result nor an error for this contact"
UNSUBSCRIBE_SALT = "herochecklist.contacts.unsubscribe"


@dataclass
class IngestResult:
    licenses: int = 0
    contacts: int = 0
    skipped: int = 0
    # What the ingest wrote, for the audit trail of an import by staff (contacts/admin.py): every license upserted and
    # every contact created, renamed or whose links changed.
    license_ids: list = field(default_factory=list)
    contact_ids: set = field(default_factory=set)
    purged: int = 0  # records of licenses purged with their site, left out (_purged_licenses); counted in skipped


def normalise_email(value) -> str:
    """The one form of an address, so one mailbox is one contact (and gets each email once). Case aside, Unicode
    writes one address many ways: full-width letters (ｅｘａｍｐｌｅ.com), a long s (ſam), an umlaut precomposed or
    combined, a domain in Unicode or in its xn-- form. Each passed our validator as a contact of its own, yet Django's
    mail delivers them all to one mailbox (it sends to the domain's IDNA form). NFKC folds the look-alike forms, and
    the domain is kept in that IDNA (ASCII) form, which is also what HubSpot is sent and answers with."""
    if not isinstance(value, str):
        return ""
    local, at, domain = unicodedata.normalize("NFKC", value.strip()).lower().rpartition("@")
    if not at:
        return domain  # no address at all: kept as written, and failed with a reason (license_ingest)
    # Not a domain (empty, a label too long, "a..b"): left as it is, and refused by the validator.
    with contextlib.suppress(UnicodeError):
        domain = domain.encode("idna").decode("ascii")
    return f"{local}{at}{domain}"


def _is_valid_email(email: str) -> bool:
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


def _text(value, max_length: int) -> str:
    """A field of a Marketplace record as text: the API answers JSON, and a crafted or broken answer may hold a number,
    a list or an object where a string belongs. Such a value is no value (one record's odd field must not stop the
    poll for every license after it, nor be stored as a Python repr); longer than its column, it is cut."""
    return value.strip()[:max_length] if isinstance(value, str) else ""


def _license_id(record: dict) -> str:
    """The record's license id, or "" when it has none that fits the column (such a record is skipped)."""
    value = record.get("addonLicenseId")
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    return text if len(text) <= License._meta.get_field("addon_license_id").max_length else ""


def _tenant_for(record: dict) -> Tenant | None:
    entitlement = _text(record.get("appEntitlementId"), 128)
    if entitlement:
        tenant = Tenant.objects.filter(entitlement_id=entitlement).first()
        if tenant:
            return tenant
    host = _text(record.get("cloudSiteHostname"), 255).lower()
    if host:
        for tenant in Tenant.objects.filter(base_url__icontains=host):
            if urlparse(tenant.base_url).hostname == host:
                return tenant
    return None


MAX_EMAIL = Contact._meta.get_field("email").max_length or 254
MAX_NAME = Contact._meta.get_field("display_name").max_length or 200


def _contacts_of(record: dict) -> list[tuple[str, str, str]]:
    details = record.get("contactDetails")
    found: list[tuple[str, str, str]] = []
    if not isinstance(details, dict):
        return found
    for role, key in ((ContactRole.TECHNICAL, "technicalContact"), (ContactRole.BILLING, "billingContact")):
        person = details.get(key)
        if not isinstance(person, dict):
            continue
        email = normalise_email(person.get("email"))
        # Longer than any address can be: not a contact (an address cut to fit would be someone else's).
        if email and len(email) <= MAX_EMAIL:
            found.append((role, email, contact_name(person.get("name"))))
    return found


def contact_name(value) -> str:
    """A contact's name as the Marketplace gives it, by the rules every stored line of customer text follows
    (checklists.validation, as the CSV import applies them): one line, no control or bidirectional override
    characters, at most the column's length. The name is written into our emails ("Hi {name},") and sent to HubSpot,
    whose own emails use it too: a line break in it would let whoever names a license's contact write paragraphs of
    their own into mail we send to any address. The API's records cannot be refused like a CSV file: a name that
    breaks the rules is dropped ("" greets the contact as "there"), never cut or stored as it came."""
    try:
        return contact_name_clean(value)
    except ValidationFailed:
        return ""


def contact_name_clean(value, field_name: str = "display_name") -> str:
    """contact_name's rules for a name someone types (the staff console): refused (ValidationFailed naming the field)
    rather than dropped, so they can correct it. "" when it holds nothing anybody could see."""
    return clean_line(value, field_name, max_length=MAX_NAME, required=False)


def contact_rename(*, contact_id, name: str) -> bool:
    """A contact's name corrected by staff: stored by contact_name_clean's rules and pushed to HubSpot again, as a
    rename from the Marketplace is (license_ingest). Only the name and its sync are written, never the row as read
    (a push settling meanwhile keeps what it stored); a push in flight keeps its claim and, having sent the old name,
    settles nothing (_record_push). An address that is no email stays failed: it is never sent to HubSpot
    (contact_retry_sync). Returns whether the name changed."""
    name = contact_name_clean(name)
    with atomic_or_joined():  # the console's change form runs in a transaction of its own
        contact = Contact.objects.filter(id=contact_id).only("email", "display_name").first()
        if contact is None or contact.display_name == name:
            return False
        fields: dict = {"display_name": name, "updated_at": timezone.now()}
        if _is_valid_email(contact.email):
            fields.update(sync_state=SyncState.PENDING, sync_attempts=0)
        Contact.objects.filter(id=contact_id).update(**fields)
    on_commit(functools.partial(_queue, "hubspot_sync_task"))
    return True


def _parse_date(value) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


INGEST_CHUNK = 10


def license_ingest(*, records: list[dict]) -> IngestResult:
    """Upsert licenses and their contacts, one transaction per chunk of licenses (a whole Marketplace export in one
    transaction would outlive MongoDB's transaction limits). New or renamed contacts become pending for HubSpot;
    onboarding follows a successful sync, offboarding the loss of a contact's last active license."""
    result = IngestResult()
    tenants: dict = {}
    for start in range(0, len(records), INGEST_CHUNK):
        _ingest_chunk(records[start : start + INGEST_CHUNK], result, tenants)
    # Each chunk's commit queued a sync of the full batches it completed (contacts go to HubSpot while a long export is
    # still being read); this one also takes the last, partial batch.
    if records:
        on_commit(functools.partial(sync_queue, full_batches_only=False))
    return result


@atomic
def _ingest_chunk(records: list, result: IngestResult, tenants: dict) -> None:
    valid = [r for r in records if isinstance(r, dict) and _license_id(r)]
    result.skipped += len(records) - len(valid)
    ids = [_license_id(r) for r in valid]
    licenses = {lic.addon_license_id: lic for lic in License.objects.filter(addon_license_id__in=ids)}
    emails = {email for r in valid for _role, email, _name in _contacts_of(r)}
    contacts = {c.email: c for c in Contact.objects.filter(email__in=emails)}
    links = {
        (link.contact_id, link.license_id, link.role): link
        for link in ContactLink.objects.filter(license__in=[lic.id for lic in licenses.values()])
    }
    purged = _purged_licenses([i for i in ids if i not in licenses])
    touched: set = set()
    lost: set = set()  # contacts who lost an active link here: offboarding may be due
    gained: set = set()  # synced contacts with a link active from here: onboarding may be due now
    for record, license_id in zip(valid, ids, strict=True):
        if license_id not in licenses and _stays_purged(record, purged.get(license_id)):
            result.skipped += 1
            result.purged += 1
            continue
        lic = licenses.get(license_id) or License(addon_license_id=license_id)
        lic.app_entitlement_id = _text(record.get("appEntitlementId"), 128)
        lic.app_entitlement_number = _text(record.get("appEntitlementNumber"), 128)
        lic.cloud_site_hostname = _text(record.get("cloudSiteHostname"), 255)
        lic.status = _text(record.get("status"), 32)
        lic.license_type = _text(record.get("licenseType"), 32)
        lic.last_updated = _parse_date(record.get("lastUpdated"))
        key = (lic.app_entitlement_id, lic.cloud_site_hostname)
        if key not in tenants:
            tenants[key] = _tenant_for(record)
        lic.tenant = tenants[key] or lic.tenant
        lic.save()
        licenses[license_id] = lic
        result.licenses += 1
        result.license_ids.append(lic.id)
        current = set()
        for role, email, name in _contacts_of(record):
            contact = contacts.get(email)
            if contact is None:
                valid_email = _is_valid_email(email)
                contact = Contact.objects.create(
                    email=email,
                    display_name=name,
                    # Never sent to HubSpot: a clear, local reason instead of a 400 later.
                    sync_state=SyncState.PENDING if valid_email else SyncState.FAILED,
                    last_error="" if valid_email else "not a valid email address",
                )
                contacts[email] = contact
                result.contacts += 1
            elif name and name != contact.display_name:
                # Pending for its new name, its pushes counted afresh. A claim in flight is kept: a second push
                # beside it could reach HubSpot first and leave the old name there. The push in flight settles it
                # not (it sent another name) but releases it, for a push of the new name (_record_push).
                Contact.objects.filter(id=contact.id).update(
                    display_name=name, sync_state=SyncState.PENDING, sync_attempts=0
                )
                contact.display_name, contact.sync_state = name, SyncState.PENDING
            link = links.get((contact.id, lic.id, role))
            if link is None:
                link = ContactLink.objects.create(contact=contact, license=lic, role=role, active=lic.is_active)
                links[(contact.id, lic.id, role)] = link
                if lic.is_active and contact.sync_state == SyncState.SYNCED:
                    gained.add(contact.id)
            elif link.active != lic.is_active:
                ContactLink.objects.filter(id=link.id).update(active=lic.is_active, updated_at=timezone.now())
                link.active = lic.is_active
                if not lic.is_active:
                    lost.add(contact.id)
                elif contact.sync_state == SyncState.SYNCED:
                    gained.add(contact.id)
            current.add(link.id)
            touched.add(contact.id)
        # A contact the license no longer names is no longer its contact.
        for link in [link for link in links.values() if link.license_id == lic.id and link.active]:
            if link.id not in current:
                ContactLink.objects.filter(id=link.id).update(active=False, updated_at=timezone.now())
                link.active = False
                lost.add(link.contact_id)
    # With HubSpot, onboarding follows each contact's sync: due right now only to one synced before (first seen on a
    # cancelled license, say) whose license is active now; contact_emails_due checks that it is synced.
    result.contact_ids |= touched | lost
    due = lost | gained if settings.HUBSPOT_ACCESS_TOKEN else touched | lost
    on_commit(functools.partial(_schedule_after_ingest, sorted(map(str, due))))


EMAIL_BATCH = 100


def _queue(task: str, *args, priority: int | None = None, **kwargs) -> None:
    """Queue one of contacts.tasks by its registered name: the tasks import these services, never the other way, so
    services name the tasks as the beat schedule does. ContactsConfig.ready() imports the tasks, so an unknown name is
    a KeyError here, not a message no worker knows."""
    options = {} if priority is None else {"priority": priority}
    current_app.tasks[f"contacts.tasks.{task}"].apply_async(args, kwargs, **options)


# Redis priorities (0 is the highest, the default): emails wait behind the HubSpot pushes, which have a rate limit's
# windows to fill, and behind the checklist tasks users wait for; syncs (which queue the pushes) between them.
SYNC_PRIORITY = 5
EMAIL_PRIORITY = 9


def _schedule_after_ingest(contact_ids: list[str]) -> None:
    # HubSpot first: onboarding follows a contact's successful sync (see contact_email_due).
    sync_queue(full_batches_only=True)
    schedule_emails(contact_ids)


SYNC_QUEUED_SECONDS = 60


def sync_queue(*, full_batches_only: bool) -> None:
    """Queue a HubSpot sync unless one of the same kind is queued and not started yet (it will see these contacts:
    it counts what is pending when it starts). An ingest commits a chunk every few hundred milliseconds; a sync per
    chunk piled up 200 syncs ahead of the pushes they queued (bench/sync). Only with a cache every process shares
    (CACHE_URL): the worker that starts the sync must be able to lower the flag. A queueing that fails lowers it; if
    Redis cannot say, the sync is queued (a spare sync claims nothing). Below the pushes' priority: pushes are what
    fill HubSpot's window, a sync only feeds them."""
    flag = _sync_flag(full_batches_only)
    try:
        if settings.CACHE_URL and not flag_add(flag, ttl_seconds=SYNC_QUEUED_SECONDS):
            return
    except RedisError:
        logger.warning("could not tell whether a HubSpot sync is queued; queueing one")
    try:
        _queue("hubspot_sync_task", full_batches_only=full_batches_only, priority=SYNC_PRIORITY)
    except Exception:
        with contextlib.suppress(RedisError):
            flag_clear(flag)
        raise


def sync_started(*, full_batches_only: bool) -> None:
    """A sync has started: the next commit queues another one."""
    if not settings.CACHE_URL:
        return
    with contextlib.suppress(RedisError):
        flag_clear(_sync_flag(full_batches_only))


SYNC_TURN_SECONDS = 60  # a killed sync's turn is free again after this (a sync claims one window: well under a second)
SYNC_TURN_WAIT_SECONDS = 10


@contextlib.contextmanager
def sync_turn() -> Iterator[None]:
    """One HubSpot sync at a time per queue. Two side by side read the same pending contacts and race for each of
    them: an ingest's last sync, started beside its sync of full batches, spent half a second claiming nothing while
    the first pushes waited for the CPU (bench/sync --push-only). One after the other, the second finds what the first
    left in a few milliseconds. A sync that waits longer than SYNC_TURN_WAIT_SECONDS, or cannot reach Redis, runs
    anyway: claims are conditional, so two syncs at once cost time, never a contact claimed twice."""
    lock = shared_lock(
        f"hubspot-sync-running:{settings.CELERY_TASK_DEFAULT_QUEUE}",
        ttl_seconds=SYNC_TURN_SECONDS,
        wait_seconds=SYNC_TURN_WAIT_SECONDS,
    )
    held = False
    if lock is not None:
        try:
            held = lock.acquire()
        except RedisError:
            logger.warning("could not take the HubSpot sync's turn; syncing anyway")
    try:
        yield
    finally:
        if held:
            with contextlib.suppress(RedisError):  # LockError too: a turn that outlived its expiry is gone already
                lock.release()


def _sync_flag(full_batches_only: bool) -> str:
    # Per queue: deployments that share one Redis database must not hold back each other's syncs.
    return f"hubspot-sync-queued:{settings.CELERY_TASK_DEFAULT_QUEUE}:{'full' if full_batches_only else 'all'}"


def schedule_emails(contact_ids: list[str]) -> None:
    """Queue the emails now due for these contacts, in batches that share one mail connection."""
    for start in range(0, len(contact_ids), EMAIL_BATCH):
        _queue("contact_email_batch_task", contact_ids[start : start + EMAIL_BATCH], priority=EMAIL_PRIORITY)


# The sweep's window. Grace: an email queued with its push is normally out by then, and queueing it twice costs a task.
# Age: an onboarding email a week late is better not sent; it also bounds how long a refused address is retried.
EMAIL_SWEEP_GRACE = timedelta(minutes=15)
EMAIL_SWEEP_MAX_AGE = timedelta(days=7)


def _sweep_window(now) -> tuple:
    now = now or timezone.now()
    return now - EMAIL_SWEEP_MAX_AGE, now - EMAIL_SWEEP_GRACE


def contact_email_sweep(*, now=None) -> int:
    """Queue the emails due to contacts that became due between EMAIL_SWEEP_MAX_AGE and EMAIL_SWEEP_GRACE ago and
    have not gone out: their task was lost (the broker down when the push committed, a worker killed after its
    retries, SMTP down past them). Each email still goes out at most once. Returns how many contacts were owed one.

    Became due: synced (onboarding), or a link that started or ended (onboarding of a contact synced before, on a
    license active now; offboarding). Contacts whose onboarding went out since the window opened are left out before
    contact_emails_due looks at the rest: after a 20,000-contact import, a sweep is a few queries, not 600."""
    window = _sweep_window(now)
    _offboard_missed(window)
    if settings.HUBSPOT_ACCESS_TOKEN:
        became_due = Contact.objects.filter(sync_state=SyncState.SYNCED, synced_at__range=window)
    else:
        became_due = Contact.objects.filter(created_at__range=window)
    welcomed = EmailDelivery.objects.filter(kind=EmailKind.ONBOARDING, sent_at__gte=window[0])
    candidates = set(became_due.values_list("id", flat=True)) - set(welcomed.values_list("contact_id", flat=True))
    candidates.update(ContactLink.objects.filter(updated_at__range=window).values_list("contact_id", flat=True))
    owed: list[str] = []
    ordered = sorted(map(str, candidates))
    for start in range(0, len(ordered), EMAIL_BATCH):
        owed += [str(i) for i in contact_emails_due(contact_ids=ordered[start : start + EMAIL_BATCH])]
    schedule_emails(owed)
    return len(owed)


def _offboard_missed(window: tuple) -> None:
    """Offboard the sites uninstalled in the window whose offboarding never ran: it is a task queued after the
    uninstall's commit, and one lost (the broker down then) was lost for good, since the uninstall had answered 204
    and Atlassian never sends it again. Such a site still has links that are active and untouched since it
    uninstalled; a link a Marketplace poll changed after the uninstall is the poll's to keep. tenant_offboard queues
    the emails, at most once each; if that queueing fails too, the links it ended are this sweep's next time."""
    for tenant_id, uninstalled_at in Tenant.objects.filter(
        state=TenantState.UNINSTALLED, uninstalled_at__range=window
    ).values_list("id", "uninstalled_at"):
        licenses = list(License.objects.filter(tenant_id=tenant_id).values_list("id", flat=True))
        if ContactLink.objects.filter(license_id__in=licenses, active=True, updated_at__lt=uninstalled_at).exists():
            logger.info("offboarding of an uninstalled site made up", extra={"tenant_id": str(tenant_id)})
            tenant_offboard(tenant_id=tenant_id)


def contact_list_sweep(*, now=None) -> int:
    """Queue the onboarding list additions of contacts synced in the sweep's window that HubSpot has not confirmed
    (the task queued with the push was lost, or gave up). Adding a member twice changes nothing. Returns how many."""
    if not settings.HUBSPOT_ONBOARDING_LIST_ID:
        return 0
    unlisted = Contact.objects.filter(
        sync_state=SyncState.SYNCED,
        synced_at__range=_sweep_window(now),
        listed_at__isnull=True,
    ).exclude(hubspot_id="")
    hubspot_ids = sorted(unlisted.values_list("hubspot_id", flat=True))
    for start in range(0, len(hubspot_ids), EMAIL_BATCH):
        _queue("hubspot_list_add_task", hubspot_ids[start : start + EMAIL_BATCH], priority=SYNC_PRIORITY)
    return len(hubspot_ids)


def contact_mark_listed(*, hubspot_ids: list[str]) -> None:
    """Their list addition is settled: HubSpot confirmed it, or refused it for good (a wrong list id, say: logged,
    and not asked again every sweep for a week)."""
    Contact.objects.filter(hubspot_id__in=hubspot_ids, listed_at__isnull=True).update(listed_at=timezone.now())


def contact_emails_due(*, contact_ids) -> dict:
    """The email now due per contact of this batch (contact id -> kind; none due: absent). Three queries whatever the
    batch's size: an email batch is 100 contacts, and per-contact queries made it the workers' largest cost."""
    contacts = Contact.objects.filter(id__in=list(contact_ids), unsubscribed_at__isnull=True).exclude(
        sync_state=SyncState.FAILED
    )
    states = dict(contacts.values_list("id", "sync_state"))
    # Only emails that went out: a claim whose sender died is still due (contact_send_email takes it over).
    sent: dict = {}
    for contact_id, kind in EmailDelivery.objects.filter(
        contact_id__in=list(states), sent_at__isnull=False
    ).values_list("contact_id", "kind"):
        sent.setdefault(contact_id, set()).add(kind)
    active = set(
        ContactLink.objects.filter(contact_id__in=list(states), active=True).values_list("contact_id", flat=True)
    )
    due = {}
    for contact_id, state in states.items():
        done = sent.get(contact_id, set())
        if contact_id in active and EmailKind.ONBOARDING not in done:
            # Onboarding goes to contacts HubSpot accepted (it also holds their subscription); without HubSpot
            # configured, to every valid contact.
            if not settings.HUBSPOT_ACCESS_TOKEN or state == SyncState.SYNCED:
                due[contact_id] = EmailKind.ONBOARDING
        elif contact_id not in active and EmailKind.ONBOARDING in done and EmailKind.OFFBOARDING not in done:
            due[contact_id] = EmailKind.OFFBOARDING
    return due


def contact_email_due(*, contact_id) -> str | None:
    return next(iter(contact_emails_due(contact_ids=[contact_id]).values()), None)


def tenant_offboard(*, tenant_id) -> None:
    """The site uninstalled the app: its licenses' contacts are no longer active contacts."""
    licenses = list(License.objects.filter(tenant_id=tenant_id).values_list("id", flat=True))
    # Two steps: MongoDB cannot update() across the license join.
    links = ContactLink.objects.filter(license_id__in=licenses, active=True)
    contact_ids = sorted({str(c) for c in links.values_list("contact_id", flat=True)})
    links.update(active=False, updated_at=timezone.now())  # when, for contact_email_sweep
    schedule_emails(contact_ids)


def contact_data_delete(*, tenant_ids) -> dict[str, int]:
    """A purge: the licenses of these sites, and the contacts that no other license names. Returns the count per
    model. Each license's purge is recorded (_purged_licenses), so that the Marketplace's next report of it does not
    bring it and its contacts back."""
    purged = list(License.objects.filter(tenant_id__in=list(tenant_ids)).values_list("pk", "addon_license_id"))
    licenses = [pk for pk, _addon_id in purged]
    for pk, addon_id in purged:
        # Kept beside the backups too (purge_ledger): an empty database restored from an older archive has it still.
        entry = AuditEntry.objects.create(
            actor_id=SYSTEM_ACTOR_ID,
            actor_username=f"{SYSTEM_ACTOR_ID} (purged with its site)",
            action=AuditAction.PURGE,
            detail="purged with its site",
            model=License._meta.label_lower,
            object_ids=[str(pk)],
            object_count=1,
            search_hash=search_hash(addon_id),
            search_length=len(addon_id),
            search_kind=SearchKind.IDENTIFIER,
        )
        purge_entry_keep(entry)
    contact_ids = set(ContactLink.objects.filter(license_id__in=licenses).values_list("contact_id", flat=True))
    deleted = {}
    deleted["contacts.License"], _ = License.objects.filter(pk__in=licenses).delete()
    still_linked = set(ContactLink.objects.filter(contact_id__in=contact_ids).values_list("contact_id", flat=True))
    deleted["contacts.Contact"], _ = Contact.objects.filter(pk__in=contact_ids - still_linked).delete()
    return deleted


def _purged_licenses(license_ids: list[str]) -> dict[str, datetime]:
    """Marketplace license id -> when it was last purged with its site, for those of these ids that were. The
    record is an audit entry (append-only, kept across restores) holding the id as a keyed hash, not in clear: once
    the license is gone the log names nobody, as for every purge (README: Uninstalled sites)."""
    hashes = {digest: license_id for license_id in license_ids for digest in search_hash_candidates(license_id)}
    if not hashes:
        return {}
    purged: dict[str, datetime] = {}
    entries = AuditEntry.objects.filter(
        action=AuditAction.PURGE, model=License._meta.label_lower, search_hash__in=list(hashes)
    ).values_list("search_hash", "created_at")
    for digest, at in entries:
        license_id = hashes[digest]
        purged[license_id] = max(at, purged.get(license_id, at))
    return purged


def _stays_purged(record: dict, purged_at: datetime | None) -> bool:
    """A license purged with its site is not created again from a later Marketplace report (a poll, a full CSV
    import): that would bring back its contacts, to HubSpot and our emails, after we erased them. Unless the
    Marketplace shows it active and updated after the purge's day: a purchase since (the customer came back)."""
    if purged_at is None:
        return False
    updated = _parse_date(record.get("lastUpdated"))
    active = _text(record.get("status"), 32) == "active"
    return not (active and updated is not None and updated > purged_at.date())


def contact_data_merge(*, source_id, target_id) -> dict[str, int]:
    """A site's Forge tenant joins its Connect tenant (tenants' tenant_merging): its licenses go with it."""
    return {"contacts.License": License.objects.filter(tenant_id=source_id).update(tenant_id=target_id)}


# --- one contact per mailbox ---------------------------------------------------------------------------------------


@dataclass
class MergeResult:
    groups: int = 0  # spellings of one address made one contact (or a lone old spelling put in the normal form)
    removed: int = 0  # contacts folded into another and deleted


MERGE_SCAN = 1000  # contacts read per query while looking for old spellings


def contacts_merge_duplicates(*, apps=None) -> MergeResult:
    """One contact per mailbox for contacts stored before normalise_email took its present form (first only lower
    case, later NFKC and the domain's IDNA form): `Bea@Example.com` beside `bea@example.com`, or a full-width
    `ｂｅａ@example.com`. Ingestion looks contacts up by the normal form, so such a row was never found again, and the
    same mailbox got each email and HubSpot push twice. Each group of contacts whose emails normalise alike becomes
    one, in a transaction of its own; nothing a person asked for or was sent is lost (_merge_group). A lone old
    spelling takes the normal form too: the next ingest would otherwise create its twin. Running it again changes
    nothing.

    apps: a migration's app registry (its historical models); None for the models of this release (a restore)."""
    models = _merge_models(apps)
    result = MergeResult()
    for normal, ids in _spellings(models[0]).items():
        removed = _merge_group(models, normal, ids)
        if removed is not None:
            result.groups += 1
            result.removed += removed
    return result


def _merge_models(apps) -> tuple:
    if apps is None:
        return Contact, ContactLink, EmailDelivery
    return tuple(apps.get_model("contacts", name) for name in ("Contact", "ContactLink", "EmailDelivery"))


def _spellings(contact_model) -> dict[str, list]:
    """Normal form -> ids of the contacts spelled otherwise or in it, for every normal form some contact is not spelled
    in. Read MERGE_SCAN rows at a time, holding only those (a database from this release holds none)."""
    odd: dict[str, list] = {}
    rows = contact_model._base_manager.order_by("pk").values_list("pk", "email")
    last = None
    while True:
        chunk = list((rows if last is None else rows.filter(pk__gt=last))[:MERGE_SCAN])
        if not chunk:
            break
        last = chunk[-1][0]
        for pk, email in chunk:
            normal = normalise_email(email)
            # A normal form too long for the column is one no ingest ever writes or looks up: left as it is.
            if normal and normal != email and len(normal) <= MAX_EMAIL:
                odd.setdefault(normal, []).append(pk)
    normals = sorted(odd)
    for start in range(0, len(normals), MERGE_SCAN):
        spelled = contact_model._base_manager.filter(email__in=normals[start : start + MERGE_SCAN])
        for pk, email in spelled.values_list("pk", "email"):
            odd[email].append(pk)
    return odd


def _merge_group(models: tuple, normal: str, ids: list) -> int | None:
    """Fold the contacts `ids` (spellings of `normal`) into one, in one transaction. Returns how many were removed,
    None when there was nothing to do (changed since the scan). The rules, each so that no one is mailed, pushed or
    opted in again by a merge:

    - the survivor: the contact spelled in the normal form if there is one (ingestion finds it already), else the
      oldest; it takes the normal form, and keeps its hubspot_id, display name and creation time (a merged one's
      hubspot_id or name only where it has none);
    - an unsubscribe of any of them holds (the earliest); listed_at is the earliest one too;
    - each email kind once: a sent one (the earliest) over an unsent claim, else the survivor's;
    - each (license, role) link once: the survivor's, else the oldest; active if any of them was;
    - a survivor whose address, name or links changed is pending again (claim released, attempts counted afresh),
      for the periodic sync to push the one address; an address no validator takes fails here as ingestion fails it.
    """
    contact_model, link_model, delivery_model = models
    now = timezone.now()
    with atomic():
        # Read again inside the transaction: a contact created or renamed since the scan counts as it is now.
        rows = [
            row
            for row in contact_model._base_manager.filter(Q(pk__in=ids) | Q(email=normal))
            if normalise_email(row.email) == normal
        ]
        if not rows or (len(rows) == 1 and rows[0].email == normal):
            return None
        rows.sort(key=lambda row: (row.created_at, str(row.pk)))
        survivor = next((row for row in rows if row.email == normal), rows[0])
        others = [row for row in rows if row.pk != survivor.pk]
        everyone = [row.pk for row in rows]
        rank = {row.pk: n for n, row in enumerate([survivor, *others])}

        deliveries = sorted(
            delivery_model._base_manager.filter(contact_id__in=everyone),
            key=lambda d: (d.sent_at is None, d.sent_at or now, rank[d.contact_id]),
        )
        kept: dict = {}
        for delivery in deliveries:
            kept.setdefault(delivery.kind, delivery)
        _fold(delivery_model, deliveries, kept.values(), survivor.pk)

        links = sorted(link_model._base_manager.filter(contact_id__in=everyone), key=lambda link: rank[link.contact_id])
        keepers: dict = {}
        active: set = set()
        for link in links:
            keepers.setdefault((link.license_id, link.role), link)
            if link.active:
                active.add((link.license_id, link.role))
        took_links = _fold(link_model, links, keepers.values(), survivor.pk)
        woken = [link.pk for key, link in keepers.items() if key in active and not link.active]
        if woken:  # a link that starts for the survivor: updated_at is when, for contact_email_sweep
            link_model._base_manager.filter(pk__in=woken).update(active=True, updated_at=now)

        fields: dict = {"updated_at": now}
        if survivor.email != normal:
            fields["email"] = normal
        if not survivor.display_name and any(row.display_name for row in others):
            fields["display_name"] = next(row.display_name for row in others if row.display_name)
        if not survivor.hubspot_id and any(row.hubspot_id for row in others):
            fields["hubspot_id"] = next(row.hubspot_id for row in others if row.hubspot_id)
        for name in ("unsubscribed_at", "listed_at"):
            earliest = min((getattr(row, name) for row in rows if getattr(row, name)), default=None)
            if earliest != getattr(survivor, name):
                fields[name] = earliest
        if "email" in fields or "display_name" in fields or took_links or woken:
            fields["sync_claimed_at"] = None  # a push in flight sent the old address: it settles nothing now
            if _is_valid_email(normal):
                fields.update(sync_state=SyncState.PENDING, sync_attempts=0, last_error="")
            else:
                fields.update(sync_state=SyncState.FAILED, last_error="not a valid email address")
        # The others first: the normal form may be theirs until they are gone (unique email).
        contact_model._base_manager.filter(pk__in=[row.pk for row in others]).delete()
        contact_model._base_manager.filter(pk=survivor.pk).update(**fields)
    return len(others)


def _fold(model, rows: list, keep, survivor_pk) -> bool:
    """Delete `rows` but those to `keep`, then move the kept ones to the survivor. Returns whether any moved."""
    kept = {row.pk for row in keep}
    model._base_manager.filter(pk__in=[row.pk for row in rows if row.pk not in kept]).delete()
    moved = [row.pk for row in keep if row.contact_id != survivor_pk]
    if moved:
        model._base_manager.filter(pk__in=moved).update(contact_id=survivor_pk)
    return bool(moved)


# --- emails --------------------------------------------------------------------------------------------------------


def unsubscribe_token(contact: Contact) -> str:
    return signing.dumps(str(contact.id), salt=UNSUBSCRIBE_SALT)


def contact_for_unsubscribe_token(token: str) -> Contact | None:
    try:
        contact_id = signing.loads(token, salt=UNSUBSCRIBE_SALT, max_age=timedelta(days=365))
    except signing.BadSignature:
        return None
    return Contact.objects.filter(id=contact_id).first()


def contact_unsubscribe(*, contact: Contact) -> None:
    if not contact.unsubscribed_at:
        Contact.objects.filter(id=contact.id).update(unsubscribed_at=timezone.now())


class EmailClaimBusy(Exception):
    """Another sender holds a fresh claim on this email: ask again once that claim would be stale."""


def _claim_email(contact: Contact, kind: str) -> EmailDelivery | None:
    """The unique (contact, kind) row is the lock. A claim whose sender died before sending (no sent_at after
    EMAIL_CLAIM_STALE_SECONDS) may be taken over, so a killed worker loses no email. None: already sent."""
    try:
        with atomic():
            return EmailDelivery.objects.create(contact=contact, kind=kind)
    except IntegrityError:
        pass
    now = timezone.now()
    stale = now - timedelta(seconds=settings.EMAIL_CLAIM_STALE_SECONDS)
    claims = EmailDelivery.objects.filter(contact=contact, kind=kind, sent_at__isnull=True)
    if claims.filter(updated_at__lt=stale).update(updated_at=now):
        return claims.first()
    if claims.exists():
        raise EmailClaimBusy(contact.id)
    return None


def contact_send_emails(*, contact_ids, connection=None) -> list:
    """Send every email now due to these contacts, each at most once per contact and kind, over one connection.
    Returns the contacts whose email another sender holds a fresh claim on (ask again once it would be stale). An
    address the mail server refuses is skipped; any other error while sending stops the batch (that email's claim is
    released) and propagates."""
    due = contact_emails_due(contact_ids=contact_ids)
    busy = []
    for contact in Contact.objects.filter(id__in=list(due)):
        try:
            _send(contact, due[contact.id], connection)
        except EmailClaimBusy:
            busy.append(str(contact.id))
        except smtplib.SMTPRecipientsRefused:
            # This address alone (the server took the connection): the rest of the batch goes on. Its claim was
            # released; the sweep tries it again while it is in the sweep's window.
            logger.warning("contact email refused by the mail server", extra={"contact_id": str(contact.id)})
        except ValueError:
            # Django's mail refused the address itself (BadHeaderError for a line break, an address it cannot
            # encode): this contact alone, as above. Its message names the address, so it is not logged.
            logger.warning("contact email address refused by the mailer", extra={"contact_id": str(contact.id)})
    return busy


def contact_send_email(*, contact_id, kind: str | None = None, connection=None) -> bool:
    """Send the onboarding or offboarding email now due, at most once per contact and kind. A send that fails
    releases its claim so a retry can try again. EmailClaimBusy: another sender holds it."""
    due = contact_email_due(contact_id=contact_id)
    if due is None or (kind is not None and kind != due):
        return False
    return _send(Contact.objects.get(id=contact_id), due, connection)


def _send(contact: Contact, kind: str, connection) -> bool:
    delivery = _claim_email(contact, kind)
    if delivery is None:
        return False  # another task sent it
    # Plain-text templates, rendered unescaped ({% autoescape off %}): the name is one line of text (contact_name).
    context = {
        "name": contact.display_name or "there",
        "unsubscribe_url": f"{settings.BASE_URL}/contacts/unsubscribe/{unsubscribe_token(contact)}",
        "app_name": settings.APP_NAME,
        # What the offboarding email promises is what the purge does (TENANT_PURGE_AFTER_DAYS), not a number of its own.
        "kept_days": settings.TENANT_PURGE_AFTER_DAYS,
    }
    try:
        message = EmailMultiAlternatives(
            subject=render_to_string(f"contacts/email/{kind}_subject.txt", context).strip(),
            body=render_to_string(f"contacts/email/{kind}.txt", context),
            to=[contact.email],
            headers={"List-Unsubscribe": f"<{context['unsubscribe_url']}>"},
            connection=connection,
        )
        message.send()
    except Exception:
        # Not sent as far as we can tell. A server that took the message but hung up before its "250" gets it again
        # from the retry: the one double send we cannot rule out here (README, "Contacts and HubSpot").
        EmailDelivery.objects.filter(id=delivery.id).delete()
        raise
    EmailDelivery.objects.filter(id=delivery.id).update(sent_at=timezone.now())
    logger.info("contact email sent", extra={"kind": kind, "contact_id": str(contact.id)})
    return True


# --- HubSpot sync claims and outcomes -------------------------------------------------------------------------------


def contact_claim_batch(*, limit: int = 100, token: str = "", full_only: bool = False) -> list[str]:
    """One batch of contact_claim_batches: the ids this token holds, [] when there was nothing to take."""
    token = token or uuid.uuid4().hex
    for _claimed in contact_claim_batches(tokens=[token], limit=limit, full_only=full_only):
        return contact_claimed(token=token)
    return []


def contact_claim_batches(*, tokens: list[str], limit: int = 100, full_only: bool = False) -> Iterator[str]:
    """Take batches of up to `limit` pending contacts for pushes, one per token, and yield each token as soon as its
    batch is taken (its push can be queued at once). Each batch is one conditional update stamped with its token: of
    two schedulers, exactly one wins each contact. Claims of a worker that died expire after a while.

    tokens: the claimant's own, the same when a killed worker's task is delivered again (derived from the task's
    id). Batches a token already holds and has not settled come first: the redelivered task queues their push again
    instead of leaving them claimed and unsent until the claim expires. full_only: no batch of fewer than `limit`.

    The pending contacts are read once for every batch, and the batches are taken in a few statements (4 batches,
    then 8, 16...: the first pushes start at once): a read and an update per batch took 3.5 s for 200 batches while
    the pushes waited for them (bench/sync --push-only)."""
    held = _holding(tokens)
    yield from (token for token in tokens if token in held)
    free = [token for token in tokens if token not in held]
    stale = timezone.now() - CLAIM_EXPIRY
    claimable = Q(sync_state=SyncState.PENDING) & (Q(sync_claimed_at__isnull=True) | Q(sync_claimed_at__lt=stale))
    candidates = list(
        Contact.objects.filter(claimable).order_by("created_at").values_list("id", flat=True)[: limit * len(free)]
    )
    batches = [
        (token, candidates[start : start + limit])
        for token, start in zip(free, range(0, len(candidates), limit), strict=False)
    ]
    if full_only:
        batches = [(token, batch) for token, batch in batches if len(batch) == limit]
    group = 4
    while batches:
        taken, batches = batches[:group], batches[group:]
        group *= 2
        claims = {contact_id: token for token, batch in taken for contact_id in batch}
        # Row by row under the same condition: a contact another scheduler took meanwhile stays its own, and this
        # token's batch has one contact fewer (a token left with none is not yielded: no empty push is queued).
        update_each(Contact, "sync_claim", claims, where=claimable, also={"sync_claimed_at": timezone.now()})
        tokens_taken = [token for token, _ in taken]
        holding = _holding(tokens_taken)
        yield from (token for token in tokens_taken if token in holding)


def _claimed(**lookup):
    """Pending contacts under a claim: what a claim token holds until its push settles them (or the claim is
    released)."""
    return Contact.objects.filter(sync_state=SyncState.PENDING, sync_claimed_at__isnull=False, **lookup)


def _holding(tokens: list[str]) -> set[str]:
    """Which of these claim tokens hold any contact."""
    return set(_claimed(sync_claim__in=tokens).values_list("sync_claim", flat=True))


def contact_take_claim(*, token: str, taker: str) -> list[str]:
    """The ids of contact_take_push's batch."""
    return [str(person["id"]) for person in contact_take_push(token=token, taker=taker)]


def contact_take_push(*, token: str, taker: str) -> list[dict]:
    """A push takes over the batch a claim token holds, in one conditional update, and gets what it sends of the
    contacts it holds under its own token (`taker`, derived from its task id): a duplicate push of the same batch
    takes nothing, while the same push delivered again (its worker died) finds the batch it had taken. The batch is
    read by its token, not by a list of 100 ids taken first (a query fewer per push)."""
    taker = _taker_token(token, taker)
    _claimed(sync_claim=token).update(sync_claim=taker)
    return _payload(_claimed(sync_claim=taker))


def _taker_token(token: str, taker: str) -> str:
    return hashlib.sha256(f"{token}:{taker}".encode()).hexdigest()[:32]


def contact_resume_emails(*, token: str, taker: str) -> None:
    """The same push delivered again finds its batch settled: the delivery that settled it may have died before it
    queued the emails that became due. Queue them (each email still goes out at most once)."""
    taken = Contact.objects.filter(sync_claim=_taker_token(token, taker))
    schedule_emails([str(i) for i in taken.values_list("id", flat=True)])


def contact_claimed(*, token: str) -> list[str]:
    """The pending contacts this claim token holds."""
    return [str(i) for i in _claimed(sync_claim=token).values_list("id", flat=True)]


def contact_push_payload(*, contact_ids: list[str], claim: str | None = None) -> list[dict]:
    """What a push sends of these contacts, those still pending (and under this claim, if given)."""
    contacts = Contact.objects.filter(id__in=contact_ids)
    return _payload(contacts if claim is None else contacts.filter(sync_claim=claim, sync_claimed_at__isnull=False))


def _payload(contacts) -> list[dict]:
    """{"id", "email", "name", "claim"} per pending contact of the queryset. Only email and name leave for HubSpot
    (contacts.hubspot.upsert_contacts); id and claim stay here, for contact_record_push."""
    # Rows, not model instances: building 100 Contacts (their dates, their UUIDs) was half of a push's CPU. The state
    # is checked here, not in the query: given ids and a state, SQLite looked the contacts up by state (every pending
    # one) instead of by their ids.
    rows = contacts.values_list("id", "email", "display_name", "sync_state", "sync_claim")
    return [
        {"id": contact_id, "email": email, "name": name, "claim": claim}
        for contact_id, email, name, state, claim in rows
        if state == SyncState.PENDING
    ]


def contact_record_push(
    *, contact_ids: list, ids: dict[str, str], errors: dict[str, str], people: list[dict]
) -> list[str]:
    """Store a push's outcome per contact and queue the emails that became due. Returns the HubSpot ids of
    contacts newly synced. A handful of statements per batch, whatever its size, in one transaction (on SQLite one
    writer's turn, not one per statement): the push phase is bound by this bookkeeping, not by HubSpot's limit
    (bench/sync). Should it fail, nothing is stored and the batch stays claimed: its push is tried again (HubSpot
    upserts by email, so a second push changes nothing there).

    people: the push's payload ({"id", "email", "name", "claim"} of each contact it sent, as it read them: a
    contact's email never changes, it is what makes it one contact). Only contacts still under the claim the push
    read, and still of the name it sent, are settled: one renamed while the push was in flight is released for a push
    of its new name."""
    with atomic_or_joined():
        return _record_push(contact_ids, ids, errors, people)


def _record_push(contact_ids: list, ids: dict[str, str], errors: dict[str, str], people: list[dict]) -> list[str]:
    now = timezone.now()
    # Renamed while this push was in flight (license_ingest kept them under its claim): whatever HubSpot said of the
    # old name settles nothing. Released, for the next sync to push the new name; no attempt counted.
    held = Contact.objects.filter(_under_claims(people)).values_list("id", "display_name")
    names = {p["id"]: p["name"] for p in people}
    renamed = [contact_id for contact_id, name in held if name != names[contact_id]]
    if renamed:
        Contact.objects.filter(_under_claims(people, ids=renamed)).update(sync_claimed_at=None)
        people = [p for p in people if p["id"] not in set(renamed)]
    # Ids as the push read them (UUIDs), not their text: a text id is parsed again by every statement that names it.
    synced = {p["id"]: ids[p["email"]] for p in people if p["email"] in ids}  # id -> HubSpot's id
    answered = set(synced)
    failed: dict[str, list] = {}
    for person in people:
        if person["email"] not in ids and person["email"] in errors:
            failed.setdefault(errors[person["email"]][:500], []).append(person["id"])
    if synced:
        update_each(Contact, "hubspot_id", synced)
        marked = Contact.objects.filter(_under_claims(people, ids=list(synced))).update(
            sync_state=SyncState.SYNCED, synced_at=now, last_error="", sync_claimed_at=None, sync_attempts=0
        )
        if marked != len(synced):  # some were released, claimed again or deleted meanwhile: only those marked count
            now_synced = Contact.objects.filter(id__in=list(synced), sync_state=SyncState.SYNCED, synced_at=now)
            synced = {i: synced[i] for i in now_synced.values_list("id", flat=True)}
    for reason, failed_ids in failed.items():  # usually one reason (HubSpot's INVALID_EMAIL), so one statement
        Contact.objects.filter(_under_claims(people, ids=failed_ids)).update(
            sync_state=SyncState.FAILED, last_error=reason, sync_claimed_at=None
        )
    # Answered is settled, marked here or not: one renamed meanwhile is pending for its new name, not unanswered.
    settled = answered | {i for group in failed.values() for i in group}
    # Neither in HubSpot's results nor in its errors: released, so the next sync pushes it again, an attempt counted;
    # after MAX_SYNC_ATTEMPTS it fails (with its reason) rather than being pushed every few minutes for ever.
    unsettled = [person["id"] for person in people if person["id"] not in settled]
    if unsettled:
        unanswered = {"sync_claimed_at": None, "sync_attempts": F("sync_attempts") + 1, "last_error": UNANSWERED}
        # The last attempt first: released, it is under no claim for the second statement.
        last = _under_claims(people, ids=unsettled) & Q(sync_attempts__gte=MAX_SYNC_ATTEMPTS - 1)
        Contact.objects.filter(last).update(sync_state=SyncState.FAILED, **unanswered)
        Contact.objects.filter(_under_claims(people, ids=unsettled)).update(**unanswered)
    # After the states above are stored: outside a transaction this runs at once.
    on_commit(functools.partial(schedule_emails, [str(i) for i in contact_ids]))
    return list(synced.values())


def _under_claims(people: list[dict], ids: list | None = None) -> Q:
    """Contacts still under the claim a push read (its payload's; one claim, but for a batch split in halves). One
    released meanwhile (it keeps its old token, with no claim time: under no claim), or claimed again by another
    sync, whose push owns it now, is not: a push's outcome, failed or not, must not settle, count or fail that one."""
    return Q(
        sync_claim__in={person["claim"] for person in people},
        sync_claimed_at__isnull=False,
        id__in=[person["id"] for person in people] if ids is None else ids,
    )


def contact_mark_failed(*, person: dict, reason: str) -> None:
    """HubSpot refused this contact alone (person: one of a push's payload)."""
    Contact.objects.filter(_under_claims([person])).update(
        sync_state=SyncState.FAILED, last_error=reason[:500], sync_claimed_at=None
    )


def contact_note_error(*, people: list[dict], error: str) -> None:
    """A push of these contacts (a push's payload) failed for a while (HubSpot down, or busy): the reason is shown to
    staff, and no attempt is counted. MAX_SYNC_ATTEMPTS counts pushes HubSpot answered without naming the contact;
    an outage counting there too would fail, for good, contacts that nothing is wrong with. One statement."""
    Contact.objects.filter(_under_claims(people)).update(last_error=error[:500])


def contact_release(*, people: list[dict]) -> None:
    """A push gives up (its last retry): these contacts of its payload stay pending, for the next sync."""
    Contact.objects.filter(_under_claims(people)).update(sync_claimed_at=None)


def contact_retry_sync(*, contact_ids) -> int:
    """Admin action: failed or synced contacts go back to pending and are pushed again. Not those whose address is not
    an email at all: they failed here, before any push (license_ingest), and stay failed with that reason. Pending,
    they would be sent to HubSpot and, with HubSpot off, mailed (a line break in one stopped its whole email batch)."""
    selected = Contact.objects.filter(id__in=list(contact_ids)).values_list("id", "email")
    retried = [contact_id for contact_id, email in selected if _is_valid_email(email)]
    count = Contact.objects.filter(id__in=retried).update(
        sync_state=SyncState.PENDING, sync_claimed_at=None, last_error="", sync_attempts=0
    )
    on_commit(functools.partial(_queue, "hubspot_sync_task"))
    return count


def poll_cursor_get(name: str = "marketplace-licenses") -> PollCursor:
    cursor, _ = PollCursor.objects.get_or_create(name=name)
    return cursor


def poll_cursor_advance(*, cursor: PollCursor, started_at) -> None:
    PollCursor.objects.filter(id=cursor.id).update(last_success_at=started_at)
