"""Risk flags on members' movements (domain/risk.py)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class RiskFlagStatus(StrEnum):
    OPEN = "OPEN"
    CLEARED = "CLEARED"
    MEMBER_FROZEN = "MEMBER_FROZEN"
    MOVEMENT_REVERSED = "MOVEMENT_REVERSED"


class RiskFlag(Model):
    """Something about a member's movement that a person should look at: a velocity limit
    passed where the brand flags rather than refuses, and the like. Written with the movement."""

    id = fields.BigIntField(primary_key=True)
    brand_id = fields.IntField()
    member_id = fields.IntField()
    entry_id = fields.BigIntField(null=True)  # the movement's entry, if it made one
    reason = fields.CharField(max_length=40)
    details: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    status = fields.CharEnumField(RiskFlagStatus, max_length=20, default=RiskFlagStatus.OPEN)
    created_at = fields.DatetimeField()
    reviewed_by = fields.CharField(max_length=200, null=True)
    review_note: str | None = fields.TextField(null=True)
    reviewed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "risk_flag"
        indexes = (("brand_id", "status", "id"), ("member_id", "status"))
