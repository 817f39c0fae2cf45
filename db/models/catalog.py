"""The catalog, members' redemptions of its items, and their coupons."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, TypedDict

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from db.models.brands import Brand
    from db.models.flash_sales import FlashSale
    from db.models.ledger import LedgerEntry
    from db.models.members import Member
    from db.models.partners import Partner
    from db.models.tiers import Tier


class GiftJson(TypedDict):
    """Gift items, as stored: of an item, those that come with each unit; of a redemption,
    those it took in all (domain/catalog/gifts.py)."""

    item_id: int
    quantity: int


class ItemKind(StrEnum):
    PHYSICAL = "PHYSICAL"
    COUPON = "COUPON"
    CASH_VOUCHER = "CASH_VOUCHER"
    PARTNER_OFFER = "PARTNER_OFFER"
    TIER_UPGRADE = "TIER_UPGRADE"  # the member's tier, for a number of months


class ItemStatus(StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    ACTIVE = "ACTIVE"
    REJECTED = "REJECTED"
    ARCHIVED = "ARCHIVED"


class CatalogItem(Model):
    """Something members spend points on; its stock never goes below zero (a CHECK)."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="catalog_items", on_delete=fields.CASCADE
    )
    brand_id: int
    sku = fields.CharField(max_length=64)
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    kind = fields.CharEnumField(ItemKind, max_length=16)
    status = fields.CharEnumField(ItemStatus, max_length=16, default=ItemStatus.ACTIVE)
    category = fields.CharField(max_length=64)
    points_price = fields.IntField()
    cash_price = fields.DecimalField(max_digits=12, decimal_places=2, default=0)
    stock = fields.IntField(null=True)  # null: unlimited
    per_member_limit = fields.IntField(null=True)
    min_tier: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="catalog_items", null=True, on_delete=fields.RESTRICT
    )
    min_tier_id: int | None
    available_from = fields.DatetimeField(null=True)
    available_until = fields.DatetimeField(null=True)
    image_urls: fields.JSONField[list[str]] = fields.JSONField(default=list)
    # What one coupon or voucher of this item is worth at the checkout, and how long it lasts.
    coupon_value = fields.DecimalField(max_digits=12, decimal_places=2, default=0)
    coupon_valid_days = fields.IntField(null=True)
    redeemed_count = fields.IntField(default=0)  # popularity, for recommendations
    # A partner's offer: published under its API key, shown once the brand's admin approves it.
    partner: fields.ForeignKeyNullableRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="offers", null=True, on_delete=fields.RESTRICT
    )
    partner_id: int | None
    rejection_reason = fields.TextField(null=True)
    # Codes come from a pool the partner uploaded (else we generate them).
    code_pool = fields.BooleanField(default=False)
    # A TIER_UPGRADE: the tier it moves the member up to, and for how many months.
    upgrade_tier: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="upgrade_items", null=True, on_delete=fields.RESTRICT
    )
    upgrade_tier_id: int | None
    upgrade_months = fields.IntField(null=True)
    # Gift items that come with each unit.
    gifts: fields.JSONField[list[GiftJson]] = fields.JSONField(default=list)
    # Members with any of these tags only (domain/segments.py); empty: every member.
    tag_codes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "catalog_item"
        indexes = (("brand_id", "status", "category"),)
        constraints = (
            UniqueConstraint(fields=("brand_id", "sku"), name="catalog_item_brand_sku"),
            CheckConstraint(check="stock IS NULL OR stock >= 0", name="catalog_item_stock"),
            CheckConstraint(check="points_price >= 0", name="catalog_item_points_price"),
            CheckConstraint(check="cash_price >= 0", name="catalog_item_cash_price"),
            CheckConstraint(
                check="available_from IS NULL OR available_until IS NULL "
                "OR available_from < available_until",
                name="catalog_item_window",
            ),
        )


class RedemptionStatus(StrEnum):
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    CONFIRMED = "CONFIRMED"
    FULFILLED = "FULFILLED"
    CANCELLED = "CANCELLED"


class Redemption(Model):
    """A member's order of a catalog item, paid in points (and cash for points + cash items)."""

    id = fields.BigIntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="redemptions", on_delete=fields.CASCADE
    )
    brand_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="redemptions", on_delete=fields.CASCADE
    )
    member_id: int
    item: fields.ForeignKeyRelation[CatalogItem] = fields.ForeignKeyField(
        "models.CatalogItem", related_name="redemptions", on_delete=fields.RESTRICT
    )
    item_id: int
    flash_sale: fields.ForeignKeyNullableRelation[FlashSale] = fields.ForeignKeyField(
        "models.FlashSale", related_name="redemptions", null=True, on_delete=fields.RESTRICT
    )
    flash_sale_id: int | None
    # The Redis hold a flash-sale redemption confirmed: one redemption per hold at most.
    reservation_id = fields.CharField(max_length=64, null=True, unique=True)
    quantity = fields.IntField()
    points_spent = fields.IntField()
    cash_amount = fields.DecimalField(max_digits=12, decimal_places=2, default=0)
    status = fields.CharEnumField(RedemptionStatus, max_length=16)
    redeem_entry: fields.ForeignKeyNullableRelation[LedgerEntry] = fields.ForeignKeyField(
        "models.LedgerEntry", related_name="redemptions", null=True, on_delete=fields.SET_NULL
    )
    redeem_entry_id: int | None
    payment_due_at = fields.DatetimeField(null=True)
    payment_reference = fields.CharField(max_length=100, null=True)
    shipping_address: fields.JSONField[dict[str, str] | None] = fields.JSONField(null=True)
    # The gift items it took in all: what a cancel gives back.
    gifts: fields.JSONField[list[GiftJson]] = fields.JSONField(default=list)
    tracking_reference = fields.CharField(max_length=100, null=True)
    confirmed_at = fields.DatetimeField(null=True)
    fulfilled_at = fields.DatetimeField(null=True)
    cancelled_at = fields.DatetimeField(null=True)
    cancel_reason = fields.TextField(null=True)
    cancelled_by = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "redemption"
        indexes = (("member_id", "item_id"), ("status", "payment_due_at"))
        constraints = (
            CheckConstraint(check="quantity > 0", name="redemption_quantity_positive"),
            CheckConstraint(check="points_spent >= 0", name="redemption_points_spent"),
        )


class Coupon(Model):
    """One unit of a coupon, voucher or partner-offer redemption, consumed at most once. A code
    is unique among its owner's: the partner whose offer it is, or the brand for its own items
    (one partner's codes say nothing of another's). A partner's uploaded codes wait in the
    offer's pool (no redemption yet) until a redemption takes them."""

    id = fields.BigIntField(primary_key=True)
    redemption: fields.ForeignKeyNullableRelation[Redemption] = fields.ForeignKeyField(
        "models.Redemption", related_name="coupons", null=True, on_delete=fields.CASCADE,
        db_index=True,
    )  # fmt: skip
    redemption_id: int | None
    item: fields.ForeignKeyNullableRelation[CatalogItem] = fields.ForeignKeyField(
        "models.CatalogItem", related_name="coupons", null=True, on_delete=fields.CASCADE,
        db_index=True,
    )  # fmt: skip
    item_id: int | None
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="coupons", on_delete=fields.CASCADE
    )
    brand_id: int
    # The owner: the item's partner, None for the brand's own items (migration 0015 makes
    # (brand, partner, code) unique, NULLS NOT DISTINCT).
    partner: fields.ForeignKeyNullableRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="coupons", null=True, on_delete=fields.RESTRICT
    )
    partner_id: int | None
    code = fields.CharField(max_length=32)
    value = fields.DecimalField(max_digits=12, decimal_places=2)
    expires_at = fields.DatetimeField(null=True)
    used_at = fields.DatetimeField(null=True)
    used_by = fields.CharField(max_length=200, null=True)
    used_reference = fields.CharField(max_length=100, null=True)
    voided_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "coupon"
