"""Reads. The panel's read (checklist_with_item_rows) costs one round trip whatever the item count: the checklist and
its items together (an SQL join on SQLite, a $lookup on MongoDB)."""

from operator import itemgetter

from django.db import connection

from core.db import one
from tenants.models import Tenant
from tenants.types import IssueRef

from . import textformat
from .models import Checklist, ChecklistChange, ChecklistItem, Template
from .progress import progress_json
from .rendering import render_markdown

MAX_HISTORY = 500


def checklist_items(checklist: Checklist | None) -> list[ChecklistItem]:
    if checklist is None:
        return []
    return list(ChecklistItem.objects.filter(checklist=checklist).order_by("position", "created_at"))


def item_json(item: ChecklistItem) -> dict:
    return _item_row_json(tuple(getattr(item, name) for name in _ITEM_COLUMNS))


_ITEM_COLUMNS = (
    "id",
    "text",
    "status",
    "is_header",
    "mandatory",
    "assignee_account_id",
    "due_date",
    "position",
    "created_at",
    "updated_at",
)

# Built once: setting up a values_list() was a fifth of the item query's cost. Never evaluated itself (filter()
# returns a copy), so it is safe to share between threads.
_ITEM_ROWS = ChecklistItem.objects.order_by().values_list(*_ITEM_COLUMNS)
# The order of checklist_items(): position, then creation.
_ITEM_ORDER = itemgetter(_ITEM_COLUMNS.index("position"), _ITEM_COLUMNS.index("created_at"))


def _item_row_json(row: tuple) -> dict:
    item_id, text, status, is_header, mandatory, assignee, due_date, position, created_at, updated_at = row
    return {
        "id": str(item_id),
        "text": text,
        "textHtml": render_markdown(text),
        "status": status,
        "isHeader": is_header,
        "mandatory": mandatory,
        "assigneeAccountId": assignee or None,
        "dueDate": due_date.isoformat() if due_date else None,
        "position": position,
        "createdAt": created_at.isoformat(),
        "updatedAt": updated_at.isoformat(),
    }


def checklist_items_json(checklist: Checklist | None) -> list[dict]:
    """The read path's items: plain rows, no model instances (a third of a read's time went into building them),
    sorted here rather than by the database (a checklist holds at most 500)."""
    if checklist is None:
        return []
    rows = list(_ITEM_ROWS.filter(checklist_id=checklist.pk))
    rows.sort(key=_ITEM_ORDER)
    return [_item_row_json(row) for row in rows]


# The checklist's columns for the one-trip read: every concrete field, so the instance it builds is a whole row.
_CHECKLIST_COLUMNS = tuple(f.attname for f in Checklist._meta.concrete_fields)
_ITEMS_TABLE = ChecklistItem._meta.db_table


def checklist_with_item_rows(tenant: Tenant, issue_id: str) -> tuple[Checklist | None, list[tuple]]:
    """The checklist of an issue and its item rows (in _ITEM_COLUMNS order, sorted as checklist_items() sorts), in
    one round trip; (None, []) when the issue has none. Below the ORM on MongoDB: the backend's join crashed there
    (AttributeError converting the joined values), so the aggregate is built here and every value goes through the
    backend's own converters, giving exactly what the ORM gives."""
    if connection.vendor == "mongodb":
        checklist, rows = _mongo_checklist_with_item_rows(tenant, issue_id)
    else:
        checklist, rows = _sql_checklist_with_item_rows(tenant, issue_id)
    rows.sort(key=_ITEM_ORDER)
    return checklist, rows


def _sql_checklist_with_item_rows(tenant: Tenant, issue_id: str) -> tuple[Checklist | None, list[tuple]]:
    # A LEFT JOIN: a checklist without items still comes back, as one row whose item columns are NULL.
    joined = list(_JOINED_ROWS.filter(tenant=tenant, issue_id=issue_id))
    if not joined:
        return None, []
    width = len(_CHECKLIST_COLUMNS)
    checklist = Checklist.from_db(connection.alias, _CHECKLIST_COLUMNS, joined[0][:width])
    return checklist, [row[width:] for row in joined if row[width] is not None]


_JOINED_ROWS = Checklist.objects.order_by().values_list(
    *_CHECKLIST_COLUMNS, *(f"items__{name}" for name in _ITEM_COLUMNS)
)


def _mongo_checklist_with_item_rows(tenant: Tenant, issue_id: str) -> tuple[Checklist | None, list[tuple]]:
    tenant_field = Checklist._meta.get_field("tenant").target_field
    pipeline = [
        {"$match": {"tenant_id": tenant_field.get_db_prep_value(tenant.pk, connection), "issue_id": issue_id}},
        {"$limit": 1},  # unique (tenant, issue_id)
        {"$lookup": {"from": _ITEMS_TABLE, "localField": "id", "foreignField": "checklist_id", "as": "items"}},
    ]
    documents = list(
        connection.get_collection(Checklist._meta.db_table).aggregate(pipeline, session=connection.session)
    )
    if not documents:
        return None, []
    document = documents[0]
    checklist = Checklist.from_db(
        connection.alias, _CHECKLIST_COLUMNS, _mongo_values(Checklist, _CHECKLIST_COLUMNS, document)
    )
    return checklist, [_mongo_values(ChecklistItem, _ITEM_COLUMNS, item) for item in document["items"]]


_CONVERTERS: dict[tuple, list] = {}


def _mongo_values(model, columns: tuple[str, ...], document: dict) -> tuple:
    """A document's values as the ORM would return them (UUIDs from hex, aware datetimes, dates, ints)."""
    converters = _CONVERTERS.get((model, columns))
    if converters is None:
        converters = _CONVERTERS[(model, columns)] = [_field_converters(model, name) for name in columns]
    values = []
    for name, (col, field_converters) in zip(columns, converters, strict=True):
        value = document.get(name)
        for convert in field_converters:
            value = convert(value, col, connection)
        values.append(value)
    return tuple(values)


def _field_converters(model, attname: str) -> tuple:
    field = next(f for f in model._meta.concrete_fields if f.attname == attname)
    col = field.get_col(model._meta.db_table)
    return col, connection.ops.get_db_converters(col) + field.get_db_converters(connection)


def checklist_json(checklist: Checklist | None, issue: IssueRef, item_rows: list[tuple] | None = None) -> dict:
    """item_rows: the items as checklist_with_item_rows() read them; read here when not given."""
    return {
        "issueId": issue.id,
        "issueKey": (checklist.issue_key if checklist else "") or issue.key,
        "projectId": (checklist.project_id if checklist else "") or issue.project_id,
        "issueTypeId": (checklist.issue_type_id if checklist else "") or issue.issue_type_id,
        "version": checklist.version if checklist else 0,
        "items": checklist_items_json(checklist) if item_rows is None else [_item_row_json(r) for r in item_rows],
        "progress": progress_json(checklist),
    }


def checklist_text(checklist: Checklist | None) -> str:
    return textformat.serialize(
        [
            textformat.Entry(
                text=i.text,
                status=i.status,
                is_header=i.is_header,
                mandatory=i.mandatory,
                assignee_account_id=i.assignee_account_id,
                due_date=i.due_date,
            )
            for i in checklist_items(checklist)
        ]
    )


def checklist_for(tenant: Tenant, issue_id: str) -> Checklist | None:
    return one(Checklist.objects.filter(tenant=tenant, issue_id=issue_id))


def history_json(checklist: Checklist | None, limit: int) -> list[dict]:
    if checklist is None:
        return []
    changes = ChecklistChange.objects.filter(checklist=checklist).order_by("-version", "-created_at")[:limit]
    return [
        {
            "id": str(c.id),
            "version": c.version,
            "action": c.action,
            "actorAccountId": c.actor_account_id or None,
            "itemId": str(c.item_id) if c.item_id else None,
            "source": c.source,
            "changes": c.changes,
            "createdAt": c.created_at.isoformat(),
        }
        for c in changes
    ]


def template_json(template: Template) -> dict:
    return {
        "id": str(template.id),
        "name": template.name,
        "text": template.text,
        "projectId": template.project_id or None,
        "issueTypeId": template.issue_type_id or None,
        "autoApply": template.auto_apply,
        "createdAt": template.created_at.isoformat(),
        "updatedAt": template.updated_at.isoformat(),
    }
