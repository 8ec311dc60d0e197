"""Faults injected into the contacts flows with real parts: a Redis broker stopped while a sweep queues, an SMTP server
that hangs up in the middle of a batch, HubSpot answering after the client's timeout, a worker killed mid-push or
mid-sync, and a commit whose reply is lost (on MongoDB for real, through devhost/mongoproxy.py; on SQLite, where a
commit is a local call, at the driver's commit: the one seam). The promise each time: nothing is lost, nothing is
recorded that did not happen, each contact reaches HubSpot as one contact and each email goes out once (bar the one
case the README names)."""

import contextlib
import os
from datetime import timedelta

import pytest
import redis
from celery import current_app
from celery.signals import after_task_publish, task_prerun
from django.core import mail
from django.db import connection
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from contacts import hubspot as hubspot_api
from contacts import services
from contacts.models import Contact, ContactLink, EmailDelivery, License, PollCursor, SyncState
from contacts.tasks import (
    contact_email_batch_task,
    contact_email_sweep_task,
    hubspot_list_add_task,
    hubspot_push_claim_task,
    hubspot_sync_task,
)
from core.db import CommitUnknown
from core.retry import MAX_RETRY_AFTER_SECONDS
from devhost.marketplace import MarketplaceStandIn, license_record
from devhost.smtp import SMTPStandIn
from tenants.models import Tenant
from tenants.services import tenant_uninstall
from tests.conftest import through_mongo_proxy, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

Down = (KombuOperationalError, RedisError)  # a task queued with the broker down: kombu's error, or redis-py's


@pytest.fixture
def smtp(settings):
    server = SMTPStandIn().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield server
    server.stop()


def ingest(*records):
    return services.license_ingest(records=list(records))


def _recipients(smtp) -> list[str]:
    return sorted(r for message in smtp.accepted for r in message.recipients)


def _sent_emails() -> list[str]:
    # By the contacts' ids: django-mongodb-backend answers values_list across a join wrongly.
    sent = EmailDelivery.objects.filter(sent_at__isnull=False).values_list("contact_id", flat=True)
    return sorted(Contact.objects.filter(id__in=list(sent)).values_list("email", flat=True))


def _pending_contacts(settings, count: int) -> None:
    """`count` licenses' contacts, stored and pending, nothing pushed or sent yet."""
    token = settings.HUBSPOT_ACCESS_TOKEN
    settings.HUBSPOT_ACCESS_TOKEN = ""
    ingest(*(license_record(n) for n in range(count)))
    EmailDelivery.objects.all().delete()
    mail.outbox.clear()
    Contact.objects.update(sync_state=SyncState.PENDING)
    settings.HUBSPOT_ACCESS_TOKEN = token


def _upserted(hubspot) -> list[str]:
    """Every email HubSpot was sent in an upsert, once per call that carried it."""
    return sorted(
        item["id"] for call in hubspot.calls if call.path.endswith("/batch/upsert") for item in call.body["inputs"]
    )


# --- 1. the broker down while a sweep queues --------------------------------------------------------------------------


@pytest.fixture
def broker_url(own_redis):
    return own_redis.url()


def _lose_queued_tasks(own_redis) -> None:
    """What the setup queued (no worker runs yet) is lost, as with a broker restarted without persistence."""
    import redis

    redis.Redis.from_url(own_redis.url()).flushdb()


@contextlib.contextmanager
def _broker_stops_after_first_publish(own_redis, *, first_done=lambda: True):
    """The broker goes down once the first task is queued (and, given first_done, once a worker has done it)."""
    published: list[bool] = []  # per task queued: whether the first was done when the broker went down

    def on_publish(**kwargs):
        # Celery logs, and swallows, what a receiver raises: the outcome is recorded for the test to assert.
        published.append(bool(wait_for(first_done, 120)) if not published else False)
        if len(published) == 1:
            own_redis.stop()

    after_task_publish.connect(on_publish, weak=False)
    try:
        yield published
    finally:
        after_task_publish.disconnect(on_publish)


def test_the_broker_down_while_the_email_sweep_queues_loses_nothing_and_sends_each_email_once(
    settings, monkeypatch, smtp, own_redis, start_worker
):
    settings.HUBSPOT_ACCESS_TOKEN = ""  # onboarding is due to every active contact
    ingest(*(license_record(n) for n in range(5)))  # 10 contacts; the task queued for their emails is lost:
    _lose_queued_tasks(own_redis)
    monkeypatch.setattr(services, "EMAIL_BATCH", 4)  # three batches: 4, 4, 2
    start_worker(EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}", HUBSPOT_ACCESS_TOKEN="")
    sweep_at = timezone.now() + timedelta(minutes=20)

    first_sent = lambda: len(smtp.accepted) == 4  # noqa: E731
    with _broker_stops_after_first_publish(own_redis, first_done=first_sent) as published, pytest.raises(Down):
        services.contact_email_sweep(now=sweep_at)
    assert published == [True]
    # Only the first batch went out, and only what went out is recorded as sent.
    first = _recipients(smtp)
    assert len(first) == 4 and _sent_emails() == first
    assert EmailDelivery.objects.count() == 4

    own_redis.start()  # back (empty: no persistence), and the worker reconnects
    assert services.contact_email_sweep(now=sweep_at) == 6  # the first batch is not owed any more
    assert wait_for(lambda: len(smtp.accepted) == 10, 120), _recipients(smtp)
    assert wait_for(lambda: len(_sent_emails()) == 10, 30)
    everyone = sorted(Contact.objects.values_list("email", flat=True))
    assert _recipients(smtp) == everyone == _sent_emails()  # each once
    assert services.contact_email_sweep(now=sweep_at) == 0


def test_the_broker_down_while_the_list_sweep_queues_lists_everyone_on_the_next_sweep(
    settings, monkeypatch, hubspot, own_redis, start_worker
):
    settings.HUBSPOT_ONBOARDING_LIST_ID = "42"
    token = hubspot.token
    settings.HUBSPOT_ACCESS_TOKEN = ""
    ingest(*(license_record(n) for n in range(5)))
    # Synced 20 minutes ago (the sweep's window), onboarded, and their list additions lost.
    for n, contact in enumerate(Contact.objects.order_by("email")):
        hubspot.contacts[contact.email] = {"id": str(900 + n), "properties": {}}
        Contact.objects.filter(id=contact.id).update(
            sync_state=SyncState.SYNCED, hubspot_id=str(900 + n), synced_at=timezone.now() - timedelta(minutes=20)
        )
    settings.HUBSPOT_ACCESS_TOKEN = token
    _lose_queued_tasks(own_redis)
    monkeypatch.setattr(services, "EMAIL_BATCH", 4)
    listed = lambda: Contact.objects.filter(listed_at__isnull=False).count()  # noqa: E731
    start_worker(
        HUBSPOT_BASE_URL=hubspot.base_url,
        HUBSPOT_ACCESS_TOKEN=token,
        HUBSPOT_ONBOARDING_LIST_ID="42",
        HUBSPOT_RATE_LIMIT_KEY=settings.HUBSPOT_RATE_LIMIT_KEY,
    )

    first_listed = lambda: listed() == 4  # noqa: E731
    with _broker_stops_after_first_publish(own_redis, first_done=first_listed) as published, pytest.raises(Down):
        services.contact_list_sweep()
    assert published == [True]
    assert listed() == 4 == len(hubspot.lists["42"])

    own_redis.start()
    assert services.contact_list_sweep() == 6  # only those HubSpot has not confirmed
    assert wait_for(lambda: listed() == 10, 120)
    assert hubspot.lists["42"] == set(Contact.objects.values_list("hubspot_id", flat=True))
    adds = [call for call in hubspot.calls if call.path.endswith("/memberships/add")]
    assert sorted(i for call in adds for i in call.body) == sorted(hubspot.lists["42"])  # each asked for once
    assert services.contact_list_sweep() == 0


def test_the_broker_down_at_an_uninstall_still_offboards_the_sites_contacts_once(
    settings, smtp, own_redis, start_worker, tenant
):
    """The uninstall's offboarding is a task queued after its commit; with the broker down it was lost for good (the
    uninstall answered 204, so Atlassian never sends it again), and no sweep looked for it: the site's contacts stayed
    active contacts, and their offboarding email never went out."""
    settings.HUBSPOT_ACCESS_TOKEN = ""  # onboarding is due to every active contact
    Tenant.objects.filter(id=tenant.id).update(entitlement_id="ent-000001")
    start_worker(EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}", HUBSPOT_ACCESS_TOKEN="")
    ingest(license_record(1))
    assert wait_for(lambda: len(_sent_emails()) == 2, 120)  # both contacts welcomed
    own_redis.stop()
    tenant_uninstall(client_key=tenant.client_key)  # committed; its offboarding task could not be queued
    assert ContactLink.objects.filter(active=True).count() == 2
    own_redis.start()  # back, empty
    sweep_at = timezone.now() + timedelta(minutes=20)
    assert services.contact_email_sweep(now=sweep_at) == 2  # the offboarding made up, both contacts owed a farewell
    assert not ContactLink.objects.filter(active=True).exists()
    assert wait_for(lambda: EmailDelivery.objects.filter(kind="offboarding", sent_at__isnull=False).count() == 2, 120)
    assert services.contact_email_sweep(now=sweep_at) == 0  # once
    assert services.contact_email_sweep(now=sweep_at + timedelta(minutes=20)) == 0
    assert len(smtp.accepted) == 4  # a welcome and a farewell to each, none twice
    assert _recipients(smtp) == sorted(["billing1@company1.example", "tech1@company1.example"] * 2)


# --- 2. the mail server hangs up in the middle of a batch ------------------------------------------------------------


def _owed_onboarding(settings, smtp, licenses: int) -> list[str]:
    """Contacts whose onboarding (sent at their ingest) was lost: due again, to be sent by one batch."""
    settings.HUBSPOT_ACCESS_TOKEN = ""
    ingest(*(license_record(n) for n in range(licenses)))
    EmailDelivery.objects.all().delete()
    smtp.accepted.clear()
    return [str(i) for i in Contact.objects.order_by("email").values_list("id", flat=True)]


def test_the_mail_server_hanging_up_mid_batch_sends_the_rest_on_retry_and_none_twice(settings, smtp):
    ids = _owed_onboarding(settings, smtp, 4)  # one batch of 8
    smtp.hang_up_after = 3  # three accepted, then the connection drops at the fourth MAIL
    contact_email_batch_task.apply(args=(ids,))  # eager: its retry runs at once, over a new connection
    assert smtp.hang_up_after is None  # it did hang up
    everyone = sorted(Contact.objects.values_list("email", flat=True))
    assert _recipients(smtp) == everyone == _sent_emails()
    assert EmailDelivery.objects.filter(sent_at__isnull=True).count() == 0


def test_a_message_the_mail_server_took_without_saying_so_is_the_only_one_sent_twice(settings, smtp):
    # The server stores the fourth message, then drops the connection before its "250": we cannot know it went, so
    # its claim is released and the retry sends it again (README, "Contacts and HubSpot"). Only that one.
    ids = _owed_onboarding(settings, smtp, 4)
    smtp.hang_up_after, smtp.hang_up_before_reply = 3, True
    contact_email_batch_task.apply(args=(ids,))
    assert smtp.hang_up_after is None
    received = _recipients(smtp)
    doubled = {r for r in received if received.count(r) > 1}
    assert len(received) == 9 and len(doubled) == 1
    assert sorted(set(received)) == sorted(Contact.objects.values_list("email", flat=True)) == _sent_emails()


# --- 3. a commit whose reply is lost ---------------------------------------------------------------------------------


@pytest.fixture
def lost_commit(monkeypatch):
    """lost_commit(landed) arms the fault for the next transaction's commit (landed: it committed, else it did not),
    and returns how to tell that it happened. MongoDB: the proxy drops the commit's reply (or the commit itself);
    the driver's own retries fail alike and core.db raises CommitUnknown. SQLite: the commit runs (or is rolled back)
    at the driver and CommitUnknown is raised in its stead."""
    if connection.vendor == "mongodb":
        with through_mongo_proxy() as proxy:

            def arm_mongo(landed: bool, command: str = "commitTransaction"):
                (proxy.lose_replies_to if landed else proxy.lose_requests_to)(command)
                return lambda: proxy.lost.get(command, 0) >= 1

            yield arm_mongo
        return

    lost: list[str] = []

    def arm_sqlite(landed: bool, command: str = "commitTransaction"):
        if command == "commitTransaction":
            real = connection._commit

            def commit():
                if lost:
                    return real()
                if landed:
                    real()
                else:
                    connection.connection.rollback()
                lost.append(command)
                raise CommitUnknown("The commit's reply was lost; the transaction may have landed.")

            monkeypatch.setattr(connection, "_commit", commit)
        else:  # a statement of its own (autocommit), on listed_at: it ran (or not), its answer never came

            def wrapper(execute, sql, params, many, context):
                if lost or not sql.lstrip().upper().startswith(command.upper()) or "listed_at" not in sql:
                    return execute(sql, params, many, context)
                if landed:
                    execute(sql, params, many, context)
                lost.append(command)
                raise CommitUnknown("The statement's reply was lost; it may have landed.")

            stack.enter_context(connection.execute_wrapper(wrapper))
        return lambda: bool(lost)

    with contextlib.ExitStack() as stack:
        yield arm_sqlite


@pytest.mark.parametrize("landed", [True, False], ids=["reply lost", "commit lost"])
def test_a_lost_commit_of_a_push_s_outcome_costs_at_most_one_re_upsert_and_leaves_nobody_claimed(
    settings, hubspot, lost_commit, landed
):
    settings.HUBSPOT_ONBOARDING_LIST_ID = "42"
    _pending_contacts(settings, 3)
    assert list(services.contact_claim_batches(tokens=["sync-l"], limit=100)) == ["sync-l"]
    happened = lost_commit(landed)
    hubspot_push_claim_task.apply(args=("sync-l",), task_id="push-l")  # its retry runs at once (eager)
    assert happened()
    everyone = sorted(Contact.objects.values_list("email", flat=True))
    # Pushed once; pushed again only when the outcome did not land (HubSpot upserts by email: one contact each).
    assert _upserted(hubspot) == sorted(everyone * (1 if landed else 2))
    assert set(hubspot.created.values()) == {1}
    stored = list(Contact.objects.values_list("sync_state", "sync_claimed_at", "sync_attempts", "hubspot_id"))
    assert {(state, claimed, attempts) for state, claimed, attempts, _ in stored} == {(SyncState.SYNCED, None, 0)}
    assert sorted(h for *_, h in stored) == sorted(c["id"] for c in hubspot.contacts.values())
    # Onboarding went out once each, whether the push's own callback ran or its redelivery queued it.
    assert sorted(m.to[0] for m in mail.outbox) == everyone
    # A landed outcome's callbacks were lost with its reply: the list addition comes with the sweep.
    contact_email_sweep_task.apply(kwargs={})
    if landed:
        assert Contact.objects.filter(listed_at__isnull=True).count() == 6
        for_sweep = timezone.now() - timedelta(minutes=20)
        Contact.objects.update(synced_at=for_sweep)
        assert contact_email_sweep_task.apply().get() == 6
    assert not Contact.objects.filter(listed_at__isnull=True).exists()
    assert hubspot.lists["42"] == set(Contact.objects.values_list("hubspot_id", flat=True))
    assert sorted(m.to[0] for m in mail.outbox) == everyone  # and the sweep sent nothing twice


@pytest.mark.parametrize("landed", [True, False], ids=["reply lost", "update lost"])
def test_a_lost_reply_while_marking_contacts_listed_is_settled_by_the_sweep(settings, hubspot, lost_commit, landed):
    _pending_contacts(settings, 3)
    hubspot_sync_task.apply()  # synced (no list configured yet)
    hubspot_ids = sorted(Contact.objects.values_list("hubspot_id", flat=True))
    settings.HUBSPOT_ONBOARDING_LIST_ID = "42"
    happened = lost_commit(landed, "update")
    hubspot_list_add_task.apply(args=(hubspot_ids,))
    assert happened()
    assert hubspot.lists["42"] == set(hubspot_ids)  # HubSpot has them; whether we noted it is unknown
    assert Contact.objects.filter(listed_at__isnull=True).count() == (0 if landed else 6)
    Contact.objects.update(synced_at=timezone.now() - timedelta(minutes=20))
    contact_email_sweep_task.apply()
    assert not Contact.objects.filter(listed_at__isnull=True).exists()
    assert contact_email_sweep_task.apply().get() == 0
    adds = [call for call in hubspot.calls if call.path.endswith("/memberships/add")]
    assert len(adds) <= 2  # asked once more at most, and adding a member twice changes nothing


# --- 3b. HubSpot refusing our account, not the contacts ---------------------------------------------------------------


def test_a_revoked_hubspot_token_fails_no_contact_and_lists_nobody_and_all_sync_once_it_is_replaced(settings, hubspot):
    """A 401 (a private-app token revoked or rotated; likewise a 403 for a missing scope, a proxy's 407, a redirect)
    says nothing about the contacts sent. Taken as HubSpot refusing them, every batch was halved down to single
    contacts (2n - 1 calls), each marked failed for good, and no later sync took them, nor their onboarding; a list
    addition was taken as settled and never asked again."""
    _pending_contacts(settings, 3)
    token = settings.HUBSPOT_ACCESS_TOKEN
    settings.HUBSPOT_ACCESS_TOKEN = "revoked-token"
    hubspot_sync_task.apply()
    assert not Contact.objects.filter(sync_state=SyncState.FAILED).exists()
    assert Contact.objects.filter(sync_state=SyncState.PENDING, sync_claimed_at__isnull=True).count() == 6  # released
    refused = [call for call in hubspot.calls if call.path.endswith("/batch/upsert")]
    assert all(len(call.body["inputs"]) == 6 for call in refused)  # never halved: no contact is to blame

    settings.HUBSPOT_ACCESS_TOKEN = token  # the operator puts the new token in
    hubspot_sync_task.apply()
    assert Contact.objects.filter(sync_state=SyncState.SYNCED).count() == 6
    hubspot_ids = sorted(Contact.objects.values_list("hubspot_id", flat=True))

    settings.HUBSPOT_ONBOARDING_LIST_ID = "42"
    settings.HUBSPOT_ACCESS_TOKEN = "revoked-token"
    hubspot_list_add_task.apply(args=(hubspot_ids,))
    assert Contact.objects.filter(listed_at__isnull=True).count() == 6  # not settled: HubSpot added nobody
    settings.HUBSPOT_ACCESS_TOKEN = token
    Contact.objects.update(synced_at=timezone.now() - timedelta(minutes=20))
    assert services.contact_list_sweep() == 6
    assert hubspot.lists["42"] == set(hubspot_ids)
    assert not Contact.objects.filter(listed_at__isnull=True).exists()


@pytest.mark.parametrize(
    "answer",
    [
        {"results": [{"id": "1", "properties": "tech0@company0.example"}]},
        {"results": [{"id": "1", "properties": {"email": ["tech0@company0.example"]}}]},
        {"results": [], "errors": [{"message": "odd", "context": "tech0@company0.example"}]},
    ],
)
def test_an_upsert_answer_of_another_shape_fails_nobody_and_the_next_push_syncs_everyone(settings, hubspot, answer):
    """A 200 whose JSON is not HubSpot's shape (a string where an object belongs) crashed the push (AttributeError):
    its contacts stayed claimed by a push that had died, for the claim's 15 minutes, before a sync took them again."""
    _pending_contacts(settings, 1)
    hubspot.crafted = [answer]
    assert hubspot_sync_task.apply().successful()
    assert not Contact.objects.filter(sync_state=SyncState.FAILED).exists()
    assert not Contact.objects.filter(sync_claimed_at__isnull=False).exists()  # released at once, not left claimed
    hubspot_sync_task.apply()
    assert Contact.objects.filter(sync_state=SyncState.SYNCED).count() == 2
    assert sorted(hubspot.created) == ["billing0@company0.example", "tech0@company0.example"]


# --- 3c. a Marketplace export longer than a task's default time limit --------------------------------------------


@pytest.mark.slow(seconds=20)
def test_a_marketplace_export_slower_than_the_workers_default_time_limit_is_read_whole(settings, start_worker):
    """A large first export (10,000 licenses: 200 pages of Atlassian's reporting API, seconds each) takes minutes. The
    poll ran under every task's default limit (120 s): it was cut off mid-export, and since only a finished poll moves
    the cursor, the next day's poll read the same export again, and was cut off again, every day. Here a prefork worker
    (the production pool, which enforces time limits) gives tasks 2 seconds by default, and the export takes 4."""
    market = MarketplaceStandIn().start()
    try:
        market.licenses = [license_record(n) for n in range(20)]
        market.page_seconds = 0.8
        env = {
            **market.worker_env(),
            "MARKETPLACE_PAGE_SIZE": 5,
            "HUBSPOT_ACCESS_TOKEN": "",
            "CELERY_TASK_SOFT_TIME_LIMIT": 2,
            "CELERY_TASK_TIME_LIMIT": 3,
        }
        start_worker(processes=2, **env)
        # Published without this process's limits: the worker applies the task's own, else its defaults (beat, which
        # sends the poll in production, puts the task's limits in the message, or its defaults: 120 s).
        current_app.send_task("contacts.tasks.marketplace_poll_task", time_limit=None, soft_time_limit=None)
        finished = lambda: PollCursor.objects.filter(last_success_at__isnull=False).exists()  # noqa: E731
        assert wait_for(finished, 30), market.requests
        assert License.objects.count() == 20
        assert len(market.requests) == 5  # four pages and the empty fifth, each read once
    finally:
        market.stop()


# --- 4. a worker killed mid-push or mid-sync --------------------------------------------------------------------------


def test_a_push_whose_worker_died_is_taken_over_once_its_claim_is_stale_and_each_contact_synced_once(settings, hubspot):
    _pending_contacts(settings, 3)
    assert list(services.contact_claim_batches(tokens=["sync-k"], limit=100)) == ["sync-k"]
    # The push took the batch and sent it; its worker was killed before it stored what HubSpot answered.
    from contacts.hubspot import upsert_contacts

    upsert_contacts(services.contact_take_push(token="sync-k", taker="push-k"))
    everyone = sorted(Contact.objects.values_list("email", flat=True))
    assert _upserted(hubspot) == everyone

    assert hubspot_sync_task.apply().get() == 0  # still claimed: no second push beside one that may be alive
    Contact.objects.update(sync_claimed_at=timezone.now() - services.CLAIM_EXPIRY - timedelta(minutes=1))
    assert hubspot_sync_task.apply().get() == 1  # stale: taken over
    assert set(Contact.objects.values_list("sync_state", "sync_claimed_at", "sync_attempts")) == {
        (SyncState.SYNCED, None, 0)
    }
    # The killed task is delivered again (acks_late): the batch is someone else's now, it pushes nothing.
    hubspot_push_claim_task.apply(args=("sync-k",), task_id="push-k")
    assert _upserted(hubspot) == sorted(everyone * 2)  # the dead push's and the takeover's, nothing more
    assert set(hubspot.created.values()) == {1} and len(hubspot.created) == 6
    assert sorted(m.to[0] for m in mail.outbox) == everyone  # onboarded once each


class _Killed(BaseException):
    """The worker killed at this point: a BaseException, like SystemExit, so no handler of ours or Celery's runs and
    nothing after it does."""


def test_a_sync_killed_before_queueing_a_push_queues_it_when_delivered_again_though_fewer_are_pending(
    settings, hubspot, monkeypatch
):
    monkeypatch.setattr(hubspot_api, "MAX_BATCH", 2)  # 10 contacts: five batches of 2
    _pending_contacts(settings, 5)
    queued: list[str] = []

    def kill_before_the_fifth_push(sender, args, **kwargs):
        if sender.name == hubspot_push_claim_task.name:
            queued.append(args[0])
            if len(queued) == 5:
                raise _Killed

    task_prerun.connect(kill_before_the_fifth_push, weak=False)
    try:
        with pytest.raises(_Killed):
            hubspot_sync_task.apply(task_id="sync-killed")  # eager: the first four pushes ran as they were queued
    finally:
        task_prerun.disconnect(kill_before_the_fifth_push)
    held = Contact.objects.filter(sync_state=SyncState.PENDING)
    assert held.count() == 2 and set(held.values_list("sync_claim", flat=True)) == {queued[-1]}
    # Delivered again (acks_late), with the same task id: it finds the batch it claimed and queues its push now, though
    # two pending contacts are one batch's worth, not the five it took (not after the claim went stale, 15 minutes on).
    assert hubspot_sync_task.apply(task_id="sync-killed").get() == 1
    assert set(Contact.objects.values_list("sync_state", "sync_claimed_at")) == {(SyncState.SYNCED, None)}
    everyone = sorted(Contact.objects.values_list("email", flat=True))
    assert _upserted(hubspot) == everyone  # each once
    assert sorted(m.to[0] for m in mail.outbox) == everyone  # onboarded once each


# --- 5. HubSpot answering after the client's timeout ------------------------------------------------------------------


def test_a_slow_hubspot_is_transient_counts_no_attempt_and_a_push_s_last_try_releases_its_claim(settings, hubspot):
    settings.OUTBOUND_TIMEOUT_SECONDS = 0.3
    hubspot.slow_seconds = 1.0
    _pending_contacts(settings, 3)
    assert list(services.contact_claim_batches(tokens=["sync-s"], limit=100)) == ["sync-s"]
    hubspot.slow_upserts = 1000
    last = hubspot_push_claim_task.max_retries
    with pytest.raises(Exception, match="unreachable"):
        hubspot_push_claim_task.apply(args=("sync-s",), task_id="push-s", retries=last, throw=True)
    # One call at its last try, then released whole: a timeout says nothing about the contacts' data, so the batch is
    # not halved (halves would hold the claim for hours more, and call HubSpot dozens of times while it is slow).
    upserts = lambda: [c for c in hubspot.calls if c.path.endswith("/batch/upsert")]  # noqa: E731
    assert wait_for(upserts, 10)  # recorded once HubSpot has answered, late
    assert len(upserts()) == 1
    stored = list(Contact.objects.values_list("sync_state", "sync_claimed_at", "sync_attempts", "last_error"))
    assert {(state, claimed, attempts) for state, claimed, attempts, _ in stored} == {(SyncState.PENDING, None, 0)}
    assert {error for *_, error in stored} == {"HubSpot unreachable: ReadTimeoutError"}

    hubspot.slow_upserts = 2  # slow twice more, then quick: the retries (eager, at once) get through
    assert hubspot_sync_task.apply().get() == 1
    assert set(Contact.objects.values_list("sync_state", "sync_claimed_at", "sync_attempts", "last_error")) == {
        (SyncState.SYNCED, None, 0, "")
    }
    assert set(hubspot.created.values()) == {1} and len(hubspot.created) == 6


def test_a_hubspot_trickling_its_answer_ends_each_try_at_the_deadline_and_the_push_retries_then_syncs_once(
    settings, hubspot, trickle
):
    # A byte every 20 ms, never idle as long as the socket timeout (10 s): only OUTBOUND_DEADLINE_SECONDS (1 s) ends a
    # try. Before it, one push held its worker for the stand-in's whole patience (15 s) per try.
    settings.OUTBOUND_DEADLINE_SECONDS = 1.0
    _pending_contacts(settings, 3)
    settings.HUBSPOT_BASE_URL = trickle.base_url
    assert list(services.contact_claim_batches(tokens=["sync-t"], limit=100)) == ["sync-t"]
    last = hubspot_push_claim_task.max_retries
    # One try before its last: the task's own retry policy runs the last (eager, at once), which ends in the error.
    result = hubspot_push_claim_task.apply(args=("sync-t",), task_id="push-t", retries=last - 1)
    assert isinstance(result.result, hubspot_api.HubSpotError) and result.result.transient
    assert trickle.ended(2) == ["client", "client"]  # both tries cut by us, neither sat out the server's patience
    assert len(trickle.requests) == 2
    # Retryable, and released after the last try: pending, unclaimed, no attempt counted against the contacts.
    stored = list(Contact.objects.values_list("sync_state", "sync_claimed_at", "sync_attempts", "last_error"))
    assert {(state, claimed, attempts) for state, claimed, attempts, _ in stored} == {(SyncState.PENDING, None, 0)}
    assert {error for *_, error in stored} == {"HubSpot unreachable: ReadTimeoutError"}

    settings.HUBSPOT_BASE_URL = hubspot.base_url  # HubSpot answers again: the next sync pushes each contact once
    assert hubspot_sync_task.apply().get() == 1
    assert set(Contact.objects.values_list("sync_state", "sync_claimed_at", "sync_attempts", "last_error")) == {
        (SyncState.SYNCED, None, 0, "")
    }
    assert set(hubspot.created.values()) == {1} and len(hubspot.created) == 6


@pytest.mark.parametrize("retry_after", ["1e9", "86400"])
def test_an_absurd_retry_after_from_hubspot_holds_its_calls_back_an_hour_at_most(settings, hubspot, retry_after):
    """A 429 blocks every worker's HubSpot calls for its Retry-After (contacts/ratelimit.py, in Redis). A finite but
    absurd one (a proxy's, a misconfigured gateway's) stopped every contact sync for as long as it said: 1e9, 31
    years, until someone deleted the key. Real stand-in, real Redis."""
    settings.RATE_LIMIT_REDIS_URL = os.environ["TEST_REDIS_URL"]
    hubspot.retry_after_answers = [retry_after]
    with pytest.raises(hubspot_api.HubSpotError) as refused:
        hubspot_api.upsert_contacts([{"email": "ann@example.com", "name": "Ann Smith"}])
    assert refused.value.status == 429
    assert refused.value.retry_after == MAX_RETRY_AFTER_SECONDS == 3600
    blocked = redis.Redis.from_url(settings.RATE_LIMIT_REDIS_URL).pttl(
        f"ratelimit:{settings.HUBSPOT_RATE_LIMIT_KEY}:blocked"
    )
    assert 0 < blocked <= MAX_RETRY_AFTER_SECONDS * 1000
