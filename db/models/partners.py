"""Partners of a brand and their API keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from db.models.brands import Brand


class Partner(Model):
    """Another brand that runs cross-promotions with this one, server to server, by API key."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="partners", on_delete=fields.CASCADE
    )
    brand_id: int
    code = fields.CharField(max_length=32)
    name = fields.CharField(max_length=120)
    # What one point is worth in money between the brand and the partner, for settlement.
    point_value = fields.DecimalField(max_digits=12, decimal_places=4, default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "partner"
        constraints = (
            UniqueConstraint(fields=("brand_id", "code"), name="partner_brand_code"),
            CheckConstraint(check="point_value >= 0", name="partner_point_value"),
        )


class ApiKey(Model):
    """A partner's key: shown once, kept as a hash, named by its prefix for support."""

    id = fields.IntField(primary_key=True)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="api_keys", on_delete=fields.CASCADE
    )
    partner_id: int
    prefix = fields.CharField(max_length=16, unique=True)
    secret_hash = fields.CharField(max_length=64)
    scopes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    created_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_key"
