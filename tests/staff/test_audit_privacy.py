"""The audit trail records every look at customer data without becoming a copy of it: what staff type into a list's
search box and filters is kept as keyed hashes, the audit log's own search finds it by hashing a candidate (and is
audited), entries recorded in clear before are converted by a migration, and Django's admin log names records by id."""

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from contacts.models import Contact
from staff.audit import search_hash
from staff.models import AuditEntry
from tests.staff.conftest import EMAIL, url

# As staff type it: case and spaces differ from the stored address, and the search is case-insensitive.
TYPED = "  Billing.Person@Customer.EXAMPLE "
NAME_FILTER = "Bea Bill"  # a free-text filter value (a name), as a hand-edited URL can carry one
CLEAR = ("billing.person", "customer.example", "customer%2eexample", "bea bill", "bea+bill", "bea%20bill")
LATEST = "0003_audit_and_admin_log_minimised"
OLD_PATH = (
    "/admin/contacts/contact/?q=Billing.Person%40Customer.Example&sync_state__exact=pending&display_name=Bea+Bill"
)


def raw_table(table: str) -> str:
    """Every stored value of a table as the database holds it (not through the model), folded to lower case."""
    if connection.vendor == "mongodb":
        return repr(list(connection.database[table].find({}))).casefold()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (a fixed table name)
        return repr(cursor.fetchall()).casefold()


def assert_no_clear_text(table: str = "core_auditentry") -> None:
    raw = raw_table(table)
    for clear in CLEAR:
        assert clear not in raw, (table, clear)


def contact_search(client, term: str = TYPED):
    return client.get(
        url(model=Contact), {"q": term, "sync_state__exact": "pending", "display_name__icontains": NAME_FILTER}
    )


def lookup(client, term: str):
    response = client.get(url(model=AuditEntry), {"q": term})
    assert response.status_code == 200
    return response, {entry.pk for entry in response.context["cl"].result_list}


@pytest.mark.django_db
def test_a_search_for_an_email_is_audited_without_its_text(staff, data):
    client = staff("billing")
    response = contact_search(client)
    assert response.status_code == 200 and EMAIL in response.content.decode()  # the look happened

    entry = AuditEntry.objects.get()
    # The look is recorded: who, what, which records.
    assert (entry.action, entry.model, entry.actor_username) == ("list", "contacts.contact", "billing-user")
    assert entry.object_ids == [str(data["contact"].pk)]
    # The search as a keyed hash and facts that name nobody; the choice filter as typed, the name filter hashed.
    assert (entry.search_hash, entry.search_kind, entry.search_length) == (search_hash(EMAIL), "email", len(EMAIL))
    path, _, query = entry.path.partition("?")
    assert path == "/admin/contacts/contact/"
    assert "sync_state__exact=pending" in query.split("&")
    assert re.fullmatch(r"display_name__icontains=hmac-[0-9a-f]{16}", [p for p in query.split("&") if "name" in p][0])
    assert "q=" not in query
    assert_no_clear_text()


@pytest.mark.django_db
def test_the_audit_log_search_finds_who_searched_for_a_text_and_is_audited_too(staff, data, settings):
    contact_search(staff("billing"))
    searched = AuditEntry.objects.get()
    superuser = staff("superuser")

    # Whatever its case or spacing, the candidate is hashed as the search was: the entry is found, by its search or
    # by its filter value, and nothing else is.
    _response, found = lookup(superuser, "billing.person@customer.example")
    assert found == {searched.pk}
    _response, found = lookup(superuser, "BEA   bill")
    assert searched.pk in found
    _response, found = lookup(superuser, "someone.else@customer.example")
    assert searched.pk not in found

    # The lookups are audited, with what they found, and their terms hashed too.
    lookups = AuditEntry.objects.filter(action="lookup").order_by("created_at")
    assert [(e.model, e.actor_username, e.search_kind) for e in lookups] == [
        ("staff.auditentry", "superuser-user", "email"),
        ("staff.auditentry", "superuser-user", "text"),
        ("staff.auditentry", "superuser-user", "email"),
    ]
    assert str(searched.pk) in lookups[0].object_ids and lookups[0].search_hash == search_hash(EMAIL)
    assert_no_clear_text()

    # After a SECRET_KEY rotation (the old key kept in SECRET_KEY_FALLBACKS) older entries are still found.
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-after-rotation-0123456789-abcdefghijklmnop"
    _response, found = lookup(superuser, EMAIL)
    assert searched.pk in found


@pytest.mark.django_db
def test_the_admin_log_names_a_changed_contact_by_id(staff, data):
    client = staff("superuser")
    contact = data["contact"]
    form = client.get(url(contact)).content.decode()
    management = dict(re.findall(r'name="([\w-]+_FORMS)" value="(\d+)"', form))
    response = client.post(url(contact), {"display_name": "Bea Billing-Smith", **management})
    assert response.status_code == 302
    # Django's own log of the change (the history page) names the record by id, as the audit trail does, and keeps
    # which fields changed: not the email, which would outlive the contact in a table no purge reaches.
    entry = LogEntry.objects.get(object_id=str(contact.pk))
    assert (entry.object_repr, entry.action_flag) == (str(contact.pk), 2)
    assert "Display name" in entry.get_change_message()
    assert EMAIL not in raw_table(LogEntry._meta.db_table) and "bea billing" not in raw_table(LogEntry._meta.db_table)
    assert AuditEntry.objects.filter(action="change", object_ids=[str(contact.pk)]).exists()


@pytest.mark.slow(seconds=2)
@pytest.mark.django_db(transaction=True)
def test_the_migrations_convert_entries_recorded_in_clear(staff, data):
    superuser = staff("superuser")
    executor = MigrationExecutor(connection)
    executor.migrate([("staff", "0001_initial")])
    executor.loader.build_graph()
    OldEntry = executor.loader.project_state([("staff", "0001_initial")]).apps.get_model("staff", "AuditEntry")
    common = {"actor_id": "1", "actor_username": "old-staff", "model": "contacts.contact"}
    searched = OldEntry.objects.create(action="list", object_ids=[str(data["contact"].pk)], path=OLD_PATH, **common)
    # An action on "all matching" a search of a model that no longer exists: its filter value is hashed all the same.
    gone = OldEntry.objects.create(
        action="action",
        object_ids=["*"],
        path="/admin/old/thing/?q=DEMO-12&name=Bea+Bill",
        **{**common, "model": "old.thing"},
    )
    viewed = OldEntry.objects.create(
        action="view", path=f"/admin/contacts/contact/{data['contact'].pk}/change/", **common
    )
    # Django's admin log as an earlier release wrote it: the changed contact named by its email.
    logged = LogEntry.objects.create(
        user_id=User.objects.get(username="superuser-user").pk,
        content_type_id=ContentType.objects.get_for_model(Contact).pk,
        object_id=str(data["contact"].pk),
        object_repr=EMAIL,
        action_flag=2,
        change_message='[{"changed": {"fields": ["Display name"]}}]',
    )
    try:
        MigrationExecutor(connection).migrate([("staff", LATEST)])
    finally:  # the database as migrate left it, for the tests after this one, whatever happened here
        MigrationExecutor(connection).migrate([("staff", LATEST)])

    entry = AuditEntry.objects.get(pk=searched.pk)
    assert (entry.search_hash, entry.search_kind, entry.search_length) == (search_hash(EMAIL), "email", len(EMAIL))
    assert entry.path.startswith("/admin/contacts/contact/?sync_state__exact=pending&display_name=hmac-")
    assert entry.object_ids == [str(data["contact"].pk)]  # the look itself is kept
    other = AuditEntry.objects.get(pk=gone.pk)
    assert (other.search_hash, other.search_kind) == (search_hash("demo-12"), "issue_key")
    assert re.fullmatch(r"/admin/old/thing/\?name=hmac-[0-9a-f]{16}", other.path)
    kept = AuditEntry.objects.get(pk=viewed.pk)  # nothing typed: left as it was
    assert (kept.path, kept.search_hash) == (viewed.path, "")
    assert_no_clear_text()
    assert LogEntry.objects.get(pk=logged.pk).object_repr == str(data["contact"].pk)
    assert EMAIL not in raw_table(LogEntry._meta.db_table)

    # Old entries are found as new ones are, by their search or by a filter value.
    _response, found = lookup(superuser, EMAIL)
    assert found == {searched.pk}
    _response, found = lookup(superuser, NAME_FILTER)
    assert found == {searched.pk, gone.pk}
