"""Keyset pagination for Relay connections: pages do not shift as the underlying rows grow.

A cursor names the position of a row by its sort key (the order's fields, ending with the
primary key, so it is unique); the next page starts strictly after it. Offsets would skip or
repeat rows whenever a ledger grows between two requests.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from db.tortoise_internals import field_of
from domain.errors import DomainError, ErrorCode

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

RecordT = TypeVar("RecordT", bound=Model)
T = TypeVar("T")  # what a page holds: models, or plain copies of rows


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    total_count: int


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    return {"dec": str(value)} if isinstance(value, Decimal) else value


INT32 = 2**31 - 1
LARGEST_DECIMAL = Decimal(10) ** 18  # beyond every DecimalField's max_digits


def _decode_value(value: Any) -> Any:
    """A cursor's value back as the sort field's; ValueError for anything a field cannot hold."""
    if isinstance(value, dict) and isinstance(value.get("dt"), str) and len(value) == 1:
        moment = datetime.fromisoformat(value["dt"])
        if moment.tzinfo is None:
            raise ValueError("naive datetime")
        return moment
    if isinstance(value, dict) and isinstance(value.get("dec"), str) and len(value) == 1:
        try:
            number = Decimal(value["dec"])
        except ArithmeticError:  # decimal.InvalidOperation
            raise ValueError("not a number") from None
        if not number.is_finite() or abs(number) >= LARGEST_DECIMAL:
            raise ValueError("not a number a sort field holds")
        return number
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("not a sort key")
    if isinstance(value, int) and not -INT32 <= value <= INT32:
        raise ValueError("out of range")
    return value


def encode_cursor(record: object, order: tuple[str, ...]) -> str:
    if len(order) == 1 and type(value := getattr(record, order[0])) is int:
        # json.dumps' text for one int, at a tenth of its cost: a page writes a cursor per row.
        return base64.urlsafe_b64encode(b"[%d]" % value).decode()
    values = [_encode_value(getattr(record, field)) for field in order]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def decode_cursor(
    cursor: str, order: tuple[str, ...], argument: str, model: type[Model] | None = None
) -> list[Any]:
    """The sort key a cursor names; INVALID_INPUT unless each value fits its field of `model`."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(values, list) or len(values) != len(order):
            raise ValueError("wrong shape")
        decoded = [_decode_value(value) for value in values]
        if model is not None:
            for field, value in zip(order, decoded, strict=True):
                expected = field_of(model, field).field_type
                if not isinstance(value, expected) or isinstance(value, bool):
                    raise ValueError(f"{field} takes a {expected.__name__}")
        return decoded
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"{argument} is not a valid cursor.", [argument]
        ) from None


def _beyond(order: tuple[str, ...], values: list[Any], lookup: str) -> Q:
    """Rows strictly after (`gt`) or before (`lt`) the position `values` in `order`."""
    condition = Q(**{f"{order[-1]}__{lookup}": values[-1]})
    for field, value in zip(reversed(order[:-1]), reversed(values[:-1]), strict=True):
        condition = Q(**{f"{field}__{lookup}": value}) | (Q(**{field: value}) & condition)
    return condition


def _check_size(size: int | None, argument: str) -> None:
    if size is not None and not 0 <= size <= MAX_PAGE_SIZE:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"{argument} must be between 0 and {MAX_PAGE_SIZE}.",
            [argument],
        )


def check_request(request: PageRequest) -> None:
    """INVALID_INPUT for sizes out of range, or both first and last."""
    _check_size(request.first, "first")
    _check_size(request.last, "last")
    if request.first is not None and request.last is not None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Pass first or last, not both.", ["first", "last"]
        )


def backwards(request: PageRequest) -> bool:
    """Whether the page is read from its end (`last`, or `before` alone)."""
    return request.last is not None or (request.before is not None and request.first is None)


def page_size(request: PageRequest) -> int:
    size = request.last if backwards(request) else request.first
    return size if size is not None else DEFAULT_PAGE_SIZE


def window_page(
    rows: list[T], request: PageRequest, order: tuple[str, ...], total_count: int
) -> Page[T]:
    """The page of `rows`: up to `page_size(request) + 1` rows read onward from the request's
    cursor (from its end when `backwards`), the one past the page telling there are more."""
    size = page_size(request)
    if backwards(request):
        items = list(reversed(rows[:size]))
        has_previous_page, has_next_page = len(rows) > size, request.before is not None
    else:
        items = rows[:size]
        has_next_page, has_previous_page = len(rows) > size, request.after is not None
    return Page(
        items=items,
        cursors=[encode_cursor(item, order) for item in items],
        has_next_page=has_next_page,
        has_previous_page=has_previous_page,
        total_count=total_count,
    )


async def paginate(
    queryset: QuerySet[RecordT],
    request: PageRequest,
    order: tuple[str, ...] = ("id",),
    *,
    descending: bool = False,
) -> Page[RecordT]:
    """One page of `queryset` in `order` (whose last field must be unique), newest first when
    `descending`."""
    check_request(request)
    total_count = await queryset.count()
    onward, back = ("lt", "gt") if descending else ("gt", "lt")
    ascending_fields = list(order)
    descending_fields = [f"-{field}" for field in order]
    forward_order, backward_order = (
        (descending_fields, ascending_fields)
        if descending
        else (ascending_fields, descending_fields)
    )
    window = queryset
    if request.after is not None:
        window = window.filter(
            _beyond(order, decode_cursor(request.after, order, "after", queryset.model), onward)
        )
    if request.before is not None:
        window = window.filter(
            _beyond(order, decode_cursor(request.before, order, "before", queryset.model), back)
        )
    rows = await window.order_by(*(backward_order if backwards(request) else forward_order)).limit(
        page_size(request) + 1
    )
    return window_page(rows, request, order, total_count)
