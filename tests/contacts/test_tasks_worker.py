"""Marketplace → HubSpot with a real Celery worker, real Redis, and misbehaving stand-ins on 127.0.0.1."""

import json
import os
import signal
import time
import uuid
from datetime import timedelta

import pytest
import redis
from celery import current_app
from django.db import connection
from django.utils import timezone

from contacts import services
from contacts.models import Contact, EmailDelivery, SyncState
from contacts.tasks import hubspot_sync_task, marketplace_poll_task
from devhost.hubspot import HubSpotStandIn
from devhost.marketplace import MarketplaceStandIn, license_record

# Two contacts each: 1,000 contacts, ten HubSpot batches of 100 (pushes before and after the kill), ten Marketplace
# pages, fifty ingest chunks, ten email batches, and about 56 HubSpot calls (without the rate limiter, 14 fall in one
# window). 2,000 proved nothing more (no bound of the push or the ingest lies between) and cost 5 s more of CPU.
LICENSES = 500
BAD_HUBSPOT = 5  # valid for us, refused by HubSpot
MALFORMED = 3  # refused by us before anything leaves
LIMIT, WINDOW = 10, 1.0


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return predicate()


def _broker_idle(redis_url: str, queue: str) -> bool:
    """No task of this queue is in the broker: none queued (any priority), none delivered and unacknowledged (running,
    waiting for its countdown, or a dead worker's waiting to be restored). Nothing runs any more unless beat queues
    it."""
    client = redis.Redis.from_url(redis_url)
    lists = [key for key in client.keys(f"{queue}*") if client.type(key) == b"list"]
    if any(client.llen(key) for key in lists):
        return False
    # kombu's ack emulation: one hash for every queue of the database, each entry [message, exchange, routing key].
    return all(json.loads(entry)[2] != queue for entry in client.hvals("unacked"))


def settle_with_beat(done, seconds: float, *, redis_url: str, queue: str, sweep) -> tuple[bool, int]:
    """Waits for done(). Whenever the broker stays idle (two looks in a row) and it is not done, a task was lost with
    the killed worker: kombu's Redis transport drops the message a solo worker's pending BRPOP took while it ran a
    countdown task (celery/celery#4354), and a push's last retry leaves its contacts to the next scheduled sync.
    Production's safety net for that is beat: sweep() does what beat's run would do once the lost work is due for
    it. Returns (done, how many such runs)."""
    idle_looks, runs = 0, 0

    def settled_or_swept():
        nonlocal idle_looks, runs
        if done():
            return True
        idle_looks = idle_looks + 1 if _broker_idle(redis_url, queue) else 0
        if idle_looks >= 2 and not done():
            idle_looks, runs = 0, runs + 1
            sweep()
        return False

    return wait_for(settled_or_swept, seconds), runs


def hubspot_sync_as_beat_would() -> None:
    """Beat's 5-minute HubSpot sync (settings.CELERY_BEAT_SCHEDULE) as it finds a lost push's contacts: its claim
    stale after services.CLAIM_EXPIRY, taken over by the sync like any pending contact."""
    stale = timezone.now() - services.CLAIM_EXPIRY - timedelta(minutes=1)
    Contact.objects.filter(sync_state=SyncState.PENDING, sync_claimed_at__isnull=False).update(sync_claimed_at=stale)
    hubspot_sync_task.delay()


def email_sweep_as_beat_would() -> None:
    """Beat's 15-minute contact email sweep, 20 minutes on: the onboarding emails a lost task owed are due to it."""
    services.contact_email_sweep(now=timezone.now() + timedelta(minutes=20))


@pytest.fixture
def stand_ins():
    market = MarketplaceStandIn().start()
    hub = HubSpotStandIn(limit=LIMIT, window=WINDOW).start()
    yield market, hub
    market.stop()
    hub.stop()


@pytest.mark.skipif(
    connection.vendor == "mongodb",
    reason="SecantusDB keeps a killed client's transaction locks and stalls everything behind them (real MongoDB "
    "aborts that transaction); this scenario runs on SQLite",
)
@pytest.mark.slow(seconds=35)
def test_1000_contacts_reach_hubspot_exactly_once_despite_failures_and_a_killed_worker(
    start_worker, stand_ins, tmp_path, settings, broker_url
):
    """A worker SIGKILLed mid-run: its tasks come back after the visibility timeout and finish the job. Not always
    all of them: a task can be lost with it (settle_with_beat says how), and production's beat then picks up what it
    owed, so this test runs beat's HubSpot sync and email sweep as beat would once the broker is idle with work left
    (printed: how many runs it took). Every exactly-once promise holds either way."""
    market, hub = stand_ins
    records = [license_record(n) for n in range(LICENSES - BAD_HUBSPOT - MALFORMED)]
    records += [license_record(1000 + n, technical=f"bad{n}@localhost") for n in range(BAD_HUBSPOT)]
    records += [license_record(2000 + n, technical=f"malformed {n}") for n in range(MALFORMED)]
    market.licenses = records
    hub.transient_rate = 0.3
    hub.slow_seconds = 2.0
    env = {
        **market.worker_env(),
        "HUBSPOT_BASE_URL": hub.base_url,
        "HUBSPOT_ACCESS_TOKEN": hub.token,
        # The stand-in's very limit: each call holds its slot until its answer, however slow (contacts/ratelimit.py).
        "HUBSPOT_RATE_LIMIT": LIMIT,
        "HUBSPOT_RATE_WINDOW_SECONDS": WINDOW,
        "HUBSPOT_RATE_LIMIT_KEY": f"hubspot-{uuid.uuid4().hex[:8]}",
        "HUBSPOT_SYNC_RETRY_BASE_SECONDS": 0.2,
        "OUTBOUND_TIMEOUT_SECONDS": 1,
        "CELERY_VISIBILITY_TIMEOUT": 5,  # a killed worker's task comes back after 5 s
        "EMAIL_CLAIM_STALE_SECONDS": 5,  # and an email it had claimed but not sent is taken over after 5 s
        "EMAIL_URL": f"file://{tmp_path}",
    }
    worker = start_worker(**env)
    settings.HUBSPOT_ACCESS_TOKEN = hub.token  # the email sweep run here as beat's sees what the workers see
    beat = {"redis_url": broker_url, "queue": current_app.conf.task_default_queue}  # the workers' queue

    started = time.monotonic()
    marketplace_poll_task.delay()
    # Kill the worker hard once HubSpot traffic is under way, then start a fresh one.
    assert wait_for(lambda: len(hub.calls) >= 8, 180), "HubSpot saw no traffic"
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    start_worker(**env)

    expected_valid = 2 * LICENSES - BAD_HUBSPOT - MALFORMED
    done, syncs = settle_with_beat(
        lambda: (
            Contact.objects.filter(sync_state=SyncState.PENDING).count() == 0
            and Contact.objects.count() == 2 * LICENSES
        ),
        240,
        sweep=hubspot_sync_as_beat_would,
        **beat,
    )
    states = {s: Contact.objects.filter(sync_state=s).count() for s in SyncState.values}
    print(
        f"\nall contacts settled after {time.monotonic() - started:.1f}s; {len(hub.calls)} HubSpot calls; "
        f"beat's sync run {syncs} times"
    )
    assert done, states
    assert states[SyncState.SYNCED] == expected_valid
    # Every valid contact is in HubSpot exactly once, with the id we stored.
    assert len(hub.contacts) == expected_valid
    assert all(count == 1 for count in hub.created.values())
    stored = dict(Contact.objects.filter(sync_state=SyncState.SYNCED).values_list("email", "hubspot_id"))
    assert stored == {email: c["id"] for email, c in hub.contacts.items()}
    # The bad ones failed, each with its reason.
    failed = {c.email: c.last_error for c in Contact.objects.filter(sync_state=SyncState.FAILED)}
    assert len(failed) == BAD_HUBSPOT + MALFORMED
    assert all("INVALID_EMAIL" in why for email, why in failed.items() if email.endswith("@localhost"))
    assert all(why == "not a valid email address" for email, why in failed.items() if " " in email)
    # Never more calls in any rolling window than the account allows, even while failing and retrying.
    assert hub.max_calls_in_any_window() <= LIMIT
    assert {c.status for c in hub.calls} >= {200, 429, 500}
    # HubSpot only ever saw name, email and role.
    sent = [item for call in hub.calls if isinstance(call.body, dict) for item in call.body.get("inputs", [])]
    assert len(sent) >= expected_valid  # every valid contact was sent at least once
    assert all(set(item["properties"]) == {"email", "firstname", "lastname"} for item in sent)
    # Onboarding went out once per contact that can receive it, and never twice.
    sent, sweeps = settle_with_beat(
        lambda: EmailDelivery.objects.filter(sent_at__isnull=False).count() == expected_valid,
        120,
        sweep=email_sweep_as_beat_would,
        **beat,
    )
    assert sent
    print(f"all onboarding emails sent after {time.monotonic() - started:.1f}s; beat's email sweep run {sweeps} times")
    sent_to = []
    for path in tmp_path.iterdir():
        sent_to += [line.split(": ", 1)[1] for line in path.read_text().splitlines() if line.startswith("To: ")]
    assert len(sent_to) == len(set(sent_to)) == expected_valid


def _queued_syncs(redis_url: str, queue: str) -> list[dict]:
    """The hubspot_sync_task messages waiting in the broker for this queue (every priority's list), their kwargs."""
    import base64
    import json

    import redis

    client = redis.Redis.from_url(redis_url)
    found = []
    for key in client.keys(f"{queue}*"):
        if client.type(key) != b"list":
            continue
        for raw in client.lrange(key, 0, -1):
            message = json.loads(raw)
            if message["headers"]["task"] == "contacts.tasks.hubspot_sync_task":
                _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
                found.append(kwargs)
    return found


def test_an_ingest_queues_one_sync_of_each_kind_and_the_last_takes_the_partial_batch(
    start_worker, hubspot, settings, test_redis_url
):
    from celery import current_app

    from contacts import services
    from core.counters import flag_clear

    settings.CACHE_URL = test_redis_url  # the flag every process shares
    settings.CELERY_TASK_DEFAULT_QUEUE = current_app.conf.task_default_queue  # the worker's, as in production
    for full_batches_only in (True, False):
        flag_clear(services._sync_flag(full_batches_only))
    services.license_ingest(records=[license_record(n) for n in range(35)])  # 4 chunks, 70 contacts
    # No worker yet: one sync of full batches (each chunk found one queued) and the ingest's last one.
    queued = _queued_syncs(test_redis_url, current_app.conf.task_default_queue)
    assert sorted(q["full_batches_only"] for q in queued) == [False, True]
    start_worker(
        CACHE_URL=test_redis_url,
        HUBSPOT_BASE_URL=hubspot.base_url,
        HUBSPOT_ACCESS_TOKEN=hubspot.token,
        HUBSPOT_RATE_LIMIT_KEY=settings.HUBSPOT_RATE_LIMIT_KEY,
    )
    assert wait_for(lambda: not Contact.objects.filter(sync_state=SyncState.PENDING).exists(), 60)
    # 70 contacts are no full batch: the sync of full batches took none, the last sync took them in one call.
    assert [len(c.body["inputs"]) for c in hubspot.calls if c.path.endswith("/batch/upsert")] == [70]
    assert Contact.objects.filter(sync_state=SyncState.SYNCED).count() == 70
