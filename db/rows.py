"""Models from rows of hand-written SQL.

The hot paths (a movement's book, the earn's facts) send their own SQL on the transaction's
connection instead of building each query through the ORM, which costs several times the query
itself in Python; they still hand the rest of the code the same model objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from tortoise.models import Model

from db.tortoise_internals import column_names, model_from_row

M = TypeVar("M", bound=Model)


def model_of(model: type[M], row: Mapping[str, Any]) -> M:
    """The model instance a row of its table holds (every column, by name), as the ORM would
    load it. A table's row selected as one value (`SELECT m AS member …`) is such a row too."""
    return model_from_row(model, row)


def row_of(instance: Model) -> dict[str, Any]:
    """An instance's columns by name, what `model_of` takes back (as JSON too: orjson writes
    enums by their value and datetimes in RFC 3339)."""
    return {name: getattr(instance, name) for name in column_names(instance)}
