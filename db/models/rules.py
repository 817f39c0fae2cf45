"""Earning rules, and the bonuses and task rewards they gave."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from db.models.brands import Brand
    from db.models.ledger import LedgerEntry
    from db.models.members import Member


class TaskProof(StrEnum):
    """What shows a task was done: the member's word, the brand's staff (or a partner), or a
    proof the brand's own system signs."""

    SELF = "SELF"
    STAFF = "STAFF"
    SIGNED = "SIGNED"


class RuleKind(StrEnum):
    BASE_RATE = "BASE_RATE"
    CATEGORY_MULTIPLIER = "CATEGORY_MULTIPLIER"
    THRESHOLD_BONUS = "THRESHOLD_BONUS"
    CAMPAIGN = "CAMPAIGN"
    REGISTRATION_BONUS = "REGISTRATION_BONUS"
    FIRST_PURCHASE_BONUS = "FIRST_PURCHASE_BONUS"
    REFERRAL_BONUS = "REFERRAL_BONUS"
    BIRTHDAY_BONUS = "BIRTHDAY_BONUS"
    TASK = "TASK"
    PURCHASE_COUNT = "PURCHASE_COUNT"


class Rounding(StrEnum):
    DOWN = "DOWN"
    NEAREST = "NEAREST"
    UP = "UP"


class EarningRule(Model):
    """How members earn: one rule of one kind, edited by the brand's admins, archived not deleted.

    Which of the optional fields a kind uses is checked in domain/rules/admin.py.
    """

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="earning_rules", on_delete=fields.CASCADE
    )
    brand_id: int
    code = fields.CharField(max_length=40)
    name = fields.CharField(max_length=120)
    kind = fields.CharEnumField(RuleKind, max_length=24)
    priority = fields.IntField(default=0)
    rate = fields.DecimalField(max_digits=10, decimal_places=4, null=True)
    rounding = fields.CharEnumField(Rounding, max_length=8, default=Rounding.DOWN)
    multiplier = fields.DecimalField(max_digits=6, decimal_places=2, null=True)
    category = fields.CharField(max_length=64, null=True)
    threshold = fields.DecimalField(max_digits=14, decimal_places=2, null=True)
    points = fields.IntField(null=True)
    referrer_points = fields.IntField(null=True)
    referrer_monthly_cap = fields.IntField(null=True)
    task_code = fields.CharField(max_length=40, null=True)
    proof = fields.CharEnumField(TaskProof, max_length=8, default=TaskProof.SELF)
    daily_limit = fields.IntField(null=True)
    lifetime_limit = fields.IntField(null=True)
    starts_at = fields.DatetimeField(null=True)
    ends_at = fields.DatetimeField(null=True)
    weekdays: fields.JSONField[list[int]] = fields.JSONField(default=list)
    store_codes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    # Partners whose purchases it applies to; empty: every purchase (the brand's and partners').
    partner_codes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    tier_codes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    cap_points = fields.IntField(null=True)
    expiry_days = fields.IntField(null=True)
    # PURCHASE_COUNT: the bonus comes with the member's Nth purchase (every Nth when it
    # repeats), counting those in the rule's window that were not refunded in full.
    nth_purchase = fields.IntField(null=True)
    repeats = fields.BooleanField(default=True)
    # Members with any of these tags only (domain/segments.py); empty: every member.
    tag_codes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    archived_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "earning_rule"
        constraints = (
            UniqueConstraint(fields=("brand_id", "code"), name="earning_rule_brand_code"),
            CheckConstraint(check="rate IS NULL OR rate >= 0", name="earning_rule_rate"),
            CheckConstraint(
                check="starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at",
                name="earning_rule_window",
            ),
        )


class AwardKind(StrEnum):
    REGISTRATION = "REGISTRATION"
    REFERRAL_REFEREE = "REFERRAL_REFEREE"
    REFERRAL_REFERRER = "REFERRAL_REFERRER"
    BIRTHDAY = "BIRTHDAY"
    TASK = "TASK"


class Award(Model):
    """A bonus or task reward given to a member: what limits and once-only rules count.

    `once_key` names what may be rewarded only once (the birthday's year, the referee); the
    unique constraint makes a second award of it fail, whatever races.
    """

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="awards", on_delete=fields.CASCADE
    )
    member_id: int
    kind = fields.CharEnumField(AwardKind, max_length=24)
    rule: fields.ForeignKeyNullableRelation[EarningRule] = fields.ForeignKeyField(
        "models.EarningRule", related_name="awards", null=True, on_delete=fields.SET_NULL
    )
    rule_id: int | None
    task_code = fields.CharField(max_length=40, null=True)
    once_key = fields.CharField(max_length=40, null=True)
    local_day = fields.DateField()
    points = fields.IntField()
    entry: fields.ForeignKeyNullableRelation[LedgerEntry] = fields.ForeignKeyField(
        "models.LedgerEntry", related_name="awards", null=True, on_delete=fields.SET_NULL
    )
    entry_id: int | None
    # The entry that took the award back (a referral bonus whose first purchase was refunded).
    reversed_by: fields.ForeignKeyNullableRelation[LedgerEntry] = fields.ForeignKeyField(
        "models.LedgerEntry", related_name="reversed_awards", null=True,
        on_delete=fields.SET_NULL,
    )  # fmt: skip
    reversed_by_id: int | None
    created_at = fields.DatetimeField()

    class Meta:
        table = "award"
        indexes = (("member_id", "kind", "local_day"),)
        constraints = (
            UniqueConstraint(fields=("member_id", "kind", "once_key"), name="award_once"),
        )
