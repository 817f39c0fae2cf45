"""Member notices: the notices, the brand's gateways, switches and templates, their deliveries,
and the reminders already sent."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint
from tortoise.models import Model

from db.models.webhooks import DeliveryStatus

if TYPE_CHECKING:
    from db.models.brands import Brand
    from db.models.flash_sales import FlashSale
    from db.models.ledger import Lot
    from db.models.members import Member


class NoticeKind(StrEnum):
    """What a notice tells a member (domain/notices/kinds.py holds what each says)."""

    POINTS_EARNED = "POINTS_EARNED"
    POINTS_SPENT = "POINTS_SPENT"
    POINTS_ADJUSTED = "POINTS_ADJUSTED"
    POINTS_EXPIRED = "POINTS_EXPIRED"
    POINTS_EXPIRING = "POINTS_EXPIRING"
    TIER_UP = "TIER_UP"
    TIER_DOWN = "TIER_DOWN"
    TIER_LAPSING = "TIER_LAPSING"
    REDEMPTION_CONFIRMED = "REDEMPTION_CONFIRMED"
    REDEMPTION_SHIPPED = "REDEMPTION_SHIPPED"
    REDEMPTION_CANCELLED = "REDEMPTION_CANCELLED"
    PAYMENT_WINDOW_CLOSING = "PAYMENT_WINDOW_CLOSING"
    COUPON_EXPIRING = "COUPON_EXPIRING"
    BIRTHDAY_GIFT = "BIRTHDAY_GIFT"
    FLASH_SALE_STARTING = "FLASH_SALE_STARTING"
    VERIFICATION_CODE = "VERIFICATION_CODE"


class NoticeChannel(StrEnum):
    """The in-app inbox, and the brand's gateways."""

    INBOX = "INBOX"
    SMS = "SMS"
    WECHAT = "WECHAT"
    PUSH = "PUSH"
    EMAIL = "EMAIL"


class Notice(Model):
    """One thing told to one member, once: its key (member, kind, subject, threshold) is unique
    in the brand, so whatever writes it twice writes it once. Rendered when read or sent."""

    id = fields.BigIntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="notices", on_delete=fields.CASCADE
    )
    brand_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="notices", on_delete=fields.CASCADE
    )
    member_id: int
    kind = fields.CharEnumField(NoticeKind, max_length=32)
    dedupe_key = fields.CharField(max_length=200)
    variables: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    marketing = fields.BooleanField(default=False)
    in_inbox = fields.BooleanField(default=True)  # False: the brand switched the INBOX off
    created_at = fields.DatetimeField()
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notice"
        indexes = (("member_id", "id"),)
        constraints = (
            UniqueConstraint(fields=("brand_id", "dedupe_key"), name="notice_brand_dedupe_key"),
        )


class NoticeGateway(Model):
    """The brand's own gateway for one channel: each notice is posted to it, signed with the
    gateway's secret, through the same retries as partner webhooks."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="notice_gateways", on_delete=fields.CASCADE
    )
    brand_id: int
    channel = fields.CharEnumField(NoticeChannel, max_length=8)
    url = fields.CharField(max_length=500)
    secret = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    disabled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notice_gateway"
        constraints = (
            UniqueConstraint(fields=("brand_id", "channel"), name="notice_gateway_brand_channel"),
        )


class NoticeDelivery(Model):
    """One notice to one gateway: retried with growing delays until delivered or dead."""

    id = fields.BigIntField(primary_key=True)
    notice: fields.ForeignKeyRelation[Notice] = fields.ForeignKeyField(
        "models.Notice", related_name="deliveries", on_delete=fields.CASCADE
    )
    notice_id: int
    gateway: fields.ForeignKeyRelation[NoticeGateway] = fields.ForeignKeyField(
        "models.NoticeGateway", related_name="deliveries", on_delete=fields.CASCADE
    )
    gateway_id: int
    status = fields.CharEnumField(DeliveryStatus, max_length=12, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()  # after the quiet hours, for marketing notices
    last_status_code = fields.IntField(null=True)
    last_error: str | None = fields.TextField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "notice_delivery"
        indexes = (("status", "next_attempt_at"),)
        constraints = (
            UniqueConstraint(fields=("notice_id", "gateway_id"), name="notice_delivery_gateway"),
        )


class NoticeSwitch(Model):
    """A kind of notice the brand switched off on a channel (on everywhere unless listed)."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="notice_switches", on_delete=fields.CASCADE
    )
    brand_id: int
    kind = fields.CharEnumField(NoticeKind, max_length=32)
    channel = fields.CharEnumField(NoticeChannel, max_length=8)

    class Meta:
        table = "notice_switch"
        constraints = (
            UniqueConstraint(fields=("brand_id", "kind", "channel"), name="notice_switch_key"),
        )


class NoticeTemplate(Model):
    """The brand's own wording of a kind on a channel in a locale (built-in ones otherwise)."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="notice_templates", on_delete=fields.CASCADE
    )
    brand_id: int
    kind = fields.CharEnumField(NoticeKind, max_length=32)
    channel = fields.CharEnumField(NoticeChannel, max_length=8)
    locale = fields.CharField(max_length=16)
    text = fields.TextField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "notice_template"
        constraints = (
            UniqueConstraint(
                fields=("brand_id", "kind", "channel", "locale"), name="notice_template_key"
            ),
        )


class LotReminder(Model):
    """A lot whose member was reminded that it expires, at one threshold (days before): once."""

    id = fields.BigIntField(primary_key=True)
    lot: fields.ForeignKeyRelation[Lot] = fields.ForeignKeyField(
        "models.Lot", related_name="reminders", on_delete=fields.CASCADE, db_constraint=True
    )
    lot_id: int
    days_before = fields.SmallIntField()

    class Meta:
        table = "lot_reminder"
        constraints = (UniqueConstraint(fields=("lot_id", "days_before"), name="lot_reminder_key"),)


class FlashSaleReminder(Model):
    """A member who asked to be told when a flash sale starts."""

    id = fields.BigIntField(primary_key=True)
    sale: fields.ForeignKeyRelation[FlashSale] = fields.ForeignKeyField(
        "models.FlashSale", related_name="reminders", on_delete=fields.CASCADE
    )
    sale_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="flash_sale_reminders", on_delete=fields.CASCADE
    )
    member_id: int
    created_at = fields.DatetimeField()

    class Meta:
        table = "flash_sale_reminder"
        constraints = (
            UniqueConstraint(fields=("sale_id", "member_id"), name="flash_sale_reminder_key"),
        )
