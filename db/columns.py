"""What a text column can hold, for lookups by values that callers send."""

from __future__ import annotations

from tortoise.models import Model

from db.tortoise_internals import field_of


def fits(model: type[Model], field: str, value: str) -> bool:
    """Whether `value` fits the column: a longer one matches no row, and Tortoise would refuse
    to send it at all (a ValidationError, which reads as an internal error)."""
    return len(value) <= field_of(model, field).max_length
