"""DataLoaders of one request (or one subscription event): each batches its keys in one query."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from functools import cached_property
from typing import TypeVar

from strawberry.dataloader import DataLoader

from domain import brands, members, records
from domain.catalog import coupons, items
from domain.flash_sales import sales
from domain.flash_sales.stock import remaining_by_sale
from domain.ledger import reads
from domain.notices import templates
from domain.principal import Principal
from domain.runtime import Backends

V = TypeVar("V")


def by_key(
    fetch: Callable[[list[int]], Awaitable[Mapping[int, V]]],
) -> Callable[[list[int]], Awaitable[list[V | None]]]:
    """A load function from a fetch that returns {key: record}: absent keys load None."""

    async def load(keys: list[int]) -> list[V | None]:
        found = await fetch(list(keys))
        return [found.get(key) for key in keys]

    return load


def every_key(
    fetch: Callable[[list[int]], Awaitable[Mapping[int, V]]],
) -> Callable[[list[int]], Awaitable[list[V]]]:
    """A load function from a fetch that answers every key it is given."""

    async def load(keys: list[int]) -> list[V]:
        found = await fetch(list(keys))
        return [found[key] for key in keys]

    return load


async def remaining_in_order(backends: Backends, sales_: list[records.FlashSale]) -> list[int]:
    remaining = await remaining_by_sale(backends, list(sales_))
    return [remaining[sale.id] for sale in sales_]


class Loaders:
    """Each loader is made on first use: most requests need none or one of them."""

    def __init__(self, backends: Backends) -> None:
        self._backends = backends
        self._clock = backends.clock
        self._shopper: asyncio.Future[items.Shopper | None] | None = None

    @cached_property
    def brand_by_id(self) -> DataLoader[int, records.Brand | None]:
        return DataLoader(load_fn=by_key(brands.brands_by_ids))

    @cached_property
    def tier_by_id(self) -> DataLoader[int, records.Tier | None]:
        return DataLoader(load_fn=by_key(brands.tiers_by_ids))

    @cached_property
    def store_by_id(self) -> DataLoader[int, records.Store | None]:
        return DataLoader(load_fn=by_key(brands.stores_by_ids))

    @cached_property
    def balance_by_member_id(self) -> DataLoader[int, reads.BalanceView | None]:
        clock = self._clock
        return DataLoader(load_fn=by_key(lambda ids: reads.balances(ids, clock.now())))

    @cached_property
    def member_by_id(self) -> DataLoader[int, records.Member | None]:
        return DataLoader(load_fn=by_key(members.members_by_ids))

    @cached_property
    def item_by_id(self) -> DataLoader[int, records.CatalogItem | None]:
        return DataLoader(load_fn=by_key(items.items_by_ids))

    @cached_property
    def coupons_by_redemption_id(self) -> DataLoader[int, list[records.Coupon] | None]:
        return DataLoader(load_fn=by_key(coupons.coupons_by_redemption_ids))

    @cached_property
    def sale_by_id(self) -> DataLoader[int, records.FlashSale | None]:
        return DataLoader(load_fn=by_key(sales.sales_by_ids))

    @cached_property
    def remaining_by_sale(self) -> DataLoader[records.FlashSale, int]:
        backends = self._backends
        return DataLoader(
            load_fn=lambda sales_: remaining_in_order(backends, sales_),
            cache_key_fn=lambda sale: sale.id,
        )

    @cached_property
    def early_access_by_brand_id(self) -> DataLoader[int, timedelta]:
        return DataLoader(load_fn=every_key(sales.early_access_by_brand))

    @cached_property
    def wordings_by_brand_id(self) -> DataLoader[int, templates.Wordings]:
        """Each brand's notice wordings (domain/notices/templates.py)."""
        return DataLoader(load_fn=every_key(templates.wordings_by_brand_ids))

    async def brand(self, brand_id: int) -> records.Brand:
        """A brand known to exist (a record's, or the caller's), read with the request's others."""
        brand = await self.brand_by_id.load(brand_id)
        if brand is None:
            raise LookupError(f"No brand {brand_id}.")
        return brand

    async def shopper(self, principal: Principal) -> items.Shopper | None:
        """The calling member's tier, discount and points, read once per request: fields
        resolving at once share the one read in flight."""
        if self._shopper is None:
            self._shopper = asyncio.ensure_future(items.shopper_of(principal, self._clock.now()))
        return await asyncio.shield(self._shopper)
