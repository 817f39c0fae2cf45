"""The contract's scalars: strict Decimal money, DateTime with an offset, ISO Date."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

import strawberry

TWO_PLACES = Decimal("0.01")


def parse_decimal(value: object) -> Decimal:
    """Only strings, finite, with at most two decimal places: money never goes through a float."""
    if not isinstance(value, str):
        raise ValueError('Decimal must be a string such as "12.50".')
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number.") from None
    if not number.is_finite():
        raise ValueError("Decimal must be finite.")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("Decimal takes at most 2 decimal places.")
    return number


def serialize_decimal(value: Decimal | int) -> str:
    return str(Decimal(value).quantize(TWO_PLACES))


def parse_datetime(value: object) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO 8601 string.")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time.") from None
    if moment.tzinfo is None:
        raise ValueError("DateTime must carry an offset, e.g. 2026-11-24T10:00:00+08:00.")
    return moment


def serialize_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("A DateTime without an offset cannot be sent.")
    return value.isoformat()


def parse_date(value: object) -> dt.date:
    if not isinstance(value, str):
        raise ValueError("Date must be an ISO 8601 string such as 2026-11-24.")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date.") from None


DecimalScalar = strawberry.scalar(
    name="Decimal",
    description='Money as a string with two decimal places ("12.50"); input takes at most two.',
    serialize=serialize_decimal,
    parse_value=parse_decimal,
)
DateTimeScalar = strawberry.scalar(
    name="DateTime",
    description="ISO 8601 date-time with an offset.",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)
DateScalar = strawberry.scalar(
    name="Date",
    description="ISO 8601 calendar date.",
    serialize=dt.date.isoformat,
    parse_value=parse_date,
)

SCALAR_OVERRIDES = {Decimal: DecimalScalar, dt.datetime: DateTimeScalar, dt.date: DateScalar}
