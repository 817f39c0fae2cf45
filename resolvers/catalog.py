"""Resolvers for the catalog: items, redemptions, coupons and recommendations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.catalog import coupons, items, recommendations
from domain.catalog import redemptions as orders
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import principal_of
from resolvers.ids import decode_id
from resolvers.ledger import prime_balance
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


async def min_tier_of(info: Any, item: Any) -> Any:
    return (
        await info.context.loaders.tier_by_id.load(item.min_tier_id) if item.min_tier_id else None
    )


async def _shopper(info: Any) -> items.Shopper | None:
    return await info.context.loaders.shopper(principal_of(info))


async def available(info: Any, item: Any) -> bool:
    min_tier = await min_tier_of(info, item)
    shopper = await _shopper(info)
    return items.refusal(item, _now(info), min_tier.rank if min_tier else None, shopper) is None


async def member_price(info: Any, item: Any) -> int | None:
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
        principal_of(info),
        await _shopper(info),
        page_request(first, after, last, before),
        category=category,
        kind=kind,
        affordable_only=affordable_only,
    )
    return to_connection(page)


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
    )


@reports_user_errors
async def create_catalog_item(info: Any, input: Any) -> Payload:
    item = await items.create_item(
        principal_of(info), item_spec(input), _now(info), input.idempotency_key
    )
    return Payload(item=item)


@reports_user_errors
async def update_catalog_item(info: Any, input: Any) -> Payload:
    item_id = decode_id(input.id, "CatalogItem", "id")
    item = await items.update_item(
        principal_of(info), item_id, item_spec(input), _now(info), input.idempotency_key
    )
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
        principal_of(info), item_id, None, _now(info), input.idempotency_key
    )
    return Payload(item=item)


@reports_user_errors
async def reject_catalog_item(info: Any, input: Any) -> Payload:
    item_id = decode_id(input.id, "CatalogItem", "id")
    item = await items.review_item(
        principal_of(info), item_id, input.reason, _now(info), input.idempotency_key
    )
    return Payload(item=item)


@reports_user_errors
async def archive_catalog_item(info: Any, input: Any) -> Payload:
    item_id = decode_id(input.id, "CatalogItem", "id")
    item = await items.archive_item(principal_of(info), item_id, _now(info), input.idempotency_key)
    return Payload(item=item)


@reports_user_errors
async def restock_catalog_item(info: Any, input: Any) -> Payload:
    item_id = decode_id(input.id, "CatalogItem", "id")
    item = await items.restock(
        principal_of(info), item_id, input.quantity, _now(info), input.idempotency_key
    )
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
