"""Webhooks: where a partner's events, or the brand's own, are posted, and their deliveries."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import records
from domain.partners import Scope
from domain.webhooks import EventType
from resolvers import webhooks as resolve
from resolvers.connections import ConnectionView
from resolvers.context import Info
from schema.errors import UserError
from schema.permissions import IsBrandAdmin, or_partner_with
from schema.relay import Connection, Node

WebhookEventType = EventType
strawberry.enum(
    WebhookEventType,
    name="WebhookEventType",
    description="An event a webhook endpoint may subscribe to; a delivery's body names it in "
    'its "type" as redemption.created, redemption.cancelled, coupon.consumed, offer.approved '
    "(a partner's endpoints: of its offers) or risk.flagged (the brand's own endpoints only: "
    "a new risk flag, as riskFlags lists it).",
)


@strawberry.type(
    description="Where a partner's events, or the brand's own, are posted, signed with its secret."
)
class WebhookEndpoint(Node):
    url: str
    events: list[WebhookEventType]
    created_at: datetime


@strawberry.type(description="One event to one endpoint, retried until delivered or dead.")
class WebhookDelivery(Node):
    status: str = strawberry.field(description="PENDING, DELIVERED or DEAD.")
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime

    @strawberry.field(description="The event's stable id, as sent in X-Pointsmall-Event-Id.")
    async def event_id(self, delivery: strawberry.Parent[records.WebhookDelivery]) -> str:
        return await resolve.event_id_of(delivery)

    @strawberry.field
    async def event_type(
        self, delivery: strawberry.Parent[records.WebhookDelivery]
    ) -> WebhookEventType:
        return await resolve.event_type_of(delivery)


@strawberry.input
class RegisterWebhookEndpointInput:
    url: str
    events: list[WebhookEventType]
    partner_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Admins name the partner, or none for the brand's own endpoint (RISK_FLAGGED "
        "only); a partner registers its own (never RISK_FLAGGED).",
    )
    idempotency_key: str


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None
    secret: str | None = strawberry.field(
        description="The signing secret, shown this once: verify X-Pointsmall-Signature with "
        "it; null when a repeated idempotencyKey answers the first call (lost it? register the "
        "endpoint again)."
    )
    user_errors: list[UserError]


@strawberry.input
class RedeliverWebhookInput:
    id: strawberry.ID
    idempotency_key: str


@strawberry.type
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None
    user_errors: list[UserError]


ManagesWebhooks = or_partner_with(IsBrandAdmin, Scope.WEBHOOKS_MANAGE)


@strawberry.type
class WebhookQueries:
    @strawberry.field(
        permission_classes=[ManagesWebhooks],
        description="Webhook deliveries, newest first: a partner's (a partner its own; admins "
        "name one), or, for admins naming none, the brand's own endpoints'.",
        graphql_type=Connection[WebhookDelivery],
    )
    async def webhook_deliveries(
        self,
        info: Info,
        partner_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> ConnectionView[records.WebhookDelivery]:
        return await resolve.webhook_deliveries(info, partner_id, first, after, last, before)


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(permission_classes=[ManagesWebhooks], graphql_type=WebhookEndpointPayload)
    async def register_webhook_endpoint(
        self, info: Info, input: RegisterWebhookEndpointInput
    ) -> resolve.WebhookEndpointPayloadView:
        return await resolve.register_webhook_endpoint(info, input)

    @strawberry.mutation(permission_classes=[ManagesWebhooks], graphql_type=WebhookDeliveryPayload)
    async def redeliver_webhook(
        self, info: Info, input: RedeliverWebhookInput
    ) -> resolve.WebhookDeliveryPayloadView:
        return await resolve.redeliver_webhook(info, input)
