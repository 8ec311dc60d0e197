"""Reads. The panel's read (checklist_with_item_rows) costs one round trip whatever the item count: the checklist and
its items together (an SQL join on SQLite, a $lookup on MongoDB)."""

from operator import itemgetter

from django.db import connection

from core.db import one
from tenants.models import Tenant
from tenants.types import IssueRef

from . import mongo, textformat
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


def checklist_with_item_rows(tenant: Tenant, issue_id: str) -> tuple[Checklist | None, list[tuple]]:
    """The checklist of an issue and its item rows (in _ITEM_COLUMNS order, sorted as checklist_items() sorts), in
    one round trip; (None, []) when the issue has none. On MongoDB below the ORM (checklists/mongo.py)."""
    if connection.vendor == "mongodb":
        checklist, rows = mongo.checklist_with_items(tenant, issue_id, _ITEM_COLUMNS)
    else:
        checklist, rows = _sql_checklist_with_item_rows(tenant, issue_id)
    rows.sort(key=_ITEM_ORDER)
    return checklist, rows


def _sql_checklist_with_item_rows(tenant: Tenant, issue_id: str) -> tuple[Checklist | None, list[tuple]]:
    # A LEFT JOIN: a checklist without items still comes back, as one row whose item columns are NULL.
    joined = list(_JOINED_ROWS.filter(tenant=tenant, issue_id=issue_id))
    if not joined:
        return None, []
    width = len(mongo.CHECKLIST_COLUMNS)
    checklist = Checklist.from_db(connection.alias, mongo.CHECKLIST_COLUMNS, joined[0][:width])
    return checklist, [row[width:] for row in joined if row[width] is not None]


_JOINED_ROWS = Checklist.objects.order_by().values_list(
    *mongo.CHECKLIST_COLUMNS, *(f"items__{name}" for name in _ITEM_COLUMNS)
)


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
