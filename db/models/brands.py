"""A brand, its settings and its stores."""

from __future__ import annotations

from enum import StrEnum
from typing import TypedDict

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint
from tortoise.models import Model


class TierMetric(StrEnum):
    """What a brand's tiers qualify on, over its window: points earned by purchases (less what
    refunds took back), money spent (less refunds), or purchases (not refunded in full)."""

    POINTS = "POINTS"
    SPEND = "SPEND"
    PURCHASES = "PURCHASES"


class ExpiryPolicy(StrEnum):
    """How a brand's earned points expire: N months after earning, or on a yearly clearing date."""

    ROLLING = "ROLLING"
    FIXED_DATE = "FIXED_DATE"


class JwtAlgorithm(StrEnum):
    HS256 = "HS256"
    RS256 = "RS256"


class VelocityLimitJson(TypedDict):
    """One of a brand's velocity limits, as stored (domain/velocity.py): enums by value."""

    kind: str
    window: str
    limit: int
    action: str


class StepUpJson(TypedDict):
    """A brand's step-up thresholds, as stored (domain/verification.py): `value` in money, as
    text; a threshold that is None does not apply."""

    points: int | None
    value: str | None
    flagged: bool


class Brand(Model):
    """A brand running its own points mall; every other record belongs to exactly one brand."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=120)
    timezone = fields.CharField(max_length=64, default="UTC")
    expiry_policy = fields.CharEnumField(ExpiryPolicy, max_length=16, default=ExpiryPolicy.ROLLING)
    expiry_months = fields.IntField(default=24)
    clearing_month = fields.SmallIntField(default=12)
    clearing_day = fields.SmallIntField(default=31)
    grace_days = fields.IntField(default=30)
    # Caps on what rules earn a member: per purchase, and per member per day (brand's days).
    earn_cap_per_purchase = fields.IntField(null=True)
    earn_cap_per_day = fields.IntField(null=True)
    # A purchase may be recorded up to this many days after it happened.
    purchase_max_age_days = fields.IntField(default=30)
    # Points + cash redemptions not paid within this many minutes are cancelled.
    payment_window_minutes = fields.IntField(default=30)
    # A member may cancel their own redemption within this many hours of making it.
    cancel_window_hours = fields.IntField(default=24)
    # Tiers qualify on the brand's metric (points, spend or purchases) over this many months
    # up to now; a tier's qualifying_points is its threshold in that metric.
    tier_window_months = fields.IntField(default=12)
    tier_metric = fields.CharEnumField(TierMetric, max_length=12, default=TierMetric.POINTS)
    # Member notices: the locale a missing template falls back to, the quiet hours (minutes
    # of the brand's day) in which marketing notices wait, and the days before a lot expires
    # on which its member is reminded.
    locale = fields.CharField(max_length=16, default="zh-CN")
    quiet_from_minute = fields.SmallIntField(default=21 * 60)
    quiet_until_minute = fields.SmallIntField(default=9 * 60)
    expiry_reminder_days: fields.JSONField[list[int]] = fields.JSONField(default=[30, 7])
    # What one point is worth to the brand, in its currency: liability and breakage in money.
    point_value = fields.DecimalField(max_digits=12, decimal_places=4, default=0.01)
    currency = fields.CharField(max_length=3, default="CNY")
    # No birthday bonus for a birthday set fewer than this many days ago.
    birthday_min_age_days = fields.IntField(default=30)
    # The key the brand's own systems sign task proofs with (SIGNED tasks); None until issued.
    task_secret = fields.CharField(max_length=64, null=True)
    # Velocity limits (domain/velocity.py).
    velocity_limits: fields.JSONField[list[VelocityLimitJson]] = fields.JSONField(default=list)
    # Step-up verification of redemptions (domain/verification.py); None: off.
    step_up: fields.JSONField[StepUpJson | None] = fields.JSONField(null=True)
    # A purchase's points are held as pending for this many days (its return window) before
    # they can be spent; 0: available at once.
    pending_days = fields.IntField(default=0)
    # The brand's own token verification key; brands without one use the deployment's secret.
    jwt_algorithm = fields.CharEnumField(JwtAlgorithm, max_length=8, null=True)
    jwt_key = fields.TextField(null=True)
    # Raised in the same transaction as any change to the brand's earning rules or tiers: what
    # every earn reads of them is kept in-process per version (domain/rules/config.py).
    earning_version = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "brand"
        constraints = (
            CheckConstraint(check="expiry_months > 0", name="brand_expiry_months_positive"),
            CheckConstraint(check="clearing_month BETWEEN 1 AND 12", name="brand_clearing_month"),
            CheckConstraint(check="clearing_day BETWEEN 1 AND 31", name="brand_clearing_day"),
            CheckConstraint(check="grace_days >= 0", name="brand_grace_days"),
            CheckConstraint(
                check="earn_cap_per_purchase IS NULL OR earn_cap_per_purchase >= 0",
                name="brand_earn_cap_per_purchase",
            ),
            CheckConstraint(
                check="earn_cap_per_day IS NULL OR earn_cap_per_day >= 0",
                name="brand_earn_cap_per_day",
            ),
            CheckConstraint(
                check="purchase_max_age_days BETWEEN 1 AND 365", name="brand_purchase_max_age"
            ),
            CheckConstraint(check="tier_window_months > 0", name="brand_tier_window"),
            CheckConstraint(
                check="quiet_from_minute BETWEEN 0 AND 1439 AND quiet_until_minute BETWEEN 0 "
                "AND 1439",
                name="brand_quiet_hours",
            ),
        )


class Store(Model):
    """A shop of the brand; points earned in one store are spent in any other."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="stores", on_delete=fields.CASCADE
    )
    brand_id: int
    code = fields.CharField(max_length=32)
    name = fields.CharField(max_length=120)
    created_at = fields.DatetimeField(auto_now_add=True)
    # An archived store takes no more purchases and is left out of the brand's list; its code
    # stays taken and its history (purchases, entries) keeps pointing at it.
    archived_at = fields.DatetimeField(null=True)

    class Meta:
        table = "store"
        constraints = (UniqueConstraint(fields=("brand_id", "code"), name="store_brand_code"),)
