"""Raw database values as the ORM would give them, for the few reads that go below the ORM (a hand-written join, a
MongoDB aggregate) because building and running a queryset cost more than the data itself.

The conversion is the ORM's own: the backend's converters and the field's (UUIDs from hex, aware datetimes from
text, booleans from 0/1, dates), found once per model and columns, then run only on the columns that have any."""

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

from django.db import connection
from django.db.models import Field, Model

from .db import atomic

RowConverter = Callable[[Sequence[Any]], tuple[Any, ...]]
_CONVERTERS: dict[tuple[str, type[Model], tuple[str, ...]], RowConverter] = {}


def field_by_attname(model: type[Model], attname: str) -> Field:
    return next(f for f in model._meta.concrete_fields if f.attname == attname)


def row_converter(model: type[Model], attnames: tuple[str, ...]) -> RowConverter:
    """A function turning a sequence of raw values of `model`'s `attnames` (in that order) into a tuple of the values
    the ORM returns for them."""
    key = (connection.vendor, model, attnames)
    convert = _CONVERTERS.get(key)
    if convert is None:
        convert = _CONVERTERS[key] = _build(model, attnames)
    return convert


def _build(model: type[Model], attnames: tuple[str, ...]) -> RowConverter:
    steps = []
    for index, attname in enumerate(attnames):
        col = field_by_attname(model, attname).get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if converters:
            steps.append((index, col, converters))

    def convert(raw: Sequence[Any]) -> tuple[Any, ...]:
        values = list(raw)
        for index, col, converters in steps:
            value = values[index]
            for step in converters:
                value = step(value, col, connection)
            values[index] = value
        return tuple(values)

    return convert


class RawSelect:
    """Instances of `model` whose `where` columns (attnames) equal the values given, every concrete field loaded:
    the SELECT written once from the model's metadata, the values through row_converter, the instances built with
    Model.from_db as a queryset builds them. Half the CPU of the same filter() on a write's hot path (compiling the
    queryset was most of it). Unordered. On MongoDB, which takes no SQL, the same filter through the ORM."""

    def __init__(self, model: type[Model], where: tuple[str, ...]) -> None:
        self.model = model
        self.attnames = tuple(f.attname for f in model._meta.concrete_fields)
        self.where = where
        self.where_fields = [field_by_attname(model, name) for name in where]
        self._sql: str | None = None

    def sql(self) -> str:
        if self._sql is None:
            quote = connection.ops.quote_name
            selected = ", ".join(quote(f.column) for f in self.model._meta.concrete_fields)
            where = " AND ".join(f"{quote(f.column)} = %s" for f in self.where_fields)
            # Only names from the model's metadata go into the text; the values are parameters.
            self._sql = f"SELECT {selected} FROM {quote(self.model._meta.db_table)} WHERE {where}"  # noqa: S608
        return self._sql

    def __call__(self, *values: Any) -> list[Any]:
        if connection.vendor == "mongodb":
            return list(self.model._default_manager.filter(**dict(zip(self.where, values, strict=True))))
        params = [f.get_db_prep_value(v, connection) for f, v in zip(self.where_fields, values, strict=True)]
        with connection.cursor() as cursor:
            cursor.execute(self.sql(), params)
            rows = cursor.fetchall()
        convert = row_converter(self.model, self.attnames)
        return [self.model.from_db(connection.alias, self.attnames, convert(row)) for row in rows]


def update_each(model: type[Model], attname: str, values: dict[Any, Any]) -> None:
    """Sets `attname` of each row (by primary key) to its own value, in one round trip: executemany on SQL, one
    bulk_write on MongoDB (inside the block's transaction, if any). What bulk_update does, without compiling a CASE
    expression of every row (24 ms of CPU for 100 rows on SQLite, where this takes one or two)."""
    if not values:
        return
    pk = model._meta.pk
    assert pk is not None
    field = field_by_attname(model, attname)
    rows = [(field.get_db_prep_save(v, connection), pk.get_db_prep_value(k, connection)) for k, v in values.items()]
    # All or none, as bulk_update: outside a block SQLite's executemany would commit row by row. Inside one, no
    # savepoint is needed.
    with nullcontext() if connection.in_atomic_block else atomic():
        if connection.vendor == "mongodb":
            from pymongo import UpdateOne

            collection = connection.get_collection(model._meta.db_table)  # type: ignore[attr-defined]
            requests = [UpdateOne({pk.column: key}, {"$set": {field.column: value}}) for value, key in rows]
            collection.bulk_write(requests, ordered=False, session=connection.session)  # type: ignore[attr-defined]
            return
        quote = connection.ops.quote_name
        # Only names from the model's metadata go into the text; the values are parameters.
        table, column, key = quote(model._meta.db_table), quote(field.column), quote(pk.column)
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {table} SET {column} = %s WHERE {key} = %s", rows)  # noqa: S608
