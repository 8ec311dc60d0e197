"""The two checklist commands that go below the ORM on MongoDB, each saving a round trip: the one-trip read (a
$lookup aggregate: the backend's own join crashed) and the write's version bump (find_one_and_update: read and bump
in one command). Every value read goes through the backend's own converters, so callers get exactly what the ORM
would give them."""

from django.db import connection
from django.utils import timezone
from pymongo import ReturnDocument

from core.rows import concrete_attnames, row_converter
from tenants.models import Tenant
from tenants.types import IssueRef

from .models import Checklist, ChecklistItem

# Every concrete field, so the instances built here are whole rows (no deferred field to fetch later).
CHECKLIST_COLUMNS = concrete_attnames(Checklist)


def checklist_with_items(tenant: Tenant, issue_id: str, item_columns: tuple[str, ...]) -> tuple[Checklist | None, list]:
    """The checklist of an issue and its items' `item_columns` (unsorted), in one aggregate."""
    pipeline = [
        {"$match": _checklist_key(tenant, issue_id)},
        {"$limit": 1},  # unique (tenant, issue_id)
        {
            "$lookup": {
                "from": ChecklistItem._meta.db_table,
                "localField": "id",
                "foreignField": "checklist_id",
                "as": "items",
            }
        },
    ]
    collection = connection.get_collection(Checklist._meta.db_table)
    documents = list(collection.aggregate(pipeline, session=connection.session))
    if not documents:
        return None, []
    document = documents[0]
    items = [_values(ChecklistItem, item_columns, item) for item in document["items"]]
    return _checklist(document), items


def checklist_bump(tenant: Tenant, issue: IssueRef) -> Checklist | None:
    """Inside the write's transaction: add one to the checklist's version (and take the issue's latest key, project
    and type from the credential) in one command, returning the checklist as it was before; None when the issue has
    none yet. Equivalent to reading the row, then the ORM's conditional bump, but one round trip instead of two."""
    fresh = {
        name: value
        for name, value in (
            ("issue_key", issue.key),
            ("project_id", issue.project_id),
            ("issue_type_id", issue.issue_type_id),
        )
        if value
    }
    document = connection.get_collection(Checklist._meta.db_table).find_one_and_update(
        _checklist_key(tenant, issue.id),
        {"$inc": {"version": 1}, "$set": {"updated_at": timezone.now(), **fresh}},
        return_document=ReturnDocument.BEFORE,
        session=connection.session,
    )
    if document is None:
        return None
    checklist = _checklist(document)
    for name, value in fresh.items():
        setattr(checklist, name, value)
    return checklist


def _checklist_key(tenant: Tenant, issue_id: str) -> dict:
    tenant_field = Checklist._meta.get_field("tenant").target_field
    return {"tenant_id": tenant_field.get_db_prep_value(tenant.pk, connection), "issue_id": issue_id}


def _checklist(document: dict) -> Checklist:
    return Checklist.from_db(connection.alias, CHECKLIST_COLUMNS, _values(Checklist, CHECKLIST_COLUMNS, document))


def _values(model, columns: tuple[str, ...], document: dict) -> tuple:
    """A document's values as the ORM returns them (UUIDs from hex, aware datetimes, dates, ints)."""
    return row_converter(model, columns)([document.get(name) for name in columns])
