"""core/rows.py: the statements written once below the ORM give what the ORM gives. Run on both databases: on
MongoDB each helper goes through the ORM itself, and these tests hold it to the same answers."""

import datetime
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection
from django.db.models import signals
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checklists.models import ChangeAction, Checklist, ChecklistChange, ChecklistItem
from core import rows
from core.db import atomic
from core.rows import RawInsert, RawSelect, RawUpdate, instances, row_converter, rows_converter, save_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def checklist(other_tenant):
    checklist = Checklist.objects.create(tenant=other_tenant, issue_id="10001", issue_key="B-1", project_id="1")
    for n in range(3):
        ChecklistItem.objects.create(tenant=other_tenant, checklist=checklist, text=f"item {n}", position=n)
    return checklist


def _state(instance):
    return {k: v for k, v in instance.__dict__.items() if k != "_state"}


def _ms(moment):
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # MongoDB stores milliseconds


def _orm_items(checklist):
    return sorted(ChecklistItem.objects.filter(checklist=checklist), key=lambda i: i.position)


def test_raw_select_builds_what_the_orm_builds(checklist):
    raw = sorted(RawSelect(ChecklistItem, ("checklist_id",))(checklist.pk), key=lambda i: i.position)
    orm = _orm_items(checklist)
    assert [_state(i) for i in raw] == [_state(i) for i in orm]
    assert all(i.created_at.tzinfo is not None for i in raw)  # aware, as the ORM gives them
    assert [(i._state.adding, i._state.db) for i in raw] == [(False, connection.alias)] * 3
    # A fetched instance behaves as one: its relation loads, and it saves as an update (no second row).
    raw[0].text = "saved"
    raw[0].save()
    assert raw[0].checklist == checklist
    assert ChecklistItem.objects.filter(checklist=checklist).count() == 3


def test_instances_fall_back_to_init_when_something_listens(checklist):
    attnames = tuple(f.attname for f in ChecklistItem._meta.concrete_fields)
    values = [[getattr(item, name) for name in attnames] for item in _orm_items(checklist)]
    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance)

    signals.post_init.connect(listener, sender=ChecklistItem)
    try:
        built = instances(ChecklistItem, attnames, values)
    finally:
        signals.post_init.disconnect(listener, sender=ChecklistItem)
    assert seen == built and len(built) == 3
    # A partial load (not every field) is Model.from_db's case too: the missing fields are deferred, not None.
    partial = instances(ChecklistItem, attnames[:-1], [row[:-1] for row in values])
    assert partial[0].get_deferred_fields() == {attnames[-1]}


@pytest.mark.skipif("connection.vendor == 'mongodb'", reason="SQL rows; MongoDB documents go through the ORM")
def test_rows_converter_converts_as_row_converter(checklist):
    select = RawSelect(ChecklistItem, ("checklist_id",))
    with connection.cursor() as cursor:
        cursor.execute(select.sql(), [checklist.pk.hex])
        raw = cursor.fetchall()
    one_by_one = [list(row_converter(ChecklistItem, select.attnames)(row)) for row in raw]
    many = rows_converter(ChecklistItem, select.attnames)(raw)
    assert many == one_by_one
    index = select.attnames.index("checklist_id")
    assert {row[index] for row in many} == {checklist.pk}


def test_raw_update_changes_only_the_matching_row(checklist):
    bump = RawUpdate(Checklist, ("version", "updated_at"), ("id", "version"))
    when = datetime.datetime(2026, 12, 1, 6, 0, tzinfo=datetime.UTC)
    assert bump((5, when), (checklist.pk, checklist.version + 1)) == 0  # a stale version changes nothing
    assert bump((5, when), (checklist.pk, checklist.version)) == 1
    checklist.refresh_from_db()
    assert (checklist.version, checklist.updated_at) == (5, when)


def test_save_fields_writes_the_named_fields_only(checklist):
    item = _orm_items(checklist)[0]
    before = item.updated_at
    item.text = "written"
    item.status = "done"  # changed in memory, not named: stays as stored
    save_fields(item, ["text", "updated_at"])
    stored = ChecklistItem.objects.get(pk=item.pk)
    assert (stored.text, stored.status) == ("written", "todo")
    # auto_now ran, as save() runs it. Compared in memory (microseconds): MongoDB stores milliseconds, so the stored
    # time could equal `before` when the fixture's insert and this save fall in one millisecond.
    assert item.updated_at > before and _ms(stored.updated_at) == _ms(item.updated_at)


def test_save_fields_of_a_deleted_row_is_an_error(checklist):
    item = _orm_items(checklist)[0]
    ChecklistItem.objects.filter(pk=item.pk).delete()
    item.text = "gone"
    with pytest.raises(DatabaseError):
        save_fields(item, ["text"])


@pytest.mark.django_db(transaction=True)
def test_save_fields_outside_a_transaction_is_a_transaction_of_its_own(checklist):
    item = _orm_items(checklist)[0]
    item.text = "alone"
    save_fields(item, ["text"])
    assert ChecklistItem.objects.get(pk=item.pk).text == "alone"
    ChecklistItem.objects.filter(pk=item.pk).delete()
    with pytest.raises(DatabaseError):
        save_fields(item, ["text"])


def test_save_fields_sends_the_save_signals_when_something_listens(checklist):
    item = _orm_items(checklist)[0]
    seen = []

    def listener(sender, instance, update_fields, **kwargs):
        seen.append(set(update_fields))

    signals.post_save.connect(listener, sender=ChecklistItem)
    try:
        item.text = "heard"
        save_fields(item, ["text"])
    finally:
        signals.post_save.disconnect(listener, sender=ChecklistItem)
    assert seen == [{"text"}]
    assert ChecklistItem.objects.get(pk=item.pk).text == "heard"


def test_raw_insert_stores_what_bulk_create_stores(checklist):
    changes = {"text": {"before": "a", "after": 'b "quoted" ünïcode'}, "n": [1, None, True]}
    made = ChecklistChange(
        tenant_id=checklist.tenant_id, checklist=checklist, version=2, action="item_updated", changes=changes
    )
    RawInsert(ChecklistChange)([made])
    stored = ChecklistChange.objects.get(pk=made.pk)
    assert stored.changes == changes
    assert (stored.version, stored.action, stored.checklist_id) == (2, "item_updated", checklist.pk)
    assert made.created_at is not None and _ms(stored.created_at) == _ms(made.created_at)  # auto_now_add ran
    assert (made._state.adding, made._state.db) == (False, connection.alias)
    made.version = 3
    made.save()  # saved as an update of the stored row
    assert ChecklistChange.objects.filter(checklist=checklist).count() == 1


def test_raw_insert_refuses_an_instance_without_a_key(checklist):
    made = ChecklistChange(tenant_id=checklist.tenant_id, checklist=checklist, version=2, action="item_updated")
    made.pk = None
    with pytest.raises(ValueError, match="primary key"):
        RawInsert(ChecklistChange)([made])


def test_raw_insert_of_rows_stores_what_an_insert_of_instances_stores(checklist):
    changes = {"status": {"before": "todo", "after": "done"}}
    given = {
        "tenant_id": checklist.tenant_id,
        "checklist_id": checklist.pk,
        "version": 2,
        "action": ChangeAction.ITEM_UPDATED,  # a choice's enum member, as the write service gives it
        "item_id": uuid.uuid4(),
        "changes": changes,
    }
    made = ChecklistChange(id=uuid.uuid4(), **given)
    RawInsert(ChecklistChange)([made])
    started = timezone.now()
    row_id = uuid.uuid4()
    # A given auto_now_add moment is ignored (pre_save's), a field left out takes its default.
    RawInsert(ChecklistChange).rows([{"id": row_id, **given, "created_at": started - datetime.timedelta(days=9)}])
    by_instance, by_row = ChecklistChange.objects.get(pk=made.pk), ChecklistChange.objects.get(pk=row_id)
    moments = ("id", "created_at", "updated_at")
    assert {k: v for k, v in _state(by_row).items() if k not in moments} == {
        k: v for k, v in _state(by_instance).items() if k not in moments
    }
    assert (by_row.actor_account_id, by_row.source, by_row.changes) == ("", "", changes)
    assert _ms(started) <= by_row.created_at <= by_row.updated_at <= timezone.now()
    if connection.vendor != "mongodb":
        # One moment for both on SQL. On MongoDB, bulk_create: each field's own pre_save asks the clock, as Django's
        # save does, and a millisecond can pass between the two (seen once in CI: .913 and .914).
        assert by_row.created_at == by_row.updated_at
    with pytest.raises(ValueError, match="primary key"):
        RawInsert(ChecklistChange).rows([given])
    # A name that is no attname is refused, not left out for the field's default (model(**row) refuses it too).
    for wrong in ({"actor_acount_id": "557058:ann"}, {"tenant": checklist.tenant}):
        with pytest.raises(TypeError, match="no attname"):
            RawInsert(ChecklistChange).rows([{"id": uuid.uuid4(), **given, **wrong}])
    assert ChecklistChange.objects.count() == 2


def _values_of(field):
    """Values a write may give `field`: of its own kind and of others (which the field converts itself)."""
    moments = [
        datetime.datetime(2026, 12, 1, 6, 0, tzinfo=datetime.UTC),
        datetime.datetime(2026, 12, 1, 6, 0, 0, 1234, tzinfo=datetime.UTC),
        datetime.datetime(2026, 12, 1, 6, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        timezone.now(),
    ]
    return [
        None,
        uuid.uuid4(),
        uuid.uuid4().hex,
        str(uuid.uuid4()),
        *moments,
        0,
        7,
        True,
        False,
        "text",
        "",
        ChangeAction.ITEM_UPDATED,
    ]


@pytest.mark.skipif("connection.vendor == 'mongodb'", reason="SQL parameters; MongoDB goes through the ORM")
def test_every_field_saves_through_its_saver_what_its_own_method_gives():
    tried = 0
    for model in (Checklist, ChecklistItem, ChecklistChange):
        for field in model._meta.concrete_fields:
            saver = rows._saver(field, connection)
            for value in _values_of(field):
                try:
                    expected = field.get_db_prep_save(value, connection)
                except (ValueError, TypeError, ValidationError):
                    with pytest.raises((ValueError, TypeError, ValidationError)):
                        saver(value, connection)
                    continue
                got = saver(value, connection)
                assert (type(got), got) == (type(expected), expected), (model, field.name, value)
                tried += 1
    assert tried > 100


@pytest.mark.skipif("connection.vendor == 'mongodb'", reason="SQL statements")
def test_statements_in_a_transaction_go_to_sqlite_itself(checklist, monkeypatch):
    sent = []
    connection.connection.set_trace_callback(sent.append)

    def no_django_cursor(*args):
        raise AssertionError("a statement went through Django's cursor")

    monkeypatch.setattr(connection, "create_cursor", no_django_cursor)
    table = ChecklistItem._meta.db_table
    assert connection.in_atomic_block  # the test's own transaction
    try:
        # A literal "%" is written "%%", as through Django's cursor.
        update = f'UPDATE "{table}" SET "text" = %s WHERE "checklist_id" = %s AND "text" LIKE \'item%%\''  # noqa: S608
        changed = rows.statement(update, ["100% done", checklist.pk.hex])
        found = rows.fetch(f'SELECT "text" FROM "{table}" WHERE "checklist_id" = %s', [checklist.pk.hex])  # noqa: S608
    finally:
        connection.connection.set_trace_callback(None)
    assert changed == 3
    assert found == [("100% done",)] * 3
    assert [sql.split()[0] for sql in sent] == ["UPDATE", "SELECT"]


@pytest.mark.skipif("connection.vendor == 'mongodb'", reason="SQL statements")
def test_statements_keep_what_djangos_cursor_guarantees(checklist):
    table = Checklist._meta.db_table
    insert = f'INSERT INTO "{table}" ("id", "tenant_id", "issue_id") VALUES (%s, %s, %s)'  # noqa: S608
    with pytest.raises(IntegrityError), atomic():  # the adapter's error, as Django's
        rows.statement(insert, [checklist.pk.hex, checklist.tenant_id.hex, "10009"])
    connection.needs_rollback = True
    try:
        with pytest.raises(TransactionManagementError):  # a broken transaction takes no statement
            rows.fetch(f'SELECT "id" FROM "{table}"', [])  # noqa: S608
    finally:
        connection.needs_rollback = False


@pytest.mark.skipif("connection.vendor == 'mongodb'", reason="SQL statements")
def test_statements_go_through_djangos_cursor_when_someone_watches(checklist):
    select = f'SELECT "issue_id" FROM "{Checklist._meta.db_table}" WHERE "id" = %s'  # noqa: S608
    with CaptureQueriesContext(connection) as logged:
        assert rows.fetch(select, [checklist.pk.hex]) == [("10001",)]
    assert [q["sql"] for q in logged.captured_queries] == [select.replace("%s", f"'{checklist.pk.hex}'")]
    wrapped = []

    def wrapper(execute, sql, params, many, context):
        wrapped.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        assert rows.statement(select, [checklist.pk.hex]) == -1  # a SELECT changes no row
    assert wrapped == [select]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor == 'mongodb'", reason="SQL statements")
def test_a_statement_outside_a_transaction_is_one_of_its_own(checklist):
    table = Checklist._meta.db_table
    assert not connection.in_atomic_block
    # Through Django's cursor, in autocommit: written at once, after the writer's turn (core.db).
    assert rows.statement(f'UPDATE "{table}" SET "issue_key" = %s', ["B-2"]) == 1  # noqa: S608
    assert Checklist.objects.get().issue_key == "B-2"
