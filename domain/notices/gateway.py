"""The brand's gateways: SMS, WeChat, app push and mail are sent by the brand's own systems.

Each notice due on a channel is posted, signed, to the gateway registered for it, through the
outbox, signature, retries and dead-letter handling of partner webhooks (domain/webhooks.py):
the body carries the notice rendered in every locale it is worded in, the member's global
id and locale, and the contact details the channel needs only where the member consented to
that channel. `X-Pointsmall-Event-Id` is stable per notice and channel: a gateway that saw it
already (a post whose answer was lost) drops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from datetime import datetime

import httpx
from tortoise.backends.base.client import BaseDBAsyncClient

from db.models import (
    DeliveryStatus,
    Member,
    Notice,
    NoticeChannel,
    NoticeDelivery,
    NoticeGateway,
    NoticeKind,
)
from domain.errors import DomainError, ErrorCode
from domain.idempotency import change_once
from domain.ids import encode_id
from domain.notices.kinds import SECURITY
from domain.notices.templates import Wordings, wordings_by_brand_ids
from domain.pagination import Page, PageRequest, paginate
from domain.principal import Principal, Role
from domain.runtime import Backends
from domain.webhooks import Post, attempt, check_url, claim_due, delivery_client, send_again

__all__ = ["DeliveryStatus"]  # re-exported for the schema

# Due deliveries to gateways that are not disabled (those of a disabled one wait for it).
CLAIM_SQL = """
UPDATE notice_delivery SET next_attempt_at = $2
WHERE id IN (
    SELECT d.id FROM notice_delivery d JOIN notice_gateway g ON g.id = d.gateway_id
    WHERE d.status = 'PENDING' AND d.next_attempt_at <= $1 AND g.disabled_at IS NULL
    ORDER BY d.next_attempt_at, d.id
    LIMIT $3
    FOR UPDATE OF d SKIP LOCKED
)
RETURNING id
"""
POSTED_TOGETHER = 200  # claimed at a time
POSTS_AT_ONCE = 32  # in flight at a time, so a gateway is not flooded
# What each channel needs to reach a member, and the consent that lets it have it.
CONTACTS = {
    NoticeChannel.SMS: ("phone", "marketing_sms"),
    NoticeChannel.EMAIL: ("email", "marketing_email"),
    NoticeChannel.WECHAT: ("wechat_open_id", "marketing_wechat"),
    NoticeChannel.PUSH: ("push_token", "marketing_push"),
}


def gateway_channel(channel: NoticeChannel) -> NoticeChannel:
    if channel not in CONTACTS:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "Gateways serve SMS, WECHAT, PUSH and EMAIL; the inbox is the service's own.",
            ["input", "channel"],
        )
    return channel


def consented(member: Member, channel: NoticeChannel) -> bool:
    return bool(getattr(member, CONTACTS[channel][1]))


def contact_of(member: Member, channel: NoticeChannel, kind: NoticeKind) -> dict[str, str] | None:
    """What the channel needs to reach the member: only if they consented to it, but for a
    security notice (a one-time code), which reaches them only so."""
    field, _ = CONTACTS[channel]
    value = getattr(member, field)
    if value is None or not (consented(member, channel) or kind in SECURITY):
        return None
    return {"phoneNumber" if field == "phone" else _camel(field): value}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


async def register_gateway(
    rt: Backends,
    principal: Principal,
    channel: NoticeChannel,
    url: str,
    key: str | None = None,
) -> tuple[NoticeGateway, str | None]:
    """The brand's gateway for a channel, with a new signing secret shown once, here; a
    gateway registered before for the channel is replaced (its pending deliveries go to the
    new one). Once per idempotency key: a repeat answers it without its secret (None)."""
    channel = gateway_channel(channel)
    url = await check_url(url, rt.webhooks)
    shown: list[str] = []

    async def register(connection: BaseDBAsyncClient) -> NoticeGateway:
        secret = "ntsec_" + secrets.token_urlsafe(32)
        gateway, _ = await NoticeGateway.update_or_create(
            {"url": url, "secret": secret, "created_at": rt.clock.now(), "disabled_at": None},
            brand_id=principal.brand_id, channel=channel, using_db=connection,
        )  # fmt: skip
        shown.append(secret)
        return gateway

    request = {"channel": channel.value, "url": url}
    gateway = await change_once(
        principal, "registerNoticeGateway", key, request, NoticeGateway, register
    )
    return gateway, shown[0] if shown else None


async def disable_gateway(
    principal: Principal, channel: NoticeChannel, now: datetime, key: str
) -> NoticeGateway:
    """No more notices to the channel's gateway: those queued for it wait until it is
    registered again, those made meanwhile are not queued; once per idempotency key."""

    async def disable(connection: BaseDBAsyncClient) -> NoticeGateway:
        gateway = await NoticeGateway.get_or_none(
            brand_id=principal.brand_id, channel=channel, using_db=connection
        )
        if gateway is None:
            message = "No gateway for this channel."
            raise DomainError(ErrorCode.NOT_FOUND, message, ["input", "channel"])
        if gateway.disabled_at is None:
            gateway.disabled_at = now
            await gateway.save(using_db=connection, update_fields=["disabled_at"])
        return gateway

    request = {"channel": channel.value}
    return await change_once(
        principal, "disableNoticeGateway", key, request, NoticeGateway, disable
    )


def body_of(delivery: NoticeDelivery, wordings: Wordings, event_id: str, event_type: str) -> bytes:
    notice, gateway, member = delivery.notice, delivery.gateway, delivery.notice.member
    channel = gateway.channel
    texts = {
        locale: wordings.render(notice.kind, channel, locale, notice.variables)
        for locale in wordings.locales(notice.kind, channel)
    }
    titles = {locale: wordings.title(notice.kind, locale) for locale in texts}
    return json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "createdAt": notice.created_at.isoformat(),
            "data": {
                "noticeId": encode_id("Notice", notice.id),
                "kind": notice.kind.value,
                "channel": channel.value,
                "marketing": notice.marketing,
                "memberId": encode_id("Member", member.id),
                "locale": member.locale or wordings.brand.locale,
                "titles": titles,
                "texts": texts,
                "variables": notice.variables,
                "contact": contact_of(member, channel, notice.kind),
            },
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


async def deliver_due_notices(rt: Backends, client: httpx.AsyncClient | None = None) -> int:
    """Post every due notice delivery once, batch after batch until none is due (each claimed
    first, so two runs never post the same one); how many were delivered."""
    delivered = 0
    async with contextlib.AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(delivery_client())
        while ids := await claim_due(rt, CLAIM_SQL, POSTED_TOGETHER):
            delivered += await _deliver(rt, client, ids)
    return delivered


async def _deliver(rt: Backends, client: httpx.AsyncClient, ids: list[int]) -> int:
    deliveries = await NoticeDelivery.filter(id__in=ids).prefetch_related(
        "notice__member", "gateway"
    )
    # Consent withdrawn while a marketing notice waited (quiet hours, retries): it is not sent.
    withdrawn = {
        delivery.id
        for delivery in deliveries
        if delivery.notice.marketing
        and not consented(delivery.notice.member, delivery.gateway.channel)
    }
    if withdrawn:
        await NoticeDelivery.filter(id__in=withdrawn).delete()
    deliveries = [delivery for delivery in deliveries if delivery.id not in withdrawn]
    wordings = await wordings_by_brand_ids(
        list({delivery.gateway.brand_id for delivery in deliveries})
    )

    at_once = asyncio.Semaphore(POSTS_AT_ONCE)

    async def post(delivery: NoticeDelivery) -> bool:
        gateway = delivery.gateway
        event_type = f"notice.{gateway.channel.value.lower()}"
        event_id = f"ntc_{delivery.notice_id}_{gateway.channel.value.lower()}"
        body = body_of(delivery, wordings[gateway.brand_id], event_id, event_type)
        sent = Post(gateway.url, gateway.secret, event_id, event_type, body)
        async with at_once:
            return await attempt(rt, client, sent, delivery)

    return sum(await asyncio.gather(*(post(delivery) for delivery in deliveries)))


async def deliveries_page(
    principal: Principal, status: DeliveryStatus | None, request: PageRequest
) -> Page[NoticeDelivery]:
    """The brand's notice deliveries, newest first (DEAD ones: the dead letters)."""
    deliveries = NoticeDelivery.filter(gateway__brand_id=principal.brand_id)
    if status is not None:
        deliveries = deliveries.filter(status=status)
    return await paginate(deliveries, request, ("id",), descending=True)


async def redeliver_notice(
    principal: Principal, delivery_id: int, now: datetime, key: str | None = None
) -> NoticeDelivery:
    """Send one of the brand's notice deliveries again soon (see webhooks.send_again)."""
    deliveries = NoticeDelivery.filter(gateway__brand_id=principal.brand_id)
    return await send_again(principal, "redeliverNotice", key, delivery_id, deliveries, now)


async def visible_delivery(principal: Principal, delivery_id: int) -> NoticeDelivery | None:
    """A notice delivery by id, for the brand's admins."""
    if principal.role is not Role.ADMIN:
        return None
    return await NoticeDelivery.get_or_none(id=delivery_id, gateway__brand_id=principal.brand_id)


async def gateway_of(delivery: NoticeDelivery) -> NoticeGateway:
    return await NoticeGateway.get(id=delivery.gateway_id)


async def notice_of(delivery: NoticeDelivery) -> Notice:
    return await Notice.get(id=delivery.notice_id)
