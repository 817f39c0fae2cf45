"""Catalog pages come from each process's copy of the brand's catalog (domain/catalog/cache.py):
a page is the one the same query on the tables gives, and a change shows as soon as it must:
an admin's at once, stock taken by a redemption within a second, tiers at once to members."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from db.models import CatalogItem, ItemKind, ItemStatus
from domain.catalog import cache, items
from domain.catalog.items import Shopper, highest_affordable_list_price
from domain.errors import DomainError
from domain.pagination import PageRequest, encode_cursor, paginate
from domain.principal import Principal, Role
from domain.tiers import TierSpec, ensure_tier
from resolvers.ids import encode_id
from tests.support.catalog import create_catalog_item, redeem_item
from tests.support.factories import key

CATEGORIES = ("coffee", "bakery", "Coffee")
PAGE = """
query ($first: Int, $category: String) {
  catalog(first: $first, category: $category) {
    edges { node { sku pointsPrice memberPrice available minTier { name } } }
  }
}
"""
UPDATE = """
mutation ($input: UpdateCatalogItemInput!) {
  updateCatalogItem(input: $input) { item { id } userErrors { code } }
}
"""
ARCHIVE = """
mutation ($input: ArchiveCatalogItemInput!) {
  archiveCatalogItem(input: $input) { item { id } userErrors { code } }
}
"""
RESTOCK = """
mutation ($input: RestockCatalogItemInput!) {
  restockCatalogItem(input: $input) { item { id } userErrors { code } }
}
"""
SAVE_TIER = """
mutation ($input: SaveTierInput!) {
  saveTier(input: $input) { tier { id } userErrors { code } }
}
"""


async def page(gql, **caller) -> dict[str, dict]:
    """The catalog's first page, by SKU."""
    body = await gql(PAGE, {"first": 100}, **caller)
    assert "errors" not in body, body
    return {edge["node"]["sku"]: edge["node"] for edge in body["data"]["catalog"]["edges"]}


# ---------------------------------------------------------------- the same page as the tables


def plain_items(brand_id: int, category: str | None, kind: ItemKind | None, highest: int | None):
    """The catalog as a query on the tables: what the copy must page the same way."""
    found = CatalogItem.filter(brand_id=brand_id, status=ItemStatus.ACTIVE)
    if category is not None:
        found = found.filter(category=category.strip())
    if kind is not None:
        found = found.filter(kind=kind)
    if highest is not None:
        found = found.filter(points_price__lte=highest)
    return found


@dataclass(frozen=True)
class Outcome:
    ids: list[int] | None = None
    cursors: list[str] | None = None
    flags: tuple[bool, bool, int] | None = None
    error: tuple[Any, ...] | None = None


def outcome_of(page: Any) -> Outcome:
    flags = (page.has_next_page, page.has_previous_page, page.total_count)
    return Outcome([item.id for item in page.items], page.cursors, flags)


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


async def test_a_page_of_the_copy_is_the_page_the_tables_give(brand, runtime, clock):
    kinds = list(ItemKind)
    for number in range(24):
        await CatalogItem.create(
            brand_id=brand.id,
            sku=f"EQ-{number}",
            created_at=clock.now(),
            updated_at=clock.now(),
            name=f"Item {number}",
            kind=kinds[number % len(kinds)],
            category=CATEGORIES[number % 3],
            points_price=(number * 37) % 400,
            cash_price=Decimal("1.00") if number % 5 == 0 else Decimal(0),
            status=(ItemStatus.ACTIVE, ItemStatus.ACTIVE, ItemStatus.ARCHIVED,
                    ItemStatus.PENDING_APPROVAL, ItemStatus.REJECTED)[number % 5],
        )  # fmt: skip
    await cache.catalog_changed(runtime, brand.id)
    ids = [item.id for item in await CatalogItem.filter(brand_id=brand.id).order_by("id")]
    principal = Principal(Role.ANONYMOUS, brand.id, brand.code, "visitor")
    loop = asyncio.get_running_loop()
    cursors = st.one_of(
        st.sampled_from([*ids, ids[0] - 1, ids[-1] + 1, 0]).map(
            lambda pk: encode_cursor(CatalogItem(id=pk), ("id",))
        ),
        st.sampled_from(["not-a-cursor", cursor_of(["x"]), cursor_of([1, 2]), cursor_of([2**40])]),
    )
    sizes = st.one_of(st.none(), st.integers(0, 12), st.sampled_from([-1, 101]))

    async def both(request: PageRequest, category, kind, shopper) -> tuple[Outcome, Outcome]:
        highest = None
        if shopper is not None:
            highest = highest_affordable_list_price(shopper.available, shopper.discount_percent)
        results = []
        for way in ("copy", "tables"):
            try:
                if way == "copy":
                    found = await items.catalog_page(
                        runtime, principal, shopper, request, category=category, kind=kind,
                        affordable_only=shopper is not None,
                    )  # fmt: skip
                    results.append(outcome_of(found.page))
                else:
                    found = plain_items(brand.id, category, kind, highest)
                    results.append(outcome_of(await paginate(found, request)))
            except DomainError as error:
                results.append(Outcome(error=(error.code, error.message, error.field)))
        return results[0], results[1]

    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        first=sizes,
        last=st.one_of(st.none(), sizes),  # mostly only one of them
        after=st.one_of(st.none(), cursors),
        before=st.one_of(st.none(), cursors),
        category=st.sampled_from([None, "coffee", " coffee ", "Coffee", "tea"]),
        kind=st.sampled_from([None, *kinds]),
        shopper=st.one_of(
            st.none(),
            st.builds(
                Shopper, st.just(0), st.just(0), st.sampled_from([0, 5, 100]), st.integers(0, 500)
            ),
        ),
    )
    def agree(first, last, after, before, category, kind, shopper) -> None:
        if last is not None and first is not None and first % 3:
            first = None  # paging backwards
        request = PageRequest(first=first, after=after, last=last, before=before)
        copy, tables = asyncio.run_coroutine_threadsafe(
            both(request, category, kind, shopper), loop
        ).result(60)
        note(f"{request} {category!r} {kind} {shopper}: {copy}")
        assert copy == tables

    await asyncio.to_thread(agree)


# ---------------------------------------------------------------- changes, in this process


async def test_an_admins_change_shows_on_the_very_next_page(gql, brand, staff):
    item = await create_catalog_item(staff, sku="LATTE", pointsPrice=100, stock=0)
    assert (await page(gql, brand=brand.code))["LATTE"]["pointsPrice"] == 100  # copy read

    changed = {"id": item["id"], "sku": "LATTE", "name": "Latte", "kind": "COUPON",
               "category": "general", "pointsPrice": 120, "stock": 0}  # fmt: skip
    assert (await staff.call(UPDATE, changed))["userErrors"] == []
    latte = (await page(gql, brand=brand.code))["LATTE"]
    assert (latte["pointsPrice"], latte["available"]) == (120, False)

    assert (await staff.call(RESTOCK, {"id": item["id"], "quantity": 5}))["userErrors"] == []
    assert (await page(gql, brand=brand.code))["LATTE"]["available"] is True

    assert (await staff.call(ARCHIVE, {"id": item["id"]}))["userErrors"] == []
    assert "LATTE" not in await page(gql, brand=brand.code)


async def test_stock_a_redemption_takes_shows_within_a_second(
    gql, brand, staff, member_with_points
):
    item = await create_catalog_item(staff, sku="LAST", pointsPrice=10, stock=1)
    _, token = await member_with_points(100)
    assert (await page(gql, brand=brand.code))["LAST"]["available"] is True  # copy read
    redeemed = await redeem_item(gql, token, item["id"])
    assert redeemed["userErrors"] == []
    changed_at = time.monotonic()
    while (await page(gql, brand=brand.code))["LAST"]["available"]:
        assert time.monotonic() - changed_at < 1.0, "still available a second later"
        await asyncio.sleep(0.02)


async def test_a_change_of_tiers_shows_to_members_at_once(
    gql, brand, staff, make_token, member_with_points
):
    gold = await ensure_tier(
        brand, TierSpec("GOLD", "Gold", rank=2, qualifying_points=200_000, discount_percent=10)
    )
    await create_catalog_item(
        staff, sku="GOLDEN", pointsPrice=100, minTierId=encode_id("Tier", gold.id)
    )
    _, token = await member_with_points(100)
    assert (await page(gql, token=token))["GOLDEN"]["minTier"] == {"name": "Gold"}  # copy read

    renamed = {"code": "GOLD", "name": "Aurum", "rank": 2, "qualifyingPoints": 200_000,
               "discountPercent": 10}  # fmt: skip
    assert (await staff.call(SAVE_TIER, renamed))["userErrors"] == []
    assert (await page(gql, token=token))["GOLDEN"]["minTier"] == {"name": "Aurum"}


async def test_a_read_a_change_overtook_is_not_kept(brand, runtime, monkeypatch):
    """A change heard while the catalog is being read: that read answers the pages that
    asked for it (they began before the change), but the next page reads again."""
    catalogs = cache.local_catalogs(runtime)
    await catalogs.get(brand.id)  # listening now
    for _ in range(500):
        if catalogs.listening:
            break
        await asyncio.sleep(0.01)
    reads = 0
    original = cache.catalog_of

    def counted(*args: Any) -> Any:
        nonlocal reads
        reads += 1
        catalogs.forget(brand.id)  # a change heard while this read was under way
        return original(*args)

    catalogs.forget(brand.id)
    with monkeypatch.context() as patch:
        patch.setattr(cache, "catalog_of", counted)
        await catalogs.get(brand.id)
    await catalogs.get(brand.id)
    await catalogs.get(brand.id)
    assert reads == 1
    assert brand.id in catalogs.kept  # the read after the change was kept


async def test_a_process_not_listening_keeps_nothing(brand, runtime):
    catalogs = cache.local_catalogs(runtime)
    await catalogs.get(brand.id)
    catalogs.listening = False
    try:
        catalogs.forget(brand.id)
        await catalogs.get(brand.id)
        assert brand.id not in catalogs.kept
    finally:
        catalogs.listening = True


async def test_a_member_of_another_brand_sees_the_catalog_as_a_visitor(brand, runtime):
    """The shopper is read with the caller's brand: another brand's member id is no member."""
    principal = Principal(Role.MEMBER, brand.id, brand.code, key(), member_id=2**31 - 1)
    assert await items.shopper_of(principal, runtime.clock.now()) is None
