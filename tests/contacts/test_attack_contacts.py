"""Attack suite, contacts: crafted Marketplace answers (line breaks, control and bidi characters, huge or mistyped
fields), a malformed address brought back by a retry, addresses the mailer refuses, and addresses the log scrubber
must recognise. The promise: what a license's owner types reaches our emails and HubSpot as one line of text or not
at all, one odd record stops no poll, and no address our validator accepts reaches a log line."""

import smtplib

import pytest
import sentry_sdk
from django.core import mail
from django.core.validators import validate_email

from contacts import services
from contacts.hubspot import HubSpotError, upsert_contacts
from contacts.marketplace import MarketplaceError
from contacts.models import Contact, ContactLink, License, PollCursor, SyncState
from contacts.tasks import marketplace_poll_task
from core.sentry import init_sentry
from devhost.marketplace import MarketplaceStandIn, license_record
from tests.core.test_logging import lines, make_logger
from tests.core.test_sentry import SentryStandIn, sentry_server  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)

SPOOF = "Bob\r\n\r\nYour account is suspended: sign in again at http://evil.example\r\n"


def _named(n: int, technical_name, billing_name="Billing Person") -> dict:
    record = license_record(n)
    record["contactDetails"]["technicalContact"]["name"] = technical_name
    record["contactDetails"]["billingContact"]["name"] = billing_name
    return record


@pytest.mark.parametrize(
    "name",
    [
        SPOOF,
        "Bob\nBcc: victim@else.example",
        "Bob\u2028Second line",  # a line separator: a line break for mail readers and str.splitlines()
        "Bob\x85Second line",
        "Bob\x00",
        "Bob \u202eevil.example\u202c",  # a right-to-left override: reads differently from what it is
        "B" * 201,  # longer than the column: refused, never cut
        {"first": "Bob"},  # not a string: never stored as its Python repr
        42,
    ],
)
def test_a_marketplace_name_never_writes_lines_into_our_emails_or_hubspot(hubspot, name):
    services.license_ingest(records=[_named(1, name)])
    tech = Contact.objects.get(email="tech1@company1.example")
    assert tech.display_name == "" and tech.sync_state == SyncState.SYNCED  # the contact stays, its name does not
    sent = hubspot.contacts["tech1@company1.example"]["properties"]
    assert (sent["firstname"], sent["lastname"]) == ("", "")
    [welcome] = [m for m in mail.outbox if m.to == ["tech1@company1.example"]]
    assert welcome.body.startswith("Hi there,\n")
    assert "evil.example" not in welcome.body and "Second line" not in welcome.body


def test_our_plain_text_emails_show_a_name_as_written_not_html_escaped(hubspot):
    services.license_ingest(records=[_named(1, "Seán O'Brien & <Partners>")])
    [welcome] = [m for m in mail.outbox if m.to == ["tech1@company1.example"]]
    assert welcome.content_subtype == "plain" and not getattr(welcome, "alternatives", None)
    assert welcome.body.startswith("Hi Seán O'Brien & <Partners>,\n")
    services.license_ingest(records=[{**_named(1, "Seán O'Brien & <Partners>"), "status": "inactive"}])
    [goodbye] = [m for m in mail.outbox if m.to == ["tech1@company1.example"] and "ended" in m.subject]
    assert goodbye.body.startswith("Hi Seán O'Brien & <Partners>,\n")


@pytest.mark.parametrize(
    "odd",
    [
        {"contactDetails": "tech@company1.example"},
        {"contactDetails": ["tech@company1.example"]},
        {"contactDetails": {"technicalContact": "tech@company1.example", "billingContact": None}},
        {"contactDetails": {"technicalContact": {"email": ["tech@company1.example"]}}},
        {"cloudSiteHostname": 5},
        {"cloudSiteHostname": ["site1.atlassian.net"]},
        {"appEntitlementId": {"$ne": None}},
        {"status": ["active"], "licenseType": {"a": 1}, "appEntitlementNumber": 7},
        {"lastUpdated": {"date": "2026-01-01"}},
    ],
)
def test_one_record_with_mistyped_fields_stops_no_poll(hubspot, odd):
    result = services.license_ingest(records=[{**license_record(1), **odd}, license_record(2)])
    assert result.licenses == 2
    assert Contact.objects.filter(email__in=["tech2@company2.example", "billing2@company2.example"]).count() == 2
    odd_license = License.objects.get(addon_license_id=license_record(1)["addonLicenseId"])
    stored = [
        odd_license.cloud_site_hostname,
        odd_license.app_entitlement_id,
        odd_license.app_entitlement_number,
        odd_license.status,
        odd_license.license_type,
    ]
    assert not any(value.startswith(("[", "{")) or value in ("5", "7") for value in stored), stored


@pytest.mark.parametrize("license_id", [{"id": 1}, ["40000001"], True, "9" * 65])
def test_a_record_without_a_license_id_that_fits_is_skipped(hubspot, license_id):
    result = services.license_ingest(records=[{**license_record(1), "addonLicenseId": license_id}, license_record(2)])
    assert (result.licenses, result.skipped) == (1, 1)
    assert list(License.objects.values_list("addon_license_id", flat=True)) == [license_record(2)["addonLicenseId"]]


def test_an_address_longer_than_any_email_is_no_contact(hubspot):
    huge = "x" * 5000 + "@company1.example"
    services.license_ingest(records=[license_record(1, technical=huge)])
    assert not Contact.objects.filter(email__startswith="xxxx").exists()
    assert Contact.objects.filter(email="billing1@company1.example", sync_state=SyncState.SYNCED).exists()
    assert all(huge not in str(call.body) for call in hubspot.calls)


BAD_ADDRESS = "a@b.example\r\nbcc: victim@x.example"


def test_a_retry_leaves_a_malformed_address_failed_and_it_never_leaves(hubspot):
    services.license_ingest(records=[license_record(1, technical=BAD_ADDRESS)])
    bad = Contact.objects.get(email=BAD_ADDRESS)
    assert bad.sync_state == SyncState.FAILED
    # Billing selects every failed contact and retries them all (the README's advice after fixing a HubSpot cause).
    Contact.objects.filter(email="billing1@company1.example").update(sync_state=SyncState.FAILED)
    retried = services.contact_retry_sync(contact_ids=list(Contact.objects.values_list("id", flat=True)))
    assert retried == 1
    bad.refresh_from_db()
    assert (bad.sync_state, bad.last_error) == (SyncState.FAILED, "not a valid email address")
    services.license_ingest(records=[license_record(1, technical=BAD_ADDRESS)])  # and the syncs that follow
    assert all("victim@x.example" not in str(call.body) for call in hubspot.calls)
    assert all("victim" not in str(m.message()) for m in mail.outbox)


def test_an_address_the_mailer_refuses_holds_back_no_other_email_of_its_batch(settings):
    settings.HUBSPOT_ACCESS_TOKEN = ""  # every valid contact gets its onboarding email at once
    services.license_ingest(records=[license_record(1)])
    mail.outbox.clear()
    # An address stored pending, as one was before retries checked addresses (or one Django's mail cannot encode).
    lic = License.objects.get()
    bad = Contact.objects.create(email=BAD_ADDRESS, sync_state=SyncState.PENDING)
    ContactLink.objects.create(contact=bad, license=lic, role="technical")
    later = Contact.objects.create(email="zed@company1.example", sync_state=SyncState.PENDING)
    ContactLink.objects.create(contact=later, license=lic, role="billing")
    busy = services.contact_send_emails(contact_ids=[str(bad.id), str(later.id)])
    assert busy == []
    assert [m.to for m in mail.outbox] == [["zed@company1.example"]]


ADDRESSES = [
    "bob@exämple.com",  # an international domain
    "bob!smith@example.com",
    "o.brien+jira@example.com",
    "ops/billing@example.com",
    "someone@localhost",
    "ſam@example.com",  # Django's validator takes the long s (re.IGNORECASE matches it with s)
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_no_address_our_validator_accepts_reaches_a_log_line(address):
    validate_email(address)  # an address a contact can have
    logger, stream = make_logger()
    logger.warning(f"mail to {address} failed")
    reply = f"5.1.1 <{address}>: Recipient address rejected".encode()
    try:
        raise smtplib.SMTPDataError(550, reply)  # a server's reply, as Celery's retry logs it: bytes, escaped
    except smtplib.SMTPDataError as exc:
        logger.warning("Retry in 60s: %r", exc, exc_info=True)
    text = stream.getvalue()
    local, _, domain = address.partition("@")
    for entry in lines(stream):
        assert "[email]" in entry["message"]
    assert address not in text and domain not in text and f"{local}@" not in text
    assert repr(reply)[2:-1].split("<")[1].split(">")[0] not in text


def test_contacts_names_never_reach_sentry_in_a_failed_pushs_frames(sentry_server, hubspot, settings):  # noqa: F811
    record = license_record(1)
    record["contactDetails"]["technicalContact"].update(name="Beatrix Kiddo", phone="+1 555 0199")
    settings.HUBSPOT_ACCESS_TOKEN, token = "", settings.HUBSPOT_ACCESS_TOKEN
    services.license_ingest(records=[record])  # stored, not pushed yet
    settings.HUBSPOT_ACCESS_TOKEN = token
    hubspot.transient_rate = 1.0  # HubSpot fails: the push raises, as a task's last retry does
    init_sentry(dsn=f"http://publickey@127.0.0.1:{sentry_server.server_address[1]}/1", release="t", environment="t")
    ids = list(Contact.objects.values_list("id", flat=True))
    try:
        upsert_contacts(services.contact_push_payload(contact_ids=ids))
    except HubSpotError as exc:
        sentry_sdk.capture_exception(exc)
    sentry_sdk.flush(timeout=5)
    raw = b"\n".join(SentryStandIn.received).decode()
    assert '"exception"' in raw and "upsert_contacts" in raw  # the event arrived, with the push's frames
    assert "Beatrix" not in raw and "Kiddo" not in raw and "tech1@company1.example" not in raw
    assert '"vars"' in raw  # the other frames keep theirs (this test's `ids`): debugging keeps what is not PII


@pytest.fixture
def marketplace(settings):
    market = MarketplaceStandIn().start()
    settings.MARKETPLACE_API_URL, settings.MARKETPLACE_VENDOR_ID = market.base_url, market.vendor_id
    settings.MARKETPLACE_ACCOUNT_EMAIL, settings.MARKETPLACE_API_TOKEN = "vendor@example.com", "marketplace-token"
    yield market
    market.stop()


@pytest.mark.parametrize(
    "answer",
    [
        {"message": "Service temporarily unavailable"},  # an error, sent with a 200
        b"<html><body>Maintenance</body></html>",  # a proxy's page
        {"licenses": 5},
        {"licenses": {"0": license_record(0)}},
        [license_record(0)],
        b"[" * 5000 + b"]" * 5000,  # nested thousands deep: httpx's .json() raised RecursionError, the task crashed
        b'{"licenses": [' + b"[" * 5000 + b"]" * 5000 + b"]}",
    ],
)
def test_a_page_of_another_shape_is_an_error_never_an_empty_page(hubspot, marketplace, answer):
    marketplace.licenses = [license_record(n) for n in range(3)]
    marketplace.crafted = [answer]
    result = marketplace_poll_task.apply()
    # An error, so the task's retry (at once here, eager) reads the real page. Read as "nothing changed", the odd page
    # ended the poll as a success and moved its cursor past these licenses for good.
    assert result.successful(), result.result
    assert len(marketplace.requests) == 2
    assert Contact.objects.count() == 6
    assert PollCursor.objects.get().last_success_at is not None


def test_a_marketplace_trickling_its_answer_is_the_polls_timeout_and_moves_no_cursor(
    hubspot, marketplace, trickle, settings
):
    settings.MARKETPLACE_API_URL = trickle.base_url
    # Its last try (eager apply() would run every retry at once): the task's retry path ends in the error itself.
    result = marketplace_poll_task.apply(retries=marketplace_poll_task.max_retries)
    assert isinstance(result.result, MarketplaceError) and "ReadTimeout" in str(result.result)
    assert trickle.ended() == ["client"]  # OUTBOUND_DEADLINE_SECONDS ended the page, not the server's 15 s
    assert not PollCursor.objects.filter(last_success_at__isnull=False).exists()


# Each group: one mailbox, written as Unicode allows. Django's mail delivers every form to the same inbox.
ONE_MAILBOX = [
    ("victim@example.com", "Victim@ｅｘａｍｐｌｅ.com", "victim@exampl\uff45.com"),  # full-width letters
    ("bob@xn--exmple-cua.com", "bob@ex\u00e4mple.com", "bob@exa\u0308mple.com", "BOB@XN--EXMPLE-CUA.COM"),
    ("sam@example.org", "\u017fam@example.org"),  # a long s
]


@pytest.mark.parametrize("forms", ONE_MAILBOX)
def test_one_mailbox_written_many_ways_is_one_contact_and_gets_one_email(settings, forms):
    settings.HUBSPOT_ACCESS_TOKEN = ""  # every valid contact gets its onboarding email at once
    records = [license_record(n, technical=form) for n, form in enumerate(forms)]
    services.license_ingest(records=records)
    contacts = Contact.objects.filter(links__role="technical").distinct()
    assert [c.email for c in contacts] == [forms[0]]
    assert ContactLink.objects.filter(contact=contacts[0]).count() == len(forms)
    assert [m.to for m in mail.outbox if "tech" not in m.to[0] and "billing" not in m.to[0]] == [[forms[0]]]
