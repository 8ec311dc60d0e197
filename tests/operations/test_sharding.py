"""The shard plan (operations/sharding.py) against the schema the migrations build: MongoDB refuses to shard a
collection with a unique index that does not start with the shard key's fields, so each planned key is checked
against the real indexes, and a unique index that would break it is named before anyone reaches a mongos."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from checklists.models import Checklist, ChecklistItem
from operations import sharding

pytestmark = pytest.mark.django_db
MONGODB = connection.vendor == "mongodb"
on_mongodb = pytest.mark.skipif(not MONGODB, reason="MongoDB's indexes")


def test_every_model_of_ours_is_either_sharded_or_named_as_staying_on_the_primary_shard():
    assert not set(sharding.SHARDED) & set(sharding.UNSHARDED)
    assert sharding.planned_models() == sharding.our_models()
    assert "checklists.ChecklistItem" in sharding.SHARDED  # the one that grows fastest (about 20 a checklist)


@on_mongodb
def test_the_migrated_indexes_allow_every_planned_shard_key():
    steps = sharding.shard_steps()
    assert [step.collection for step in steps] == [
        "checklists_checklistitem",
        "checklists_checklistchange",
        "tenants_sitetokenuse",
    ]
    assert all(step.problems == () for step in steps), steps


@on_mongodb
def test_the_check_sees_what_mongodb_would_refuse():
    """Why the checklist collection stays unsharded: its two unique indexes share no first field, so any key is
    refused; the check says so for a key on the primary key, the only one the other collections can take."""
    indexes = connection.get_collection(Checklist._meta.db_table).list_indexes()
    problems = sharding._refusals({"id": "hashed"}, indexes)
    assert len(problems) == 1 and "unique_checklist_per_issue" in problems[0], problems


@on_mongodb
def test_a_unique_index_that_breaks_the_plan_stops_the_command_and_is_named():
    items = connection.get_collection(ChecklistItem._meta.db_table)
    items.create_index([("checklist_id", 1), ("position", 1)], unique=True, name="one_item_a_position")
    try:
        with pytest.raises(CommandError) as refused:
            call_command("shard_plan")
    finally:
        items.drop_index("one_item_a_position")
    assert "checklists_checklistitem: unique index one_item_a_position" in str(refused.value)
    assert "shardCollection" not in str(refused.value)


@on_mongodb
def test_the_command_prints_each_shard_keys_index_before_its_shardcollection(capsys):
    call_command("shard_plan")
    lines = capsys.readouterr().out.splitlines()
    database = connection.settings_dict["NAME"]
    assert lines[:2] == [
        f'db.getSiblingDB("{database}").checklists_checklistitem.createIndex({{id: "hashed"}})',
        f'sh.shardCollection("{database}.checklists_checklistitem", {{id: "hashed"}})',
    ]
    assert len(lines) == 2 * len(sharding.SHARDED)


@pytest.mark.skipif(MONGODB, reason="the refusal on another database")
def test_on_another_database_the_command_says_it_is_for_mongodb():
    with pytest.raises(CommandError, match="for MongoDB"):
        call_command("shard_plan")
