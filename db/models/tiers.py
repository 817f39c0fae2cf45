"""Membership tiers and members' moves between them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from db.models.brands import Brand
    from db.models.members import Member


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


class TierChange(Model):
    """A member's move from one tier to another: at once on an upgrade, at evaluation down."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="tier_changes", on_delete=fields.CASCADE, db_index=True
    )
    member_id: int
    previous: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="changes_from", null=True, on_delete=fields.SET_NULL
    )
    previous_id: int | None
    current: fields.ForeignKeyRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="changes_to", on_delete=fields.RESTRICT
    )
    current_id: int
    qualifying_points = fields.IntField()
    changed_at = fields.DatetimeField()

    class Meta:
        table = "tier_change"
