"""The first outcome of each keyed call (domain/idempotency.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from db.models.brands import Brand


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
    outcome: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "idempotency_record"
        constraints = (
            UniqueConstraint(
                fields=("brand_id", "principal", "operation", "key"), name="idempotency_scope"
            ),
        )
