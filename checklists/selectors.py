"""Reads, nothing else (serializers.py shapes the JSON). The panel's read (checklist_with_items_json, on the same join
as checklist_with_item_rows) costs one round trip whatever the item count: the checklist and its items together (an
SQL join on SQLite, a $lookup on MongoDB)."""

from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from operator import attrgetter, itemgetter
from typing import Any
from uuid import UUID

import orjson
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model

from core.fastjson import Encoded, dumps
from core.rows import (
    RawSelect,
    RowConverter,
    concrete_attnames,
    fetch,
    field_by_attname,
    instance_copy,
    instances,
    row_converter,
)
from core.ttlcache import TTLCache
from tenants import permissions
from tenants.models import Tenant
from tenants.types import AuthContext

from . import mongo
from .models import Checklist, ChecklistChange, ChecklistItem, Template
from .serializers import ITEM_COLUMNS, ItemRow, item_row_json

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
        checklist, rows, _raw = _sql_checklist_with_item_rows(tenant, issue_id)
    rows.sort(key=_ITEM_ORDER)
    return checklist, rows


@dataclass(frozen=True)
class _Held:
    """The items' JSON of one version of a checklist, as this process last read them."""

    checklist_id: UUID
    version: int
    updated_at: datetime
    items: Encoded
    # The checklist's row as the database gave it, and the instance made of it: the same row again is not converted
    # again (a copy of the instance is answered: no request shares one).
    raw: tuple[Any, ...] | None = None
    checklist: Checklist | None = None

    def same_version(self, checklist: Checklist) -> bool:
        return (checklist.pk, checklist.version) == (self.checklist_id, self.version)


# Every write bumps the checklist's version and updated_at in the same transaction as its items (services/writes.py;
# so does an account's erasure, operations/privacy.py), so while both are the same the items are too: reading,
# converting and encoding them again was half of a read (bench/RESULTS.md, session 8). updated_at guards a version
# number met again (a restore followed by new writes); the expiry bounds how long an unused body stays in memory.
HELD_SECONDS = 300.0
HELD_MAX_BYTES = 64 * 1024  # ~150 items; a bigger checklist is read whole every time (at most 512 x 64 KB held)
_held: TTLCache[_Held] = TTLCache(lambda: HELD_SECONDS, max_entries=512)


def checklist_with_items_json(tenant: Tenant, issue_id: str) -> tuple[Checklist | None, Encoded]:
    """The checklist of an issue and its items as the API's JSON array, in one round trip; (None, "[]") when the
    issue has none. Items this process already holds for the checklist's current version are not read again: on SQL
    the join leaves them out (a one-row answer), on MongoDB they are not encoded again."""
    key = (tenant.pk, issue_id)
    held = _held.peek(key)
    if connection.vendor == "mongodb":
        checklist, rows = mongo.checklist_with_items(tenant, issue_id, ITEM_COLUMNS)
        items_read, raw = True, None
    else:
        checklist, rows, raw = _sql_checklist_with_item_rows(tenant, issue_id, held)
        items_read = held is None or checklist is None or not held.same_version(checklist)
    if checklist is None:
        if held is not None:
            _held.put(key, None)  # deleted (an issue deleted, a site purged): dropped at the first read that sees it
        return None, _NO_ITEMS
    if held is not None and held.same_version(checklist) and checklist.updated_at == held.updated_at:
        if raw is not None and raw != held.raw:  # the same items, another row (the Jira property's synced version)
            _held.put(key, replace(held, raw=raw, checklist=instance_copy(checklist)))
        return checklist, held.items
    if not items_read:  # the same id and version but another updated_at: the join left out items it must not
        rows = checklist_item_rows(checklist)
    rows.sort(key=_ITEM_ORDER)
    items = Encoded(dumps([item_row_json(row) for row in rows]))
    fits = len(items.contents) <= HELD_MAX_BYTES
    kept = instance_copy(checklist) if raw is not None else None  # MongoDB answers no raw row to compare
    held = _Held(checklist.pk, checklist.version, checklist.updated_at, items, raw, kept)
    _held.put(key, held if fits else None)
    return checklist, items


_NO_ITEMS = Encoded(b"[]")


def _sql_checklist_with_item_rows(
    tenant: Tenant, issue_id: str, held: _Held | None = None
) -> tuple[Checklist | None, list[ItemRow], tuple[Any, ...] | None]:
    # Below the ORM: building the queryset and converting the checklist's columns again on every joined row were
    # two thirds of a read (bench/RESULTS.md, session 7). The SQL is the ORM's join written out once; the values go
    # through the ORM's own converters (core/rows.py), the checklist's once. With `held`, the join leaves the items
    # out when the checklist is still that id and version.
    params = [_TENANT_FIELD.get_db_prep_value(tenant.pk, connection), issue_id]
    if held is not None:
        params[:0] = [_CHECKLIST_PK.get_db_prep_value(held.checklist_id, connection), held.version]
    with connection.cursor() as cursor:
        cursor.execute(_joined_sql(skip_held=held is not None), params)
        joined = cursor.fetchall()
    if not joined:
        return None, [], None
    width = len(mongo.CHECKLIST_COLUMNS)
    raw = tuple(joined[0][:width])
    if held is not None and held.checklist is not None and raw == held.raw:
        checklist = instance_copy(held.checklist)
    else:
        values = row_converter(Checklist, mongo.CHECKLIST_COLUMNS)(raw)
        checklist = Checklist.from_db(connection.alias, mongo.CHECKLIST_COLUMNS, values)
    item_row = row_converter(ChecklistItem, ITEM_COLUMNS)
    # A LEFT JOIN: a checklist without items still comes back, as one row whose item columns are NULL.
    return checklist, [item_row(row[width:]) for row in joined if row[width] is not None], raw


_TENANT_FIELD = Checklist._meta.get_field("tenant").target_field
_CHECKLIST_PK = Checklist._meta.pk


@cache
def _joined_sql(*, skip_held: bool = False) -> str:
    """SELECT the checklist's columns, then its items' (ITEM_COLUMNS), LEFT JOINed, for one tenant and issue.
    skip_held: no items when the checklist's id and version are the first two parameters."""
    quote = connection.ops.quote_name

    def column(model: type[Model], attname: str) -> str:
        return quote(field_by_attname(model, attname).column)

    def columns(model: type[Model], alias: str, attnames: tuple[str, ...]) -> str:
        return ", ".join(f"{alias}.{column(model, name)}" for name in attnames)

    # Only names from the models' own metadata go into this text; the tenant and issue are parameters.
    selected = f"{columns(Checklist, 'c', mongo.CHECKLIST_COLUMNS)}, {columns(ChecklistItem, 'i', ITEM_COLUMNS)}"
    tables = f"{quote(Checklist._meta.db_table)} c LEFT JOIN {quote(ChecklistItem._meta.db_table)} i"
    joined_on = f"i.{column(ChecklistItem, 'checklist_id')} = c.{column(Checklist, 'id')}"
    if skip_held:
        joined_on += f" AND NOT (c.{column(Checklist, 'id')} = %s AND c.{column(Checklist, 'version')} = %s)"
    where = f"c.{column(Checklist, 'tenant_id')} = %s AND c.{column(Checklist, 'issue_id')} = %s"
    return f"SELECT {selected} FROM {tables} ON {joined_on} WHERE {where}"  # noqa: S608


_ITEM_FIELDS = concrete_attnames(ChecklistItem)


def checklist_for_item_write(
    tenant: Tenant, issue_id: str, item_id: UUID
) -> tuple[Checklist | None, list[ChecklistItem], list[tuple[str, bool, bool]]]:
    """SQL only, inside a write's transaction: the checklist of an issue, its item `item_id` alone in a list ([] when
    it is none of its items) and (status, is_header, mandatory) of each of its other items, in one statement where
    reading them apart took three. The other items bring only those three columns, as one JSON array in one column of
    the checklist's row: as rows of their own (a UNION) each came with every column of the item's row, NULL but for
    those three, and reading those NULLs was two thirds of the statement's time (their dates would each have been
    parsed by the database adapter too). (None, [], []) when the issue has no checklist."""
    db = connections[DEFAULT_DB_ALIAS]  # looked up once: each look (the `connection` proxy's too) costs 1-2 µs
    tenant_id = _TENANT_FIELD.get_db_prep_value(tenant.pk, db)
    wanted = _ITEM_PK.get_db_prep_value(item_id, db)
    rows = fetch(_item_write_sql(), [wanted, wanted, tenant_id, issue_id], db)
    if not rows:
        return None, [], []
    row = rows[0]  # unique (tenant, issue); the item joined by its primary key
    width = len(mongo.CHECKLIST_COLUMNS)
    checklist_values, item_values = _item_write_converters()
    checklist = instances(Checklist, mongo.CHECKLIST_COLUMNS, [list(checklist_values(row[:width], db))], db)[0]
    found: list[ChecklistItem] = []
    if row[width] is not None:  # the item, when it is one of the checklist's
        found = instances(ChecklistItem, _ITEM_FIELDS, [list(item_values(row[width:-1], db))], db)
    others = [(status, header, mandatory) for status, header, mandatory in orjson.loads(row[-1])]
    return checklist, found, others


_ITEM_PK = ChecklistItem._meta.pk


@cache
def _item_write_converters() -> tuple[RowConverter, RowConverter]:
    """The checklist's and the item's converters of checklist_for_item_write's row, found once (that read is SQL
    only, so one database's)."""
    return row_converter(Checklist, mongo.CHECKLIST_COLUMNS), row_converter(ChecklistItem, _ITEM_FIELDS)


@cache
def _item_write_sql() -> str:
    """The checklist's row with the item's (LEFT JOINed: NULL when it is none of its items), then one column more:
    [status, is_header, mandatory] of each of its other items, as a JSON array (SQLite's json_group_array), for one
    tenant and issue. Parameters: the item, the item again, the tenant and the issue."""
    quote = connection.ops.quote_name

    def column(model: type[Model], attname: str) -> str:
        return quote(field_by_attname(model, attname).column)

    def columns(model: type[Model], alias: str, attnames: tuple[str, ...]) -> str:
        return ", ".join(f"{alias}.{column(model, name)}" for name in attnames)

    checklists, items = quote(Checklist._meta.db_table), quote(ChecklistItem._meta.db_table)
    item_id, of_checklist = column(ChecklistItem, "id"), column(ChecklistItem, "checklist_id")
    counted = ", ".join(f"o.{column(ChecklistItem, name)}" for name in ("status", "is_header", "mandatory"))
    others = (
        f"(SELECT json_group_array(json_array({counted})) FROM {items} o"  # noqa: S608
        f" WHERE o.{of_checklist} = c.{column(Checklist, 'id')} AND o.{item_id} <> %s)"
    )
    selected = f"{columns(Checklist, 'c', mongo.CHECKLIST_COLUMNS)}, {columns(ChecklistItem, 'i', _ITEM_FIELDS)}"
    joined = (
        f"{checklists} c LEFT JOIN {items} i ON i.{of_checklist} = c.{column(Checklist, 'id')} AND i.{item_id} = %s"
    )
    of_issue = f"c.{column(Checklist, 'tenant_id')} = %s AND c.{column(Checklist, 'issue_id')} = %s"
    # Only names from the models' own metadata go into this text; the values are parameters.
    return f"SELECT {selected}, {others} FROM {joined} WHERE {of_issue}"  # noqa: S608


def checklist_for(tenant: Tenant, issue_id: str) -> Checklist | None:
    found = _CHECKLIST_OF_ISSUE(tenant.pk, issue_id)
    return found[0] if found else None  # unique (tenant, issue)


def checklist_changes(checklist: Checklist | None, limit: int) -> list[ChecklistChange]:
    """Newest first."""
    if checklist is None:
        return []
    return list(ChecklistChange.objects.filter(checklist=checklist).order_by("-version", "-created_at")[:limit])


def templates_visible(auth: AuthContext, project_id: str = "") -> list[Template]:
    """The templates this credential may read (tenants.permissions.may_read_templates): the site-wide ones and, with
    project_id, that project's. Without a project, a Jira admin (the site's template manager) and a site token see
    every project's too; anyone else only the site-wide ones: a request asks Jira at most twice, not once for each
    project that has templates."""
    if not permissions.may_read_templates(auth, ""):
        return []
    templates = Template.objects.filter(tenant=auth.tenant)
    if project_id:
        projects = [""] + ([project_id] if permissions.may_read_templates(auth, project_id) else [])
        templates = templates.filter(project_id__in=projects)
    elif not (auth.source == "site_token" or permissions.template_grants(auth, "").administer_jira):
        templates = templates.filter(project_id="")
    return list(templates.order_by("name", "created_at"))


def template_visible(auth: AuthContext, template_id: UUID) -> Template | None:
    """One template of the caller's site, if the caller may read it (else None: the same 404 as no such template)."""
    template = Template.objects.filter(tenant=auth.tenant, id=template_id).first()
    if template is None or not permissions.may_read_templates(auth, template.project_id):
        return None
    return template
