"""The contract's scalars: strict Decimal money, DateTime with an offset, ISO Date. Each names
its specification with @specifiedBy, which typed-client generators and tools read."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import strawberry

from domain.ledger.policy import YEARS

RFC_3339_DATES = "https://www.rfc-editor.org/rfc/rfc3339#section-5.6"
XSD_DECIMAL = "https://www.w3.org/TR/xmlschema-2/#decimal"
TWO_PLACES = Decimal("0.01")
# Plain decimal notation only: no exponents, no signs but "-", no separators, ASCII digits.
DECIMAL_TEXT = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,2})?", re.ASCII)


def parse_decimal(value: object) -> Decimal:
    """Only plain strings, with at most two decimal places: money never goes through a float."""
    if not isinstance(value, str) or not DECIMAL_TEXT.fullmatch(value):
        raise ValueError(
            'Decimal must be a string such as "12.50": up to 15 digits, at most 2 decimal places.'
        )
    return Decimal(value)


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
    if moment.year not in YEARS:
        raise ValueError(f"{value!r}: the year must be {YEARS[0]} to {YEARS[-1]}.")
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
    description='Money as a string with two decimal places ("12.50"); input takes at most two. '
    "XML Schema's decimal notation, restricted: no exponent, no + sign, up to 15 integer digits.",
    specified_by_url=XSD_DECIMAL,
    serialize=serialize_decimal,
    parse_value=parse_decimal,
)
DateTimeScalar = strawberry.scalar(
    name="DateTime",
    description="RFC 3339 date-time, always with an offset (2026-11-24T10:00:00+08:00); input "
    "also takes ISO 8601 forms such as one without seconds, but never one without an offset. "
    "Input years: 1900 to 2999.",
    specified_by_url=RFC_3339_DATES,
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)
DateScalar = strawberry.scalar(
    name="Date",
    description="RFC 3339 full-date: a calendar date such as 2026-11-24.",
    specified_by_url=RFC_3339_DATES,
    serialize=dt.date.isoformat,
    parse_value=parse_date,
)

SCALAR_OVERRIDES = {Decimal: DecimalScalar, dt.datetime: DateTimeScalar, dt.date: DateScalar}
