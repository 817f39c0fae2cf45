"""Brands, their stores and tiers: what every member, visitor and partner of a brand may read."""

from __future__ import annotations

import asyncio
import calendar
import functools
import re
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from db.columns import fits
from db.models import (
    Brand,
    EarningRule,
    ExpiryPolicy,
    JwtAlgorithm,
    RuleKind,
    Store,
    Tier,
    TierMetric,
)
from db.rows import model_of
from domain.catalog.cache import catalog_changed
from domain.errors import DomainError, ErrorCode, refused_as_duplicate
from domain.idempotency import change_once
from domain.notices.admin import NoticeSettingsChange, checked_settings, clock_of
from domain.principal import Principal
from domain.rules.admin import MAX_POINTS
from domain.runtime import Backends

__all__ = ["ExpiryPolicy"]  # re-exported for the schema

BASE_TIER_CODE = "BASE"
BASE_RULE_CODE = "BASE"


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
    currency: str = "CNY",
) -> Brand:
    """Create a brand with its base tier (rank 0), so every member always has a tier, and a
    base rate rule of `earn_rate` points per currency unit, which its admins may change."""
    try:
        async with in_transaction():
            brand = await Brand.create(
                code=code,
                name=name,
                timezone=timezone,
                currency=currency,
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


# The brand page's reads, in our own SQL: the ORM's query building costs more than the query.
BRAND_SQL = "SELECT * FROM brand WHERE id = $1"
STORES_SQL = "SELECT * FROM store WHERE brand_id = $1 AND ($2 OR archived_at IS NULL) ORDER BY code"


async def brand_of(principal: Principal) -> Brand:
    """The caller's brand."""
    rows = await get_connection("default").execute_query_dict(BRAND_SQL, [principal.brand_id])
    return model_of(Brand, rows[0])


async def brand_by_id(brand_id: int) -> Brand:
    return await Brand.get(id=brand_id)


async def stores_of(brand_id: int, include_archived: bool = False) -> list[Store]:
    rows = await get_connection("default").execute_query_dict(
        STORES_SQL, [brand_id, include_archived]
    )
    return [model_of(Store, row) for row in rows]


async def tiers_of(brand_id: int) -> list[Tier]:
    """The brand's tiers, lowest rank first."""
    return await Tier.filter(brand_id=brand_id).order_by("rank")


PUBLIC_RECORDS = ("Brand", "Store", "Tier")  # the types `public_record` finds


async def public_record(
    principal: Principal, type_name: str, pk: int
) -> Brand | Store | Tier | None:
    """A brand, store or tier by id, if it belongs to the caller's brand; None otherwise."""
    if type_name == "Brand":
        return await Brand.get_or_none(id=pk) if pk == principal.brand_id else None
    if type_name == "Store":
        return await Store.get_or_none(id=pk, brand_id=principal.brand_id)
    if type_name == "Tier":
        return await Tier.get_or_none(id=pk, brand_id=principal.brand_id)
    return None


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
    checking their credentials would otherwise each send their own). A code found to be no
    brand's is kept `unknown_ttl` seconds only: a brand just created (`pointsmall brand
    create`) is found as soon as its first token is tried.
    """

    def __init__(
        self, ttl: float = 10.0, max_entries: int = 10_000, unknown_ttl: float = 1.0
    ) -> None:
        self.ttl = ttl
        self.unknown_ttl = min(unknown_ttl, ttl)
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, BrandKeys | None]] = {}
        self._reading: dict[str, asyncio.Future[BrandKeys | None]] = {}

    async def find(self, code: str) -> BrandKeys | None:
        cached = self._entries.get(code)
        if cached is not None and time.monotonic() - cached[0] < (
            self.ttl if cached[1] is not None else self.unknown_ttl
        ):
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


# ---------------------------------------------------------------- onboarding

# What a brand code is: it names the brand in tokens, X-Brand headers and the CLI.
BRAND_CODE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
# ISO 4217's codes of currencies in circulation (funds, metals and test codes left out).
CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS
    TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF
    YER ZAR ZMW ZWG ZWL
    """.split()
)
KNOWN_ZONE_SQL = "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1) AS known"


def check_brand_code(code: str, field: list[str]) -> str:
    if not BRAND_CODE.fullmatch(code):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"{code!r} is not a brand code: 1 to 32 of a-z, 0-9 and '-', starting and ending "
            "with a letter or digit.",
            field,
        )
    return code


def check_name(name: str, field: list[str]) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 120:
        raise DomainError(ErrorCode.INVALID_INPUT, "Name: 1 to 120 characters.", field)
    return name


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


async def check_timezone(name: str, field: list[str]) -> str:
    """An IANA timezone that both Python and PostgreSQL know (the brand's days are counted in
    both)."""
    name = name.strip()
    known = name in _zones()
    if known:
        row = await get_connection("default").execute_query_dict(KNOWN_ZONE_SQL, [name])
        known = row[0]["known"]
    if not known:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"{name!r} is not an IANA timezone such as Asia/Shanghai or Europe/Paris.",
            field,
        )
    return name


def check_currency(code: str, field: list[str]) -> str:
    code = code.strip().upper()
    if code not in CURRENCIES:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"{code!r} is not an ISO 4217 currency code such as CNY, USD or EUR.",
            field,
        )
    return code


async def open_brand(code: str, name: str, timezone: str, currency: str) -> Brand:
    """A new brand, as the platform's operator creates it: checked, then made with what a
    brand needs to run (its base tier, and a base rate of 1 point per unit of its currency);
    its admins set up the rest. DUPLICATE if the code is taken."""
    return await create_brand(
        check_brand_code(code, ["code"]),
        check_name(name, ["name"]),
        timezone=await check_timezone(timezone, ["timezone"]),
        currency=check_currency(currency, ["currency"]),
    )


# ---------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class BrandSettings:
    """What the brand's admin sets of it (updateBrandSettings)."""

    name: str
    timezone: str
    locale: str
    currency: str
    point_value: Decimal
    expiry_policy: ExpiryPolicy
    expiry_months: int
    clearing_month: int
    clearing_day: int
    grace_days: int
    tier_window_months: int
    earn_cap_per_purchase: int | None
    earn_cap_per_day: int | None
    purchase_max_age_days: int
    payment_window_minutes: int
    cancel_window_hours: int
    quiet_hours_start: str  # HH:MM, brand's time
    quiet_hours_end: str
    expiry_reminder_days: list[int]
    birthday_min_age_days: int
    pending_days: int
    tier_metric: TierMetric


def settings_of(brand: Brand) -> BrandSettings:
    return BrandSettings(
        name=brand.name,
        timezone=brand.timezone,
        locale=brand.locale,
        currency=brand.currency,
        point_value=brand.point_value,
        expiry_policy=brand.expiry_policy,
        expiry_months=brand.expiry_months,
        clearing_month=brand.clearing_month,
        clearing_day=brand.clearing_day,
        grace_days=brand.grace_days,
        tier_window_months=brand.tier_window_months,
        earn_cap_per_purchase=brand.earn_cap_per_purchase,
        earn_cap_per_day=brand.earn_cap_per_day,
        purchase_max_age_days=brand.purchase_max_age_days,
        payment_window_minutes=brand.payment_window_minutes,
        cancel_window_hours=brand.cancel_window_hours,
        quiet_hours_start=clock_of(brand.quiet_from_minute),
        quiet_hours_end=clock_of(brand.quiet_until_minute),
        expiry_reminder_days=list(brand.expiry_reminder_days),
        birthday_min_age_days=brand.birthday_min_age_days,
        pending_days=brand.pending_days,
        tier_metric=brand.tier_metric,
    )


SETTINGS = tuple(BrandSettings.__dataclass_fields__)
# Settings that may be null (no cap); any other given as null is refused.
NULLABLE = frozenset({"earn_cap_per_purchase", "earn_cap_per_day"})
# Set with the notice settings' own checks (domain/notices/admin.py).
NOTICE_SETTINGS = frozenset({"locale", "quiet_hours_start", "quiet_hours_end",
                             "expiry_reminder_days"})  # fmt: skip


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _within(low: int | Decimal, high: int | Decimal, message: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not low <= value <= high:
            raise ValueError(message)
        return value

    return check


def _cap(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= 100 * MAX_POINTS:
        raise ValueError("From 0, or null for none.")
    return value


def _policy(value: Any) -> ExpiryPolicy:
    return ExpiryPolicy(value)


# Each setting's check, but the notice settings' and timezone's: (value) -> value stored, or
# ValueError saying what it may be.
CHECKS: dict[str, Callable[[Any], Any]] = {
    "name": lambda name: check_name(name, []),
    "currency": lambda code: check_currency(code, []),
    "point_value": _within(Decimal("0.01"), Decimal(10_000), "From 0.01 to 10000."),
    "expiry_policy": _policy,
    "expiry_months": _within(1, 120, "From 1 to 120 months."),
    "clearing_month": _within(1, 12, "From 1 (January) to 12."),
    "clearing_day": _within(1, 31, "From 1 to 31, a day of the clearing month."),
    "grace_days": _within(0, 365, "From 0 to 365 days."),
    "tier_window_months": _within(1, 60, "From 1 to 60 months."),
    "earn_cap_per_purchase": _cap,
    "earn_cap_per_day": _cap,
    "purchase_max_age_days": _within(1, 365, "From 1 to 365 days."),
    "payment_window_minutes": _within(1, 7 * 24 * 60, "From 1 minute to a week."),
    "cancel_window_hours": _within(0, 30 * 24, "From 0 (members cannot cancel) to 720 hours."),
    "birthday_min_age_days": _within(0, 366, "From 0 to 366 days."),
    "pending_days": _within(0, 90, "From 0 (available at once) to 90 days."),
    "tier_metric": TierMetric,
}


def _checked(name: str, value: Any) -> Any:
    field = ["input", _camel(name)]
    try:
        return CHECKS[name](value)
    except DomainError as error:
        raise DomainError(error.code, error.message, field) from None
    except ValueError as error:
        raise DomainError(ErrorCode.INVALID_INPUT, str(error), field) from None


def _check_clearing_date(brand: Brand, given: dict[str, Any]) -> None:
    """The clearing day must be in the clearing month (29 February: the 28th in other years)."""
    longest = calendar.monthrange(2000, brand.clearing_month)[1]  # a leap year
    if brand.clearing_day > longest:
        field = "clearingDay" if "clearing_day" in given else "clearingMonth"
        month = calendar.month_name[brand.clearing_month]
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"{month} has no day {brand.clearing_day}: the clearing day is 1 to {longest}.",
            ["input", field],
        )


async def update_settings(
    rt: Backends, principal: Principal, given: dict[str, Any], key: str
) -> Brand:
    """Change the settings given (the others stay as they are); once per idempotency key.

    Every process reads these from the brand's row within the operation that uses them (an
    earn, an expiry, a notice), never from a copy, so a change holds from its commit on. A new
    expiry policy applies to points earned from then on: lots made before keep their expiry.
    """
    unknown = sorted(set(given) - set(SETTINGS))
    if unknown:
        raise ValueError(f"not settings: {unknown}")
    if not given:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give at least one setting.", ["input"])
    for name, value in given.items():
        if value is None and name not in NULLABLE:
            message = "Cannot be null: leave it out to keep it as it is."
            raise DomainError(ErrorCode.INVALID_INPUT, message, ["input", _camel(name)])
    values = {
        name: _checked(name, value)
        for name, value in given.items()
        if name not in NOTICE_SETTINGS and name != "timezone"
    }
    if "timezone" in given:
        values["timezone"] = await check_timezone(given["timezone"], ["input", "timezone"])
    notices = NoticeSettingsChange(**{name: given.get(name) for name in NOTICE_SETTINGS})

    async def save(connection: BaseDBAsyncClient) -> Brand:
        brand = await Brand.select_for_update().using_db(connection).get(id=principal.brand_id)
        brand.update_from_dict(values)
        _check_clearing_date(brand, given)
        notice_fields, _ = checked_settings(brand, notices)
        await brand.save(using_db=connection, update_fields=[*values, *notice_fields])
        return brand

    request = {_camel(name): value for name, value in given.items()}
    return await change_once(
        principal,
        "updateBrandSettings",
        key,
        request,
        Brand,
        save,
        after=lambda _: catalog_changed(rt, principal.brand_id),
    )


# ---------------------------------------------------------------- stores

STORE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")


async def create_store(rt: Backends, principal: Principal, code: str, name: str, key: str) -> Store:
    """A new store of the brand, taking purchases at once; once per idempotency key. Codes are
    the brand's for good: an archived store's is not given again."""
    code = code.strip()
    if not STORE_CODE.fullmatch(code):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "Code: 1 to 32 of A-Z, 0-9, '_' and '-', starting with a letter or digit.",
            ["input", "code"],
        )
    name = check_name(name, ["input", "name"])
    taken = f"The brand has a store {code!r} (perhaps archived)."

    async def create(connection: BaseDBAsyncClient) -> Store:
        if await Store.filter(brand_id=principal.brand_id, code=code).using_db(connection).exists():
            raise DomainError(ErrorCode.DUPLICATE, taken, ["input", "code"])
        with refused_as_duplicate(taken, ["input", "code"]):
            return await Store.create(
                brand_id=principal.brand_id, code=code, name=name, using_db=connection
            )

    request = {"code": code, "name": name}
    return await change_once(
        principal,
        "createStore",
        key,
        request,
        Store,
        create,
        after=lambda _: catalog_changed(rt, principal.brand_id),
    )


async def _store_for_change(connection: BaseDBAsyncClient, principal: Principal, pk: int) -> Store:
    store = (
        await Store.filter(id=pk, brand_id=principal.brand_id)
        .select_for_update()
        .using_db(connection)
        .first()
    )
    if store is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such store.", ["input", "id"])
    return store


async def update_store(rt: Backends, principal: Principal, pk: int, name: str, key: str) -> Store:
    """Rename a store (its code stays: purchases and rules name it); once per idempotency key."""
    name = check_name(name, ["input", "name"])

    async def rename(connection: BaseDBAsyncClient) -> Store:
        store = await _store_for_change(connection, principal, pk)
        store.name = name
        await store.save(using_db=connection, update_fields=["name"])
        return store

    request = {"id": pk, "name": name}
    return await change_once(
        principal,
        "updateStore",
        key,
        request,
        Store,
        rename,
        after=lambda _: catalog_changed(rt, principal.brand_id),
    )


async def archive_store(
    rt: Backends, principal: Principal, pk: int, now: datetime, key: str
) -> Store:
    """Archive a store: it takes no more purchases and leaves the brand's list of stores; its
    purchases and entries keep naming it. An archived store stays as it was archived."""

    async def archive(connection: BaseDBAsyncClient) -> Store:
        store = await _store_for_change(connection, principal, pk)
        if store.archived_at is None:
            store.archived_at = now
            await store.save(using_db=connection, update_fields=["archived_at"])
        return store

    return await change_once(
        principal,
        "archiveStore",
        key,
        {"id": pk},
        Store,
        archive,
        after=lambda _: catalog_changed(rt, principal.brand_id),
    )
