"""Resolvers for brands, stores and tiers: public data of the caller's brand."""

from __future__ import annotations

from typing import Any

from strawberry import UNSET

from domain import brands
from resolvers.context import principal_of
from resolvers.ids import decode_id
from resolvers.payloads import Payload, reports_user_errors


async def brand(info: Any) -> Any:
    return await brands.brand_of(principal_of(info))


async def tiers(info: Any) -> list[Any]:
    return await brands.tiers_of(principal_of(info).brand_id)


async def stores_of(brand_record: Any, include_archived: bool = False) -> list[Any]:
    return await brands.stores_of(brand_record.pk, include_archived)


def settings_of(brand_record: Any) -> Any:
    return brands.settings_of(brand_record)


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


@reports_user_errors
async def update_brand_settings(info: Any, input: Any) -> Payload:
    given = {name: getattr(input, name) for name in brands.SETTINGS}
    given = {name: value for name, value in given.items() if value is not UNSET}
    brand = await brands.update_settings(principal_of(info), given, input.idempotency_key)
    return Payload(settings=brands.settings_of(brand))


@reports_user_errors
async def create_store(info: Any, input: Any) -> Payload:
    store = await brands.create_store(
        principal_of(info), input.code, input.name, input.idempotency_key
    )
    return Payload(store=store)


@reports_user_errors
async def update_store(info: Any, input: Any) -> Payload:
    pk = decode_id(input.id, "Store", "id")
    store = await brands.update_store(principal_of(info), pk, input.name, input.idempotency_key)
    return Payload(store=store)


@reports_user_errors
async def archive_store(info: Any, input: Any) -> Payload:
    pk = decode_id(input.id, "Store", "id")
    now = info.context.backends.clock.now()
    store = await brands.archive_store(principal_of(info), pk, now, input.idempotency_key)
    return Payload(store=store)
