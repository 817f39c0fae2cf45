"""Resolvers for partners and their API keys."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain import partners as domain
from domain import webhooks
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import principal_of
from resolvers.ids import decode_id, encode_id
from resolvers.payloads import Payload, reports_user_errors


def _now(info: Any) -> Any:
    return info.context.backends.clock.now()


async def partners(info: Any) -> list[Any]:
    return await domain.partners_of(principal_of(info))


async def keys_of(info: Any, partner: Any) -> list[Any]:
    return await domain.keys_of(partner.id)


@reports_user_errors
async def create_partner(info: Any, input: Any) -> Payload:
    partner = await domain.create_partner(
        principal_of(info),
        input.code,
        input.name,
        input.point_value,
        _now(info),
        input.idempotency_key,
    )
    return Payload(partner=partner)


@reports_user_errors
async def issue_api_key(info: Any, input: Any) -> Payload:
    partner_id = decode_id(input.partner_id, "Partner", "partnerId")
    issued = await domain.issue_key(
        principal_of(info), partner_id, input.scopes, _now(info), input.idempotency_key
    )
    return Payload(api_key=issued.api_key, secret=issued.secret)


@reports_user_errors
async def rotate_api_key(info: Any, input: Any) -> Payload:
    key_id = decode_id(input.id, "ApiKey", "id")
    issued = await domain.rotate_key(principal_of(info), key_id, _now(info), input.idempotency_key)
    return Payload(api_key=issued.api_key, secret=issued.secret)


@reports_user_errors
async def revoke_api_key(info: Any, input: Any) -> Payload:
    key_id = decode_id(input.id, "ApiKey", "id")
    api_key = await domain.revoke_key(principal_of(info), key_id, _now(info), input.idempotency_key)
    return Payload(api_key=api_key)


@dataclass(frozen=True, slots=True)
class SettlementView:
    partner: Any
    month: str
    points_issued: int
    points_redeemed: int
    movements: int
    point_value: Decimal
    amount_issued: Decimal
    amount_redeemed: Decimal
    net: Decimal


@reports_user_errors
async def settlement(info: Any, partner_id: str, month: str) -> Payload:
    figures = await domain.settlement(
        principal_of(info),
        decode_id(partner_id, "Partner", "partnerId"),
        domain.month_of(month),
    )
    view = SettlementView(
        partner=figures.partner,
        month=f"{figures.month:%Y-%m}",
        points_issued=figures.points_issued,
        points_redeemed=figures.points_redeemed,
        movements=figures.movements,
        point_value=figures.partner.point_value,
        amount_issued=figures.amount_issued,
        amount_redeemed=figures.amount_redeemed,
        net=figures.net,
    )
    return Payload(settlement=view)


@dataclass(frozen=True, slots=True)
class MemberMatchView:
    member_id: str
    display_name: str


@reports_user_errors
async def partner_member_lookup(info: Any, member_code: str | None, phone: str | None) -> Payload:
    found = await domain.look_up_member(principal_of(info), member_code, phone)
    return Payload(match=MemberMatchView(encode_id("Member", found.member_id), found.display_name))


@reports_user_errors
async def register_webhook_endpoint(info: Any, input: Any) -> Payload:
    partner_id = decode_id(input.partner_id, "Partner", "partnerId") if input.partner_id else None
    endpoint, secret = await webhooks.register_endpoint(
        info.context.backends,
        principal_of(info),
        partner_id,
        input.url,
        input.events,
        input.idempotency_key,
    )
    return Payload(endpoint=endpoint, secret=secret)


@reports_user_errors
async def redeliver_webhook(info: Any, input: Any) -> Payload:
    delivery_id = decode_id(input.id, "WebhookDelivery", "id")
    delivery = await webhooks.redeliver(
        principal_of(info), delivery_id, _now(info), input.idempotency_key
    )
    return Payload(delivery=delivery)


async def webhook_deliveries(
    info: Any,
    partner_id: str | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> ConnectionView:
    wanted = decode_id(partner_id, "Partner", "partnerId") if partner_id else None
    page = await webhooks.deliveries_page(
        principal_of(info), wanted, page_request(first, after, last, before)
    )
    return to_connection(page)


async def event_id_of(delivery: Any) -> str:
    return (await webhooks.event_of(delivery)).event_id


async def event_type_of(delivery: Any) -> str:
    return (await webhooks.event_of(delivery)).type
