"""The catalog: items, redemptions, coupons and recommendations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from domain import records
from domain.catalog import coupons, items, redemptions
from domain.partners import Scope
from resolvers import catalog as resolve
from resolvers import flash_sales as resolve_flash_sales
from resolvers.connections import ConnectionView
from resolvers.context import Info
from schema.brands import Tier
from schema.errors import UserError
from schema.permissions import (
    HasBrand,
    IsBrandAdmin,
    IsBrandStaff,
    IsMember,
    MemberOrStaff,
    ReadsMembers,
    or_partner_with,
    staff_only,
    staff_or_partner_with,
)
from schema.prechecks import PLANNED, PRECHECK, Precheck
from schema.relay import Connection, MemberRef, Node

if TYPE_CHECKING:
    from schema.flash_sales import FlashSale

FlashSaleRef = Annotated["FlashSale", strawberry.lazy("schema.flash_sales")]

CatalogItemKind = items.ItemKind
strawberry.enum(CatalogItemKind, name="CatalogItemKind")
CatalogItemStatus = items.ItemStatus
strawberry.enum(CatalogItemStatus, name="CatalogItemStatus")
RedemptionStatus = redemptions.RedemptionStatus
strawberry.enum(
    RedemptionStatus,
    name="RedemptionStatus",
    description="AWAITING_PAYMENT (points + cash: points taken, waiting for the brand's "
    "checkout to confirm the cash payment; cancelled when the payment window passes) -> "
    "CONFIRMED -> FULFILLED (shipped, or every coupon used); CONFIRMED or AWAITING_PAYMENT -> "
    "CANCELLED (points and stock given back).",
)


@strawberry.type
class CatalogItem(Node):
    sku: str
    name: str
    description: str
    kind: CatalogItemKind
    status: CatalogItemStatus
    category: str
    points_price: int
    cash_price: Decimal = strawberry.field(
        description="Cash paid on top of the points (points + cash items); zero for points-only "
        "items."
    )
    stock: int | None = strawberry.field(description="Null: unlimited.")
    per_member_limit: int | None
    image_urls: list[str]
    available_from: datetime | None
    available_until: datetime | None
    coupon_value: Decimal = strawberry.field(
        description="What one coupon or voucher of this item is worth at the checkout."
    )
    coupon_valid_days: int | None
    rejection_reason: str | None = strawberry.field(
        description="Why an admin rejected a partner's offer (status REJECTED)."
    )

    # These three answer at once for the items of a catalog page (which knows the caller and
    # the tiers already); otherwise they return an awaitable, which graphql-core awaits. A
    # planned catalog document reads their values from the answer's items (PLANNED).
    @strawberry.field(metadata={PLANNED: True}, graphql_type=Tier | None)
    def min_tier(
        self, info: Info, item: strawberry.Parent[records.CatalogItem]
    ) -> records.Tier | Awaitable[records.Tier | None] | None:
        return resolve.min_tier_of(info, item)

    @strawberry.field(
        description="Whether the caller can redeem it now: active, in its window, in stock, and "
        "for a member, their tier reaches its minimum.",
        metadata={PLANNED: True},
        graphql_type=bool,
    )
    def available(
        self, info: Info, item: strawberry.Parent[records.CatalogItem]
    ) -> bool | Awaitable[bool]:
        return resolve.available(info, item)

    @strawberry.field(
        description="The points the calling member pays: the list price less their tier's "
        "discount, rounded down; null for callers who are not members.",
        metadata={PLANNED: True},
        graphql_type=int | None,
    )
    def member_price(
        self, info: Info, item: strawberry.Parent[records.CatalogItem]
    ) -> int | Awaitable[int | None] | None:
        return resolve.member_price(info, item)

    upgrade_months: int | None = strawberry.field(
        description="A TIER_UPGRADE: the months upgradeTier lasts (from the end of the same "
        "upgrade still running)."
    )
    tag_codes: list[str] | None = strawberry.field(
        description="Members with any of these tags only; empty: every member (staff only).",
        extensions=staff_only(),
    )

    @strawberry.field(
        description="A TIER_UPGRADE: the tier it moves the member up to; no tier evaluation "
        "takes them below it for upgradeMonths.",
        graphql_type=Tier | None,
    )
    async def upgrade_tier(
        self, info: Info, item: strawberry.Parent[records.CatalogItem]
    ) -> records.Tier | None:
        return await resolve.upgrade_tier_of(info, item)

    @strawberry.field(
        description="Gift items that come with each unit (each with its own stock).",
        graphql_type=list["CatalogItemGift"],
    )
    def gifts(self, item: strawberry.Parent[records.CatalogItem]) -> list[resolve.GiftView]:
        return resolve.gifts_of(item)


@strawberry.type(description="A gift item and how many of it come along.")
class CatalogItemGift:
    quantity: int

    @strawberry.field(graphql_type=CatalogItem)
    async def item(
        self, info: Info, gift: strawberry.Parent[resolve.GiftView]
    ) -> records.CatalogItem | None:
        return await resolve.gift_item_of(info, gift)


@strawberry.type
class Coupon:
    code: str
    value: Decimal
    expires_at: datetime | None
    used_at: datetime | None
    voided_at: datetime | None = strawberry.field(
        description="Set when its redemption was cancelled: the code no longer works."
    )


@strawberry.type
class ShippingAddress:
    recipient: str
    phone: str
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str | None
    country: str


@strawberry.input
class ShippingAddressInput:
    recipient: str
    phone: str
    line1: str
    line2: str | None = None
    city: str
    region: str | None = None
    postal_code: str | None = None
    country: str


@strawberry.type
class Redemption(Node):
    quantity: int
    points_spent: int
    cash_amount: Decimal
    status: RedemptionStatus
    created_at: datetime
    payment_due_at: datetime | None
    confirmed_at: datetime | None
    fulfilled_at: datetime | None
    tracking_reference: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    payment_reference: str | None = strawberry.field(
        description="The checkout's payment reference (staff only).", extensions=staff_only()
    )

    @strawberry.field(graphql_type=MemberRef)
    async def member(
        self, info: Info, redemption: strawberry.Parent[records.Redemption]
    ) -> records.Member | None:
        return await resolve.member_of(info, redemption)

    @strawberry.field(graphql_type=CatalogItem)
    async def item(
        self, info: Info, redemption: strawberry.Parent[records.Redemption]
    ) -> records.CatalogItem | None:
        return await resolve.item_of(info, redemption)

    @strawberry.field(
        description="The flash sale it was bought in, if any.", graphql_type=FlashSaleRef | None
    )
    async def flash_sale(
        self, info: Info, redemption: strawberry.Parent[records.Redemption]
    ) -> records.FlashSale | None:
        return await resolve_flash_sales.flash_sale_of(info, redemption)

    @strawberry.field(
        description="The first coupon or voucher issued (see coupons).", graphql_type=Coupon | None
    )
    async def coupon(
        self, info: Info, redemption: strawberry.Parent[records.Redemption]
    ) -> records.Coupon | None:
        issued = await resolve.coupons_of(info, redemption)
        return issued[0] if issued else None

    @strawberry.field(
        description="One coupon or voucher per unit, once confirmed.", graphql_type=list[Coupon]
    )
    async def coupons(
        self, info: Info, redemption: strawberry.Parent[records.Redemption]
    ) -> list[records.Coupon]:
        return await resolve.coupons_of(info, redemption)

    @strawberry.field(graphql_type=ShippingAddress | None)
    def shipping_address(
        self, redemption: strawberry.Parent[records.Redemption]
    ) -> resolve.ShippingAddressView | None:
        return resolve.shipping_address_of(redemption)

    @strawberry.field(
        description="The gift items it took (a cancel gives them back).",
        graphql_type=list[CatalogItemGift],
    )
    def gifts(self, redemption: strawberry.Parent[records.Redemption]) -> list[resolve.GiftView]:
        return resolve.gifts_of(redemption)


@strawberry.type
class Recommendation:
    item: CatalogItem
    reason: str = strawberry.field(
        description='Why this item, in words a member understands ("You often buy beauty").'
    )


@strawberry.input
class CreateCatalogItemInput:
    sku: str
    name: str
    description: str = ""
    kind: CatalogItemKind
    category: str
    points_price: int
    cash_price: Decimal = Decimal("0")
    stock: int | None = strawberry.field(default=None, description="Null: unlimited.")
    per_member_limit: int | None = None
    min_tier_id: strawberry.ID | None = None
    available_from: datetime | None = None
    available_until: datetime | None = None
    image_urls: list[str] | None = None
    coupon_value: Decimal = Decimal("0")
    coupon_valid_days: int | None = None
    upgrade_tier_id: strawberry.ID | None = strawberry.field(
        default=None, description="A TIER_UPGRADE's tier (required for one, refused otherwise)."
    )
    upgrade_months: int | None = strawberry.field(
        default=None, description="A TIER_UPGRADE's months, 1 to 36 (points only)."
    )
    gifts: list[CatalogItemGiftInput] | None = strawberry.field(
        default=None,
        description="Up to 5 of the brand's points-only physical items, coupons or vouchers, "
        "each with how many come with one unit.",
    )
    tag_codes: list[str] | None = strawberry.field(
        default=None,
        description="Members with any of these tags only (tagMembers): no one else sees it.",
    )
    idempotency_key: str


@strawberry.input(description="An item's new settings, replacing all of them; its kind stays.")
class UpdateCatalogItemInput(CreateCatalogItemInput):
    id: strawberry.ID


@strawberry.input
class CatalogItemGiftInput:
    item_id: strawberry.ID
    quantity: int = 1


@strawberry.input
class ArchiveCatalogItemInput:
    id: strawberry.ID
    idempotency_key: str


@strawberry.input
class UploadOfferCodesInput:
    item_id: strawberry.ID
    codes: list[str] = strawberry.field(
        description="Up to 10,000 codes, unique among the partner's own (other partners' codes "
        "do not matter)."
    )
    idempotency_key: str


@strawberry.type
class UploadOfferCodesPayload:
    item: CatalogItem | None
    uploaded: int | None
    user_errors: list[UserError]


@strawberry.input
class ApproveCatalogItemInput:
    id: strawberry.ID
    idempotency_key: str


@strawberry.input
class RejectCatalogItemInput:
    id: strawberry.ID
    reason: str
    idempotency_key: str


@strawberry.input
class RestockCatalogItemInput:
    id: strawberry.ID
    quantity: int
    idempotency_key: str


@strawberry.type
class CatalogItemPayload:
    item: CatalogItem | None
    user_errors: list[UserError]


@strawberry.input
class RedeemInput:
    item_id: strawberry.ID
    quantity: int = 1
    idempotency_key: str
    shipping_address: ShippingAddressInput | None = strawberry.field(
        default=None,
        description="For physical items; omitted: the address of the member's last one.",
    )
    verification_code: str | None = strawberry.field(
        default=None,
        description="The one-time code (requestVerification) a redemption asked for with "
        "VERIFICATION_REQUIRED.",
    )


@strawberry.type
class RedeemPayload:
    redemption: Redemption | None
    member: MemberRef | None
    user_errors: list[UserError]


@strawberry.input
class CancelRedemptionInput:
    redemption_id: strawberry.ID
    reason: str
    idempotency_key: str


@strawberry.type
class CancelRedemptionPayload:
    redemption: Redemption | None
    member: MemberRef | None
    user_errors: list[UserError]


@strawberry.input
class ConfirmRedemptionPaymentInput:
    redemption_id: strawberry.ID
    payment_reference: str
    idempotency_key: str


@strawberry.input
class FulfilRedemptionInput:
    redemption_id: strawberry.ID
    tracking_reference: str
    idempotency_key: str


@strawberry.type
class RedemptionPayload:
    redemption: Redemption | None
    user_errors: list[UserError]


@strawberry.input
class ConsumeCouponInput:
    code: str
    reference: str = strawberry.field(description="The checkout's order or receipt number.")
    idempotency_key: str


@strawberry.type
class CouponPayload:
    coupon: Coupon | None
    user_errors: list[UserError]


CouponState = coupons.CouponState
strawberry.enum(CouponState, name="CouponState")


@strawberry.type
class CouponCheckPayload:
    coupon: Coupon | None
    state: CouponState | None
    user_errors: list[UserError]


@strawberry.type
class CatalogQueries:
    @strawberry.field(
        permission_classes=[HasBrand],
        description="The brand's active items, oldest first. affordableOnly keeps what the "
        "calling member can pay for with their points now.",
        # A document of this field alone is answered without execution (schema/prechecks.py).
        metadata={PRECHECK: Precheck(resolve.answer_catalog, assumes=(HasBrand,), answers=True)},
        graphql_type=Connection[CatalogItem],
    )
    async def catalog(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        category: str | None = None,
        kind: CatalogItemKind | None = None,
        affordable_only: bool | None = None,
    ) -> ConnectionView[records.CatalogItem]:
        return await resolve.catalog(
            info, first, after, last, before, category, kind, bool(affordable_only)
        )

    @strawberry.field(
        permission_classes=[or_partner_with(ReadsMembers, Scope.OFFERS_WRITE)],
        description="The brand's redemptions (or one member's), newest first; a partner sees "
        "those of its own offers.",
        graphql_type=Connection[Redemption],
    )
    async def redemptions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        member_id: strawberry.ID | None = None,
        status: RedemptionStatus | None = None,
    ) -> ConnectionView[records.Redemption]:
        return await resolve.redemptions(info, first, after, last, before, member_id, status)

    @strawberry.field(
        permission_classes=[staff_or_partner_with(Scope.COUPONS_VERIFY)],
        description="What the checkout learns of a coupon code before consuming it; a partner "
        "checks only the codes of its own offers. Partners' codes may coincide: staff get the "
        "brand's own coupon, else the one partner's; CONFLICT when several partners' have it.",
        graphql_type=CouponCheckPayload,
    )
    async def verify_coupon(self, info: Info, code: str) -> resolve.CouponCheckPayloadView:
        return await resolve.verify_coupon(info, code)


@strawberry.type
class CatalogMutations:
    @strawberry.mutation(
        permission_classes=[or_partner_with(IsBrandAdmin, Scope.OFFERS_WRITE)],
        description="Admins add items; a partner (offers:write) publishes a PARTNER_OFFER, "
        "PENDING_APPROVAL until an admin approves it.",
        graphql_type=CatalogItemPayload,
    )
    async def create_catalog_item(
        self, info: Info, input: CreateCatalogItemInput
    ) -> resolve.CatalogItemPayloadView:
        return await resolve.create_catalog_item(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=CatalogItemPayload)
    async def update_catalog_item(
        self, info: Info, input: UpdateCatalogItemInput
    ) -> resolve.CatalogItemPayloadView:
        return await resolve.update_catalog_item(info, input)

    @strawberry.mutation(
        permission_classes=[or_partner_with(IsBrandAdmin, Scope.OFFERS_WRITE)],
        description="A partner's own codes for its offer: each redemption then takes one.",
        graphql_type=UploadOfferCodesPayload,
    )
    async def upload_offer_codes(
        self, info: Info, input: UploadOfferCodesInput
    ) -> resolve.UploadOfferCodesPayloadView:
        return await resolve.upload_offer_codes(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=CatalogItemPayload)
    async def approve_catalog_item(
        self, info: Info, input: ApproveCatalogItemInput
    ) -> resolve.CatalogItemPayloadView:
        return await resolve.approve_catalog_item(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=CatalogItemPayload)
    async def reject_catalog_item(
        self, info: Info, input: RejectCatalogItemInput
    ) -> resolve.CatalogItemPayloadView:
        return await resolve.reject_catalog_item(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=CatalogItemPayload)
    async def archive_catalog_item(
        self, info: Info, input: ArchiveCatalogItemInput
    ) -> resolve.CatalogItemPayloadView:
        return await resolve.archive_catalog_item(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=CatalogItemPayload)
    async def restock_catalog_item(
        self, info: Info, input: RestockCatalogItemInput
    ) -> resolve.CatalogItemPayloadView:
        return await resolve.restock_catalog_item(info, input)

    @strawberry.mutation(permission_classes=[IsMember], graphql_type=RedeemPayload)
    async def redeem(self, info: Info, input: RedeemInput) -> resolve.RedeemedPayloadView:
        return await resolve.redeem(info, input)

    @strawberry.mutation(permission_classes=[MemberOrStaff], graphql_type=CancelRedemptionPayload)
    async def cancel_redemption(
        self, info: Info, input: CancelRedemptionInput
    ) -> resolve.RedeemedPayloadView:
        return await resolve.cancel_redemption(info, input)

    @strawberry.mutation(permission_classes=[IsBrandStaff], graphql_type=RedemptionPayload)
    async def confirm_redemption_payment(
        self, info: Info, input: ConfirmRedemptionPaymentInput
    ) -> resolve.RedemptionPayloadView:
        return await resolve.confirm_redemption_payment(info, input)

    @strawberry.mutation(permission_classes=[IsBrandStaff], graphql_type=RedemptionPayload)
    async def fulfil_redemption(
        self, info: Info, input: FulfilRedemptionInput
    ) -> resolve.RedemptionPayloadView:
        return await resolve.fulfil_redemption(info, input)

    @strawberry.mutation(
        permission_classes=[staff_or_partner_with(Scope.COUPONS_VERIFY)],
        description="Use a coupon at the checkout, exactly once; the code is found as "
        "verifyCoupon finds it.",
        graphql_type=CouponPayload,
    )
    async def consume_coupon(
        self, info: Info, input: ConsumeCouponInput
    ) -> resolve.CouponPayloadView:
        return await resolve.consume_coupon(info, input)


@strawberry.type
class CatalogSubscriptions:
    @strawberry.subscription(
        permission_classes=[HasBrand],
        description="The item (stock, availability, prices) now, then as it changes: after "
        "redemptions, cancellations and admins' changes, at most about ten updates a second; "
        "ends once it is archived. An item the caller may not see is FORBIDDEN.",
        graphql_type=CatalogItem,
    )
    async def catalog_item_changed(
        self, info: Info, item_id: strawberry.ID
    ) -> AsyncIterator[records.CatalogItem]:
        return await resolve.catalog_item_changed(info, item_id)
