"""Resolvers for brands, stores and tiers: public data of the caller's brand."""

from __future__ import annotations

from typing import Any

from domain import brands
from resolvers.context import principal_of


async def brand(info: Any) -> Any:
    return await brands.brand_of(principal_of(info))


async def tiers(info: Any) -> list[Any]:
    return await brands.tiers_of(principal_of(info).brand_id)


async def stores_of(brand_record: Any) -> list[Any]:
    return await brands.stores_of(brand_record.pk)


async def tiers_of(brand_record: Any) -> list[Any]:
    return await brands.tiers_of(brand_record.pk)


async def brand_of_store(info: Any, store: Any) -> Any:
    return await info.context.loaders.brand_by_id.load(store.brand_id)
