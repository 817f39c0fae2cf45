"""Catalog items: what the brand's admins offer, and what each caller sees of them.

A member's price is the list price less their tier's `discountPercent`, rounded down (in the
member's favour). An item is available to a caller when it is ACTIVE, inside its window, in
stock, and (for a member) their tier reaches its minimum tier.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.expressions import F

from db.models import CatalogItem, ItemKind, ItemStatus, Tier
from domain.catalog.cache import BrandCatalog, brand_catalog, catalog_changed, page_of
from domain.catalog.gifts import check_gifts
from domain.catalog.live import announce_items
from domain.errors import DomainError, ErrorCode, refused_as_duplicate
from domain.idempotency import change_once
from domain.ledger.reads import BALANCES_SQL
from domain.pagination import Page, PageRequest
from domain.principal import Principal, Role
from domain.rules.admin import TAG
from domain.rules.earning import tags_of
from domain.runtime import Backends
from domain.webhooks import EventType, emit, offer_event

SKU = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_PRICE = 100_000_000
MAX_STOCK = 10_000_000
URL = re.compile(r"^https://\S{1,500}$")
DUPLICATE_SKU = "Another item has this SKU."

# Re-exported for the schema, which does not reach into db/.
__all__ = ["ItemKind", "ItemStatus"]


@dataclass(frozen=True, slots=True)
class ItemSpec:
    sku: str
    name: str
    kind: ItemKind
    category: str
    points_price: int
    description: str = ""
    cash_price: Decimal = Decimal(0)
    stock: int | None = None
    per_member_limit: int | None = None
    min_tier_id: int | None = None
    available_from: datetime | None = None
    available_until: datetime | None = None
    image_urls: tuple[str, ...] = ()
    coupon_value: Decimal = Decimal(0)
    coupon_valid_days: int | None = None
    # A TIER_UPGRADE's tier and months; the gift items with each unit, (item id, quantity).
    upgrade_tier_id: int | None = None
    upgrade_months: int | None = None
    gifts: tuple[tuple[int, int], ...] = ()
    tag_codes: tuple[str, ...] = ()  # members with any of these tags only


def _refuse(field: str, message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, ["input", field])


def check_item(spec: ItemSpec) -> None:
    """Field by field: what an item may be."""
    upgrade = spec.kind is ItemKind.TIER_UPGRADE
    checks = (
        ("sku", bool(SKU.match(spec.sku)), "SKU: 1 to 64 of letters, digits, _ . and -."),
        ("name", 1 <= len(spec.name.strip()) <= 200, "Name: 1 to 200 characters."),
        ("description", len(spec.description) <= 5000, "At most 5000 characters."),
        ("category", 1 <= len(spec.category.strip()) <= 64, "Category: 1 to 64 characters."),
        ("pointsPrice", 0 <= spec.points_price <= MAX_PRICE, f"From 0 to {MAX_PRICE}."),
        ("cashPrice", 0 <= spec.cash_price <= Decimal("1000000"), "From 0 to 1000000."),
        ("pointsPrice", spec.points_price > 0 or spec.cash_price > 0,
         "An item costs points, cash or both."),
        ("stock", spec.stock is None or 0 <= spec.stock <= MAX_STOCK,
         f"From 0 to {MAX_STOCK}, or null for unlimited."),
        ("perMemberLimit", spec.per_member_limit is None or 1 <= spec.per_member_limit <= 1000,
         "From 1 to 1000, or null for none."),
        ("availableUntil", spec.available_from is None or spec.available_until is None
         or spec.available_from < spec.available_until, "The window must end after it starts."),
        ("imageUrls", len(spec.image_urls) <= 10 and all(URL.match(url) for url in spec.image_urls),
         "Up to 10 https URLs."),
        ("couponValue", 0 <= spec.coupon_value <= Decimal("1000000"), "From 0 to 1000000."),
        ("couponValidDays", spec.coupon_valid_days is None or 1 <= spec.coupon_valid_days <= 3650,
         "From 1 to 3650 days, or null for no expiry."),
        ("upgradeTierId", upgrade == (spec.upgrade_tier_id is not None),
         "A TIER_UPGRADE names the tier it gives; no other kind does."),
        ("upgradeMonths", upgrade == (spec.upgrade_months is not None)
         and (spec.upgrade_months is None or 1 <= spec.upgrade_months <= 36),
         "A TIER_UPGRADE lasts 1 to 36 months; no other kind has months."),
        ("cashPrice", spec.kind is not ItemKind.TIER_UPGRADE or spec.cash_price == 0,
         "A TIER_UPGRADE costs points only."),
        ("tagCodes", len(spec.tag_codes) <= 20 and all(TAG.match(tag) for tag in spec.tag_codes),
         "Up to 20 tags of 1 to 40 of A-Z, 0-9, _ and -."),
    )  # fmt: skip
    for field, holds, message in checks:
        if not holds:
            raise _refuse(field, message)


def _values(spec: ItemSpec) -> dict[str, object]:
    values = {f.name: getattr(spec, f.name) for f in fields(spec) if f.name != "gifts"}
    values.update(
        name=spec.name.strip(),
        category=spec.category.strip(),
        image_urls=list(spec.image_urls),
    )
    return values


async def _check_min_tier(
    principal: Principal, tier_id: int | None, field: str = "minTierId"
) -> None:
    if tier_id is not None and not await Tier.exists(id=tier_id, brand_id=principal.brand_id):
        raise DomainError(ErrorCode.NOT_FOUND, "No such tier.", ["input", field])


async def _checked_values(
    principal: Principal, spec: ItemSpec, item_id: int | None
) -> dict[str, object]:
    """The item's columns, once the tiers and gift items it names are the brand's."""
    await _check_min_tier(principal, spec.min_tier_id)
    await _check_min_tier(principal, spec.upgrade_tier_id, "upgradeTierId")
    gifts = await check_gifts(principal.brand_id, item_id, list(spec.gifts)) if spec.gifts else []
    return {**_values(spec), "gifts": gifts}


async def _changed(rt: Backends | None, principal: Principal, item: CatalogItem) -> CatalogItem:
    """After an item's change committed: every process's copy of the brand's catalog goes (when
    `rt` is given; otherwise copies are read again within a second)."""
    if rt is not None:
        await catalog_changed(rt, principal.brand_id)
        await announce_items(rt, [item.id])
    return item


async def create_item(
    principal: Principal,
    spec: ItemSpec,
    now: datetime,
    key: str | None = None,
    *,
    rt: Backends | None = None,
) -> CatalogItem:
    """An admin's item, ACTIVE at once; or a partner's offer (PARTNER_OFFER only), waiting
    for an admin's approval before members see it; once per idempotency key."""
    check_item(spec)
    by_partner = principal.role is Role.PARTNER
    if by_partner and spec.kind is not ItemKind.PARTNER_OFFER:
        raise _refuse("kind", "A partner publishes PARTNER_OFFER items.")

    async def create(connection: BaseDBAsyncClient) -> CatalogItem:
        values = await _checked_values(principal, spec, None)
        with refused_as_duplicate(DUPLICATE_SKU, ["input", "sku"]):
            return await CatalogItem.create(
                brand_id=principal.brand_id,
                partner_id=principal.partner_id if by_partner else None,
                status=ItemStatus.PENDING_APPROVAL if by_partner else ItemStatus.ACTIVE,
                created_at=now,
                updated_at=now,
                using_db=connection,
                **values,
            )

    request = asdict(spec)
    item = await change_once(principal, "createCatalogItem", key, request, CatalogItem, create)
    return await _changed(rt, principal, item)


async def item_of_brand(principal: Principal, item_id: int, field: str = "itemId") -> CatalogItem:
    item = await CatalogItem.get_or_none(id=item_id, brand_id=principal.brand_id)
    if item is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such item.", ["input", field])
    return item


async def update_item(
    principal: Principal,
    item_id: int,
    spec: ItemSpec,
    now: datetime,
    key: str | None = None,
    *,
    rt: Backends | None = None,
) -> CatalogItem:
    """Replace an item's settings; its kind stays, and an archived item stays archived; once
    per idempotency key."""
    check_item(spec)

    async def update(connection: BaseDBAsyncClient) -> CatalogItem:
        values = await _checked_values(principal, spec, item_id)
        item = await item_of_brand(principal, item_id, "id")
        if item.kind is not spec.kind:
            raise _refuse("kind", "An item's kind cannot change: archive it and create another.")
        if item.status is ItemStatus.ARCHIVED:
            message = "An archived item cannot change."
            raise DomainError(ErrorCode.CONFLICT, message, ["input", "id"])
        with refused_as_duplicate(DUPLICATE_SKU, ["input", "sku"]):
            await item.update_from_dict({**values, "updated_at": now}).save(using_db=connection)
        return item

    request = {"id": item_id, **asdict(spec)}
    item = await change_once(principal, "updateCatalogItem", key, request, CatalogItem, update)
    return await _changed(rt, principal, item)


async def review_item(
    principal: Principal,
    item_id: int,
    rejection: str | None,
    now: datetime,
    key: str | None = None,
    *,
    rt: Backends | None = None,
) -> CatalogItem:
    """An admin approves a partner's pending offer (it goes ACTIVE) or rejects it, saying why;
    once per idempotency key."""
    if rejection is not None and not 1 <= len(rejection.strip()) <= 500:
        raise _refuse("reason", "Say why, in up to 500 characters.")
    status = ItemStatus.ACTIVE if rejection is None else ItemStatus.REJECTED

    async def review(connection: BaseDBAsyncClient) -> CatalogItem:
        item = await item_of_brand(principal, item_id, "id")
        reviewed = (
            await CatalogItem.filter(id=item.id, status=ItemStatus.PENDING_APPROVAL)
            .using_db(connection)
            .update(
                status=status,
                rejection_reason=rejection.strip() if rejection else None,
                updated_at=now,
            )
        )
        if not reviewed:
            raise DomainError(
                ErrorCode.CONFLICT, f"This item is {item.status.value}, not pending.",
                ["input", "id"],
            )  # fmt: skip
        if status is ItemStatus.ACTIVE:
            event = offer_event(item)
            await emit(connection, item.partner_id, EventType.OFFER_APPROVED, event, now)
        return await CatalogItem.get(id=item.id, using_db=connection)

    operation = "approveCatalogItem" if rejection is None else "rejectCatalogItem"
    request = {"id": item_id, "reason": rejection}
    item = await change_once(principal, operation, key, request, CatalogItem, review)
    return await _changed(rt, principal, item)


async def archive_item(
    principal: Principal,
    item_id: int,
    now: datetime,
    key: str | None = None,
    *,
    rt: Backends | None = None,
) -> CatalogItem:
    """Take an item out of the catalog for good; its redemptions stay as they are; once per
    idempotency key."""

    async def archive(connection: BaseDBAsyncClient) -> CatalogItem:
        item = await item_of_brand(principal, item_id, "id")
        if item.status is not ItemStatus.ARCHIVED:
            item.status = ItemStatus.ARCHIVED
            item.updated_at = now
            await item.save(using_db=connection, update_fields=["status", "updated_at"])
        return item

    request = {"id": item_id}
    item = await change_once(principal, "archiveCatalogItem", key, request, CatalogItem, archive)
    return await _changed(rt, principal, item)


async def restock(
    principal: Principal,
    item_id: int,
    added: int,
    now: datetime,
    key: str | None = None,
    *,
    rt: Backends | None = None,
) -> CatalogItem:
    """Add units to a limited item's stock, atomically beside concurrent redemptions; once per
    idempotency key, so a retried restock adds nothing more."""
    if not 1 <= added <= MAX_STOCK:
        raise _refuse("quantity", f"From 1 to {MAX_STOCK}.")

    async def add(connection: BaseDBAsyncClient) -> CatalogItem:
        item = await item_of_brand(principal, item_id, "id")
        if item.stock is None:
            message = "This item's stock is unlimited."
            raise DomainError(ErrorCode.CONFLICT, message, ["input", "id"])
        updated = (
            await CatalogItem.filter(id=item.id, stock__lte=MAX_STOCK - added)
            .using_db(connection)
            .update(stock=F("stock") + added, updated_at=now)
        )
        if not updated:
            raise _refuse("quantity", f"Stock cannot exceed {MAX_STOCK}.")
        return await CatalogItem.get(id=item.id, using_db=connection)

    request = {"id": item_id, "quantity": added}
    item = await change_once(principal, "restockCatalogItem", key, request, CatalogItem, add)
    return await _changed(rt, principal, item)


def member_price(points_price: int, discount_percent: int) -> int:
    """The points a member of a tier with this discount pays, rounded down."""
    return points_price * (100 - discount_percent) // 100


def highest_affordable_list_price(available: int, discount_percent: int) -> int | None:
    """The highest list price whose member price is at most `available`; None: any."""
    if discount_percent >= 100:
        return None
    return ((available + 1) * 100 - 1) // (100 - discount_percent)


@dataclass(frozen=True, slots=True)
class Shopper:
    """The calling member as the catalog sees them: tier rank, discount, available points, and
    the version of their brand's tiers when these were read."""

    member_id: int
    tier_rank: int
    discount_percent: int
    available: int
    earning_version: int = 0
    tags: frozenset[str] = frozenset()


# The member with their tier and brand, and their balance as `balances` reads it (due points
# left out), in one statement.
SHOPPER_SQL = f"""
SELECT m.id, t.rank, t.discount_percent, br.earning_version, bal.available,
       ARRAY(SELECT tag FROM member_tag WHERE member_id = m.id) AS tags
FROM member m
JOIN tier t ON t.id = m.tier_id
JOIN brand br ON br.id = m.brand_id
JOIN ({BALANCES_SQL}) bal ON bal.member_id = m.id
WHERE m.id = ANY($1::int[]) AND m.brand_id = $3
"""


async def shopper_of(principal: Principal, now: datetime) -> Shopper | None:
    """The caller as a member, or None for staff and visitors, and for a token naming a member
    its brand does not have (seen as a visitor: never another brand's member)."""
    if principal.role is not Role.MEMBER or principal.member_id is None:
        return None
    rows = await get_connection("default").execute_query_dict(
        SHOPPER_SQL, [[principal.member_id], now, principal.brand_id]
    )
    if not rows:
        return None
    (row,) = rows
    return Shopper(
        row["id"], row["rank"], row["discount_percent"], int(row["available"]),
        row["earning_version"], frozenset(row["tags"]),
    )  # fmt: skip


def for_shopper(item: Any, shopper: Shopper | None) -> bool:
    """An item limited to tags is for members with one of them only (never shown to others)."""
    return not item.tag_codes or (shopper is not None and bool(shopper.tags & set(item.tag_codes)))


def refusal(
    item: CatalogItem, now: datetime, min_tier_rank: int | None, shopper: Shopper | None
) -> DomainError | None:
    """Why the item cannot be redeemed now (by this shopper), or None when it can."""
    if item.status is not ItemStatus.ACTIVE or not for_shopper(item, shopper):
        return DomainError(ErrorCode.NOT_FOUND, "This item is not in the catalog.", ["itemId"])
    if item.available_from is not None and now < item.available_from:
        return DomainError(ErrorCode.NOT_STARTED, "This item is not available yet.", ["itemId"])
    if item.available_until is not None and now >= item.available_until:
        return DomainError(ErrorCode.ENDED, "This item is no longer available.", ["itemId"])
    if item.stock is not None and item.stock <= 0:
        return DomainError(ErrorCode.OUT_OF_STOCK, "This item is out of stock.", ["itemId"])
    if shopper is not None and min_tier_rank is not None and shopper.tier_rank < min_tier_rank:
        return DomainError(ErrorCode.TIER_REQUIRED, "This item needs a higher tier.", ["itemId"])
    return None


@dataclass(frozen=True, slots=True)
class CatalogPage:
    """A page of the catalog, with what its items' caller-dependent fields need: the copy of
    the catalog it came from (its tiers), the caller as a shopper, and the moment of the read.
    Each answers None for an item that is not the copy's own (read by another field)."""

    page: Page[Any]  # of the copy's items (domain/catalog/cache.py)
    catalog: BrandCatalog
    shopper: Shopper | None
    now: datetime

    def available(self, item: Any) -> bool | None:
        if not self.catalog.holds(item):
            return None
        rank = self.catalog.min_tier_rank(item)
        return refusal(item, self.now, rank, self.shopper) is None

    def min_tier(self, item: Any) -> tuple[bool, Any]:
        """(whether the copy knows, the item's minimum tier)."""
        if not self.catalog.holds(item):
            return False, None
        return True, self.catalog.tiers.get(item.min_tier_id) if item.min_tier_id else None

    def answered(self) -> list[AnsweredItem]:
        """The page's items, each with its caller-dependent fields' values (available,
        member_price, min_tier) as attributes: what a planned document reads."""
        discount = self.shopper.discount_percent if self.shopper is not None else None
        tiers = self.catalog.tiers
        return [
            AnsweredItem(
                item,
                refusal(item, self.now, self.catalog.min_tier_rank(item), self.shopper) is None,
                None if discount is None else member_price(item.points_price, discount),
                tiers[item.min_tier_id] if item.min_tier_id else None,
            )
            for item in self.page.items
        ]


class AnsweredItem:
    """An item of a page, its columns (and `pk`) with its values for one caller."""

    def __init__(self, item: Any, available: bool, price: int | None, min_tier: Any) -> None:
        self.__dict__.update(item.__dict__)
        self.available = available
        self.member_price = price
        self.min_tier = min_tier


async def catalog_page(
    rt: Backends,
    principal: Principal,
    shopper: Shopper | None,
    request: PageRequest,
    *,
    category: str | None = None,
    kind: ItemKind | None = None,
    affordable_only: bool = False,
) -> CatalogPage:
    """The brand's active items, oldest first, by category and kind, from this process's copy
    of the catalog (domain/catalog/cache.py).

    `affordable_only` keeps items the calling member can pay for with their points now.
    """
    now = rt.clock.now()
    version = shopper.earning_version if shopper is not None else 0
    catalog = await brand_catalog(rt, principal.brand_id, version)
    wanted_category = category.strip() if category is not None else None
    highest = None
    if affordable_only and shopper is not None:
        highest = highest_affordable_list_price(shopper.available, shopper.discount_percent)

    # Items limited to tags are left out but for their members (and the brand's staff).
    by_tags = not principal.reads_members and any(item.tag_codes for item in catalog.items)

    def keep(item: Any) -> bool:
        return (
            (wanted_category is None or item.category == wanted_category)
            and (kind is None or item.kind is kind)
            and (highest is None or item.points_price <= highest)
            and (not by_tags or for_shopper(item, shopper))
        )

    filtered = wanted_category is not None or kind is not None or highest is not None or by_tags
    page = page_of(catalog, request, keep if filtered else None)
    return CatalogPage(page, catalog, shopper, now)


async def visible_item(principal: Principal, item_id: int) -> CatalogItem | None:
    """An item of the caller's brand: active ones for everyone, the rest for its staff (and a
    partner's own offers for the partner)."""
    item = await CatalogItem.get_or_none(id=item_id, brand_id=principal.brand_id)
    if item is None:
        return None
    own_offer = principal.partner_id is not None and item.partner_id == principal.partner_id
    if item.status is not ItemStatus.ACTIVE and not (principal.reads_members or own_offer):
        return None
    if item.tag_codes and not principal.reads_members and principal.partner_id is None:
        member_id = principal.member_id
        tags = await tags_of(get_connection("default"), member_id) if member_id else frozenset()
        if not tags & set(item.tag_codes):
            return None
    return item


async def items_by_ids(ids: list[int]) -> dict[int, CatalogItem]:
    return {item.id: item for item in await CatalogItem.filter(id__in=ids)}
