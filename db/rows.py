"""Models from rows of hand-written SQL.

The hot paths (a movement's book, the earn's facts) send their own SQL on the transaction's
connection instead of building each query through the ORM, which costs several times the query
itself in Python; they still hand the rest of the code the same model objects.

Design: docs/ledger.md, "Hand-written SQL".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import asyncpg
from tortoise.models import Model

from db.tortoise_internals import column_names, model_from_row, primary_key_name, python_value_of

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
    """Some columns of a row as plain attributes, each as its model field holds it, and `pk`:
    a read-only record for a page to render, at a fraction of a model's cost (and not
    awaitable, as a model is: graphql-core would await it)."""

    pk: Any


def columns_but(model: type[Model], *left_out: str) -> tuple[str, ...]:
    """The names of the model's columns, but those left out, in a lasting order."""
    return tuple(sorted(column_names(model) - set(left_out)))


def columns_reader(model: type[Model], names: Sequence[str]) -> Callable[[Sequence[Any]], Columns]:
    """Reads `Columns` from a row of those columns of the model's table, in that order
    (`SELECT ROW(t.id, t.kind, …)`): the primary key among them."""
    names = tuple(names)
    pk_at = names.index(primary_key_name(model))
    converted = [(at, name, convert) for at, name in enumerate(names)
                 if (convert := python_value_of(model, name)) is not None]  # fmt: skip

    def read(values: Sequence[Any]) -> Columns:
        row = Columns()
        attributes = row.__dict__
        attributes.update(zip(names, values, strict=True))
        for at, name, convert in converted:
            attributes[name] = convert(values[at])
        row.pk = values[pk_at]
        return row

    return read
