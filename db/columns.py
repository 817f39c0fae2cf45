"""What a text column can hold, for lookups by values that callers send."""

from __future__ import annotations

from tortoise.fields import CharField
from tortoise.models import Model

from db.tortoise_internals import field_of


def fits(model: type[Model], field: str, value: str) -> bool:
    """Whether `value` fits the column: a longer one matches no row, and Tortoise would refuse
    to send it at all (a ValidationError, which reads as an internal error)."""
    column = field_of(model, field)
    if not isinstance(column, CharField):
        raise TypeError(f"{model.__name__}.{field} is not a text column")
    return len(value) <= column.max_length
