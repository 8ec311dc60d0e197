"""Thin, idempotent tasks: ids in, services do the work. Safe to run twice and to be killed half-way
(acks_late: a killed worker's task is delivered again; HubSpot upserts by email, emails are claimed once)."""

import functools
import logging
import random
import uuid

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from pymongo.errors import PyMongoError

from core import jsonbody
from core.db import on_commit

logger = logging.getLogger(__name__)


# Limits of its own, as the backup's: a large first export (10,000 licenses are 200 pages of Atlassian's reporting API,
# seconds each) takes minutes, and under every task's default (CELERY_TASK_SOFT_TIME_LIMIT, 120 s) it was cut off
# mid-export every day: only a finished poll moves the cursor, so each day's poll read the same export again. The hard
# limit stays under CELERY_VISIBILITY_TIMEOUT (3600 s) less its margin (core/countdown.py, check E009): at 3600 s a
# poll still running was handed to a second worker.
@shared_task(bind=True, acks_late=True, max_retries=5, ignore_result=True, soft_time_limit=3000, time_limit=3200)
def marketplace_poll_task(self) -> None:
    from . import services
    from .marketplace import MarketplaceError, iter_licenses

    if not settings.MARKETPLACE_VENDOR_ID:
        logger.info("marketplace poll skipped: MARKETPLACE_VENDOR_ID is not set")
        return
    cursor = services.poll_cursor_get()
    started_at = timezone.now()
    since = cursor.last_success_at.date().isoformat() if cursor.last_success_at else None
    try:
        records = list(iter_licenses(last_updated=since))
    except MarketplaceError as exc:
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from exc
    result = services.license_ingest(records=records)
    # Only a run that finished moves the cursor, so a failed run's licenses are fetched again next time.
    services.poll_cursor_advance(cursor=cursor, started_at=started_at)
    logger.info(
        "marketplace poll done",
        extra={"licenses": result.licenses, "new_contacts": result.contacts, "purged_left_out": result.purged},
    )


@shared_task(bind=True, acks_late=True, ignore_result=True)
def hubspot_sync_task(self, full_batches_only: bool = False) -> int:
    """Claim pending contacts in batches of 100 and queue one push per batch. Each batch's claim token derives from
    this task's id, so if a worker dies between a claim and its queueing, the task delivered again finds the batch
    it holds and queues it then (instead of it waiting, claimed, for the claim to expire).

    full_batches_only: during an ingest, only batches of 100: each push is one call of HubSpot's limit whatever its
    size, so a partial batch would waste one. The ingest's last sync takes the rest."""
    from .services import sync_queue, sync_started, sync_turn

    if not settings.HUBSPOT_ACCESS_TOKEN:
        sync_started(full_batches_only=full_batches_only)
        logger.info("hubspot sync skipped: HUBSPOT_ACCESS_TOKEN is not set")
        return 0
    with sync_turn():
        # Started once it has its turn: commits meanwhile need queue no other sync, this one counts after them.
        sync_started(full_batches_only=full_batches_only)
        batches, more = _sync(self, full_batches_only)
    if more:
        # The rest in the next sync, queued below the pushes' priority: it starts once they are all under way.
        sync_queue(full_batches_only=full_batches_only)
    return batches


def _sync(task, full_batches_only: bool) -> tuple[int, bool]:
    """Claims and queues; returns how many batches, and whether more are pending than one sync takes."""
    from .hubspot import MAX_BATCH
    from .models import Contact, SyncState
    from .services import contact_claim_batches

    run = (task.request.id or uuid.uuid4().hex).replace("-", "")[:24]
    # At most one window of HubSpot's limit: more pushes than that could not go out before the next window anyway.
    # Claiming them later keeps claims short, and the first window's pushes do not share the CPU with claims for the
    # next (bench/sync --push-only). Every token of the window, whatever is pending now: this task delivered again
    # (its worker died before queueing every push) finds each batch its first delivery took, though by now the
    # pushes it did queue have left fewer pending than that. With tokens only for what is pending now, it missed the
    # last ones, claimed for nobody until the claim went stale and the 5-minute sync took them (20 minutes).
    # (More tokens than batches claim nothing more: the batches come from one read of what is pending.)
    tokens = [f"{run}{n:08x}" for n in range(settings.HUBSPOT_RATE_LIMIT)]
    rounds = Contact.objects.filter(sync_state=SyncState.PENDING).count() // MAX_BATCH + 1
    batches = 0
    for token in contact_claim_batches(tokens=tokens, limit=MAX_BATCH, full_only=full_batches_only):
        hubspot_push_claim_task.delay(token)
        batches += 1
    # More only when this sync took all it may: one that found fewer to take leaves nothing a next one could take
    # now (the rest is claimed by pushes waiting for the window), and must not queue syncs that spin.
    return batches, rounds > len(tokens) and batches == len(tokens)


@shared_task(bind=True, acks_late=True, max_retries=12, ignore_result=True)
def hubspot_push_claim_task(self, token: str) -> None:
    """Push the batch a claim token holds. The sync task may queue one batch twice (it was delivered again after its
    worker died): the first push to run takes the batch over, the other finds nothing (contact_take_push)."""
    from .services import contact_resume_emails, contact_take_push

    taker = self.request.id or uuid.uuid4().hex
    people = contact_take_push(token=token, taker=taker)
    if people:
        _push(self, people)
    else:
        contact_resume_emails(token=token, taker=taker)


@shared_task(bind=True, acks_late=True, max_retries=12, ignore_result=True)
def hubspot_push_batch_task(self, contact_ids: list[str], claim: str | None = None) -> None:
    """These contacts, already claimed (half of a batch HubSpot refused as a whole), those still under the claim."""
    from . import services

    people = services.contact_push_payload(contact_ids=contact_ids, claim=claim)
    pending = {str(person["id"]) for person in people}
    if settled := [str(i) for i in contact_ids if str(i) not in pending]:
        # Settled already, by a delivery of this push that may have died before queueing their emails (each email
        # still goes out once). Not released: one may be under another sync's claim by now.
        services.schedule_emails(settled)
    if people:
        _push(self, people)


def _push(task, people: list[dict]) -> None:
    """people: contacts.services' push payload, of contacts this push holds."""
    from . import services
    from .hubspot import HubSpotError, upsert_contacts
    from .ratelimit import RateLimitTimeout

    ids = [person["id"] for person in people]
    try:
        result = upsert_contacts(people)
        try:
            synced = services.contact_record_push(contact_ids=ids, ids=result.ids, errors=result.errors, people=people)
        except (DatabaseError, PyMongoError) as exc:
            # Nothing of the outcome was stored (one transaction) and the batch is still this push's: the task runs
            # again and pushes it again (HubSpot upserts by email), instead of the claim waiting out its expiry.
            raise _retry_or_release(task, people, exc, _backoff(task)) from exc
        if synced and settings.HUBSPOT_ONBOARDING_LIST_ID:
            # Its own task, retried on its own: the contacts are synced now, so a retry of this push would find
            # nothing pending and they would never join the list.
            on_commit(functools.partial(hubspot_list_add_task.delay, synced))
    except RateLimitTimeout as exc:
        raise _retry_or_release(task, people, exc, settings.HUBSPOT_RATE_WINDOW_SECONDS) from exc
    except HubSpotError as exc:
        services.contact_note_error(people=people, error=str(exc))
        if exc.transient:
            if exc.status == 429:
                base = settings.HUBSPOT_SYNC_RETRY_BASE_SECONDS
                countdown = (exc.retry_after or settings.HUBSPOT_RATE_WINDOW_SECONDS) + random.uniform(0, base)
            else:
                countdown = _backoff(task)
            # No answer (a timeout, HubSpot unreachable), a 429 or a refusal of our account (a revoked token) says
            # nothing about the contacts: released whole.
            if task.request.retries < task.max_retries or len(ids) == 1 or exc.not_about_the_data:
                raise _retry_or_release(task, people, exc, countdown) from exc
            # Its last try answered with a 5xx too: perhaps one contact's data makes HubSpot fail every time. Released
            # whole, the same batch would be claimed again, oldest first, with it; halved, the others get through.
            _split(ids, people)
            raise exc
        # A permanent refusal of the whole batch (HubSpot's 400 when one email is bad): halve it until the bad
        # contact stands alone, so it alone is marked failed and the others go through.
        if len(ids) == 1:
            services.contact_mark_failed(person=people[0], reason=_reason(exc))
            return
        _split(ids, people)


def _split(ids: list, people: list[dict]) -> None:
    """Push the batch again in two halves, still under this push's claim (hubspot_push_batch_task)."""
    middle, claim = len(ids) // 2, people[0]["claim"]
    hubspot_push_batch_task.delay([str(i) for i in ids[:middle]], claim)
    hubspot_push_batch_task.delay([str(i) for i in ids[middle:]], claim)


@shared_task(bind=True, acks_late=True, max_retries=12, ignore_result=True)
def hubspot_list_add_task(self, hubspot_ids: list[str]) -> None:
    """Synced contacts join the onboarding list (adding a member twice changes nothing)."""
    from .hubspot import HubSpotError, add_to_list
    from .ratelimit import RateLimitTimeout
    from .services import contact_mark_listed

    try:
        add_to_list(settings.HUBSPOT_ONBOARDING_LIST_ID, hubspot_ids)
        contact_mark_listed(hubspot_ids=hubspot_ids)
    except RateLimitTimeout as exc:
        raise self.retry(exc=exc, countdown=settings.HUBSPOT_RATE_WINDOW_SECONDS) from exc
    except HubSpotError as exc:
        if not exc.transient:
            # For good (a wrong list id, a contact HubSpot no longer has): settled, or every sweep would ask again.
            logger.warning("hubspot list add refused", extra={"status": exc.status, "contacts": len(hubspot_ids)})
            contact_mark_listed(hubspot_ids=hubspot_ids)
            return
        raise self.retry(exc=exc, countdown=_backoff(self)) from exc


def _retry_or_release(task, people: list[dict], exc: Exception, countdown: float) -> Exception:
    """The push's next try; after its last, its contacts are released, left pending for the next scheduled sync
    rather than claimed by a push that gave up until the claim expires. Returns what to raise."""
    from . import services

    if task.request.retries < task.max_retries:
        return task.retry(exc=exc, countdown=countdown, throw=False)
    try:
        services.contact_release(people=people)
    except (DatabaseError, PyMongoError):
        logger.warning("hubspot push gave up; its claim expires instead", extra={"contacts": len(people)})
    return exc


def _backoff(task) -> float:
    """Seconds before a HubSpot call's next try: doubling from HUBSPOT_SYNC_RETRY_BASE_SECONDS, jittered, at most
    10 minutes."""
    base = settings.HUBSPOT_SYNC_RETRY_BASE_SECONDS
    return min(600, base * 2**task.request.retries + random.uniform(0, base))


def _reason(exc) -> str:
    try:
        body = jsonbody.loads(exc.body) if exc.body else {}
        return f"HubSpot {exc.status}: {body.get('message') or body.get('category') or 'rejected'}"
    except (jsonbody.BadJson, TypeError, AttributeError):
        return f"HubSpot {exc.status}: rejected"


@shared_task(bind=True, acks_late=True, max_retries=5, ignore_result=True)
def contact_email_batch_task(self, contact_ids: list[str]) -> None:
    from django.core.mail import get_connection

    from .services import EMAIL_PRIORITY, contact_send_emails

    try:
        with get_connection() as connection:
            busy = contact_send_emails(contact_ids=contact_ids, connection=connection)
    except OSError as exc:  # SMTP down: that claim was released; the whole batch tries again later
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from exc
    if busy and not self.request.is_eager:  # eager (no broker) would run it again at once, forever
        # Another sender holds these (this task may be the redelivery of a killed one): come back when its claim
        # would be stale, so an email a dead worker claimed still goes out, and one that went out is not repeated.
        contact_email_batch_task.apply_async(
            (busy,), countdown=settings.EMAIL_CLAIM_STALE_SECONDS + 1, priority=EMAIL_PRIORITY
        )


@shared_task(acks_late=True, ignore_result=True)
def contact_email_sweep_task() -> int:
    """Beat, every 15 minutes: emails due and onboarding list additions unconfirmed whose task was lost
    (services.contact_email_sweep, contact_list_sweep). Returns how many contacts were owed one or the other."""
    from .services import contact_email_sweep, contact_list_sweep

    # Each sweep runs whatever the other does: a failure of one (the broker gone mid-queue) must not skip the other.
    try:
        owed = contact_email_sweep()
    finally:
        unlisted = contact_list_sweep()
    if owed or unlisted:
        logger.warning("contact follow-ups owed, queued again", extra={"emails": owed, "list_additions": unlisted})
    return owed + unlisted


@shared_task(acks_late=True, ignore_result=True)
def tenant_offboard_task(tenant_id: str) -> None:
    from .services import tenant_offboard

    tenant_offboard(tenant_id=tenant_id)
