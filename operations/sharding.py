"""
Growing MongoDB past one replica set: which collections to shard, on which key, and a check that today's indexes
allow it (`manage.py shard_plan`).

MongoDB refuses to shard a collection that has a unique index not starting with the shard key's fields, and every
model of ours has one: its UUID primary key is the `id` field with a unique index (the document's own `_id` is an
ObjectId the backend adds). So:
- The collections that grow with use (a checklist's items, about 20 per checklist, and its history, one row per
  write) shard on `{id: "hashed"}`: an even spread whatever the tenants' sizes, and the primary key stays unique
  across the cluster. A read of a checklist's items asks every shard (each answers from its `checklist_id` index);
  the writes by primary key go to one shard.
- `checklists_checklist` cannot be sharded on any key: it has two unique indexes with no common first field (`id`,
  and `tenant_id, issue_id`, the one checklist per issue). It is one small document per issue and stays on the
  database's primary shard, as does every collection not named below.

The plan is data, checked against the live database's indexes before a command is printed, and
tests/operations/test_sharding.py checks it against the migrated schema: a migration that adds a unique index a
sharded collection cannot keep fails there, not on the day an operator adds a shard.
"""

from dataclasses import dataclass

from django.apps import apps
from django.db import connections

# Every model of ours is either sharded here or listed as staying on the primary shard, so a new model has to be
# placed when it is added (the test compares this with the installed models).
SHARDED = {
    "checklists.ChecklistItem": {"id": "hashed"},
    "checklists.ChecklistChange": {"id": "hashed"},
    "tenants.SiteTokenUse": {"id": "hashed"},  # one row per call of an Automation or MCP site token
}
UNSHARDED = {
    "checklists.Checklist": "two unique indexes with no common first field (id; tenant_id, issue_id)",
    "checklists.Template": "at most MAX_TEMPLATES per site",
    "checklists.SiteStatus": "a few per site",
    "tenants.Tenant": "one per Jira site",
    "tenants.SiteToken": "a few per site",
    "contacts.License": "one per paying site",
    "contacts.Contact": "two per paying site at most",
    "contacts.ContactLink": "two per paying site at most",
    "contacts.EmailDelivery": "a few per contact",
    "contacts.PollCursor": "one per Marketplace feed",
    "staff.AuditEntry": "one per staff look at customer data: grows with staff work, not with users",
    "operations.ReportedAccount": "one per personal-data report entry",
}
OUR_APPS = ("core", "staff", "tenants", "checklists", "contacts", "operations")


@dataclass(frozen=True)
class ShardStep:
    collection: str
    key: dict[str, object]
    problems: tuple[str, ...]  # why MongoDB would refuse it as the indexes stand; empty when it can go ahead


def planned_models() -> set[str]:
    return set(SHARDED) | set(UNSHARDED)


def our_models() -> set[str]:
    return {model._meta.label for model in apps.get_models() if model.__module__.split(".")[0] in OUR_APPS}


def shard_steps(alias: str = "default") -> list[ShardStep]:
    """Each planned collection with what stands in its way in the database behind `alias` (MongoDB only)."""
    connection = connections[alias]
    steps = []
    for label, key in SHARDED.items():
        table = apps.get_model(label)._meta.db_table
        indexes = connection.get_collection(table).list_indexes()
        steps.append(ShardStep(table, key, tuple(_refusals(key, indexes))))
    return steps


def _refusals(key: dict[str, object], indexes) -> list[str]:
    """MongoDB's rule: every unique index of a sharded collection starts with the shard key's fields (the default
    `_id` index excepted)."""
    fields = list(key)
    problems = []
    for index in indexes:
        if index["name"] == "_id_" or not index.get("unique"):
            continue
        if list(index["key"])[: len(fields)] != fields:
            problems.append(f"unique index {index['name']} on {dict(index['key'])} does not start with {fields}")
    return problems


def mongosh_commands(database: str, steps: list[ShardStep]) -> list[str]:
    """What an operator runs on a mongos once the shards are added: the shard key's index first (shardCollection
    only builds it on an empty collection), then the collection sharded."""
    lines = []
    for step in steps:
        key = ", ".join(
            f'{field}: "{kind}"' if isinstance(kind, str) else f"{field}: {kind}" for field, kind in step.key.items()
        )
        namespace = f"{database}.{step.collection}"
        lines.append(f'db.getSiblingDB("{database}").{step.collection}.createIndex({{{key}}})')
        lines.append(f'sh.shardCollection("{namespace}", {{{key}}})')
    return lines
