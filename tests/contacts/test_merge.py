"""Contacts stored under old spellings of one address (before normalise_email took its present form) become one
contact: contacts_merge_duplicates, its rules one by one, and the migration that runs it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import serializers
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from contacts import services
from contacts.models import Contact, ContactLink, EmailDelivery, EmailKind, License, SyncState
from devhost.marketplace import license_record

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def old_contact(email: str, *, age_days: int = 0, **fields) -> Contact:
    """A contact as an earlier release stored it: its email as it was then, written as it is, created `age_days`
    before T0 + 100 days (older first)."""
    contact = Contact.objects.create(email=email, **fields)
    created = T0 + timedelta(days=100 - age_days)
    Contact.objects.filter(pk=contact.pk).update(created_at=created)
    contact.refresh_from_db()
    return contact


def link(contact: Contact, license_id: str, role: str = "technical", active: bool = True) -> ContactLink:
    lic, _ = License.objects.get_or_create(addon_license_id=license_id)
    return ContactLink.objects.create(contact=contact, license=lic, role=role, active=active)


def sent(contact: Contact, kind: str = EmailKind.ONBOARDING, at: datetime | None = T0) -> EmailDelivery:
    return EmailDelivery.objects.create(contact=contact, kind=kind, sent_at=at)


def merge() -> services.MergeResult:
    return services.contacts_merge_duplicates()


def test_spellings_of_one_address_become_one_contact_in_the_normal_form():
    old_contact("Bea@Example.com", age_days=3)
    old_contact("ｂｅａ@example.com", age_days=2)  # full width
    old_contact("bea@EXAMPLE.COM", age_days=1)
    old_contact("bea@bücher.example")  # a Unicode domain: its IDNA form is the normal one
    old_contact("someone.else@example.com")

    result = merge()

    assert (result.groups, result.removed) == (2, 2)
    assert sorted(Contact.objects.values_list("email", flat=True)) == [
        "bea@example.com",
        "bea@xn--bcher-kva.example",
        "someone.else@example.com",
    ]


def test_an_unsubscribe_of_any_spelling_holds_the_earliest():
    normal = old_contact("bea@example.com")
    old_contact("Bea@Example.com", unsubscribed_at=T0 + timedelta(days=5))
    old_contact("BEA@example.com", unsubscribed_at=T0 + timedelta(days=2))

    merge()

    normal.refresh_from_db()
    assert normal.unsubscribed_at == T0 + timedelta(days=2)
    assert services.contact_emails_due(contact_ids=[normal.pk]) == {}


def test_an_email_sent_to_any_spelling_is_never_sent_again(settings):
    settings.HUBSPOT_ACCESS_TOKEN = ""  # onboarding is then due to every valid contact with an active license
    normal = old_contact("bea@example.com")
    link(normal, "L1")
    assert services.contact_emails_due(contact_ids=[normal.pk]) == {normal.pk: EmailKind.ONBOARDING}
    old = old_contact("Bea@Example.com", age_days=5)
    sent(old, EmailKind.ONBOARDING, T0 + timedelta(days=3))
    claim = sent(normal, EmailKind.OFFBOARDING, None)  # a claim only: unsent
    older = old_contact("BEA@EXAMPLE.COM", age_days=9)
    sent(older, EmailKind.ONBOARDING, T0 + timedelta(days=1))
    sent(older, EmailKind.OFFBOARDING, T0 + timedelta(days=2))

    merge()

    # One per kind, on the survivor: the sent one over the claim, the earliest sent of two.
    deliveries = {d.kind: d for d in EmailDelivery.objects.all()}
    assert len(deliveries) == EmailDelivery.objects.count() == 2
    assert {d.contact_id for d in deliveries.values()} == {normal.pk}
    assert deliveries[EmailKind.ONBOARDING].sent_at == T0 + timedelta(days=1)
    assert deliveries[EmailKind.OFFBOARDING].sent_at == T0 + timedelta(days=2)
    assert not EmailDelivery.objects.filter(pk=claim.pk).exists()
    assert services.contact_emails_due(contact_ids=[normal.pk]) == {}


def test_links_move_to_the_survivor_once_each_active_if_any_was():
    normal = old_contact("bea@example.com")
    kept = link(normal, "L1", active=False)
    old = old_contact("Bea@Example.com")
    link(old, "L1", active=True)  # the same license and role: one link, active
    moved = link(old, "L2", role="billing", active=False)
    link(old, "L3", role="billing", active=True)

    merge()

    links = {(lnk.license.addon_license_id, lnk.role): lnk for lnk in ContactLink.objects.select_related("license")}
    assert set(links) == {("L1", "technical"), ("L2", "billing"), ("L3", "billing")}
    assert {lnk.contact_id for lnk in links.values()} == {normal.pk}
    assert links["L1", "technical"].pk == kept.pk and links["L1", "technical"].active
    assert links["L2", "billing"].pk == moved.pk and not links["L2", "billing"].active
    assert links["L3", "billing"].active


def test_the_survivor_is_the_normal_spelling_else_the_oldest():
    normal = old_contact("bea@example.com", age_days=1)
    old_contact("Bea@Example.com", age_days=9)  # older, but not what ingestion finds
    oldest = old_contact("Cy@Example.com", age_days=9)
    old_contact("CY@example.com", age_days=1)

    merge()

    assert Contact.objects.get(email="bea@example.com").pk == normal.pk
    survivor = Contact.objects.get(email="cy@example.com")
    assert survivor.pk == oldest.pk
    assert survivor.created_at == oldest.created_at


def test_the_survivor_keeps_its_own_details_and_takes_missing_ones():
    normal = old_contact("bea@example.com", hubspot_id="", display_name="", listed_at=T0 + timedelta(days=4))
    # The older merged spelling's details first.
    old_contact("Bea@Example.com", age_days=2, hubspot_id="101", display_name="Bea", listed_at=T0 + timedelta(days=1))
    old_contact("BEA@example.com", age_days=1, hubspot_id="102", display_name="B", listed_at=None)
    own = old_contact("cy@example.com", hubspot_id="201", display_name="Cy")
    old_contact("Cy@Example.com", hubspot_id="202", display_name="Cyrus")

    merge()

    normal.refresh_from_db()
    assert (normal.hubspot_id, normal.display_name) == ("101", "Bea")
    assert normal.listed_at == T0 + timedelta(days=1)
    own.refresh_from_db()
    assert (own.hubspot_id, own.display_name) == ("201", "Cy")


def test_a_survivor_whose_address_or_links_changed_is_pushed_again():
    claimed = {"sync_claim": "token", "sync_claimed_at": T0, "sync_attempts": 3, "last_error": "HubSpot down"}
    synced = {"sync_state": SyncState.SYNCED, "hubspot_id": "1", "synced_at": T0}
    # Renamed to the normal form (a lone old spelling, under a push's claim).
    lone = old_contact("Ann@Example.com", **synced, **claimed)
    # Took a link from a merged spelling.
    took = old_contact("bea@example.com", **synced)
    link(old_contact("Bea@Example.com"), "L1")
    # Already normal, took nothing (the merged spelling had no links): HubSpot has it as it is.
    same = old_contact("cy@example.com", **synced)
    old_contact("Cy@Example.com", **synced)

    merge()

    lone.refresh_from_db()
    assert lone.email == "ann@example.com"
    assert (lone.sync_state, lone.sync_claimed_at, lone.sync_attempts, lone.last_error) == (
        SyncState.PENDING,
        None,
        0,
        "",
    )
    took.refresh_from_db()
    assert took.sync_state == SyncState.PENDING
    same.refresh_from_db()
    assert same.sync_state == SyncState.SYNCED
    # The usual push path takes them: pending and unclaimed.
    assert sorted(services.contact_claim_batch(limit=10, token="next")) == sorted([str(lone.pk), str(took.pk)])


def test_an_address_no_validator_takes_stays_failed():
    old_contact("Not An Address", sync_state=SyncState.FAILED, last_error="not a valid email address")

    merge()

    contact = Contact.objects.get()
    assert (contact.email, contact.sync_state) == ("not an address", SyncState.FAILED)


def test_a_second_run_changes_nothing():
    normal = old_contact("bea@example.com")
    link(normal, "L1", active=False)
    old = old_contact("Bea@Example.com", unsubscribed_at=T0)
    link(old, "L1")
    sent(old)
    old_contact("ｃｙ@example.com")
    assert merge().groups == 2

    def everything():
        return [
            sorted(serializers.serialize("python", model._base_manager.all()), key=lambda r: str(r["pk"]))
            for model in (Contact, ContactLink, EmailDelivery, License)
        ]

    before = everything()
    assert merge() == services.MergeResult(groups=0, removed=0)
    assert everything() == before


@pytest.mark.django_db(transaction=True)
def test_ingestion_finds_the_merged_contact(hubspot):
    old = old_contact("Bea@Example.com", sync_state=SyncState.SYNCED, hubspot_id="1", synced_at=T0)
    sent(old)
    merge()

    services.license_ingest(records=[license_record(1, technical="bea@example.com")])

    bea = Contact.objects.get(email="bea@example.com")
    assert bea.pk == old.pk
    assert Contact.objects.count() == 2  # bea and the license's billing contact
    assert list(EmailDelivery.objects.filter(contact=bea).values_list("kind", flat=True)) == [EmailKind.ONBOARDING]


@pytest.mark.slow(seconds=2)
@pytest.mark.django_db(transaction=True)
def test_the_migration_merges_what_an_earlier_release_stored():
    executor = MigrationExecutor(connection)
    executor.migrate([("contacts", "0005_contact_sweep")])
    executor.loader.build_graph()
    old_apps = executor.loader.project_state([("contacts", "0005_contact_sweep")]).apps
    OldContact = old_apps.get_model("contacts", "Contact")
    OldDelivery = old_apps.get_model("contacts", "EmailDelivery")
    normal = OldContact.objects.create(email="bea@example.com")
    old = OldContact.objects.create(email="Bea@Example.com", unsubscribed_at=T0)
    OldDelivery.objects.create(contact=old, kind=EmailKind.ONBOARDING, sent_at=T0)
    lone = OldContact.objects.create(email="ｃｙ@example.com")

    try:
        executor = MigrationExecutor(connection)
        executor.migrate([("contacts", "0006_contact_one_per_mailbox")])
    finally:  # the database as migrate left it, for the tests after this one, whatever happened here
        MigrationExecutor(connection).migrate([("contacts", "0006_contact_one_per_mailbox")])

    bea = Contact.objects.get(email="bea@example.com")
    assert (bea.pk, bea.unsubscribed_at) == (normal.pk, T0)
    assert list(EmailDelivery.objects.values_list("contact_id", flat=True)) == [normal.pk]
    assert Contact.objects.get(email="cy@example.com").pk == lone.pk
    assert Contact.objects.count() == 2
