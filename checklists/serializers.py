"""The JSON the API answers with (the contract's camelCase names), shaped from what the selectors read. Pure: no
queries here, so a read's query count stays the selectors' business."""

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from core.fastjson import Encoded
from tenants.types import IssueRef

from . import textformat
from .models import Checklist, ChecklistChange, ChecklistItem, ItemStatus, Template
from .progress import progress_json
from .rendering import render_markdown

# Our field names as the contract spells them (validation errors name fields this way too), and back for the
# request bodies.
CAMEL = {
    "is_header": "isHeader",
    "assignee_account_id": "assigneeAccountId",
    "due_date": "dueDate",
    "project_id": "projectId",
    "issue_type_id": "issueTypeId",
    "auto_apply": "autoApply",
    "counts_as_done": "countsAsDone",
    "customer_visible": "visibleToCustomer",
}
SNAKE = {v: k for k, v in CAMEL.items()}

# An item as item_row_json reads it: selectors.checklist_item_rows selects these columns in this order.
ITEM_COLUMNS = (
    "id",
    "text",
    "status",
    "is_header",
    "mandatory",
    "assignee_account_id",
    "due_date",
    "customer_visible",
    "position",
    "created_at",
    "updated_at",
    "version",
)
ItemRow = tuple[UUID, str, str, bool, bool, str, date | None, bool, int, datetime, datetime, int]


def item_row_json(row: ItemRow) -> dict[str, Any]:
    (
        item_id,
        text,
        status,
        is_header,
        mandatory,
        assignee,
        due_date,
        customer_visible,
        position,
        created_at,
        updated_at,
        version,
    ) = row
    return {
        "id": str(item_id),
        "text": text,
        "textHtml": render_markdown(text),
        "status": status,
        "isHeader": is_header,
        "mandatory": mandatory,
        "assigneeAccountId": assignee or None,
        "dueDate": due_date.isoformat() if due_date else None,
        "visibleToCustomer": customer_visible,
        "position": position,
        "createdAt": created_at.isoformat(),
        "updatedAt": updated_at.isoformat(),
        "version": version,  # this item's own version: what its ETag (If-Match "item-<id>-<version>") carries
    }


def item_json(item: ChecklistItem) -> dict[str, Any]:
    return item_row_json(
        (
            item.id,
            item.text,
            item.status,
            item.is_header,
            item.mandatory,
            item.assignee_account_id,
            item.due_date,
            item.customer_visible,
            item.position,
            item.created_at,
            item.updated_at,
            item.version,
        )
    )


def checklist_json(
    checklist: Checklist | None, issue: IssueRef, item_rows: Iterable[ItemRow] | Encoded
) -> dict[str, Any]:
    """item_rows may be the items' JSON already encoded (selectors.checklist_with_items_json)."""
    return {
        "issueId": issue.id,
        "issueKey": (checklist.issue_key if checklist else "") or issue.key,
        "projectId": (checklist.project_id if checklist else "") or issue.project_id,
        "issueTypeId": (checklist.issue_type_id if checklist else "") or issue.issue_type_id,
        "version": checklist.version if checklist else 0,
        "items": item_rows if isinstance(item_rows, Encoded) else [item_row_json(row) for row in item_rows],
        "progress": progress_json(checklist),
    }


def checklist_text(items: Iterable[ChecklistItem], *, keep_progress: bool = True) -> str:
    """The items in the text format. Without keep_progress (a template in the making), every item is to do and
    has no due date: what is done here is not done on the issues the template is applied to."""
    return textformat.serialize(
        [
            textformat.Entry(
                text=i.text,
                status=i.status if keep_progress or i.is_header else ItemStatus.TODO,
                is_header=i.is_header,
                mandatory=i.mandatory,
                assignee_account_id=i.assignee_account_id,
                due_date=i.due_date if keep_progress else None,
                customer_visible=i.customer_visible,
            )
            for i in items
        ]
    )


def history_json(changes: Iterable[ChecklistChange]) -> list[dict[str, Any]]:
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


def template_json(template: Template) -> dict[str, Any]:
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
