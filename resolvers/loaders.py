"""DataLoaders of one request (or one subscription event): each batches its keys in one query."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from strawberry.dataloader import DataLoader

from domain import brands, members
from domain.catalog import coupons, items
from domain.flash_sales import sales
from domain.flash_sales.stock import remaining_by_sale
from domain.ledger import reads
from domain.principal import Principal
from domain.runtime import Backends


def by_key(fetch: Callable[[list[Any]], Awaitable[dict[Hashable, Any]]]) -> Callable:
    """A load function from a fetch that returns {key: record}: absent keys load None."""

    async def load(keys: list[Any]) -> list[Any]:
        found = await fetch(list(keys))
        return [found.get(key) for key in keys]

    return load


async def remaining_in_order(backends: Backends, sales_: list[Any]) -> list[int]:
    remaining = await remaining_by_sale(backends, list(sales_))
    return [remaining[sale.id] for sale in sales_]


class Loaders:
    def __init__(self, backends: Backends) -> None:
        clock = backends.clock
        self.brand_by_id = DataLoader(load_fn=by_key(brands.brands_by_ids))
        self.tier_by_id = DataLoader(load_fn=by_key(brands.tiers_by_ids))
        self.store_by_id = DataLoader(load_fn=by_key(brands.stores_by_ids))
        self.balance_by_member_id = DataLoader(
            load_fn=by_key(lambda ids: reads.balances(ids, clock.now()))
        )
        self.member_by_id = DataLoader(load_fn=by_key(members.members_by_ids))
        self.item_by_id = DataLoader(load_fn=by_key(items.items_by_ids))
        self.coupons_by_redemption_id = DataLoader(
            load_fn=by_key(coupons.coupons_by_redemption_ids)
        )
        self.sale_by_id = DataLoader(load_fn=by_key(sales.sales_by_ids))
        self.remaining_by_sale = DataLoader(
            load_fn=lambda sales_: remaining_in_order(backends, sales_),
            cache_key_fn=lambda sale: sale.id,
        )
        self.early_access_by_brand_id = DataLoader(load_fn=by_key(sales.early_access_by_brand))
        self._clock = clock
        self._shopper: asyncio.Future[items.Shopper | None] | None = None

    async def shopper(self, principal: Principal) -> items.Shopper | None:
        """The calling member's tier, discount and points, read once per request: fields
        resolving at once share the one read in flight."""
        if self._shopper is None:
            self._shopper = asyncio.ensure_future(items.shopper_of(principal, self._clock.now()))
        return await asyncio.shield(self._shopper)
