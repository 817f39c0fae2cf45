"""Tortoise models: PostgreSQL is the record of everything the points mall knows."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint
from tortoise.models import Model


class ExpiryPolicy(StrEnum):
    """How a brand's earned points expire: N months after earning, or on a yearly clearing date."""

    ROLLING = "ROLLING"
    FIXED_DATE = "FIXED_DATE"


class JwtAlgorithm(StrEnum):
    HS256 = "HS256"
    RS256 = "RS256"


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
    # The brand's own token verification key; brands without one use the deployment's secret.
    jwt_algorithm = fields.CharEnumField(JwtAlgorithm, max_length=8, null=True)
    jwt_key = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "brand"
        constraints = (
            CheckConstraint(check="expiry_months > 0", name="brand_expiry_months_positive"),
            CheckConstraint(check="clearing_month BETWEEN 1 AND 12", name="brand_clearing_month"),
            CheckConstraint(check="clearing_day BETWEEN 1 AND 31", name="brand_clearing_day"),
            CheckConstraint(check="grace_days >= 0", name="brand_grace_days"),
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

    class Meta:
        table = "store"
        constraints = (UniqueConstraint(fields=("brand_id", "code"), name="store_brand_code"),)


class Tier(Model):
    """A membership tier; rank 0 is the base tier every brand gets when it is created."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="tiers", on_delete=fields.CASCADE
    )
    brand_id: int
    code = fields.CharField(max_length=32)
    name = fields.CharField(max_length=120)
    rank = fields.IntField()
    qualifying_points = fields.IntField(default=0)
    earn_multiplier = fields.DecimalField(max_digits=6, decimal_places=2, default=1)
    discount_percent = fields.IntField(default=0)
    birthday_bonus_points = fields.IntField(default=0)
    flash_sale_early_access_minutes = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "tier"
        constraints = (
            UniqueConstraint(fields=("brand_id", "code"), name="tier_brand_code"),
            UniqueConstraint(fields=("brand_id", "rank"), name="tier_brand_rank"),
            CheckConstraint(check="rank >= 0", name="tier_rank"),
            CheckConstraint(check="qualifying_points >= 0", name="tier_qualifying_points"),
            CheckConstraint(check="earn_multiplier >= 0", name="tier_earn_multiplier"),
            CheckConstraint(check="discount_percent BETWEEN 0 AND 100", name="tier_discount"),
            CheckConstraint(check="birthday_bonus_points >= 0", name="tier_birthday_bonus"),
            CheckConstraint(check="flash_sale_early_access_minutes >= 0", name="tier_early_access"),
        )


class IdempotencyRecord(Model):
    """The first outcome of a keyed call, scoped to (brand, principal, operation, key)."""

    id = fields.BigIntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="idempotency_records", on_delete=fields.CASCADE
    )
    brand_id: int
    principal = fields.CharField(max_length=200)
    operation = fields.CharField(max_length=64)
    key = fields.CharField(max_length=200)
    request_hash = fields.CharField(max_length=64)
    outcome = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "idempotency_record"
        constraints = (
            UniqueConstraint(
                fields=("brand_id", "principal", "operation", "key"), name="idempotency_scope"
            ),
        )
