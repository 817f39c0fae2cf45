"""Models, and lighter read-only records, from rows of hand-written SQL.

The hot paths (a movement's book, the earn's facts) send their own SQL on the transaction's
connection instead of building each query through the ORM, which costs several times the query
itself in Python; they still hand the rest of the code the same model objects.

Design: docs/ledger.md, "Hand-written SQL".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import cached_property
from operator import itemgetter
from typing import Any, TypeVar

import asyncpg
from tortoise.fields import DatetimeField
from tortoise.models import Model

from db.tortoise_internals import (
    aware_zone,
    column_names,
    enum_of,
    field_of,
    model_from_row,
    primary_key_name,
    python_value_of,
)

M = TypeVar("M", bound=Model)


def model_of(model: type[M], row: Mapping[str, Any] | asyncpg.Record) -> M:
    """The model instance a row of its table holds (every column, by name), as the ORM would
    load it. A table's row selected as one value (`SELECT m AS member …`) is such a row too."""
    return model_from_row(model, row)


def row_of(instance: Model) -> dict[str, Any]:
    """An instance's columns by name, what `model_of` takes back (as JSON too: orjson writes
    enums by their value and datetimes in RFC 3339)."""
    return {name: getattr(instance, name) for name in column_names(instance)}


class Columns:
    """Some columns of a row as read-only attributes, each as its model field holds it, and
    `pk`: a record for a page to render, at a fraction of a model's cost (and not awaitable, as
    a model is: graphql-core would await it)."""

    __slots__ = ()
    pk: Any


def columns_but(model: type[Model], *left_out: str) -> tuple[str, ...]:
    """The names of the model's columns, but those left out, in a lasting order."""
    return tuple(sorted(column_names(model) - set(left_out)))


class ColumnArrays:
    """Rows of some columns of a model's table sent as one array per column, read back as
    `Columns`.

    asyncpg decodes an array of rows (`ARRAY(SELECT ROW(t.id, …))`) value by value, looking up
    each one's type, and makes each timestamptz by Python calls: a page of 20 ledger entries
    cost more to decode than the rest of its request. An array of one type decodes in a C loop;
    datetimes are sent as microseconds since the epoch (int8). A value is converted as its
    model field converts it when it is read, and only then: a page shows a few columns.
    """

    def __init__(self, model: type[Model], names: Sequence[str], label: str) -> None:
        self.model = model
        self.names = tuple(names)
        self._keys = tuple(f"{label}_{name}" for name in self.names)  # the arrays' names
        self._datetimes = {
            name for name in self.names if isinstance(field_of(model, name), DatetimeField)
        }

    @cached_property
    def _row(self) -> type[Columns]:
        """The rows' type: a tuple of the columns' values, read by name (made on first use:
        which columns the ORM converts is known once it is initialised)."""
        attributes: dict[str, Any] = {"__slots__": ()}
        for at, name in enumerate(self.names):
            convert = python_value_of(self.model, name)
            enum = enum_of(field_of(self.model, name))
            if name in self._datetimes:
                attributes[name] = _datetime_column(at, convert)
            elif enum is not None and convert is not None:
                attributes[name] = _enum_column(at, enum, convert)
            elif convert is not None:
                attributes[name] = _converted_column(at, convert)
            else:
                attributes[name] = property(itemgetter(at))
        attributes["pk"] = property(itemgetter(self.names.index(primary_key_name(self.model))))
        return type(f"{self.model.__name__}Columns", (Columns, tuple), attributes)

    def aggregates(self, rows: str) -> str:
        """The select list of the columns of the FROM item `rows`, one array each. The arrays
        list the rows in one order, the order they were fed to the aggregates (no ORDER BY:
        each would sort on its own)."""
        arrays = []
        for name, key in zip(self.names, self._keys, strict=True):
            value = f"{rows}.{name}"
            if name in self._datetimes:
                value = f"(EXTRACT(EPOCH FROM {value}) * 1000000)::int8"
            arrays.append(f"array_agg({value}) AS {key}")
        return ", ".join(arrays)

    def read(self, row: Mapping[str, Any]) -> list[Columns]:
        """The rows whose `aggregates` a statement's row holds (NULL arrays: none)."""
        arrays = [row[key] for key in self._keys]
        if arrays[0] is None:
            return []
        return list(map(self._row, zip(*arrays, strict=True)))


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _datetime_column(at: int, convert: Callable[[Any], Any] | None) -> property:
    epoch = _epoch_as_converted(convert)
    if epoch is not None:

        def read_shifted(row: Sequence[Any]) -> Any:
            microseconds = row[at]
            return None if microseconds is None else epoch + timedelta(0, 0, microseconds)

        return property(read_shifted)

    def read(row: Sequence[Any]) -> Any:
        microseconds = row[at]
        if microseconds is None:
            return None
        moment = EPOCH + timedelta(0, 0, microseconds)  # as asyncpg decodes a timestamptz
        return moment if convert is None else convert(moment)

    return property(read)


def _epoch_as_converted(convert: Callable[[Any], Any] | None) -> datetime | None:
    """The epoch as the field's conversion gives it back, when that conversion only moves an
    aware datetime into a zone of one fixed offset (the ORM's UTC): then the epoch plus some
    microseconds is the conversion of the moment, at a fraction of its cost. None otherwise."""
    if convert is None:
        return EPOCH
    zone = aware_zone()
    if zone is None or getattr(zone, "key", None) != "UTC":
        return None
    return EPOCH.astimezone(zone)


def _enum_column(at: int, enum: type[Enum], convert: Callable[[Any], Any]) -> property:
    """An enum's column: its member by value from a table, as the field's conversion finds it."""
    members = {member.value: member for member in enum}

    def read(row: Sequence[Any]) -> Any:
        value = row[at]
        member = members.get(value)
        return member if member is not None else convert(value)

    return property(read)


def _converted_column(at: int, convert: Callable[[Any], Any]) -> property:
    return property(lambda row: convert(row[at]))
