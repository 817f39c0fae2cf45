"""Resolvers for webhook endpoints and their deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import strawberry

from domain import records, webhooks
from domain.webhooks import EventType
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import Info, now_of, principal_of
from resolvers.ids import ByIdFields, decode_id
from resolvers.payloads import PayloadView, reports_user_errors


class RegisterWebhookEndpointFields(Protocol):
    url: str
    events: list[EventType]
    partner_id: strawberry.ID | None
    idempotency_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookEndpointPayloadView(PayloadView):
    endpoint: records.WebhookEndpoint | None
    secret: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookDeliveryPayloadView(PayloadView):
    delivery: records.WebhookDelivery | None


@reports_user_errors(WebhookEndpointPayloadView)
async def register_webhook_endpoint(
    info: Info, input: RegisterWebhookEndpointFields
) -> WebhookEndpointPayloadView:
    partner_id = decode_id(input.partner_id, "Partner", "partnerId") if input.partner_id else None
    endpoint, secret = await webhooks.register_endpoint(
        info.context.backends,
        principal_of(info),
        partner_id,
        input.url,
        input.events,
        input.idempotency_key,
    )
    return WebhookEndpointPayloadView(endpoint=endpoint, secret=secret)


@reports_user_errors(WebhookDeliveryPayloadView)
async def redeliver_webhook(info: Info, input: ByIdFields) -> WebhookDeliveryPayloadView:
    delivery_id = decode_id(input.id, "WebhookDelivery", "id")
    delivery = await webhooks.redeliver(
        principal_of(info), delivery_id, now_of(info), input.idempotency_key
    )
    return WebhookDeliveryPayloadView(delivery=delivery)


async def webhook_deliveries(
    info: Info,
    partner_id: str | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> ConnectionView[records.WebhookDelivery]:
    wanted = decode_id(partner_id, "Partner", "partnerId") if partner_id else None
    page = await webhooks.deliveries_page(
        principal_of(info), wanted, page_request(first, after, last, before)
    )
    return to_connection(page)


async def event_id_of(delivery: records.WebhookDelivery) -> str:
    return (await webhooks.event_of(delivery)).event_id


async def event_type_of(delivery: records.WebhookDelivery) -> EventType:
    return EventType((await webhooks.event_of(delivery)).type)
