"""Raw database values as the ORM would give them, for the few reads that go below the ORM (a hand-written join, a
MongoDB aggregate) because building and running a queryset cost more than the data itself.

The conversion is the ORM's own: the backend's converters and the field's (UUIDs from hex, aware datetimes from
text, booleans from 0/1, dates), found once per model and columns, then run only on the columns that have any."""

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Model

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
