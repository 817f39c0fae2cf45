"""Resolvers for brands, stores and tiers: public data of the caller's brand."""

from __future__ import annotations

from typing import Any

from domain import brands
from resolvers.context import principal_of
from resolvers.payloads import Payload, reports_user_errors


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


@reports_user_errors
async def save_tier(info: Any, input: Any) -> Payload:
    spec = brands.TierSpec(
        code=input.code,
        name=input.name,
        rank=input.rank,
        qualifying_points=input.qualifying_points,
        earn_multiplier=input.earn_multiplier,
        discount_percent=input.discount_percent,
        birthday_bonus_points=input.birthday_bonus_points,
        flash_sale_early_access_minutes=input.flash_sale_early_access_minutes,
    )
    return Payload(tier=await brands.save_tier(principal_of(info), spec, input.idempotency_key))
