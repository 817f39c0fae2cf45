"""Webhooks: endpoints, the outbox of events, and their deliveries."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from db.models.brands import Brand
    from db.models.partners import Partner


class WebhookEndpoint(Model):
    """Where a partner, or the brand itself, wants its events posted (signed with its secret)."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="webhook_endpoints", on_delete=fields.CASCADE
    )
    brand_id: int
    partner: fields.ForeignKeyNullableRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="webhook_endpoints", null=True, on_delete=fields.CASCADE
    )
    partner_id: int | None  # None: the brand's own (its fraud desk's, …)
    url = fields.CharField(max_length=500)
    events: fields.JSONField[list[str]] = fields.JSONField(default=list)
    secret = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    disabled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_endpoint"


class WebhookEvent(Model):
    """The outbox: an event written in the same transaction as the change it tells of."""

    id = fields.BigIntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="webhook_events", on_delete=fields.CASCADE
    )
    brand_id: int
    partner: fields.ForeignKeyNullableRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="webhook_events", null=True, on_delete=fields.CASCADE
    )
    partner_id: int | None  # None: an event for the brand's own endpoints
    event_id = fields.CharField(max_length=40, unique=True)  # stable, for de-duplication
    type = fields.CharField(max_length=40)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField()
    created_at = fields.DatetimeField()
    # The W3C trace context (`traceparent`, `tracestate`) of the change that emitted it, when
    # that change was traced: its deliveries continue the trace.
    trace_context: fields.JSONField[dict[str, str] | None] = fields.JSONField(null=True)

    class Meta:
        table = "webhook_event"


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    DEAD = "DEAD"


class WebhookDelivery(Model):
    """One event to one endpoint: retried with growing delays until delivered or dead."""

    id = fields.BigIntField(primary_key=True)
    event: fields.ForeignKeyRelation[WebhookEvent] = fields.ForeignKeyField(
        "models.WebhookEvent", related_name="deliveries", on_delete=fields.CASCADE
    )
    event_id: int
    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    endpoint_id: int
    status = fields.CharEnumField(DeliveryStatus, max_length=12, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    last_status_code = fields.IntField(null=True)
    last_error: str | None = fields.TextField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "webhook_delivery"
        indexes = (("status", "next_attempt_at"),)
        constraints = (
            UniqueConstraint(fields=("event_id", "endpoint_id"), name="delivery_event_endpoint"),
        )
