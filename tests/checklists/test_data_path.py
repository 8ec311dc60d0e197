"""The data path's round trips: a checklist read is one query (SQLite) or one command (MongoDB) for the data,
whatever the item count, and gives the very JSON the two-query read gave; a write's round trips on MongoDB are
counted on the wire (pymongo command monitoring)."""

import json
import uuid
from datetime import timedelta

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test.utils import CaptureQueriesContext

from checklists import selectors, serializers, services
from checklists.models import COMPLETE_STATUSES, Checklist, ChecklistChange, ChecklistItem, Template
from checklists.progress import progress_counts
from core import outbound
from core.fastjson import Encoded, dumps
from devhost.mongo_commands import CommandNames
from tests.conftest import Api, issue_ref

pytestmark = pytest.mark.django_db

MONGODB = connection.vendor == "mongodb"
ITEMS = "# Ship it\n" + "".join(f"- [ ] item {n}\n" for n in range(20))


@pytest.fixture
def mongo_commands(db):
    """The commands this process sends to MongoDB, as the driver reports them (a fresh client that reports to us)."""
    if not MONGODB:
        pytest.skip("MongoDB round trips")
    listener = CommandNames()
    options = connection.settings_dict["OPTIONS"]
    connection.close_pool()
    options["event_listeners"] = [listener]
    yield listener
    del options["event_listeners"]
    connection.close_pool()


def _filled(client, tenant) -> Api:
    api = Api(client, tenant)
    assert api.put_text(ITEMS).status_code == 200
    items = api.get().json()["items"]
    # Every kind of value the JSON carries: a date, an assignee, a finished and an optional item, a reorder.
    first, second = items[1]["id"], items[2]["id"]
    assert api.patch(first, status="done", dueDate="2026-12-24", assigneeAccountId="557058:bob").status_code == 200
    assert api.patch(second, mandatory=False, position=7).status_code == 200
    return api


def test_the_one_trip_read_gives_the_same_json_as_two_queries(client, tenant):
    api = _filled(client, tenant)
    issue = issue_ref()
    checklist, rows = selectors.checklist_with_item_rows(tenant, issue.id)
    stored = Checklist.objects.get(tenant=tenant, issue_id=issue.id)
    two_queries = serializers.checklist_json(stored, issue, selectors.checklist_item_rows(stored))
    one_trip = serializers.checklist_json(checklist, issue, rows)
    # Below the JSON too: the very values (UUIDs, aware datetimes, dates, booleans) the ORM gives, row by row.
    assert rows == selectors.checklist_item_rows(stored)
    columns = [f.attname for f in Checklist._meta.concrete_fields]
    assert [getattr(checklist, c) for c in columns] == [getattr(stored, c) for c in columns]
    assert len(one_trip["items"]) == 21
    assert json.dumps(one_trip, cls=DjangoJSONEncoder) == json.dumps(two_queries, cls=DjangoJSONEncoder)
    body = api.get().json()
    assert {k: v for k, v in body.items() if k not in ("permissions", "statuses")} == json.loads(
        json.dumps(two_queries)
    )
    assert checklist.version == body["version"] == 3  # the text, then two patches
    assert [f.attname for f in Checklist._meta.concrete_fields if f.attname in checklist.get_deferred_fields()] == []


def test_a_checklist_without_items_and_an_issue_without_a_checklist(client, tenant):
    api = Api(client, tenant)
    assert selectors.checklist_with_item_rows(tenant, "10001") == (None, [])
    item_id = api.add("only").json()["id"]
    assert api.delete(item_id).status_code == 204
    checklist, rows = selectors.checklist_with_item_rows(tenant, "10001")
    assert (checklist.version, rows) == (2, [])
    body = api.get().json()
    assert (body["items"], body["version"], body["progress"]["total"]) == ([], 2, 0)


def test_the_one_trip_read_reads_only_this_sites_checklist(client, tenant, other_tenant):
    Api(client, tenant).put_text("- [ ] ours\n")
    assert selectors.checklist_with_item_rows(other_tenant, "10001") == (None, [])
    theirs = Checklist.objects.create(tenant=other_tenant, issue_id="10001", version=1)
    ChecklistItem.objects.create(tenant=other_tenant, checklist=theirs, text="theirs")
    checklist, rows = selectors.checklist_with_item_rows(tenant, "10001")
    assert checklist.tenant_id == tenant.pk
    assert [row[1] for row in rows] == ["ours"]


@pytest.mark.skipif(MONGODB, reason="SQL queries; MongoDB's round trips are counted on the wire below")
def test_a_read_is_one_query_whatever_the_item_count(client, tenant):
    api = _filled(client, tenant)
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            body = api.get().json()
        assert len(body["items"]) == 21
        assert len(queries.captured_queries) == 1, [q["sql"] for q in queries.captured_queries]
        assert "JOIN" in queries.captured_queries[0]["sql"]


def test_a_read_is_one_mongodb_command(client, tenant, mongo_commands):
    api = _filled(client, tenant)
    api.get()  # the site's row is now cached in this process
    mongo_commands.names.clear()
    body = api.get().json()
    assert len(body["items"]) == 21
    assert mongo_commands.names == ["aggregate"]


def test_a_missing_checklist_still_applies_its_auto_template(client, tenant):
    Template.objects.create(tenant=tenant, name="DoD", text="- [ ] review\n", auto_apply=True)
    body = Api(client, tenant).get().json()
    assert [i["text"] for i in body["items"]] == ["review"]
    assert body["version"] == 1
    assert uuid.UUID(body["items"][0]["id"])


def _stored_counts() -> dict:
    checklist = Checklist.objects.get()
    rows = ChecklistItem.objects.filter(checklist=checklist).values_list("status", "is_header", "mandatory")
    return {
        "stored": {k: getattr(checklist, k) for k in progress_counts([], COMPLETE_STATUSES)},
        "items": progress_counts(rows, COMPLETE_STATUSES),  # these tests use the built-in statuses only
    }


def test_the_counts_taken_in_memory_match_the_items_after_every_kind_of_write(client, tenant):
    api = _filled(client, tenant)
    template = Template.objects.create(tenant=tenant, name="DoD", text="- [ ] review\n- [x] merged\n")
    ids = [i["id"] for i in api.get().json()["items"]]
    apply = api.url("/apply-template")
    writes = [
        (201, lambda: api.add("new", mandatory=False)),
        (201, lambda: api.add("head", isHeader=True)),
        (200, lambda: api.patch(ids[3], status="skipped")),
        (200, lambda: api.patch(ids[4], status="done", mandatory=False)),
        (204, lambda: api.delete(ids[5])),
        (200, lambda: api.call("post", apply, {"templateId": str(template.id)})),
        (200, lambda: api.put_text("# Head\n- [x] one\n- [ ] two\n")),
        (200, lambda: api.call("post", apply, {"templateId": str(template.id), "mode": "replace"})),
    ]
    seen = []
    for status, write in writes:
        assert write().status_code == status
        counts = _stored_counts()
        assert counts["stored"] == counts["items"]
        seen.append(counts["items"]["done_count"])
    assert seen[-1] == 1 and max(seen) > 1  # the writes did move the counts


def test_a_patch_round_trips_on_mongodb(client, tenant, mongo_commands):
    api = _filled(client, tenant)
    item_id = api.get().json()["items"][3]["id"]
    mongo_commands.names.clear()
    assert api.patch(item_id, status="done").status_code == 200
    # Read-and-bump the version, read the items, update the item, store the counts, write history, commit: the
    # read and the bump were two commands, and the counts another read of the items (8 in all before).
    assert mongo_commands.names == [
        "findAndModify",
        "aggregate",
        "update",
        "update",
        "insert",
        "commitTransaction",
    ]


@pytest.mark.skipif(MONGODB, reason="SQLite's journal settings")
def test_sqlite_runs_in_wal_mode_with_normal_sync():
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cursor.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


@pytest.mark.skipif(MONGODB, reason="SQLite's indexes and query plans")
def test_history_has_no_index_on_its_checklist_alone_and_its_lookups_by_checklist_go_by_the_composite(client, tenant):
    """Every history row writes a page of each of its table's indexes (and a PATCH after another connection's commit
    reads them all again): besides its primary key, the history has (checklist, -created_at), which serves every
    lookup by checklist, its site (the purge) and its time (the staff console's list, newest first across sites);
    none on its checklist alone."""
    _filled(client, tenant)
    checklist = Checklist.objects.get(tenant=tenant)
    table = ChecklistChange._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
        indexed = [c["columns"] for c in constraints.values() if c["index"] and not c["primary_key"]]
        assert sorted(indexed) == [["checklist_id", "created_at"], ["created_at"], ["tenant_id"]]
        # The history read, and the cascade from a deleted checklist.
        for queryset in (
            ChecklistChange.objects.filter(checklist=checklist).order_by("-version", "-created_at")[:50],
            ChecklistChange.objects.filter(checklist_id__in=[checklist.id]),
        ):
            sql, params = queryset.query.sql_with_params()
            plan = " | ".join(row[-1] for row in cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            assert "USING INDEX checklists__checkli_5d24f4_idx (checklist_id=?)" in plan, plan
    assert selectors.checklist_changes(checklist, 50)  # and the history still reads


def test_the_outbound_client_is_one_per_process(monkeypatch):
    client = outbound.shared_client()
    assert outbound.shared_client() is client
    monkeypatch.setattr(outbound.os, "getpid", lambda: -1)  # as seen from a forked child
    assert outbound.shared_client() is not client


def test_a_read_holds_the_items_of_the_version_it_read_and_no_other(client, tenant):
    api = _filled(client, tenant)
    first = api.get().json()
    held = selectors._held.peek((tenant.pk, "10001"))
    assert held is not None and held.version == first["version"] == 3
    with CaptureQueriesContext(connection) as queries:
        again = api.get().json()
    assert again == first
    if not MONGODB:  # the join left the items out: the checklist's row came back alone
        assert len(queries.captured_queries) == 1 and "NOT (" in queries.captured_queries[0]["sql"]
    # Every write moves the version: the next read has the write in it, and holds the new version.
    item_id = first["items"][3]["id"]
    assert api.patch(item_id, text="renamed").status_code == 200
    after = api.get().json()
    assert [i["text"] for i in after["items"] if i["id"] == item_id] == ["renamed"]
    assert selectors._held.peek((tenant.pk, "10001")).version == after["version"] == 4


def test_the_same_version_with_another_updated_at_is_read_again(client, tenant):
    # A restore puts back version 3 of a checklist, then new writes reach version 3 again with other items: the
    # held items of the first version 3 must not be answered for the second.
    api = _filled(client, tenant)
    first = api.get().json()
    checklist = Checklist.objects.get(tenant=tenant, issue_id="10001")
    ChecklistItem.objects.filter(checklist=checklist, text="item 0").update(text="another past")
    Checklist.objects.filter(pk=checklist.pk).update(updated_at=checklist.updated_at + timedelta(seconds=1))
    again = api.get().json()
    assert again["version"] == first["version"]
    assert "another past" in [i["text"] for i in again["items"]]
    assert selectors._held.peek((tenant.pk, "10001")).updated_at == checklist.updated_at + timedelta(seconds=1)


def test_held_items_are_per_site(client, tenant, other_tenant):
    Api(client, tenant).put_text("- [ ] ours\n")
    theirs = services.Actor("557058:bob")
    services.checklist_replace_text(tenant=other_tenant, issue=issue_ref(), actor=theirs, text="- [ ] theirs\n")
    for _ in range(2):
        assert [i["text"] for i in Api(client, tenant).get().json()["items"]] == ["ours"]
        assert [i["text"] for i in Api(client, other_tenant).get().json()["items"]] == ["theirs"]


def test_a_big_checklist_is_not_held(client, tenant, monkeypatch):
    monkeypatch.setattr(selectors, "HELD_MAX_BYTES", 1000)  # one item, not 21
    api = Api(client, tenant)
    api.put_text("- [ ] one\n")
    api.get()
    assert selectors._held.peek((tenant.pk, "10001")) is not None
    api.put_text(ITEMS)
    assert len(api.get().json()["items"]) == 21
    assert selectors._held.peek((tenant.pk, "10001")) is None


def test_json_encoded_earlier_is_written_as_it_is_even_by_the_fallback_encoder():
    items = Encoded(b'[{"id":"a"}]')
    assert json.loads(dumps({"items": items})) == {"items": [{"id": "a"}]}
    # orjson refuses integers beyond 64 bits; the fallback encoder must still write the held JSON.
    assert json.loads(dumps({"items": items, "big": 2**70})) == {"items": [{"id": "a"}], "big": 2**70}


def test_the_same_checklist_row_is_not_converted_again_and_each_read_gets_its_own_instance(client, tenant):
    _filled(client, tenant).get()
    held = selectors._held.peek((tenant.pk, "10001"))
    first, _ = selectors.checklist_with_items_json(tenant, "10001")
    second, _ = selectors.checklist_with_items_json(tenant, "10001")
    assert len({id(first), id(second), id(held.checklist)}) == 3
    first.done_count = 999  # a caller changing its instance changes nobody else's
    assert second.done_count != 999 and selectors.checklist_with_items_json(tenant, "10001")[0].done_count != 999
    # Any change of the row, even without a new version (the counts after a site's statuses change), is read anew.
    Checklist.objects.filter(pk=first.pk).update(done_count=7)
    assert selectors.checklist_with_items_json(tenant, "10001")[0].done_count == 7


def test_a_deleted_checklist_leaves_no_held_items(client, tenant):
    Api(client, tenant).put_text(ITEMS)
    Api(client, tenant).get()
    assert selectors._held.peek((tenant.pk, "10001")) is not None
    services.checklist_delete_for_issue(tenant=tenant, issue_id="10001")
    assert selectors.checklist_with_items_json(tenant, "10001")[0] is None
    assert selectors._held.peek((tenant.pk, "10001")) is None


def test_a_new_row_of_the_same_version_is_held_in_place_of_the_old(client, tenant):
    # The Jira property's push changes the row (its synced version) but neither the version nor the items.
    _filled(client, tenant).get()
    checklist = Checklist.objects.get(tenant=tenant, issue_id="10001")
    Checklist.objects.filter(pk=checklist.pk).update(property_synced_version=checklist.version)
    again, _ = selectors.checklist_with_items_json(tenant, "10001")
    assert again.property_synced_version == checklist.version
    held = selectors._held.peek((tenant.pk, "10001"))
    if not MONGODB:  # kept for the next read, which then converts nothing
        assert held.checklist.property_synced_version == checklist.version and held.raw is not None


@pytest.mark.skipif(MONGODB, reason="MongoDB reads every item in the write's one aggregate (a round trip costs more)")
def test_a_patch_of_one_items_fields_builds_that_item_alone(client, tenant):
    from django.db.models import signals

    api = _filled(client, tenant)
    ids = [i["id"] for i in api.get().json()["items"]]
    built = []

    def seen(sender, instance, **kwargs):
        built.append(str(instance.id))

    signals.post_init.connect(seen, sender=ChecklistItem)
    try:
        assert api.patch(ids[3], status="done").status_code == 200
        assert built == [ids[3]]  # the others were read for their counts only
        built.clear()
        assert api.patch(ids[3], position=0).status_code == 200  # a move renumbers them all: every item is built
        assert sorted(built) == sorted(ids)
    finally:
        signals.post_init.disconnect(seen, sender=ChecklistItem)
    counts = _stored_counts()
    assert counts["stored"] == counts["items"]


@pytest.mark.skipif(MONGODB, reason="SQL statements; MongoDB's round trips are counted on the wire above")
def test_a_patch_of_one_item_is_four_statements_on_sqlite(client, tenant):
    api = _filled(client, tenant)
    item_id = api.get().json()["items"][3]["id"]
    api.patch(item_id, status="skipped")  # the site's statuses and the permission are now cached in this process
    with CaptureQueriesContext(connection) as queries:
        assert api.patch(item_id, status="done").status_code == 200
    # The transaction's own statements (BEGIN and COMMIT, or a savepoint and its release in a test) left out.
    # (An executemany is logged as "N times: ...".)
    logged = [q["sql"].split(" times: ", 1)[-1] for q in queries.captured_queries]
    data = [sql for sql in logged if sql.split()[0] in ("SELECT", "UPDATE", "INSERT")]
    # The checklist, the item and the others' counted columns in one SELECT; the item; the version bump with the
    # counts; the history row (seven before: the checklist, the bump, the item, the item, the counted columns, the
    # counts, the history).
    assert [sql.split()[0] for sql in data] == ["SELECT", "UPDATE", "UPDATE", "INSERT"], data
    assert "json_group_array" in data[0]  # the others' counted columns in one column of the checklist's row
    assert _stored_counts()["stored"] == _stored_counts()["items"]
    # Unwatched, the same statements go to SQLite directly (core.rows.statement): counted where SQLite receives them.
    sent: list[str] = []
    connection.connection.set_trace_callback(sent.append)
    try:
        assert api.patch(item_id, status="todo").status_code == 200
    finally:
        connection.connection.set_trace_callback(None)
    data = [sql for sql in sent if sql.split()[0] in ("SELECT", "UPDATE", "INSERT")]
    assert [sql.split()[0] for sql in data] == ["SELECT", "UPDATE", "UPDATE", "INSERT"], data
    assert _stored_counts()["stored"] == _stored_counts()["items"]


@pytest.mark.skipif(MONGODB, reason="the SQL write's own read")
def test_the_write_read_of_one_item_gives_what_the_orm_gives(client, tenant, other_tenant):
    _filled(client, tenant)
    assert selectors.checklist_for_item_write(tenant, "10002", uuid.uuid4()) == (None, [], [])
    stored = Checklist.objects.get(tenant=tenant, issue_id="10001")
    items = list(ChecklistItem.objects.filter(checklist=stored))
    target = next(i for i in items if i.due_date is not None)  # a date, an assignee, a finished item
    checklist, found, others = selectors.checklist_for_item_write(tenant, "10001", target.id)
    columns = [f.attname for f in Checklist._meta.concrete_fields]
    assert [getattr(checklist, c) for c in columns] == [getattr(stored, c) for c in columns]
    item_columns = [f.attname for f in ChecklistItem._meta.concrete_fields]
    assert [[getattr(i, c) for c in item_columns] for i in found] == [[getattr(target, c) for c in item_columns]]
    assert found[0]._state.adding is False and not found[0].get_deferred_fields()
    expected = sorted((i.status, i.is_header, i.mandatory) for i in items if i.id != target.id)
    assert sorted((s, bool(h), bool(m)) for s, h, m in others) == expected
    # An item of another site's checklist of the same issue is none of this checklist's: not found, counts unmixed.
    theirs = Checklist.objects.create(tenant=other_tenant, issue_id="10001", version=1)
    stranger = ChecklistItem.objects.create(tenant=other_tenant, checklist=theirs, text="theirs")
    checklist, found, others = selectors.checklist_for_item_write(tenant, "10001", stranger.id)
    assert checklist.pk == stored.pk and found == [] and len(others) == len(items)
