"""Members and the changes of their status."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from db.models.brands import Brand
    from db.models.tiers import Tier


class MemberStatus(StrEnum):
    ACTIVE = "ACTIVE"
    FROZEN = "FROZEN"
    CLOSED = "CLOSED"


class Member(Model):
    """A member of one brand; points are brand-wide, earned and spent in any of its stores."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="members", on_delete=fields.CASCADE
    )
    brand_id: int
    display_name = fields.CharField(max_length=120)
    phone = fields.CharField(max_length=20, null=True)
    email = fields.CharField(max_length=254, null=True)
    birthday = fields.DateField(null=True)
    birthday_set_at = fields.DatetimeField(null=True)  # when the member gave it
    referral_code = fields.CharField(max_length=16)
    referred_by: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="referrals", null=True, on_delete=fields.SET_NULL
    )
    referred_by_id: int | None
    member_code = fields.CharField(max_length=16)
    status = fields.CharEnumField(MemberStatus, max_length=8, default=MemberStatus.ACTIVE)
    marketing_email = fields.BooleanField(default=False)
    marketing_sms = fields.BooleanField(default=False)
    marketing_wechat = fields.BooleanField(default=False)
    marketing_push = fields.BooleanField(default=False)
    # Where the brand's gateways reach the member, beside phone and email; and their language.
    wechat_open_id = fields.CharField(max_length=64, null=True)
    push_token = fields.CharField(max_length=200, null=True)
    locale = fields.CharField(max_length=16, null=True)
    tier: fields.ForeignKeyRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="members", on_delete=fields.RESTRICT
    )
    tier_id: int
    # A tier bought with points (a TIER_UPGRADE redemption): no evaluation takes the member
    # below it before `tier_floor_until`.
    tier_floor: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="floored_members", null=True, on_delete=fields.RESTRICT
    )
    tier_floor_id: int | None
    tier_floor_until = fields.DatetimeField(null=True)
    tier_floor_redemption_id = fields.IntField(null=True)
    joined_at = fields.DatetimeField()
    # The member's id in the loyalty system they were imported from (`pointsmall import
    # members`): what makes a rerun of the same file skip them.
    external_id = fields.CharField(max_length=64, null=True)
    # The app's identifier of the device the member registered on (risk rule SHARED_DEVICE);
    # staff only, never shown to members.
    device_id = fields.CharField(max_length=128, null=True)

    class Meta:
        table = "member"
        constraints = (
            UniqueConstraint(fields=("brand_id", "phone"), name="member_brand_phone"),
            UniqueConstraint(fields=("brand_id", "external_id"), name="member_external_id"),
            UniqueConstraint(fields=("brand_id", "email"), name="member_brand_email"),
            UniqueConstraint(fields=("brand_id", "referral_code"), name="member_referral_code"),
            UniqueConstraint(fields=("brand_id", "member_code"), name="member_member_code"),
        )


class MemberStatusChange(Model):
    """Who froze, closed or reopened a member, when, and why."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="status_changes", on_delete=fields.CASCADE, db_index=True
    )
    member_id: int
    previous = fields.CharEnumField(MemberStatus, max_length=8)
    current = fields.CharEnumField(MemberStatus, max_length=8)
    reason = fields.TextField()
    actor = fields.CharField(max_length=200)
    created_at = fields.DatetimeField()

    class Meta:
        table = "member_status_change"
