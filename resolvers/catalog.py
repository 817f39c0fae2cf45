"""Resolvers for the catalog: items, redemptions, coupons and recommendations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Protocol
from weakref import WeakKeyDictionary

import strawberry

from domain import records
from domain.catalog import coupons, items, live, recommendations
from domain.catalog import redemptions as orders
from domain.catalog.coupons import CouponState
from domain.errors import AccessDenied
from domain.pagination import Page
from domain.principal import Principal
from domain.runtime import Backends
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import Info, now_of, principal_of
from resolvers.ids import ByIdFields, decode_id
from resolvers.ledger import prime_balance
from resolvers.loaders import Loaders
from resolvers.payloads import PayloadView, reports_user_errors


class CatalogItemGiftFields(Protocol):
    item_id: strawberry.ID
    quantity: int


class CatalogItemFields(Protocol):
    """createCatalogItem's input (updateCatalogItem's has an id besides)."""

    sku: str
    name: str
    description: str
    kind: items.ItemKind
    category: str
    points_price: int
    cash_price: Decimal
    stock: int | None
    per_member_limit: int | None
    min_tier_id: strawberry.ID | None
    available_from: datetime | None
    available_until: datetime | None
    image_urls: list[str] | None
    coupon_value: Decimal
    coupon_valid_days: int | None
    upgrade_tier_id: strawberry.ID | None
    upgrade_months: int | None
    tag_codes: list[str] | None
    idempotency_key: str

    @property
    def gifts(self) -> Sequence[CatalogItemGiftFields] | None: ...


class UpdateCatalogItemFields(CatalogItemFields, Protocol):
    id: strawberry.ID


class UploadOfferCodesFields(Protocol):
    item_id: strawberry.ID
    codes: list[str]
    idempotency_key: str


class RejectCatalogItemFields(Protocol):
    id: strawberry.ID
    reason: str
    idempotency_key: str


class RestockCatalogItemFields(Protocol):
    id: strawberry.ID
    quantity: int
    idempotency_key: str


class ShippingAddressFields(Protocol):
    recipient: str
    phone: str
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str | None
    country: str


class RedeemFields(Protocol):
    item_id: strawberry.ID
    quantity: int
    idempotency_key: str
    verification_code: str | None

    @property
    def shipping_address(self) -> ShippingAddressFields | None: ...


class CancelRedemptionFields(Protocol):
    redemption_id: strawberry.ID
    reason: str
    idempotency_key: str


class ConfirmRedemptionPaymentFields(Protocol):
    redemption_id: strawberry.ID
    payment_reference: str
    idempotency_key: str


class FulfilRedemptionFields(Protocol):
    redemption_id: strawberry.ID
    tracking_reference: str
    idempotency_key: str


class ConsumeCouponFields(Protocol):
    code: str
    reference: str
    idempotency_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogItemPayloadView(PayloadView):
    item: records.CatalogItem | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadOfferCodesPayloadView(PayloadView):
    item: records.CatalogItem | None
    uploaded: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RedeemedPayloadView(PayloadView):
    """A redemption's payload with its member: redeem's, cancelRedemption's and
    enterFlashSale's."""

    redemption: records.Redemption | None
    member: records.Member | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RedemptionPayloadView(PayloadView):
    redemption: records.Redemption | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CouponPayloadView(PayloadView):
    coupon: records.Coupon | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CouponCheckPayloadView(PayloadView):
    coupon: records.Coupon | None
    state: CouponState | None


@dataclass(frozen=True, slots=True)
class ShippingAddressView:
    recipient: str
    phone: str
    line1: str
    city: str
    country: str
    line2: str | None = None
    region: str | None = None
    postal_code: str | None = None


# Each request's catalog page, by its loaders (one set per request): the page's items answer
# their caller-dependent fields from it without waiting for anything.
_pages: WeakKeyDictionary[Loaders, items.CatalogPage] = WeakKeyDictionary()


def min_tier_of(
    info: Info, item: records.CatalogItem
) -> records.Tier | Awaitable[records.Tier | None] | None:
    """The item's minimum tier, or an awaitable of it for an item not of the request's page."""
    page = _pages.get(info.context.loaders)
    if page is not None:
        known, tier = page.min_tier(item)
        if known:
            return tier
    return _min_tier_of(info, item)


async def _min_tier_of(info: Info, item: records.CatalogItem) -> records.Tier | None:
    return (
        await info.context.loaders.tier_by_id.load(item.min_tier_id) if item.min_tier_id else None
    )


async def _shopper(info: Info) -> items.Shopper | None:
    return await info.context.loaders.shopper(principal_of(info))


def available(info: Info, item: records.CatalogItem) -> bool | Awaitable[bool]:
    """Whether the caller can redeem the item now, or an awaitable of it for an item not of
    the request's page."""
    page = _pages.get(info.context.loaders)
    known = page.available(item) if page is not None else None
    return known if known is not None else _available(info, item)


async def _available(info: Info, item: records.CatalogItem) -> bool:
    min_tier = await _min_tier_of(info, item)
    shopper = await _shopper(info)
    return items.refusal(item, now_of(info), min_tier.rank if min_tier else None, shopper) is None


def member_price(info: Info, item: records.CatalogItem) -> int | Awaitable[int | None] | None:
    """The caller's price, or an awaitable of it until the caller is known."""
    page = _pages.get(info.context.loaders)
    if page is not None:
        shopper = page.shopper
        return (
            None
            if shopper is None
            else items.member_price(item.points_price, shopper.discount_percent)
        )
    return _member_price(info, item)


async def _member_price(info: Info, item: records.CatalogItem) -> int | None:
    shopper = await _shopper(info)
    if shopper is None:
        return None
    return items.member_price(item.points_price, shopper.discount_percent)


async def catalog(
    info: Info,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    category: str | None,
    kind: items.ItemKind | None,
    affordable_only: bool,
) -> ConnectionView[records.CatalogItem]:
    page = await items.catalog_page(
        info.context.backends,
        principal_of(info),
        await _shopper(info),
        page_request(first, after, last, before),
        category=category,
        kind=kind,
        affordable_only=affordable_only,
    )
    _pages[info.context.loaders] = page
    return to_connection(page.page)


async def answer_catalog(
    backends: Backends,
    principal: Principal,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    category: str | None = None,
    kind: items.ItemKind | None = None,
    affordable_only: bool | None = None,
) -> ConnectionView[items.AnsweredItem]:
    """The catalog field's value for a planned document (schema/prechecks.py): as `catalog`
    resolves it, with each item's `available`, `memberPrice` and `minTier` worked out."""
    page = await items.catalog_page(
        backends,
        principal,
        await items.shopper_of(principal, backends.clock.now()),
        page_request(first, after, last, before),
        category=category,
        kind=kind,
        affordable_only=bool(affordable_only),
    )
    return to_connection(replace(page.page, items=page.answered()))


async def redemptions(
    info: Info,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    member_id: str | None,
    status: orders.RedemptionStatus | None,
) -> ConnectionView[records.Redemption]:
    wanted = decode_id(member_id, "Member", "memberId") if member_id is not None else None
    page = await _redemptions_page(info, first, after, last, before, wanted, status)
    return to_connection(page)


async def _redemptions_page(
    info: Info,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    member_id: int | None,
    status: orders.RedemptionStatus | None,
) -> Page[records.Redemption]:
    return await orders.redemptions_page(
        principal_of(info),
        page_request(first, after, last, before),
        member_id=member_id,
        status=status,
    )


async def redemptions_of_member(
    info: Info, member: records.Member, first: int | None, after: str | None,
    last: int | None, before: str | None,
) -> ConnectionView[records.Redemption]:  # fmt: skip
    return to_connection(await _redemptions_page(info, first, after, last, before, member.id, None))


async def recommendations_of(
    info: Info, member: records.Member, first: int
) -> list[recommendations.Recommendation]:
    return await recommendations.recommend(member, now_of(info), first)


async def member_of(info: Info, redemption: records.Redemption) -> records.Member | None:
    return await info.context.loaders.member_by_id.load(redemption.member_id)


async def item_of(info: Info, redemption: records.Redemption) -> records.CatalogItem | None:
    return await info.context.loaders.item_by_id.load(redemption.item_id)


@dataclass(frozen=True, slots=True)
class GiftView:
    item_id: int
    quantity: int


def gifts_of(item_or_redemption: records.CatalogItem | records.Redemption) -> list[GiftView]:
    return [GiftView(gift["item_id"], gift["quantity"]) for gift in item_or_redemption.gifts]


async def gift_item_of(info: Info, gift: GiftView) -> records.CatalogItem | None:
    return await info.context.loaders.item_by_id.load(gift.item_id)


async def upgrade_tier_of(info: Info, item: records.CatalogItem) -> records.Tier | None:
    if item.upgrade_tier_id is None:
        return None
    return await info.context.loaders.tier_by_id.load(item.upgrade_tier_id)


async def coupons_of(info: Info, redemption: records.Redemption) -> list[records.Coupon]:
    return await info.context.loaders.coupons_by_redemption_id.load(redemption.id) or []


def shipping_address_of(redemption: records.Redemption) -> ShippingAddressView | None:
    address = redemption.shipping_address
    if not address:
        return None
    return ShippingAddressView(
        recipient=address["recipient"],
        phone=address["phone"],
        line1=address["line1"],
        city=address["city"],
        country=address["country"],
        line2=address.get("line2"),
        region=address.get("region"),
        postal_code=address.get("postalCode"),
    )


def item_spec(input: CatalogItemFields) -> items.ItemSpec:
    return items.ItemSpec(
        sku=input.sku.strip(),
        name=input.name,
        kind=input.kind,
        category=input.category,
        points_price=input.points_price,
        description=input.description,
        cash_price=input.cash_price,
        stock=input.stock,
        per_member_limit=input.per_member_limit,
        min_tier_id=decode_id(input.min_tier_id, "Tier", "minTierId")
        if input.min_tier_id is not None
        else None,
        available_from=input.available_from,
        available_until=input.available_until,
        image_urls=tuple(input.image_urls or ()),
        coupon_value=input.coupon_value,
        coupon_valid_days=input.coupon_valid_days,
        upgrade_tier_id=decode_id(input.upgrade_tier_id, "Tier", "upgradeTierId")
        if input.upgrade_tier_id is not None
        else None,
        upgrade_months=input.upgrade_months,
        gifts=tuple(
            (decode_id(gift.item_id, "CatalogItem", "gifts"), gift.quantity)
            for gift in input.gifts or ()
        ),
        tag_codes=tuple(sorted({code.strip().upper() for code in input.tag_codes or ()})),
    )


@reports_user_errors(CatalogItemPayloadView)
async def create_catalog_item(info: Info, input: CatalogItemFields) -> CatalogItemPayloadView:
    item = await items.create_item(
        principal_of(info), item_spec(input), now_of(info), input.idempotency_key,
        rt=info.context.backends,
    )  # fmt: skip
    return CatalogItemPayloadView(item=item)


@reports_user_errors(CatalogItemPayloadView)
async def update_catalog_item(info: Info, input: UpdateCatalogItemFields) -> CatalogItemPayloadView:
    item_id = decode_id(input.id, "CatalogItem", "id")
    item = await items.update_item(
        principal_of(info), item_id, item_spec(input), now_of(info), input.idempotency_key,
        rt=info.context.backends,
    )  # fmt: skip
    return CatalogItemPayloadView(item=item)


@reports_user_errors(UploadOfferCodesPayloadView)
async def upload_offer_codes(
    info: Info, input: UploadOfferCodesFields
) -> UploadOfferCodesPayloadView:
    item_id = decode_id(input.item_id, "CatalogItem", "itemId")
    item, uploaded = await coupons.upload_codes(
        principal_of(info), item_id, input.codes, now_of(info), input.idempotency_key
    )
    return UploadOfferCodesPayloadView(item=item, uploaded=uploaded)


@reports_user_errors(CatalogItemPayloadView)
async def approve_catalog_item(info: Info, input: ByIdFields) -> CatalogItemPayloadView:
    item_id = decode_id(input.id, "CatalogItem", "id")
    item = await items.review_item(
        principal_of(info), item_id, None, now_of(info), input.idempotency_key,
        rt=info.context.backends,
    )  # fmt: skip
    return CatalogItemPayloadView(item=item)


@reports_user_errors(CatalogItemPayloadView)
async def reject_catalog_item(info: Info, input: RejectCatalogItemFields) -> CatalogItemPayloadView:
    item_id = decode_id(input.id, "CatalogItem", "id")
    item = await items.review_item(
        principal_of(info), item_id, input.reason, now_of(info), input.idempotency_key,
        rt=info.context.backends,
    )  # fmt: skip
    return CatalogItemPayloadView(item=item)


@reports_user_errors(CatalogItemPayloadView)
async def archive_catalog_item(info: Info, input: ByIdFields) -> CatalogItemPayloadView:
    item_id = decode_id(input.id, "CatalogItem", "id")
    item = await items.archive_item(
        principal_of(info), item_id, now_of(info), input.idempotency_key,
        rt=info.context.backends,
    )  # fmt: skip
    return CatalogItemPayloadView(item=item)


@reports_user_errors(CatalogItemPayloadView)
async def restock_catalog_item(
    info: Info, input: RestockCatalogItemFields
) -> CatalogItemPayloadView:
    item_id = decode_id(input.id, "CatalogItem", "id")
    item = await items.restock(
        principal_of(info), item_id, input.quantity, now_of(info), input.idempotency_key,
        rt=info.context.backends,
    )  # fmt: skip
    return CatalogItemPayloadView(item=item)


def _address(input: RedeemFields) -> dict[str, str] | None:
    """The given address, its parts not given left out."""
    address = input.shipping_address
    if address is None:
        return None
    parts = {
        "recipient": address.recipient,
        "phone": address.phone,
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "region": address.region,
        "postalCode": address.postal_code,
        "country": address.country,
    }
    return {name: part for name, part in parts.items() if part is not None}


@reports_user_errors(RedeemedPayloadView)
async def redeem(info: Info, input: RedeemFields) -> RedeemedPayloadView:
    item_id = decode_id(input.item_id, "CatalogItem", "itemId")
    redeemed = await orders.redeem(
        info.context.backends,
        principal_of(info),
        item_id,
        input.quantity,
        input.idempotency_key,
        _address(input),
        input.verification_code,
    )
    prime_balance(info, redeemed.member.id, redeemed.balance)
    return RedeemedPayloadView(redemption=redeemed.redemption, member=redeemed.member)


@reports_user_errors(RedeemedPayloadView)
async def cancel_redemption(info: Info, input: CancelRedemptionFields) -> RedeemedPayloadView:
    redemption_id = decode_id(input.redemption_id, "Redemption", "redemptionId")
    cancelled = await orders.cancel(
        info.context.backends,
        principal_of(info),
        redemption_id,
        input.reason,
        input.idempotency_key,
    )
    prime_balance(info, cancelled.member.id, cancelled.balance)
    return RedeemedPayloadView(redemption=cancelled.redemption, member=cancelled.member)


@reports_user_errors(RedemptionPayloadView)
async def confirm_redemption_payment(
    info: Info, input: ConfirmRedemptionPaymentFields
) -> RedemptionPayloadView:
    redemption_id = decode_id(input.redemption_id, "Redemption", "redemptionId")
    redemption = await orders.confirm_payment(
        info.context.backends, principal_of(info), redemption_id, input.payment_reference,
        input.idempotency_key, now_of(info),
    )  # fmt: skip
    return RedemptionPayloadView(redemption=redemption)


@reports_user_errors(RedemptionPayloadView)
async def fulfil_redemption(info: Info, input: FulfilRedemptionFields) -> RedemptionPayloadView:
    redemption_id = decode_id(input.redemption_id, "Redemption", "redemptionId")
    redemption = await orders.fulfil(
        info.context.backends, principal_of(info), redemption_id, input.tracking_reference,
        now_of(info), input.idempotency_key,
    )  # fmt: skip
    return RedemptionPayloadView(redemption=redemption)


@reports_user_errors(CouponPayloadView)
async def consume_coupon(info: Info, input: ConsumeCouponFields) -> CouponPayloadView:
    coupon = await coupons.consume(
        principal_of(info), input.code, input.reference, input.idempotency_key, now_of(info)
    )
    return CouponPayloadView(coupon=coupon)


@reports_user_errors(CouponCheckPayloadView)
async def verify_coupon(info: Info, code: str) -> CouponCheckPayloadView:
    check = await coupons.verify(principal_of(info), code, now_of(info))
    return CouponCheckPayloadView(coupon=check.coupon, state=check.state)


async def catalog_item_changed(info: Info, item_id: str) -> AsyncIterator[records.CatalogItem]:
    """Check the item first (one the caller may not see is the subscription's error), then
    stream it as it changes."""
    context = info.context
    principal = principal_of(info)
    item = await items.visible_item(principal, decode_id(item_id, "CatalogItem", "itemId"))
    if item is None:
        raise AccessDenied("No such item in your brand.")

    async def changes() -> AsyncIterator[records.CatalogItem]:
        async for changed in live.watch_item(context.backends, item, principal.still_valid):
            context.loaders = Loaders(context.backends)  # every change reads fresh data
            yield changed

    return changes()
