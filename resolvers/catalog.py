"""Resolvers for the catalog: items, redemptions, coupons and recommendations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any
from weakref import WeakKeyDictionary

from domain.catalog import coupons, items, live, recommendations
from domain.catalog import redemptions as orders
from domain.errors import AccessDenied
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import principal_of
from resolvers.ids import decode_id
from resolvers.ledger import prime_balance
from resolvers.loaders import Loaders
from resolvers.payloads import Payload, reports_user_errors


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


def _now(info: Any) -> Any:
    return info.context.backends.clock.now()


# Each request's catalog page, by its loaders (one set per request): the page's items answer
# their caller-dependent fields from it without waiting for anything.
_pages: WeakKeyDictionary[Any, items.CatalogPage] = WeakKeyDictionary()


def min_tier_of(info: Any, item: Any) -> Any:
    """The item's minimum tier, or an awaitable of it for an item not of the request's page."""
    page = _pages.get(info.context.loaders)
    if page is not None:
        known, tier = page.min_tier(item)
        if known:
            return tier
    return _min_tier_of(info, item)


async def _min_tier_of(info: Any, item: Any) -> Any:
    return (
        await info.context.loaders.tier_by_id.load(item.min_tier_id) if item.min_tier_id else None
    )


async def _shopper(info: Any) -> items.Shopper | None:
    return await info.context.loaders.shopper(principal_of(info))


def available(info: Any, item: Any) -> Any:
    """Whether the caller can redeem the item now, or an awaitable of it for an item not of
    the request's page."""
    page = _pages.get(info.context.loaders)
    known = page.available(item) if page is not None else None
    return known if known is not None else _available(info, item)


async def _available(info: Any, item: Any) -> bool:
    min_tier = await _min_tier_of(info, item)
    shopper = await _shopper(info)
    return items.refusal(item, _now(info), min_tier.rank if min_tier else None, shopper) is None


def member_price(info: Any, item: Any) -> Any:
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


async def _member_price(info: Any, item: Any) -> int | None:
    shopper = await _shopper(info)
    if shopper is None:
        return None
    return items.member_price(item.points_price, shopper.discount_percent)


async def catalog(
    info: Any,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    category: str | None,
    kind: Any,
    affordable_only: bool,
) -> ConnectionView:
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
    backends: Any,
    principal: Any,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    category: str | None = None,
    kind: Any = None,
    affordable_only: bool | None = None,
) -> ConnectionView:
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
    info: Any,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    member_id: str | None,
    status: Any,
) -> ConnectionView:
    wanted = decode_id(member_id, "Member", "memberId") if member_id is not None else None
    page = await _redemptions_page(info, first, after, last, before, wanted, status)
    return to_connection(page)


async def _redemptions_page(
    info: Any,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    member_id: int | None,
    status: Any,
) -> Any:
    return await orders.redemptions_page(
        principal_of(info),
        page_request(first, after, last, before),
        member_id=member_id,
        status=status,
    )


async def redemptions_of_member(
    info: Any, member: Any, first: int | None, after: str | None, last: int | None,
    before: str | None,
) -> ConnectionView:  # fmt: skip
    return to_connection(await _redemptions_page(info, first, after, last, before, member.id, None))


async def recommendations_of(info: Any, member: Any, first: int) -> list[Any]:
    return await recommendations.recommend(member, _now(info), first)


async def member_of(info: Any, redemption: Any) -> Any:
    return await info.context.loaders.member_by_id.load(redemption.member_id)


async def item_of(info: Any, redemption: Any) -> Any:
    return await info.context.loaders.item_by_id.load(redemption.item_id)


@dataclass(frozen=True, slots=True)
class GiftView:
    item_id: int
    quantity: int


def gifts_of(item_or_redemption: Any) -> list[GiftView]:
    return [GiftView(gift["item_id"], gift["quantity"]) for gift in item_or_redemption.gifts]


async def gift_item_of(info: Any, gift: GiftView) -> Any:
    return await info.context.loaders.item_by_id.load(gift.item_id)


async def upgrade_tier_of(info: Any, item: Any) -> Any:
    if item.upgrade_tier_id is None:
        return None
    return await info.context.loaders.tier_by_id.load(item.upgrade_tier_id)


async def coupons_of(info: Any, redemption: Any) -> list[Any]:
    return await info.context.loaders.coupons_by_redemption_id.load(redemption.id) or []


def shipping_address_of(redemption: Any) -> ShippingAddressView | None:
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


def item_spec(input: Any) -> items.ItemSpec:
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


@reports_user_errors
async def create_catalog_item(info: Any, input: Any) -> Payload:
    item = await items.create_item(
        principal_of(info), item_spec(input), _now(info), input.idempotency_key,
        rt=info.context.backends,
    )  # fmt: skip
    return Payload(item=item)


@reports_user_errors
async def update_catalog_item(info: Any, input: Any) -> Payload:
    item_id = decode_id(input.id, "CatalogItem", "id")
    item = await items.update_item(
        principal_of(info), item_id, item_spec(input), _now(info), input.idempotency_key,
        rt=info.context.backends,
    )  # fmt: skip
    return Payload(item=item)


@reports_user_errors
async def upload_offer_codes(info: Any, input: Any) -> Payload:
    item_id = decode_id(input.item_id, "CatalogItem", "itemId")
    item, uploaded = await coupons.upload_codes(
        principal_of(info), item_id, input.codes, _now(info), input.idempotency_key
    )
    return Payload(item=item, uploaded=uploaded)


@reports_user_errors
async def approve_catalog_item(info: Any, input: Any) -> Payload:
    item_id = decode_id(input.id, "CatalogItem", "id")
    item = await items.review_item(
        principal_of(info), item_id, None, _now(info), input.idempotency_key,
        rt=info.context.backends,
    )  # fmt: skip
    return Payload(item=item)


@reports_user_errors
async def reject_catalog_item(info: Any, input: Any) -> Payload:
    item_id = decode_id(input.id, "CatalogItem", "id")
    item = await items.review_item(
        principal_of(info), item_id, input.reason, _now(info), input.idempotency_key,
        rt=info.context.backends,
    )  # fmt: skip
    return Payload(item=item)


@reports_user_errors
async def archive_catalog_item(info: Any, input: Any) -> Payload:
    item_id = decode_id(input.id, "CatalogItem", "id")
    item = await items.archive_item(
        principal_of(info), item_id, _now(info), input.idempotency_key,
        rt=info.context.backends,
    )  # fmt: skip
    return Payload(item=item)


@reports_user_errors
async def restock_catalog_item(info: Any, input: Any) -> Payload:
    item_id = decode_id(input.id, "CatalogItem", "id")
    item = await items.restock(
        principal_of(info), item_id, input.quantity, _now(info), input.idempotency_key,
        rt=info.context.backends,
    )  # fmt: skip
    return Payload(item=item)


def _address(input: Any) -> dict[str, str] | None:
    address = input.shipping_address
    if address is None:
        return None
    return {
        "recipient": address.recipient,
        "phone": address.phone,
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "region": address.region,
        "postalCode": address.postal_code,
        "country": address.country,
    }


@reports_user_errors
async def redeem(info: Any, input: Any) -> Payload:
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
    return Payload(redemption=redeemed.redemption, member=redeemed.member)


@reports_user_errors
async def cancel_redemption(info: Any, input: Any) -> Payload:
    redemption_id = decode_id(input.redemption_id, "Redemption", "redemptionId")
    cancelled = await orders.cancel(
        info.context.backends,
        principal_of(info),
        redemption_id,
        input.reason,
        input.idempotency_key,
    )
    prime_balance(info, cancelled.member.id, cancelled.balance)
    return Payload(redemption=cancelled.redemption, member=cancelled.member)


@reports_user_errors
async def confirm_redemption_payment(info: Any, input: Any) -> Payload:
    redemption_id = decode_id(input.redemption_id, "Redemption", "redemptionId")
    redemption = await orders.confirm_payment(
        info.context.backends, principal_of(info), redemption_id, input.payment_reference,
        input.idempotency_key, _now(info),
    )  # fmt: skip
    return Payload(redemption=redemption)


@reports_user_errors
async def fulfil_redemption(info: Any, input: Any) -> Payload:
    redemption_id = decode_id(input.redemption_id, "Redemption", "redemptionId")
    redemption = await orders.fulfil(
        info.context.backends, principal_of(info), redemption_id, input.tracking_reference,
        _now(info), input.idempotency_key,
    )  # fmt: skip
    return Payload(redemption=redemption)


@reports_user_errors
async def consume_coupon(info: Any, input: Any) -> Payload:
    coupon = await coupons.consume(
        principal_of(info), input.code, input.reference, input.idempotency_key, _now(info)
    )
    return Payload(coupon=coupon)


@reports_user_errors
async def verify_coupon(info: Any, code: str) -> Payload:
    check = await coupons.verify(principal_of(info), code, _now(info))
    return Payload(coupon=check.coupon, state=check.state)


async def catalog_item_changed(info: Any, item_id: str) -> AsyncIterator[Any]:
    """Check the item first (one the caller may not see is the subscription's error), then
    stream it as it changes."""
    context = info.context
    principal = principal_of(info)
    item = await items.visible_item(principal, decode_id(item_id, "CatalogItem", "itemId"))
    if item is None:
        raise AccessDenied("No such item in your brand.")

    async def changes() -> AsyncIterator[Any]:
        async for changed in live.watch_item(context.backends, item, principal.still_valid):
            context.loaders = Loaders(context.backends)  # every change reads fresh data
            yield changed

    return changes()
