"""Resolvers for brands, stores and tiers: public data of the caller's brand."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Protocol

import strawberry
from strawberry import UNSET

import domain.tiers
from domain import brands, records
from domain.catalog.cache import brand_catalog
from domain.principal import Principal
from domain.runtime import Backends
from resolvers.answers import answer_of
from resolvers.context import Info, now_of, principal_of
from resolvers.ids import ByIdFields, decode_id
from resolvers.payloads import PayloadView, reports_user_errors


class SaveTierFields(Protocol):
    code: str
    name: str
    rank: int
    qualifying_points: int
    earn_multiplier: Decimal
    discount_percent: int
    birthday_bonus_points: int
    flash_sale_early_access_minutes: int
    idempotency_key: str


class UpdateBrandSettingsFields(Protocol):
    """And an attribute per name of `brands.SETTINGS`: UNSET when not given."""

    idempotency_key: str


class CreateStoreFields(Protocol):
    code: str
    name: str
    idempotency_key: str


class UpdateStoreFields(Protocol):
    id: strawberry.ID
    name: str
    idempotency_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TierPayloadView(PayloadView):
    tier: records.Tier | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BrandSettingsPayloadView(PayloadView):
    settings: brands.BrandSettings | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StorePayloadView(PayloadView):
    store: records.Store | None


async def brand(info: Info) -> records.Brand:
    return await brands.brand_of(principal_of(info))


async def tiers(info: Info) -> list[records.Tier]:
    return await brands.tiers_of(principal_of(info).brand_id)


async def stores_of(
    brand_record: records.Brand, include_archived: bool = False
) -> list[records.Store]:
    return await brands.stores_of(brand_record.pk, include_archived)


def settings_of(brand_record: records.Brand) -> brands.BrandSettings:
    return brands.settings_of(brand_record)


async def tiers_of(brand_record: records.Brand) -> list[records.Tier]:
    return await brands.tiers_of(brand_record.pk)


async def brand_of_store(info: Info, store: records.Store) -> records.Brand | None:
    return await info.context.loaders.brand_by_id.load(store.brand_id)


@reports_user_errors(TierPayloadView)
async def save_tier(info: Info, input: SaveTierFields) -> TierPayloadView:
    spec = domain.tiers.TierSpec(
        code=input.code,
        name=input.name,
        rank=input.rank,
        qualifying_points=input.qualifying_points,
        earn_multiplier=input.earn_multiplier,
        discount_percent=input.discount_percent,
        birthday_bonus_points=input.birthday_bonus_points,
        flash_sale_early_access_minutes=input.flash_sale_early_access_minutes,
    )
    tier = await domain.tiers.save_tier(principal_of(info), spec, input.idempotency_key)
    return TierPayloadView(tier=tier)


@reports_user_errors(BrandSettingsPayloadView)
async def update_brand_settings(
    info: Info, input: UpdateBrandSettingsFields
) -> BrandSettingsPayloadView:
    given = {name: getattr(input, name) for name in brands.SETTINGS}
    given = {name: value for name, value in given.items() if value is not UNSET}
    brand = await brands.update_settings(
        info.context.backends, principal_of(info), given, input.idempotency_key
    )
    return BrandSettingsPayloadView(settings=brands.settings_of(brand))


@reports_user_errors(StorePayloadView)
async def create_store(info: Info, input: CreateStoreFields) -> StorePayloadView:
    store = await brands.create_store(
        info.context.backends, principal_of(info), input.code, input.name, input.idempotency_key
    )
    return StorePayloadView(store=store)


@reports_user_errors(StorePayloadView)
async def update_store(info: Info, input: UpdateStoreFields) -> StorePayloadView:
    pk = decode_id(input.id, "Store", "id")
    store = await brands.update_store(
        info.context.backends, principal_of(info), pk, input.name, input.idempotency_key
    )
    return StorePayloadView(store=store)


@reports_user_errors(StorePayloadView)
async def archive_store(info: Info, input: ByIdFields) -> StorePayloadView:
    pk = decode_id(input.id, "Store", "id")
    store = await brands.archive_store(
        info.context.backends, principal_of(info), pk, now_of(info), input.idempotency_key
    )
    return StorePayloadView(store=store)


async def answer_brand(
    backends: Backends, principal: Principal, selected: Mapping[str, Mapping[str, Any]]
) -> SimpleNamespace | None:
    """`brand` for a planned document (schema/prechecks.py): from the brand's copy in this
    process, with its stores when selected."""
    catalog = await brand_catalog(backends, principal.brand_id)
    if catalog.brand is None:
        return None
    planned: dict[str, Any] = {}
    if "stores" in selected:
        planned["stores"] = catalog.stores_shown(selected["stores"]["include_archived"])
    return answer_of(catalog.brand, **planned)
