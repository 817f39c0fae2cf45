"""Flash sales as the brand's admins run them: created, edited before they open, cancelled;
and their status as everyone sees it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from db.models import CatalogItem, FlashSale, ItemStatus, Tier
from domain.errors import DomainError, ErrorCode
from domain.flash_sales.stock import load_sale, remaining_by_sale
from domain.idempotency import change_once
from domain.pagination import Page, PageRequest, paginate
from domain.principal import Principal
from domain.runtime import Backends

MAX_STOCK = 1_000_000
MAX_LIMIT = 100
MAX_LENGTH = timedelta(days=31)


class FlashSaleStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    EARLY_ACCESS = "EARLY_ACCESS"
    LIVE = "LIVE"
    SOLD_OUT = "SOLD_OUT"
    ENDED = "ENDED"
    CANCELLED = "CANCELLED"


def status_of(
    sale: FlashSale, remaining: int, now: datetime, early_access: timedelta
) -> FlashSaleStatus:
    """Where a sale stands now; `early_access` is the longest any of the brand's tiers gets."""
    if sale.cancelled_at is not None:
        return FlashSaleStatus.CANCELLED
    if now >= sale.ends_at:
        return FlashSaleStatus.ENDED
    if now < sale.starts_at - early_access:
        return FlashSaleStatus.SCHEDULED
    if remaining <= 0:
        return FlashSaleStatus.SOLD_OUT
    return FlashSaleStatus.LIVE if now >= sale.starts_at else FlashSaleStatus.EARLY_ACCESS


async def longest_early_access(brand_id: int) -> timedelta:
    tiers = await Tier.filter(brand_id=brand_id)
    return timedelta(
        minutes=max((tier.flash_sale_early_access_minutes for tier in tiers), default=0)
    )


@dataclass(frozen=True, slots=True)
class SaleSpec:
    item_id: int
    points_price: int
    starts_at: datetime
    ends_at: datetime
    total_stock: int
    per_member_limit: int = 1


def _refuse(field: str, message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, ["input", field])


def check_sale(spec: SaleSpec, now: datetime) -> None:
    checks = (
        ("pointsPrice", 0 <= spec.points_price <= 100_000_000, "From 0 to 100000000."),
        ("totalStock", 1 <= spec.total_stock <= MAX_STOCK, f"From 1 to {MAX_STOCK}."),
        ("perMemberLimit", 1 <= spec.per_member_limit <= MAX_LIMIT, f"From 1 to {MAX_LIMIT}."),
        ("endsAt", spec.starts_at < spec.ends_at, "The sale must end after it starts."),
        ("endsAt", spec.ends_at - spec.starts_at <= MAX_LENGTH, "A sale lasts 31 days at most."),
        ("startsAt", spec.starts_at > now, "A sale starts in the future."),
    )
    for field, holds, message in checks:
        if not holds:
            raise _refuse(field, message)


async def _item_for_sale(principal: Principal, item_id: int) -> CatalogItem:
    item = await CatalogItem.get_or_none(id=item_id, brand_id=principal.brand_id)
    if item is None or item.status is not ItemStatus.ACTIVE:
        raise DomainError(ErrorCode.NOT_FOUND, "No such active item.", ["input", "itemId"])
    return item


async def create_sale(
    rt: Backends, principal: Principal, spec: SaleSpec, key: str | None = None
) -> FlashSale:
    """Schedule a sale of an item with its own stock, and load it into Redis once committed;
    once per idempotency key."""

    async def create(connection: BaseDBAsyncClient) -> FlashSale:
        now = rt.clock.now()
        check_sale(spec, now)
        await _item_for_sale(principal, spec.item_id)
        return await FlashSale.create(
            brand_id=principal.brand_id,
            created_at=now,
            updated_at=now,
            using_db=connection,
            **asdict(spec),
        )

    return await change_once(
        principal,
        "createFlashSale",
        key,
        asdict(spec),
        FlashSale,
        create,
        after=partial(load_sale, rt),
    )


async def sale_of_brand(principal: Principal, sale_id: int, field: str = "id") -> FlashSale:
    sale = await FlashSale.get_or_none(id=sale_id, brand_id=principal.brand_id)
    if sale is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such flash sale.", ["input", field])
    return sale


async def update_sale(
    rt: Backends, principal: Principal, sale_id: int, spec: SaleSpec, key: str | None = None
) -> FlashSale:
    """Change a sale while it is still SCHEDULED (before any tier's early access opens), and
    reload it into Redis once committed; once per idempotency key."""

    async def update(connection: BaseDBAsyncClient) -> FlashSale:
        now = rt.clock.now()
        sale = await sale_of_brand(principal, sale_id)
        early = await longest_early_access(principal.brand_id)
        if sale.cancelled_at is not None or now >= sale.starts_at - early:
            raise DomainError(
                ErrorCode.CONFLICT, "Only a sale that has not opened can change.", ["input", "id"]
            )
        check_sale(spec, now)
        await _item_for_sale(principal, spec.item_id)
        updated = (
            await FlashSale.filter(id=sale.id, sold=0, cancelled_at=None)
            .using_db(connection)
            .update(**asdict(spec), updated_at=now)
        )
        if not updated:
            raise DomainError(ErrorCode.CONFLICT, "This sale has sold already.", ["input", "id"])
        return await FlashSale.get(id=sale.id, using_db=connection)

    request = {"id": sale_id, **asdict(spec)}
    return await change_once(
        principal, "updateFlashSale", key, request, FlashSale, update, after=partial(load_sale, rt)
    )


async def cancel_sale(
    rt: Backends, principal: Principal, sale_id: int, key: str | None = None
) -> FlashSale:
    """Stop a sale for good: entries are refused from now on (Redis learns it once committed);
    redemptions made stay; once per idempotency key."""

    async def cancel(connection: BaseDBAsyncClient) -> FlashSale:
        sale = await sale_of_brand(principal, sale_id)
        if sale.cancelled_at is None:
            sale.cancelled_at = rt.clock.now()
            sale.updated_at = sale.cancelled_at
            await sale.save(using_db=connection, update_fields=["cancelled_at", "updated_at"])
        return sale

    return await change_once(
        principal,
        "cancelFlashSale",
        key,
        {"id": sale_id},
        FlashSale,
        cancel,
        after=partial(load_sale, rt),
    )


async def sales_page(
    rt: Backends,
    principal: Principal,
    request: PageRequest,
    status: FlashSaleStatus | None,
) -> Page[FlashSale]:
    """The brand's sales by start time; a status filter is applied in the database where the
    status follows from time alone, and on the stock for LIVE and SOLD_OUT."""
    now = rt.clock.now()
    sales = FlashSale.filter(brand_id=principal.brand_id)
    early = await longest_early_access(principal.brand_id)
    live = Q(cancelled_at=None, starts_at__lte=now + early, ends_at__gt=now)
    if status is FlashSaleStatus.CANCELLED:
        sales = sales.filter(cancelled_at__not_isnull=True)
    elif status is FlashSaleStatus.ENDED:
        sales = sales.filter(cancelled_at=None, ends_at__lte=now)
    elif status is FlashSaleStatus.SCHEDULED:
        sales = sales.filter(cancelled_at=None, starts_at__gt=now + early)
    elif status is not None:
        candidates = await sales.filter(live)
        if status is FlashSaleStatus.EARLY_ACCESS:
            candidates = [sale for sale in candidates if sale.starts_at > now]
        remaining = await remaining_by_sale(rt, candidates)
        wanted = [
            sale.id
            for sale in candidates
            if status_of(sale, remaining[sale.id], now, early) is status
        ]
        sales = sales.filter(id__in=wanted)
    return await paginate(sales, request, ("starts_at", "id"))


async def early_access_by_brand(brand_ids: list[int]) -> dict[int, timedelta]:
    """The longest tier early access of each brand, in one query."""
    longest: dict[int, int] = dict.fromkeys(brand_ids, 0)
    rows = await Tier.filter(brand_id__in=brand_ids).values_list(
        "brand_id", "flash_sale_early_access_minutes"
    )
    for brand_id, minutes in rows:
        longest[brand_id] = max(longest[brand_id], minutes)
    return {brand_id: timedelta(minutes=minutes) for brand_id, minutes in longest.items()}


async def visible_sale(principal: Principal, sale_id: int) -> FlashSale | None:
    return await FlashSale.get_or_none(id=sale_id, brand_id=principal.brand_id)


async def sales_by_ids(ids: list[int]) -> dict[int, FlashSale]:
    return {sale.id: sale for sale in await FlashSale.filter(id__in=ids)}
