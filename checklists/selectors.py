"""Reads, nothing else (serializers.py shapes the JSON). The panel's read (checklist_with_item_rows) costs one round
trip whatever the item count: the checklist and its items together (an SQL join on SQLite, a $lookup on MongoDB)."""

from functools import cache
from operator import attrgetter, itemgetter
from uuid import UUID

from django.db import connection
from django.db.models import Model

from core.rows import RawSelect, field_by_attname, row_converter
from tenants.models import Tenant

from . import mongo
from .models import Checklist, ChecklistChange, ChecklistItem, Template
from .serializers import ITEM_COLUMNS, ItemRow

MAX_HISTORY = 500


# A checklist and its items as model instances (writes, text mode, the portal), below the queryset on SQL
# (core/rows.py): compiling the querysets was a fifth of a PATCH.
_CHECKLIST_OF_ISSUE = RawSelect(Checklist, ("tenant_id", "issue_id"))
_ITEMS_OF_CHECKLIST = RawSelect(ChecklistItem, ("checklist_id",))


def checklist_items(checklist: Checklist | None) -> list[ChecklistItem]:
    """The checklist's items in their order: position, then creation."""
    if checklist is None:
        return []
    items: list[ChecklistItem] = _ITEMS_OF_CHECKLIST(checklist.pk)
    items.sort(key=attrgetter("position", "created_at"))
    return items


# Built once: setting up a values_list() was a fifth of the item query's cost. Never evaluated itself (filter()
# returns a copy), so it is safe to share between threads.
_ITEM_ROWS = ChecklistItem.objects.order_by().values_list(*ITEM_COLUMNS)
# The order of checklist_items(): position, then creation.
_ITEM_ORDER = itemgetter(ITEM_COLUMNS.index("position"), ITEM_COLUMNS.index("created_at"))


def checklist_item_rows(checklist: Checklist | None) -> list[ItemRow]:
    """The read path's items: plain rows, no model instances (a third of a read's time went into building them),
    sorted here rather than by the database (a checklist holds at most 500)."""
    if checklist is None:
        return []
    rows: list[ItemRow] = list(_ITEM_ROWS.filter(checklist_id=checklist.pk))
    rows.sort(key=_ITEM_ORDER)
    return rows


def checklist_with_item_rows(tenant: Tenant, issue_id: str) -> tuple[Checklist | None, list[ItemRow]]:
    """The checklist of an issue and its item rows (in ITEM_COLUMNS order, sorted as checklist_items() sorts), in
    one round trip; (None, []) when the issue has none. On MongoDB below the ORM (checklists/mongo.py)."""
    rows: list[ItemRow]
    if connection.vendor == "mongodb":
        checklist, rows = mongo.checklist_with_items(tenant, issue_id, ITEM_COLUMNS)
    else:
        checklist, rows = _sql_checklist_with_item_rows(tenant, issue_id)
    rows.sort(key=_ITEM_ORDER)
    return checklist, rows


def _sql_checklist_with_item_rows(tenant: Tenant, issue_id: str) -> tuple[Checklist | None, list[ItemRow]]:
    # Below the ORM: building the queryset and converting the checklist's columns again on every joined row were
    # two thirds of a read (bench/RESULTS.md, session 7). The SQL is the ORM's join written out once; the values go
    # through the ORM's own converters (core/rows.py), the checklist's once.
    params = [_TENANT_FIELD.get_db_prep_value(tenant.pk, connection), issue_id]
    with connection.cursor() as cursor:
        cursor.execute(_joined_sql(), params)
        joined = cursor.fetchall()
    if not joined:
        return None, []
    width = len(mongo.CHECKLIST_COLUMNS)
    values = row_converter(Checklist, mongo.CHECKLIST_COLUMNS)(joined[0][:width])
    checklist = Checklist.from_db(connection.alias, mongo.CHECKLIST_COLUMNS, values)
    item_row = row_converter(ChecklistItem, ITEM_COLUMNS)
    # A LEFT JOIN: a checklist without items still comes back, as one row whose item columns are NULL.
    return checklist, [item_row(row[width:]) for row in joined if row[width] is not None]


_TENANT_FIELD = Checklist._meta.get_field("tenant").target_field


@cache
def _joined_sql() -> str:
    """SELECT the checklist's columns, then its items' (ITEM_COLUMNS), LEFT JOINed, for one tenant and issue."""
    quote = connection.ops.quote_name

    def column(model: type[Model], attname: str) -> str:
        return quote(field_by_attname(model, attname).column)

    def columns(model: type[Model], alias: str, attnames: tuple[str, ...]) -> str:
        return ", ".join(f"{alias}.{column(model, name)}" for name in attnames)

    # Only names from the models' own metadata go into this text; the tenant and issue are parameters.
    selected = f"{columns(Checklist, 'c', mongo.CHECKLIST_COLUMNS)}, {columns(ChecklistItem, 'i', ITEM_COLUMNS)}"
    tables = f"{quote(Checklist._meta.db_table)} c LEFT JOIN {quote(ChecklistItem._meta.db_table)} i"
    joined_on = f"i.{column(ChecklistItem, 'checklist_id')} = c.{column(Checklist, 'id')}"
    where = f"c.{column(Checklist, 'tenant_id')} = %s AND c.{column(Checklist, 'issue_id')} = %s"
    return f"SELECT {selected} FROM {tables} ON {joined_on} WHERE {where}"  # noqa: S608


def checklist_for(tenant: Tenant, issue_id: str) -> Checklist | None:
    found = _CHECKLIST_OF_ISSUE(tenant.pk, issue_id)
    return found[0] if found else None  # unique (tenant, issue)


def checklist_changes(checklist: Checklist | None, limit: int) -> list[ChecklistChange]:
    """Newest first."""
    if checklist is None:
        return []
    return list(ChecklistChange.objects.filter(checklist=checklist).order_by("-version", "-created_at")[:limit])


def templates_for(tenant: Tenant) -> list[Template]:
    return list(Template.objects.filter(tenant=tenant).order_by("name", "created_at"))


def template_for(tenant: Tenant, template_id: UUID) -> Template | None:
    return Template.objects.filter(tenant=tenant, id=template_id).first()
