"""Brands, their stores and tiers: what every member, visitor and partner of a brand may read."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from db.columns import fits
from db.models import Brand, EarningRule, ExpiryPolicy, JwtAlgorithm, RuleKind, Store, Tier
from domain.errors import DomainError, ErrorCode
from domain.idempotency import change_once
from domain.principal import Principal
from domain.rules.config import earning_changed

BASE_TIER_CODE = "BASE"
BASE_RULE_CODE = "BASE"


@dataclass(frozen=True, slots=True)
class TierSpec:
    code: str
    name: str
    rank: int
    qualifying_points: int = 0
    earn_multiplier: Decimal = Decimal("1")
    discount_percent: int = 0
    birthday_bonus_points: int = 0
    flash_sale_early_access_minutes: int = 0


async def create_brand(
    code: str,
    name: str,
    *,
    timezone: str = "UTC",
    expiry_policy: ExpiryPolicy = ExpiryPolicy.ROLLING,
    expiry_months: int = 24,
    jwt_algorithm: JwtAlgorithm | None = None,
    jwt_key: str | None = None,
    earn_rate: Decimal = Decimal(1),
) -> Brand:
    """Create a brand with its base tier (rank 0), so every member always has a tier, and a
    base rate rule of `earn_rate` points per currency unit, which its admins may change."""
    try:
        async with in_transaction():
            brand = await Brand.create(
                code=code,
                name=name,
                timezone=timezone,
                expiry_policy=expiry_policy,
                expiry_months=expiry_months,
                jwt_algorithm=jwt_algorithm,
                jwt_key=jwt_key,
            )
            await Tier.create(brand=brand, code=BASE_TIER_CODE, name="Member", rank=0)
            now = datetime.now(UTC)
            await EarningRule.create(
                brand=brand,
                code=BASE_RULE_CODE,
                name="Base rate",
                kind=RuleKind.BASE_RATE,
                rate=earn_rate,
                created_at=now,
                updated_at=now,
            )
    except IntegrityError:
        raise DomainError(
            ErrorCode.DUPLICATE, f"A brand with code {code!r} exists.", ["code"]
        ) from None
    return brand


async def ensure_store(brand: Brand, code: str, name: str) -> Store:
    store, _ = await Store.get_or_create(brand=brand, code=code, defaults={"name": name})
    return store


async def ensure_tier(brand: Brand, spec: TierSpec) -> Tier:
    """The brand's tier of that rank, created or brought in line with the spec."""
    values = {
        "code": spec.code,
        "name": spec.name,
        "qualifying_points": spec.qualifying_points,
        "earn_multiplier": spec.earn_multiplier,
        "discount_percent": spec.discount_percent,
        "birthday_bonus_points": spec.birthday_bonus_points,
        "flash_sale_early_access_minutes": spec.flash_sale_early_access_minutes,
    }
    async with in_transaction() as connection:
        await earning_changed(connection, brand.id)
        tier, created = await Tier.get_or_create(
            brand=brand, rank=spec.rank, defaults=values, using_db=connection
        )
        if not created:
            await tier.update_from_dict(values).save(using_db=connection)
    return tier


async def brand_of(principal: Principal) -> Brand:
    """The caller's brand."""
    return await brand_by_id(principal.brand_id)


async def brand_by_id(brand_id: int) -> Brand:
    return await Brand.get(id=brand_id)


async def stores_of(brand_id: int) -> list[Store]:
    return await Store.filter(brand_id=brand_id).order_by("code")


async def tiers_of(brand_id: int) -> list[Tier]:
    """The brand's tiers, lowest rank first."""
    return await Tier.filter(brand_id=brand_id).order_by("rank")


PUBLIC_RECORDS = {"Brand": Brand, "Store": Store, "Tier": Tier}


async def public_record(
    principal: Principal, type_name: str, pk: int
) -> Brand | Store | Tier | None:
    """A brand, store or tier by id, if it belongs to the caller's brand; None otherwise."""
    model = PUBLIC_RECORDS.get(type_name)
    if model is None:
        return None
    if model is Brand:
        return await Brand.get_or_none(id=pk) if pk == principal.brand_id else None
    return await model.get_or_none(id=pk, brand_id=principal.brand_id)


@dataclass(frozen=True, slots=True)
class BrandKeys:
    """What authentication needs of a brand: its id and its own verification key, if any."""

    id: int
    code: str
    jwt_algorithm: str | None
    jwt_key: str | None


class BrandDirectory:
    """Brands by code for authentication, cached in-process for a few seconds.

    Every request names its brand; reading it from PostgreSQL each time would put a query on
    the hot path of every GraphQL call. A changed key takes effect within `ttl` seconds. When
    the entry is due, callers at that moment share one read (thousands of open sockets
    checking their credentials would otherwise each send their own).
    """

    def __init__(self, ttl: float = 10.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, BrandKeys | None]] = {}
        self._reading: dict[str, asyncio.Future[BrandKeys | None]] = {}

    async def find(self, code: str) -> BrandKeys | None:
        cached = self._entries.get(code)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        reading = self._reading.get(code)
        if reading is None:
            reading = self._reading[code] = asyncio.ensure_future(self._read(code))
            reading.add_done_callback(lambda _: self._reading.pop(code, None))
        return await asyncio.shield(reading)

    async def _read(self, code: str) -> BrandKeys | None:
        now = time.monotonic()
        brand = await Brand.get_or_none(code=code) if fits(Brand, "code", code) else None
        keys = (
            BrandKeys(
                brand.id,
                brand.code,
                brand.jwt_algorithm.value if brand.jwt_algorithm else None,
                brand.jwt_key,
            )
            if brand
            else None
        )
        if len(self._entries) >= self._max_entries:
            self._entries.clear()  # unknown codes must not grow the cache without bound
        self._entries[code] = (now, keys)
        return keys


async def tiers_by_ids(ids: list[int]) -> dict[int, Tier]:
    return {tier.id: tier for tier in await Tier.filter(id__in=ids)}


async def stores_by_ids(ids: list[int]) -> dict[int, Store]:
    return {store.id: store for store in await Store.filter(id__in=ids)}


async def brands_by_ids(ids: list[int]) -> dict[int, Brand]:
    return {brand.id: brand for brand in await Brand.filter(id__in=ids)}


TIER_CODE = re.compile(r"^[A-Z0-9_]{1,32}$")


def check_tier(spec: TierSpec) -> None:
    """Field by field: what a tier may be, whatever the others are."""
    checks = (
        (bool(TIER_CODE.match(spec.code)), "code", "Code: 1 to 32 of A-Z, 0-9 and _."),
        (1 <= len(spec.name.strip()) <= 120, "name", "Name: 1 to 120 characters."),
        (0 <= spec.rank <= 100, "rank", "Rank: 0 (the base tier) to 100."),
        (0 <= spec.qualifying_points <= 2**31 - 1, "qualifyingPoints", "Must be 0 or more."),
        (0 <= spec.earn_multiplier <= 10, "earnMultiplier", "From 0 to 10."),
        (0 <= spec.discount_percent <= 100, "discountPercent", "From 0 to 100."),
        (0 <= spec.birthday_bonus_points <= 1_000_000, "birthdayBonusPoints", "From 0."),
        (
            0 <= spec.flash_sale_early_access_minutes <= 7 * 24 * 60,
            "flashSaleEarlyAccessMinutes",
            "From 0 to a week.",
        ),
    )
    for holds, field, message in checks:
        if not holds:
            raise DomainError(ErrorCode.INVALID_INPUT, message, ["input", field])


async def save_tier(principal: Principal, spec: TierSpec, key: str | None = None) -> Tier:
    """Create the brand's tier of this code, or change it; ranks stay unique, the base tier
    (rank 0) needs no points, and a higher rank always needs more qualifying points; once per
    idempotency key."""
    check_tier(spec)
    if (spec.rank == 0) != (spec.qualifying_points == 0):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "The base tier (rank 0), and only it, qualifies with 0 points.",
            ["input", "qualifyingPoints"],
        )

    async def save(connection: BaseDBAsyncClient) -> Tier:
        # One admin's change at a time per brand: the ordering check reads all its tiers.
        await Brand.select_for_update().using_db(connection).get(id=principal.brand_id)
        tiers = await Tier.filter(brand_id=principal.brand_id).using_db(connection)
        existing = next((tier for tier in tiers if tier.code == spec.code), None)
        others = [tier for tier in tiers if tier is not existing]
        if existing is not None and existing.rank == 0 and spec.rank != 0:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "The base tier keeps rank 0.", ["input", "rank"]
            )
        if any(tier.rank == spec.rank for tier in others):
            raise DomainError(
                ErrorCode.DUPLICATE, f"Another tier has rank {spec.rank}.", ["input", "rank"]
            )
        out_of_order = [
            tier.code
            for tier in others
            if (tier.rank < spec.rank) != (tier.qualifying_points < spec.qualifying_points)
        ]
        if out_of_order:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "A higher rank needs more qualifying points than every lower one "
                f"(compare {', '.join(sorted(out_of_order))}).",
                ["input", "qualifyingPoints"],
            )
        values = {
            "name": spec.name.strip(),
            "rank": spec.rank,
            "qualifying_points": spec.qualifying_points,
            "earn_multiplier": spec.earn_multiplier,
            "discount_percent": spec.discount_percent,
            "birthday_bonus_points": spec.birthday_bonus_points,
            "flash_sale_early_access_minutes": spec.flash_sale_early_access_minutes,
        }
        await earning_changed(connection, principal.brand_id)
        if existing is None:
            return await Tier.create(
                brand_id=principal.brand_id, code=spec.code, using_db=connection, **values
            )
        await existing.update_from_dict(values).save(using_db=connection)
        return existing

    return await change_once(principal, "saveTier", key, asdict(spec), Tier, save)
