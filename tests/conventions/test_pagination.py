"""Keyset pagination, the helper every connection uses: stable pages, both directions."""

from __future__ import annotations

import base64
import json

import pytest

from db.models import Store
from domain.brands import ensure_store
from domain.errors import DomainError, ErrorCode
from domain.pagination import MAX_PAGE_SIZE, PageRequest, paginate

ORDER = ("code", "id")


def cursor_of(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


async def stores_with_codes(brand, count: int) -> None:
    for number in range(count):
        await ensure_store(brand, f"S{number:03}", f"Store {number}")


def codes(page) -> list[str]:
    return [store.code for store in page.items]


async def walk_forward(brand, size: int) -> list[str]:
    seen, after = [], None
    while True:
        page = await paginate(
            Store.filter(brand_id=brand.id), PageRequest(first=size, after=after), ORDER
        )
        seen += codes(page)
        assert page.total_count == 25
        if not page.has_next_page:
            return seen
        after = page.cursors[-1]


async def test_forward_pages_visit_every_row_once_in_order(brand):
    await stores_with_codes(brand, 25)
    assert await walk_forward(brand, 10) == [f"S{n:03}" for n in range(25)]


async def test_backward_pages_end_at_the_last_rows(brand):
    await stores_with_codes(brand, 25)
    rows = Store.filter(brand_id=brand.id)
    last = await paginate(rows, PageRequest(last=10), ORDER)
    assert codes(last) == [f"S{n:03}" for n in range(15, 25)]
    assert last.has_previous_page and not last.has_next_page
    before = await paginate(rows, PageRequest(last=10, before=last.cursors[0]), ORDER)
    assert codes(before) == [f"S{n:03}" for n in range(5, 15)]
    assert before.has_previous_page and before.has_next_page


async def test_pages_do_not_shift_when_rows_are_added_before_the_cursor(brand):
    await stores_with_codes(brand, 10)
    rows = Store.filter(brand_id=brand.id)
    first = await paginate(rows, PageRequest(first=5), ORDER)
    await ensure_store(brand, "A000", "New store sorting first")
    second = await paginate(rows, PageRequest(first=5, after=first.cursors[-1]), ORDER)
    assert codes(second) == [f"S{n:03}" for n in range(5, 10)]
    assert second.has_previous_page


async def test_cursors_of_datetime_orders_round_trip(brand):
    await stores_with_codes(brand, 4)
    rows = Store.filter(brand_id=brand.id)
    first = await paginate(rows, PageRequest(first=2), ("created_at", "id"))
    rest = await paginate(
        rows, PageRequest(first=10, after=first.cursors[-1]), ("created_at", "id")
    )
    assert codes(first) + codes(rest) == ["S000", "S001", "S002", "S003"]


@pytest.mark.parametrize(
    "request_",
    [
        PageRequest(first=MAX_PAGE_SIZE + 1),
        PageRequest(first=-1),
        PageRequest(last=MAX_PAGE_SIZE + 1),
        PageRequest(first=1, last=1),
        PageRequest(after="bm90LWpzb24="),
        PageRequest(before="!!!"),
        PageRequest(after=cursor_of(["S001", 99999999999])),  # an id its column cannot hold
        PageRequest(after=cursor_of([{"x": 1}, 1])),
        PageRequest(after=cursor_of([7, 1])),  # a number where the code is text
        PageRequest(after=cursor_of(["S001", "1"])),
        PageRequest(after=cursor_of(["S001", True])),
    ],
)
async def test_bad_page_requests_are_invalid_input(brand, request_):
    with pytest.raises(DomainError) as raised:
        await paginate(Store.filter(brand_id=brand.id), request_, ORDER)
    assert raised.value.code is ErrorCode.INVALID_INPUT


async def test_descending_pages_run_newest_first_in_both_directions(brand):
    await stores_with_codes(brand, 7)
    rows = Store.filter(brand_id=brand.id)
    first = await paginate(rows, PageRequest(first=3), ORDER, descending=True)
    assert codes(first) == ["S006", "S005", "S004"]
    second = await paginate(
        rows, PageRequest(first=3, after=first.cursors[-1]), ORDER, descending=True
    )
    assert codes(second) == ["S003", "S002", "S001"]
    back = await paginate(
        rows, PageRequest(last=2, before=second.cursors[0]), ORDER, descending=True
    )
    assert codes(back) == ["S005", "S004"]
    assert back.has_previous_page and back.has_next_page
