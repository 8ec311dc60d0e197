"""core/rows.py: the statements written once below the ORM give what the ORM gives. Run on both databases: on
MongoDB each helper goes through the ORM itself, and these tests hold it to the same answers."""

import datetime

import pytest
from django.db import DatabaseError, connection
from django.db.models import signals

from checklists.models import Checklist, ChecklistChange, ChecklistItem
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
