import re
import threading
import uuid
from datetime import timedelta

import pytest
from celery.signals import task_prerun
from django.core import mail
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts import ratelimit, services
from contacts.models import Contact, ContactLink, EmailDelivery, EmailKind, PollCursor, SyncState
from contacts.tasks import (
    contact_email_sweep_task,
    hubspot_push_claim_task,
    hubspot_sync_task,
    marketplace_poll_task,
)
from core.db import atomic
from core.rows import update_each
from devhost.marketplace import MarketplaceStandIn, license_record
from devhost.smtp import SMTPStandIn
from tenants.models import Tenant
from tenants.services import tenant_uninstall

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def smtp():
    server = SMTPStandIn().start()
    yield server
    server.stop()


def ingest(*records):
    return services.license_ingest(records=list(records))


def pending_contacts(count: int, **fields) -> None:
    """`count` contacts waiting for HubSpot, as an ingest leaves them, written in one statement: the claim and push
    tests need hundreds (batches are 100), which an ingest writes one row at a time (seconds on SecantusDB)."""
    Contact.objects.bulk_create(
        Contact(email=f"person{n:04d}@company.example", display_name=f"Person {n}", **fields) for n in range(count)
    )


def test_one_person_on_several_licenses_is_one_contact(hubspot):
    ingest(license_record(1, technical="Ann@Example.com"), license_record(2, billing="ann@example.com "))
    ann = Contact.objects.get(email="ann@example.com")
    assert ContactLink.objects.filter(contact=ann).count() == 2
    assert Contact.objects.count() == 3  # ann, billing1, tech2


def test_only_email_and_name_reach_hubspot(hubspot):
    ingest(*(license_record(n) for n in range(3)))
    assert Contact.objects.filter(sync_state=SyncState.SYNCED).count() == 6
    upserts = [c for c in hubspot.calls if c.path.endswith("/batch/upsert")]
    assert upserts
    for call in upserts:
        for item in call.body["inputs"]:
            assert set(item) == {"id", "idProperty", "properties"}
            assert set(item["properties"]) == {"email", "firstname", "lastname"}
    assert hubspot.contacts["tech1@company1.example"]["properties"]["firstname"] == "Tech"
    assert all(c.hubspot_id for c in Contact.objects.all())


def test_a_bad_email_fails_alone_and_the_rest_sync(hubspot):
    # Valid for Django, refused by HubSpot: the batch is halved until the bad one stands alone.
    ingest(*(license_record(n) for n in range(5)), license_record(9, technical="someone@localhost"))
    bad = Contact.objects.get(email="someone@localhost")
    assert bad.sync_state == SyncState.FAILED
    assert "INVALID_EMAIL" in bad.last_error
    assert Contact.objects.filter(sync_state=SyncState.SYNCED).count() == 11
    assert all(n == 1 for n in hubspot.created.values())


def test_a_malformed_email_never_leaves(hubspot):
    ingest(license_record(1, technical="not an email"))
    contact = Contact.objects.get(email="not an email")
    assert contact.sync_state == SyncState.FAILED and contact.last_error == "not a valid email address"
    assert all("not an email" not in str(c.body) for c in hubspot.calls)


def test_transient_failures_are_retried_until_synced(hubspot, settings):
    settings.OUTBOUND_TIMEOUT_SECONDS = 0.5
    hubspot.slow_seconds = 1.0
    hubspot.transient_rate = 0.5
    ingest(*(license_record(n) for n in range(60)))
    assert Contact.objects.filter(sync_state=SyncState.SYNCED).count() == 120
    assert {c.status for c in hubspot.calls} >= {200, 500}
    assert all(n == 1 for n in hubspot.created.values())


def test_a_2xx_answer_that_is_not_json_is_retried_and_fails_nobody(hubspot):
    hubspot.html_answers = 2
    ingest(*(license_record(n) for n in range(3)))
    assert hubspot.html_answers == 0  # both pages were served
    assert Contact.objects.filter(sync_state=SyncState.SYNCED).count() == 6
    assert not Contact.objects.filter(sync_state=SyncState.FAILED).exists()


def test_onboarding_is_sent_once_even_when_ingestion_runs_twice(hubspot):
    ingest(license_record(1))
    ingest(license_record(1))
    services.contact_send_email(contact_id=Contact.objects.first().id, kind="onboarding")  # a retried task
    assert sorted(m.to[0] for m in mail.outbox) == ["billing1@company1.example", "tech1@company1.example"]
    assert EmailDelivery.objects.filter(kind="onboarding").count() == 2
    message = mail.outbox[0]
    assert "/contacts/unsubscribe/" in message.body and message.extra_headers["List-Unsubscribe"]


def test_offboarding_once_when_the_license_ends(hubspot, settings):
    settings.TENANT_PURGE_AFTER_DAYS = 30
    ingest(license_record(1))
    ingest(license_record(1, status="inactive"))
    ingest(license_record(1, status="inactive"))
    offboarding = [m for m in mail.outbox if "has ended" in m.subject]
    assert sorted(m.to[0] for m in offboarding) == ["billing1@company1.example", "tech1@company1.example"]
    # It says how long the data stays as the purge does it.
    assert "kept for 30 days" in " ".join(offboarding[0].body.split())


def test_no_offboarding_while_another_license_is_active(hubspot):
    ingest(license_record(1, technical="shared@example.com"), license_record(2, technical="shared@example.com"))
    ingest(license_record(1, status="inactive", technical="shared@example.com"))
    assert not [m for m in mail.outbox if "has ended" in m.subject and m.to == ["shared@example.com"]]


def test_uninstall_offboards_the_sites_contacts(hubspot, client, tenant, standin):
    Tenant.objects.filter(id=tenant.id).update(entitlement_id="ent-000001")
    ingest(license_record(1))

    tenant_uninstall(client_key=tenant.client_key)
    offboarding = [m for m in mail.outbox if "has ended" in m.subject]
    assert len(offboarding) == 2


def test_the_unsubscribe_link_works_and_stops_emails(hubspot, client):
    ingest(license_record(1))
    contact = Contact.objects.get(email="tech1@company1.example")
    url = f"/contacts/unsubscribe/{services.unsubscribe_token(contact)}"
    assert client.get(url).status_code == 200
    contact.refresh_from_db()
    assert contact.unsubscribed_at is None  # a GET (a mail scanner) unsubscribes nobody
    assert client.post(url).status_code == 200
    contact.refresh_from_db()
    assert contact.unsubscribed_at is not None
    ingest(license_record(1, status="inactive"))
    assert not [m for m in mail.outbox if "has ended" in m.subject and m.to == [contact.email]]
    assert client.post("/contacts/unsubscribe/forged-token").status_code == 404


def test_garbage_records_are_skipped(hubspot):
    result = ingest({"nothing": "here"}, {"addonLicenseId": ""}, license_record(1))
    assert result.skipped == 2 and result.licenses == 1


@pytest.mark.slow(seconds=2)
def test_the_marketplace_poll_pages_and_moves_its_cursor(hubspot, settings):
    market = MarketplaceStandIn().start()
    try:
        # Three pages, the last one short: 12 licenses at 5 a page (the API's 120 at 50 a page, at a tenth of the cost).
        settings.MARKETPLACE_PAGE_SIZE = 5
        market.licenses = [license_record(n) for n in range(12)]
        settings.MARKETPLACE_API_URL = market.base_url
        settings.MARKETPLACE_VENDOR_ID = market.vendor_id
        settings.MARKETPLACE_ACCOUNT_EMAIL, settings.MARKETPLACE_API_TOKEN = "vendor@example.com", "marketplace-token"
        marketplace_poll_task.delay()
        assert Contact.objects.count() == 24
        assert [(int(r["offset"]), int(r["limit"])) for r in market.requests] == [(0, 5), (5, 5), (10, 5)]
        assert PollCursor.objects.get().last_success_at is not None
        marketplace_poll_task.delay()
        assert "lastUpdated" in market.requests[-1]
    finally:
        market.stop()


def _dead_senders_claim(contact, *, age_seconds):
    """What a worker killed between claiming and sending leaves: a claim row with no sent_at."""
    EmailDelivery.objects.filter(contact=contact).delete()
    claim = EmailDelivery.objects.create(contact=contact, kind="onboarding")
    EmailDelivery.objects.filter(id=claim.id).update(updated_at=timezone.now() - timedelta(seconds=age_seconds))
    mail.outbox.clear()


def test_an_email_claimed_by_a_killed_worker_is_sent_once_its_claim_is_stale(hubspot, settings):
    settings.EMAIL_CLAIM_STALE_SECONDS = 30
    ingest(license_record(1))
    contact = Contact.objects.get(email="tech1@company1.example")
    _dead_senders_claim(contact, age_seconds=5)
    # Still fresh: the email is still due (not counted as sent), and whoever asks is told to come back.
    assert services.contact_email_due(contact_id=contact.id) == "onboarding"
    with pytest.raises(services.EmailClaimBusy):
        services.contact_send_email(contact_id=contact.id)
    assert mail.outbox == []
    _dead_senders_claim(contact, age_seconds=31)
    assert services.contact_send_email(contact_id=contact.id) is True
    assert [m.to[0] for m in mail.outbox] == ["tech1@company1.example"]
    assert EmailDelivery.objects.get(contact=contact).sent_at is not None
    assert services.contact_send_email(contact_id=contact.id) is False  # and never twice
    assert len(mail.outbox) == 1


def test_a_push_s_outcome_is_stored_in_a_few_statements_whatever_the_batch_size(
    settings, django_assert_max_num_queries
):
    settings.HUBSPOT_ACCESS_TOKEN = ""  # no push runs here: this test records one by hand
    pending_contacts(100)
    contacts = list(Contact.objects.order_by("email"))
    assert len(contacts) == 100
    ids = {c.email: f"hs-{n}" for n, c in enumerate(contacts[:97])}
    errors = {contacts[97].email: "INVALID_EMAIL: refused", contacts[98].email: "INVALID_EMAIL: refused"}
    # contacts[99]: in neither answer, so released for the next sync.
    Contact.objects.update(sync_claimed_at=timezone.now(), sync_state=SyncState.PENDING)
    people = services.contact_push_payload(contact_ids=[str(c.id) for c in contacts])
    # held (the renamed check), ids, states, failures, the unanswered one's cap and its attempt; emails after commit
    with atomic(), django_assert_max_num_queries(6):
        synced = services.contact_record_push(
            contact_ids=[p["id"] for p in people], ids=ids, errors=errors, people=people
        )
    assert sorted(synced) == sorted(ids.values())
    stored = {c.email: c for c in Contact.objects.all()}
    assert all(stored[e].hubspot_id == i and stored[e].sync_state == SyncState.SYNCED for e, i in ids.items())
    assert all(stored[e].sync_claimed_at is None for e in stored)
    assert [stored[e].sync_state for e in errors] == [SyncState.FAILED] * 2
    assert stored[contacts[97].email].last_error == "INVALID_EMAIL: refused"
    unanswered = stored[contacts[99].email]
    assert (unanswered.sync_state, unanswered.sync_attempts) == (SyncState.PENDING, 1)
    assert unanswered.last_error == services.UNANSWERED
    # Unmentioned in every answer, it fails after MAX_SYNC_ATTEMPTS pushes instead of coming back for ever.
    claimed_again = {"sync_claimed_at": timezone.now()}  # by the next sync, whose push goes unanswered too
    Contact.objects.filter(id=unanswered.id).update(sync_attempts=services.MAX_SYNC_ATTEMPTS - 1, **claimed_again)
    again = services.contact_push_payload(contact_ids=[str(unanswered.id)])
    services.contact_record_push(contact_ids=[unanswered.id], ids={}, errors={}, people=again)
    unanswered.refresh_from_db()
    assert (unanswered.sync_state, unanswered.sync_attempts) == (SyncState.FAILED, services.MAX_SYNC_ATTEMPTS)
    assert unanswered.sync_claimed_at is None
    # A push that fails (HubSpot down or busy) shows why, and counts no attempt: an outage fails nobody.
    Contact.objects.filter(id__in=[c.id for c in contacts[:3]]).update(sync_state=SyncState.PENDING, **claimed_again)
    with django_assert_max_num_queries(1):
        people = [{"id": c.id, "claim": c.sync_claim} for c in contacts[:3]]
        services.contact_note_error(people=people, error="HubSpot answered 500")
    assert {c.sync_attempts for c in Contact.objects.filter(id__in=[c.id for c in contacts[:3]])} == {0}
    assert Contact.objects.get(id=contacts[0].id).last_error == "HubSpot answered 500"


def test_a_batch_is_pushed_by_the_first_push_that_takes_it_and_resumed_by_that_push_only(settings):
    settings.HUBSPOT_ACCESS_TOKEN = ""  # ingestion alone
    ingest(*(license_record(n) for n in range(5)))
    Contact.objects.update(sync_state=SyncState.PENDING)
    batch = services.contact_claim_batch(limit=100, token="sync-run-0001")
    assert len(batch) == 10
    assert services.contact_claim_batch(limit=100, token="sync-run-0001") == batch  # the sync task delivered again
    taken = services.contact_take_claim(token="sync-run-0001", taker="push-task-a")
    assert sorted(taken) == sorted(batch)
    assert services.contact_take_claim(token="sync-run-0001", taker="push-task-b") == []  # a duplicate push: nothing
    assert sorted(services.contact_take_claim(token="sync-run-0001", taker="push-task-a")) == sorted(batch)  # resumed
    assert services.contact_claimed(token="sync-run-0001") == []  # so a redelivered sync task queues it no more


def test_synced_contacts_join_the_onboarding_list_even_when_the_list_is_down_at_first(hubspot, settings):
    settings.HUBSPOT_ONBOARDING_LIST_ID = "42"
    hubspot.failing_list_adds = 2  # the upserts succeed; adding them to the list fails twice
    ingest(*(license_record(n) for n in range(3)))
    assert hubspot.failing_list_adds == 0
    assert Contact.objects.filter(sync_state=SyncState.SYNCED).count() == 6
    assert hubspot.lists["42"] == set(Contact.objects.values_list("hubspot_id", flat=True))


def test_a_contact_renamed_while_its_push_is_in_flight_stays_pending_for_its_new_name(settings):
    settings.HUBSPOT_ACCESS_TOKEN = ""  # ingestion alone; the push is played by hand below
    record = license_record(1)
    ingest(record)
    Contact.objects.update(sync_state=SyncState.PENDING)
    assert list(services.contact_claim_batches(tokens=["sync-run-0002"], limit=100)) == ["sync-run-0002"]
    people = services.contact_take_push(token="sync-run-0002", taker="push-a")
    record["contactDetails"]["technicalContact"]["name"] = "Tech Renamed"  # the next poll, while HubSpot answers
    ingest(record)
    # Still the push's while it is in flight: no second push of the same email beside it.
    assert list(services.contact_claim_batches(tokens=["sync-run-0003"], limit=100)) == []
    ids = {p["email"]: f"hs-{n}" for n, p in enumerate(people)}
    services.contact_record_push(contact_ids=[p["id"] for p in people], ids=ids, errors={}, people=people)
    renamed = Contact.objects.get(email="tech1@company1.example")
    assert {p["email"]: p["name"] for p in people}[renamed.email] == "Tech Person1"  # the push carried the old name
    assert (renamed.sync_state, renamed.display_name) == (SyncState.PENDING, "Tech Renamed")
    assert (renamed.sync_claimed_at, renamed.sync_attempts, renamed.last_error) == (None, 0, "")
    assert Contact.objects.get(email="billing1@company1.example").sync_state == SyncState.SYNCED
    assert services.contact_claim_batch(limit=100, token="sync-run-0003") == [str(renamed.id)]  # pushed again
    again = services.contact_take_push(token="sync-run-0003", taker="push-b")
    assert [(p["id"], p["name"]) for p in again] == [(renamed.id, "Tech Renamed")]


def test_a_push_delivered_again_after_settling_its_batch_queues_the_emails_its_first_delivery_may_have_lost(hubspot):

    ingest(license_record(1))  # pushed and onboarded at once (eager tasks)
    assert EmailDelivery.objects.filter(sent_at__isnull=False).count() == 2
    # Replay the end of a push whose worker died after storing the outcome, before queueing the emails.
    Contact.objects.update(sync_state=SyncState.PENDING, sync_claimed_at=timezone.now(), sync_claim="sync-run-0004")
    services.contact_take_claim(token="sync-run-0004", taker="push-task-x")
    Contact.objects.update(sync_state=SyncState.SYNCED, sync_claimed_at=None)
    EmailDelivery.objects.all().delete()
    mail.outbox.clear()
    hubspot_push_claim_task.apply(args=("sync-run-0004",), task_id="push-task-x")  # the same push, delivered again
    assert len(mail.outbox) == 2
    hubspot_push_claim_task.apply(args=("sync-run-0004",), task_id="push-task-y")  # a duplicate: nothing
    assert len(mail.outbox) == 2


def test_batches_are_claimed_once_each_and_a_sync_of_full_batches_leaves_the_partial_one(settings):
    pending_contacts(250)
    tokens = [f"sync-a-{n}" for n in range(5)]
    assert list(services.contact_claim_batches(tokens=tokens, limit=100, full_only=True)) == tokens[:2]
    assert [len(services.contact_claimed(token=t)) for t in tokens] == [100, 100, 0, 0, 0]
    # Another scheduler finds the 50 left: nothing while only full batches may go, then one partial batch.
    assert list(services.contact_claim_batches(tokens=["sync-b-0"], limit=100, full_only=True)) == []
    assert list(services.contact_claim_batches(tokens=["sync-b-0", "sync-b-1"], limit=100)) == ["sync-b-0"]
    assert len(services.contact_claimed(token="sync-b-0")) == 50
    # The first sync delivered again gets its two batches back and takes nothing more.
    assert list(services.contact_claim_batches(tokens=tokens, limit=100)) == tokens[:2]
    held = [set(services.contact_claimed(token=t)) for t in (*tokens[:2], "sync-b-0")]
    assert sum(map(len, held)) == len(set().union(*held)) == 250  # every contact in exactly one batch


def test_a_claim_never_takes_a_contact_another_scheduler_took_after_it_read_them(settings):
    settings.HUBSPOT_ACCESS_TOKEN = ""
    ingest(*(license_record(n) for n in range(5)))
    Contact.objects.update(sync_state=SyncState.PENDING)
    first, second = sorted(Contact.objects.values_list("id", flat=True))[:2]
    claimable = Q(sync_state=SyncState.PENDING, sync_claimed_at__isnull=True)
    Contact.objects.filter(id=first).update(sync_claim="other", sync_claimed_at=timezone.now())  # taken meanwhile
    changed = update_each(
        Contact, "sync_claim", {first: "mine", second: "mine"}, where=claimable, also={"last_error": "claimed"}
    )
    assert changed == 1
    assert Contact.objects.get(id=first).sync_claim == "other" and Contact.objects.get(id=first).last_error == ""
    assert (Contact.objects.get(id=second).sync_claim, Contact.objects.get(id=second).last_error) == ("mine", "claimed")
    # A condition no row can meet changes nothing; one every row meets changes them all.
    assert update_each(Contact, "sync_claim", {first: "x", second: "x"}, where=Q(id__in=[])) == 0
    assert update_each(Contact, "sync_claim", {first: "y", second: "y"}, where=Q()) == 2
    assert set(Contact.objects.filter(id__in=[first, second]).values_list("sync_claim", flat=True)) == {"y"}


def test_an_ingest_still_syncs_when_the_shared_cache_is_down(hubspot, settings):
    # The flag that coalesces syncs lives in the shared cache; with the cache unreachable a sync is queued anyway.
    settings.CACHE_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    ingest(*(license_record(n) for n in range(3)))
    assert Contact.objects.filter(sync_state=SyncState.SYNCED).count() == 6
    assert len([c for c in hubspot.calls if c.path.endswith("/batch/upsert")]) == 1


def test_a_sync_claims_one_window_of_batches_and_queues_the_next_for_the_rest(hubspot, settings):
    pending_contacts(250)  # three batches
    settings.HUBSPOT_RATE_LIMIT = 2  # calls per window: a sync claims two batches
    settings.HUBSPOT_RATE_WINDOW_SECONDS = 0.5
    runs = []
    task_prerun.connect(on_sync := lambda sender, **kw: runs.append(sender.name), weak=False)
    try:
        assert hubspot_sync_task.apply().get() == 2  # tasks run eagerly here: its pushes, then the next sync
    finally:
        task_prerun.disconnect(on_sync)
    assert runs.count("contacts.tasks.hubspot_sync_task") == 2
    assert sorted(len(c.body["inputs"]) for c in hubspot.calls if c.path.endswith("/batch/upsert")) == [50, 100, 100]
    assert Contact.objects.filter(sync_state=SyncState.SYNCED).count() == 250


def test_a_sync_that_finds_the_rest_claimed_queues_no_other(hubspot, settings):
    # Pushes waiting for the next window hold their batches: a sync then takes nothing and must not queue syncs that
    # spin until the window opens.
    pending_contacts(250, sync_claim="waiting-push", sync_claimed_at=timezone.now())
    settings.HUBSPOT_RATE_LIMIT = 2
    runs = []
    task_prerun.connect(on_task := lambda sender, **kw: runs.append(sender.name), weak=False)
    try:
        assert hubspot_sync_task.apply().get() == 0
    finally:
        task_prerun.disconnect(on_task)
    assert runs == ["contacts.tasks.hubspot_sync_task"]
    assert not hubspot.calls


def test_syncs_take_turns(settings, test_redis_url):
    # Two syncs side by side read the same pending contacts and race for each: the second waits for the first.
    settings.CACHE_URL = test_redis_url
    settings.CELERY_TASK_DEFAULT_QUEUE = f"turns-{uuid.uuid4().hex[:8]}"
    entered = threading.Event()

    def second_sync():
        with services.sync_turn():
            entered.set()

    with services.sync_turn():
        second = threading.Thread(target=second_sync)
        second.start()
        assert not entered.wait(0.5)  # held off while the first sync runs
    assert entered.wait(5)  # and in as soon as it is done
    second.join()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query planner")
def test_a_push_looks_its_contacts_up_by_claim_or_id_never_by_state(settings):
    # Given a state and a claim token (or ids), SQLite chose the state's index and read every pending contact:
    # 6 ms a push with 10,000 pending. Every statement of a push must use the claim's index or the primary key.
    settings.HUBSPOT_ACCESS_TOKEN = ""
    ingest(*(license_record(n) for n in range(150)))  # 300 pending contacts
    assert list(services.contact_claim_batches(tokens=["sync-0"], limit=100)) == ["sync-0"]
    with CaptureQueriesContext(connection) as queries:
        people = services.contact_take_push(token="sync-0", taker="push-a")
        services.contact_push_payload(contact_ids=[str(p["id"]) for p in people])
        services.contact_record_push(
            contact_ids=[p["id"] for p in people],
            ids={p["email"]: "1" for p in people},
            errors={},
            people=people,
        )
    assert len(people) == 100
    on_contacts = [q["sql"] for q in queries if '"contacts_contact"' in q["sql"].split(" WHERE ")[0]]
    assert len(on_contacts) >= 4
    with connection.cursor() as cursor:
        for sql in on_contacts:
            many = re.match(r"^\d+ times: (.*)$", sql, re.S)  # executemany: the statement, its parameters unbound
            statement = many.group(1).replace("%s", "?") if many else sql
            parameters = [None] * statement.count("?") if many else []
            plan = " | ".join(row[-1] for row in cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters))
            by_id_or_claim = r"contacts_contact USING (INDEX \w+ \(id=\?\)|INDEX contact_sync_claim_idx)"
            assert re.search(by_id_or_claim, plan), (sql, plan)
            assert "contacts_co_sync_st" not in plan and "SCAN contacts_contact" not in plan, (sql, plan)


def test_a_push_sends_each_contact_once_and_nothing_of_its_licenses(settings):
    settings.HUBSPOT_ACCESS_TOKEN = ""
    # Ann: technical contact of two licenses and billing contact of a third; Bob: no license left (links deleted).
    ingest(
        license_record(1, technical="ann@example.com"),
        license_record(2, technical="ann@example.com"),
        license_record(3, billing="ann@example.com"),
    )
    bob = Contact.objects.create(email="bob@example.com", display_name="Bob Jones")
    Contact.objects.update(sync_state=SyncState.PENDING)
    people = services.contact_push_payload(contact_ids=[str(c.id) for c in Contact.objects.all()])
    by_email = {person["email"]: person for person in people}
    assert len(people) == len(by_email) == Contact.objects.count()
    assert by_email["bob@example.com"]["id"] == bob.id
    # Only the name and email of a contact leave for HubSpot (beside the id and claim that stay here): not its roles,
    # however many licenses name it.
    assert all(set(person) == {"id", "email", "name", "claim"} for person in people)


def _push_taken_then_contact_renamed() -> list[dict]:
    """A push has taken its batch (one license's two contacts); then the technical contact is renamed (the next
    Marketplace poll), which releases it for its new name. Returns the push's payload."""
    record = license_record(1)
    ingest(record)
    Contact.objects.update(sync_state=SyncState.PENDING)
    assert list(services.contact_claim_batches(tokens=["sync-a"], limit=100)) == ["sync-a"]
    people = services.contact_take_push(token="sync-a", taker="push-a")
    record["contactDetails"]["technicalContact"]["name"] = "Tech Renamed"
    ingest(record)
    return people


def _record_all_answered(people: list[dict]) -> None:
    services.contact_record_push(
        contact_ids=[p["id"] for p in people], ids={p["email"]: "1" for p in people}, errors={}, people=people
    )


def _claimed_again_after_expiry(contact_id, token: str) -> None:
    """The push in flight outlived its claim (stuck past CLAIM_EXPIRY): the next sync takes the contact over."""
    stale = timezone.now() - services.CLAIM_EXPIRY - timedelta(minutes=1)
    Contact.objects.filter(id=contact_id).update(sync_claimed_at=stale)
    assert list(services.contact_claim_batches(tokens=[token], limit=100)) == [token]
    assert services.contact_claimed(token=token) == [str(contact_id)]


def test_a_contact_renamed_and_claimed_again_while_a_push_is_in_flight_is_left_to_the_new_push(settings):
    settings.HUBSPOT_ACCESS_TOKEN = ""
    first = _push_taken_then_contact_renamed()
    renamed = Contact.objects.get(email="tech1@company1.example")
    _claimed_again_after_expiry(renamed.id, "sync-b")
    _record_all_answered(first)
    assert Contact.objects.get(id=renamed.id).sync_state == SyncState.PENDING  # the old name's push settles it not
    assert Contact.objects.get(email="billing1@company1.example").sync_state == SyncState.SYNCED
    second = services.contact_take_push(token="sync-b", taker="push-b")
    assert [(p["id"], p["name"]) for p in second] == [(renamed.id, "Tech Renamed")]


def test_a_failed_push_leaves_alone_a_contact_renamed_and_claimed_again_meanwhile(settings):
    # HubSpot failed the old name's push (a 5xx, its last retry, or a refusal of that contact alone): the contact now
    # belongs to the new claim, whose push must still find it claimed, with no attempt counted and not failed.
    settings.HUBSPOT_ACCESS_TOKEN = ""
    first = _push_taken_then_contact_renamed()
    renamed = Contact.objects.get(email="tech1@company1.example")
    _claimed_again_after_expiry(renamed.id, "sync-b")
    old_name = next(person for person in first if person["id"] == renamed.id)
    services.contact_note_error(people=first, error="HubSpot answered 503")
    services.contact_release(people=first)
    services.contact_mark_failed(person=old_name, reason="HubSpot 400: rejected")
    after = Contact.objects.get(id=renamed.id)
    assert (after.sync_state, after.sync_attempts, after.last_error) == (SyncState.PENDING, 0, "")
    assert services.contact_claimed(token="sync-b") == [str(renamed.id)]
    billing = Contact.objects.get(email="billing1@company1.example")  # still the first push's: counted and released
    assert (billing.last_error, billing.sync_claimed_at) == ("HubSpot answered 503", None)
    second = services.contact_take_push(token="sync-b", taker="push-b")
    assert [(p["id"], p["name"]) for p in second] == [(renamed.id, "Tech Renamed")]


def test_a_sync_waits_for_the_running_one(hubspot, settings, test_redis_url):
    settings.CACHE_URL = test_redis_url
    settings.CELERY_TASK_DEFAULT_QUEUE = f"turns-{uuid.uuid4().hex[:8]}"
    settings.HUBSPOT_ACCESS_TOKEN = ""
    ingest(*(license_record(n) for n in range(3)))
    Contact.objects.update(sync_state=SyncState.PENDING)
    settings.HUBSPOT_ACCESS_TOKEN = hubspot.token
    done = threading.Event()

    def second_sync():
        try:
            hubspot_sync_task.apply()
        finally:
            connection.close()
            done.set()

    with services.sync_turn():
        thread = threading.Thread(target=second_sync)
        thread.start()
        assert not done.wait(0.5)
        assert not Contact.objects.filter(sync_claimed_at__isnull=False).exists()  # it has claimed nothing yet
    assert done.wait(30)
    thread.join()
    assert Contact.objects.filter(sync_state=SyncState.SYNCED).count() == 6


def test_a_contact_renamed_while_its_push_is_in_flight_is_not_counted_as_unanswered(settings):
    # HubSpot answered for it: it waits for its new name's push with no attempt counted (ten make it fail).
    settings.HUBSPOT_ACCESS_TOKEN = ""
    _record_all_answered(_push_taken_then_contact_renamed())
    renamed = Contact.objects.get(email="tech1@company1.example")
    assert (renamed.sync_state, renamed.sync_attempts, renamed.last_error) == (SyncState.PENDING, 0, "")


def test_a_contact_renamed_while_a_push_is_in_flight_is_released_and_settled_by_no_outcome_of_that_push(settings):
    # Whatever the old name's push hears back (refused, unanswered at its last attempt, failed, given up), the
    # contact is released, pending and unharmed, for a push of its new name.
    settings.HUBSPOT_ACCESS_TOKEN = ""
    first = _push_taken_then_contact_renamed()
    renamed = Contact.objects.get(email="tech1@company1.example")
    Contact.objects.filter(id=renamed.id).update(sync_attempts=services.MAX_SYNC_ATTEMPTS - 1)
    old_name = next(person for person in first if person["id"] == renamed.id)
    ids = [p["id"] for p in first]
    services.contact_record_push(contact_ids=ids, ids={}, errors={renamed.email: "INVALID_EMAIL"}, people=first)
    services.contact_record_push(contact_ids=ids, ids={}, errors={}, people=first)
    services.contact_mark_failed(person=old_name, reason="HubSpot 400: rejected")
    services.contact_note_error(people=first, error="HubSpot answered 503")
    services.contact_release(people=first)
    assert services.contact_push_payload(contact_ids=[str(renamed.id)], claim=old_name["claim"]) == []
    after = Contact.objects.get(id=renamed.id)
    assert (after.sync_state, after.last_error, after.sync_claimed_at) == (SyncState.PENDING, "", None)
    assert after.sync_attempts == services.MAX_SYNC_ATTEMPTS - 1
    assert list(services.contact_claim_batches(tokens=["sync-c"], limit=100)) == ["sync-c"]
    second = services.contact_take_push(token="sync-c", taker="push-c")  # with the billing contact, released
    assert {p["id"]: p["name"] for p in second}[renamed.id] == "Tech Renamed"


@pytest.mark.parametrize("fault", ["hubspot unreachable", "rate limit held", "proxy down"])
def test_a_push_that_gives_up_after_its_last_retry_releases_its_contacts_for_the_next_sync(
    hubspot, settings, fault, closed_port
):
    settings.HUBSPOT_ACCESS_TOKEN = ""
    ingest(license_record(1))
    settings.HUBSPOT_ACCESS_TOKEN = hubspot.token
    Contact.objects.update(sync_state=SyncState.PENDING)
    assert list(services.contact_claim_batches(tokens=["sync-d"], limit=100)) == ["sync-d"]
    if fault == "hubspot unreachable":
        hubspot.html_answers = 1000  # every upsert answered by a proxy's error page
    elif fault == "proxy down":  # OUTBOUND_PROXY_URL names a proxy nothing answers at
        settings.OUTBOUND_PROXY_URL = f"http://127.0.0.1:{closed_port}"
    else:  # no slot within the wait: another worker's 429 blocks every call for longer
        settings.HUBSPOT_RATE_WINDOW_SECONDS = 0.05
        ratelimit.penalise(settings.HUBSPOT_RATE_LIMIT_KEY, seconds=30)
    last = hubspot_push_claim_task.max_retries
    with pytest.raises(Exception, match="HubSpot|no slot"):
        hubspot_push_claim_task.apply(args=("sync-d",), task_id="push-d", retries=last, throw=True)
    after = list(Contact.objects.all())
    assert {(c.sync_state, c.sync_claimed_at, c.sync_attempts) for c in after} == {(SyncState.PENDING, None, 0)}
    assert len(list(services.contact_claim_batches(tokens=["sync-e"], limit=100))) == 1  # the next sync takes them


def test_the_email_sweep_sends_what_a_lost_task_owed_once_and_nothing_else(settings):
    # Emails go out from a task queued when a push (or an ingest) commits; the broker down at that moment, or a worker
    # killed past its retries, loses it. Here a lost task is one whose email never went out (its delivery removed).
    # The sweep, 20 minutes later, finds the contacts owed an email in its window and sends each exactly once.
    settings.HUBSPOT_ACCESS_TOKEN = ""  # ingestion alone, and the onboarding of every active contact at once
    ingest(*(license_record(n) for n in range(7)), license_record(7, status="cancelled"))
    settings.HUBSPOT_ACCESS_TOKEN = "configured"  # from now on onboarding follows a sync; none is run here
    now = timezone.now()
    sweep_at = now + timedelta(minutes=20)
    ContactLink.objects.update(updated_at=now - timedelta(days=9))  # that import was nine days ago

    def lost(email: str, kind: str = EmailKind.ONBOARDING) -> str:
        # By the contact's id: MongoDB deletes from one collection only (no join in a delete).
        EmailDelivery.objects.filter(contact_id=Contact.objects.get(email=email).id, kind=kind).delete()
        return email

    def synced(n: int, at, **fields) -> str:
        email = f"tech{n}@company{n}.example"
        Contact.objects.filter(email=email).update(sync_state=SyncState.SYNCED, synced_at=at, **fields)
        return lost(email)

    owed = {synced(0, now), synced(1, sweep_at - timedelta(days=6))}
    synced(2, sweep_at - timedelta(minutes=5))  # in its grace: its task is probably still queued
    synced(3, sweep_at - timedelta(days=8))  # too late for a welcome
    synced(4, now, unsubscribed_at=now)
    lost("tech5@company5.example")
    Contact.objects.filter(email="tech5@company5.example").update(sync_state=SyncState.PENDING)  # not synced yet
    # Offboarding: license 6 ends (the next poll); the task sending its two emails is lost.
    ingest(license_record(6, status="cancelled"))
    owed |= {lost(f"{role}6@company6.example", EmailKind.OFFBOARDING) for role in ("tech", "billing")}
    # Onboarding of a contact synced long ago on a cancelled license, whose license is active now: sent at once...
    Contact.objects.filter(email="tech7@company7.example").update(
        sync_state=SyncState.SYNCED, synced_at=now - timedelta(days=30)
    )
    mail.outbox.clear()
    ingest(license_record(7))
    assert [m.to[0] for m in mail.outbox] == ["tech7@company7.example"]  # billing 7: not synced, nothing yet
    owed.add(lost("tech7@company7.example"))  # ... and here its task is lost too
    mail.outbox.clear()
    assert services.contact_email_sweep(now=sweep_at) == len(owed) == 5
    assert sorted(m.to[0] for m in mail.outbox) == sorted(owed)
    assert {m.to[0] for m in mail.outbox if "ended" in m.subject} == {
        "tech6@company6.example",
        "billing6@company6.example",
    }
    assert services.contact_email_sweep(now=sweep_at) == 0  # sent once
    assert contact_email_sweep_task.apply().get() == 0  # nothing owed is older than its grace yet
    assert len(mail.outbox) == 5


def test_one_address_the_mail_server_refuses_does_not_hold_back_the_rest_of_its_batch(settings, smtp):
    settings.HUBSPOT_ACCESS_TOKEN = ""
    settings.EMAIL_URL = f"smtp://127.0.0.1:{smtp.port}"
    settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT = (
        "django.core.mail.backends.smtp.EmailBackend",
        "127.0.0.1",
        smtp.port,
    )
    smtp.refuse = {"billing1@company1.example"}
    ingest(*(license_record(n) for n in range(3)))  # six contacts, one email batch
    received = sorted(r for message in smtp.accepted for r in message.recipients)
    assert len(received) == 5 and "billing1@company1.example" not in received
    sent = EmailDelivery.objects.filter(sent_at__isnull=False)
    # Emails read from the contacts themselves: django-mongodb-backend answers values_list across a join wrongly.
    sent_to = Contact.objects.filter(id__in=list(sent.values_list("contact_id", flat=True)))
    assert sorted(sent_to.values_list("email", flat=True)) == received
    assert not EmailDelivery.objects.filter(contact__email="billing1@company1.example").exists()  # due again later


def test_the_sweep_adds_to_the_onboarding_list_the_synced_contacts_hubspot_has_not_confirmed(hubspot, settings):
    settings.HUBSPOT_ONBOARDING_LIST_ID = "42"
    ingest(*(license_record(n) for n in range(3)))  # pushed and listed at once (eager tasks)
    assert hubspot.lists["42"] == set(Contact.objects.values_list("hubspot_id", flat=True))
    assert not Contact.objects.filter(listed_at__isnull=True).exists()
    # Two whose list addition was lost (the broker down when the push committed), synced 20 minutes ago.
    lost = list(Contact.objects.order_by("email")[:2])
    hubspot.lists["42"] -= {c.hubspot_id for c in lost}
    Contact.objects.filter(id__in=[c.id for c in lost]).update(
        listed_at=None, synced_at=timezone.now() - timedelta(minutes=20)
    )
    assert contact_email_sweep_task.apply().get() == 2
    assert hubspot.lists["42"] == set(Contact.objects.values_list("hubspot_id", flat=True))
    assert not Contact.objects.filter(listed_at__isnull=True).exists()
    assert contact_email_sweep_task.apply().get() == 0


def test_the_list_sweep_runs_even_when_the_email_sweep_fails(hubspot, settings, monkeypatch):
    # The beat task runs both sweeps; the email sweep failing (its database query, say) must not skip the other.
    settings.HUBSPOT_ONBOARDING_LIST_ID = "42"
    ingest(*(license_record(n) for n in range(2)))
    hubspot.lists["42"].clear()
    Contact.objects.update(listed_at=None, synced_at=timezone.now() - timedelta(minutes=20))

    def broken(**kwargs):
        raise RuntimeError("the email sweep failed")

    monkeypatch.setattr(services, "contact_email_sweep", broken)
    with pytest.raises(RuntimeError):
        contact_email_sweep_task.apply(throw=True)
    assert hubspot.lists["42"] == set(Contact.objects.values_list("hubspot_id", flat=True))
    assert not Contact.objects.filter(listed_at__isnull=True).exists()


def test_a_batch_hubspot_fails_every_time_is_halved_after_its_last_try_so_the_others_go_through(hubspot, settings):
    # One contact whose data makes HubSpot answer 500 every time: released whole, its batch would be claimed again
    # with it (oldest first) and fail for ever. Halved after its last try, everyone else is synced.
    settings.HUBSPOT_ACCESS_TOKEN = ""
    ingest(*(license_record(n) for n in range(3)))
    settings.HUBSPOT_ACCESS_TOKEN = hubspot.token
    Contact.objects.update(sync_state=SyncState.PENDING)
    hubspot.poison = {"tech1@company1.example"}
    assert list(services.contact_claim_batches(tokens=["sync-p"], limit=100)) == ["sync-p"]
    last = hubspot_push_claim_task.max_retries
    with pytest.raises(Exception, match="500"):
        hubspot_push_claim_task.apply(args=("sync-p",), task_id="push-p", retries=last, throw=True)
    states = dict(Contact.objects.values_list("email", "sync_state"))
    assert states.pop("tech1@company1.example") == SyncState.PENDING
    assert set(states.values()) == {SyncState.SYNCED}
    poisoned = Contact.objects.get(email="tech1@company1.example")
    assert (poisoned.sync_claimed_at, poisoned.sync_attempts) == (None, 0)  # released at last, for the next sync
    assert "500" in poisoned.last_error


def test_a_push_that_hubspot_answered_in_full_is_stored_in_three_statements(settings, django_assert_max_num_queries):
    # The push phase is bound by this bookkeeping (bench/sync): the renamed check, the HubSpot ids, the states.
    settings.HUBSPOT_ACCESS_TOKEN = ""
    pending_contacts(100)
    assert list(services.contact_claim_batches(tokens=["sync-q"], limit=100)) == ["sync-q"]
    people = services.contact_take_push(token="sync-q", taker="push-q")
    assert len(people) == 100
    with atomic(), django_assert_max_num_queries(3):
        services.contact_record_push(
            contact_ids=[p["id"] for p in people], ids={p["email"]: "1" for p in people}, errors={}, people=people
        )
    assert set(Contact.objects.values_list("sync_state", flat=True)) == {SyncState.SYNCED}


@pytest.mark.parametrize(
    "body, reason",
    [
        (b'{"message": "Property values were not valid"}', "HubSpot 400: Property values were not valid"),
        (b"<html>bad gateway</html>", "HubSpot 400: rejected"),
        (b"[" * 5000 + b"]" * 5000, "HubSpot 400: rejected"),  # a RecursionError in the decoder, not a crashed push
        (b'["a list"]', "HubSpot 400: rejected"),
    ],
)
def test_the_reason_stored_for_a_refusal_reads_any_body_hubspot_sends(body, reason):
    from types import SimpleNamespace

    from contacts.tasks import _reason

    assert _reason(SimpleNamespace(status=400, body=body)) == reason
