"""Signed webhooks to partners and to the brand's own systems, at least once, from an outbox.

An event is written to the outbox (with a delivery row per subscribed endpoint) in the same
transaction as the change it tells of: a rolled-back change sends nothing, a committed one is
sent even if the process dies right after. The delivery job posts each due delivery with
`X-Pointsmall-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>" under the endpoint's
secret>`, `X-Pointsmall-Timestamp` and a stable `X-Pointsmall-Event-Id`; a failure is retried
with growing, jittered delays for about a day, then the delivery is DEAD (and may be redelivered
by hand). With tracing on, a delivery continues the trace of the change it tells of (its
`traceparent` header names it).

An endpoint is a partner's, or the brand's own (no partner: its fraud desk, …); which events it
may subscribe to depends on whose it is (PARTNER_EVENTS, BRAND_EVENTS).

Design: docs/events.md, "The outboxes: webhooks and notice gateways".
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import random
import secrets
import uuid
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.queryset import QuerySet

from db.models import (
    CatalogItem,
    Coupon,
    DeliveryStatus,
    NoticeDelivery,
    Partner,
    Redemption,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from db.sql import Sql
from domain.errors import DomainError, ErrorCode
from domain.idempotency import change_once
from domain.ids import encode_id
from domain.pagination import Page, PageRequest, paginate
from domain.principal import Principal, Role
from domain.runtime import Backends, IPAddress, WebhookPolicy

# A webhook's delivery or a notice's: both are posted, retried and sent again alike.
Delivery = TypeVar("Delivery", WebhookDelivery, NoticeDelivery)


class EventType(Enum):
    """What an endpoint may subscribe to; the value is the event's `type` as delivered."""

    REDEMPTION_CREATED = "redemption.created"
    REDEMPTION_CANCELLED = "redemption.cancelled"
    COUPON_CONSUMED = "coupon.consumed"
    OFFER_APPROVED = "offer.approved"
    RISK_FLAGGED = "risk.flagged"


# A partner hears of its own offers; a member's risk flags are the brand's business only.
PARTNER_EVENTS = frozenset({EventType.REDEMPTION_CREATED, EventType.REDEMPTION_CANCELLED,
                            EventType.COUPON_CONSUMED, EventType.OFFER_APPROVED})  # fmt: skip
BRAND_EVENTS = frozenset({EventType.RISK_FLAGGED})


FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=2)
GIVE_UP_AFTER = timedelta(hours=24)
POST_TIMEOUT = 5.0
CLAIM_FOR = timedelta(minutes=1)  # a claimed delivery is left alone this long by other runs
BATCH = 50


@dataclass(frozen=True)
class TraceCarrier:
    """How an event carries the trace of the change that emitted it to its deliveries, given by
    server/tracing.py when tracing is on: `current()` is the running trace's W3C context
    (`traceparent`, `tracestate`), `continued(context)` runs a delivery's post in that trace."""

    current: Callable[[], dict[str, str]]
    continued: Callable[[dict[str, str]], AbstractContextManager[object]]


_trace_carrier: TraceCarrier | None = None


def carry_traces(carrier: TraceCarrier | None) -> None:
    """Have events carry their change's trace to their deliveries (None: no longer)."""
    global _trace_carrier
    _trace_carrier = carrier


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a receiver recomputes to trust a delivery."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


# IPv6 ranges that carry an IPv4 address in their last 32 bits (NAT64, IPv4-compatible).
IPV4_CARRYING = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))


def is_public(address: IPAddress) -> bool:
    """A globally reachable address, also through any IPv4 address it embeds (6to4, Teredo,
    IPv4-mapped, NAT64): 100.64.0.0/10, metadata services and tunnels to loopback are not."""
    if not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return True
    embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if any(address in network for network in IPV4_CARRYING):
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return all(ipv4 is None or ipv4.is_global for ipv4 in embedded)


@dataclass(frozen=True)
class Target:
    """Where a delivery goes: the URL with the checked address in place of its name, and the
    name for the Host header and TLS (so the post cannot resolve the name a second time)."""

    url: str
    host_header: str
    server_name: str


async def resolve_url(url: str, policy: WebhookPolicy) -> Target:
    """An endpoint URL we may post to, resolved once: https (where required), and only public
    addresses unless the policy allows private ones."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or len(url) > 500:
        raise DomainError(ErrorCode.INVALID_INPUT, "An http(s) URL, up to 500.", ["input", "url"])
    if policy.require_https and parts.scheme != "https":
        raise DomainError(ErrorCode.INVALID_INPUT, "Endpoints must use https.", ["input", "url"])
    try:
        addresses = await policy.addresses(parts.hostname)
    except (OSError, UnicodeError):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "The URL's host does not resolve.", ["input", "url"]
        ) from None
    if not addresses or not (policy.allow_private or all(map(is_public, addresses))):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "Endpoints must be on public internet addresses.",
            ["input", "url"],
        )
    address = addresses[0]
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host_header = parts.netloc.rpartition("@")[2]
    return Target(parts._replace(netloc=netloc).geturl(), host_header, parts.hostname)


async def check_url(url: str, policy: WebhookPolicy) -> str:
    """The URL, stripped, once resolve_url found it one we may post to."""
    await resolve_url(url, policy)
    return url.strip()


def _owner_of(principal: Principal, partner_id: int | None) -> int | None:
    """Whose endpoints a call is about: a partner's own; an admin's, the partner it names, or
    (naming none) the brand's own (None)."""
    if principal.role is Role.PARTNER:
        return principal.partner_id
    return partner_id


def check_events(events: Collection[EventType], partner_id: int | None) -> None:
    """INVALID_INPUT unless the endpoint's owner (a partner, or the brand: None) may hear each."""
    if not events:
        raise DomainError(ErrorCode.INVALID_INPUT, "Name an event.", ["input", "events"])
    allowed = BRAND_EVENTS if partner_id is None else PARTNER_EVENTS
    refused = sorted(event.name for event in events if event not in allowed)
    if not refused:
        return
    if partner_id is None:
        message = f"{', '.join(refused)}: a partner's events; name the partner (partnerId)."
    else:
        message = f"{', '.join(refused)}: the brand's own events, never a partner's."
    raise DomainError(ErrorCode.INVALID_INPUT, message, ["input", "events"])


async def register_endpoint(
    rt: Backends,
    principal: Principal,
    partner_id: int | None,
    url: str,
    events: Collection[EventType],
    key: str | None = None,
) -> tuple[WebhookEndpoint, str | None]:
    """A new endpoint (a partner's, or the brand's own when an admin names no partner) and its
    signing secret, shown once, here: once per idempotency key, and a repeat answers the
    endpoint without its secret (None)."""
    partner_id = _owner_of(principal, partner_id)
    check_events(events, partner_id)
    url = await check_url(url, rt.webhooks)
    subscribed = sorted({event.value for event in events})
    shown: list[str] = []

    async def register(connection: BaseDBAsyncClient) -> WebhookEndpoint:
        if partner_id is not None and not await Partner.exists(
            id=partner_id, brand_id=principal.brand_id
        ):
            raise DomainError(ErrorCode.NOT_FOUND, "No such partner.", ["input", "partnerId"])
        secret = "whsec_" + secrets.token_urlsafe(32)
        endpoint = await WebhookEndpoint.create(
            brand_id=principal.brand_id, partner_id=partner_id, url=url, events=subscribed,
            secret=secret, created_at=rt.clock.now(), using_db=connection,
        )  # fmt: skip
        shown.append(secret)
        return endpoint

    request = {"partnerId": partner_id, "url": url, "events": subscribed}
    endpoint = await change_once(
        principal, "registerWebhookEndpoint", key, request, WebhookEndpoint, register
    )
    return endpoint, shown[0] if shown else None


async def emit(
    connection: BaseDBAsyncClient,
    partner_id: int | None,
    type: EventType,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """Put an event in the outbox, in the caller's transaction, with a delivery per endpoint
    of the partner subscribed to it. Nothing for a change that concerns no partner. Ids in
    `payload` are the API's global ids (see `redemption_event`)."""
    if partner_id is None:
        return
    endpoints = await WebhookEndpoint.filter(partner_id=partner_id, disabled_at=None).using_db(
        connection
    )
    subscribed = [endpoint for endpoint in endpoints if type.value in endpoint.events]
    if subscribed:
        brand_id = subscribed[0].brand_id
        ids = [endpoint.id for endpoint in subscribed]
        await write_events(connection, brand_id, partner_id, ids, type, [payload], now)


def own_endpoints_sql(brand_id: str, type: EventType) -> str:
    """An SQL expression: the ids (int[]) of the brand's own endpoints subscribed to `type`,
    the brand named by the SQL `brand_id`. A statement writing what such events tell of selects
    it too, so a brand without such endpoints pays no round trip for them."""
    subscribed = orjson.dumps([type.value]).decode()
    return f"""ARRAY(
        SELECT id FROM webhook_endpoint
        WHERE brand_id = {brand_id} AND partner_id IS NULL AND disabled_at IS NULL
          AND events @> '{subscribed}'::jsonb ORDER BY id)"""


WRITE_EVENTS_SQL = """
WITH event AS (
    INSERT INTO webhook_event (brand_id, partner_id, event_id, type, payload, created_at,
                               trace_context)
    SELECT $1, $2, e.event_id, $3, e.payload::jsonb, $4, $5::jsonb
    FROM unnest($6::text[], $7::text[]) AS e(event_id, payload)
    RETURNING id
)
INSERT INTO webhook_delivery (event_id, endpoint_id, status, attempts, next_attempt_at,
                              created_at)
SELECT event.id, endpoint.id, 'PENDING', 0, $4, $4
FROM event CROSS JOIN unnest($8::int[]) AS endpoint(id)
"""


async def write_events(
    connection: BaseDBAsyncClient,
    brand_id: int,
    partner_id: int | None,
    endpoint_ids: list[int],
    type: EventType,
    payloads: list[dict[str, Any]],
    now: datetime,
) -> None:
    """The outbox's rows, in the caller's transaction, in one statement: an event per payload
    (of the partner's, or the brand's own with no partner) and a delivery of each to every one
    of `endpoint_ids`."""
    trace_context = _trace_carrier.current() if _trace_carrier is not None else None
    await Sql(connection).execute(
        WRITE_EVENTS_SQL,
        *(brand_id, partner_id, type.value, now),
        orjson.dumps(trace_context).decode() if trace_context else None,
        [f"evt_{uuid.uuid4().hex}" for _ in payloads],
        [orjson.dumps(payload).decode() for payload in payloads],
        endpoint_ids,
    )


CLAIM_SQL = """
UPDATE webhook_delivery SET next_attempt_at = $2
WHERE id IN (
    SELECT id FROM webhook_delivery
    WHERE status = 'PENDING' AND next_attempt_at <= $1
    ORDER BY next_attempt_at, id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … up to 2 h, each jittered by ±50%: about a day holds ~16 tries."""
    base = min(FIRST_RETRY * 2.0 ** (attempts - 1), LONGEST_WAIT)
    return base * random.uniform(0.5, 1.5)


async def claim_due(rt: Backends, claim_sql: str = CLAIM_SQL, batch: int = BATCH) -> list[int]:
    """Ids of due deliveries (`claim_sql`: of webhooks, or of notices), claimed for this run:
    another run leaves them alone for CLAIM_FOR."""
    now = rt.clock.now()
    rows = await get_connection("default").execute_query_dict(
        claim_sql, [now, now + CLAIM_FOR, batch]
    )
    return [row["id"] for row in rows]


def delivery_client() -> httpx.AsyncClient:
    # No connection is kept for reuse: posts go to checked addresses, and a connection made
    # (and its certificate checked) for one endpoint's name must not carry another's.
    return httpx.AsyncClient(
        timeout=POST_TIMEOUT,
        follow_redirects=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


async def deliver_due(rt: Backends, client: httpx.AsyncClient | None = None) -> int:
    """Post every due delivery once (claimed first, so two runs never post the same one);
    returns how many were delivered."""
    ids = await claim_due(rt)
    if not ids:
        return 0
    deliveries = await WebhookDelivery.filter(id__in=ids).prefetch_related("event", "endpoint")
    async with contextlib.AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(delivery_client())
        results = await asyncio.gather(*(_post(rt, client, d) for d in deliveries))
    return sum(results)


@dataclass(frozen=True)
class Post:
    """One signed post: the event's stable id and type, and its body."""

    url: str
    secret: str
    event_id: str
    event_type: str
    body: bytes


async def attempt(
    rt: Backends,
    client: httpx.AsyncClient,
    post: Post,
    delivery: WebhookDelivery | NoticeDelivery,
    trace: AbstractContextManager[object] | None = None,
) -> bool:
    """Post once and keep the outcome on the delivery (a webhook's or a notice's): DELIVERED
    on a 2xx, else the next try after a growing delay, or DEAD after a day; whether it was
    delivered."""
    timestamp = str(int(rt.clock.now().timestamp()))
    headers = {
        "Content-Type": "application/json",
        "X-Pointsmall-Event": post.event_type,
        "X-Pointsmall-Event-Id": post.event_id,
        "X-Pointsmall-Timestamp": timestamp,
        "X-Pointsmall-Signature": sign(post.secret, timestamp, post.body),
    }
    status_code: int | None = None
    error: str | None = None
    try:
        # Checked again (a name may resolve elsewhere by now), and posted to the address that
        # was checked: a second resolution could be answered with another (DNS rebinding).
        target = await resolve_url(post.url, rt.webhooks)
        with trace or contextlib.nullcontext():
            response = await client.post(
                target.url,
                content=post.body,
                headers={**headers, "Host": target.host_header},
                extensions={"sni_hostname": target.server_name},
            )
        status_code = response.status_code
        if 200 <= status_code < 300:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = rt.clock.now()
        else:
            error = f"HTTP {status_code}"
    except DomainError as refused:
        error = refused.message
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}"
    delivery.attempts += 1
    delivery.last_status_code = status_code
    delivery.last_error = error
    if delivery.status is not DeliveryStatus.DELIVERED:
        now = rt.clock.now()
        if now - delivery.created_at >= GIVE_UP_AFTER:
            delivery.status = DeliveryStatus.DEAD
        else:
            delivery.next_attempt_at = now + retry_delay(delivery.attempts)
    await delivery.save(
        update_fields=["status", "attempts", "last_status_code", "last_error", "delivered_at",
                       "next_attempt_at"],
    )  # fmt: skip
    return delivery.status is DeliveryStatus.DELIVERED


async def _post(rt: Backends, client: httpx.AsyncClient, delivery: WebhookDelivery) -> bool:
    event, endpoint = delivery.event, delivery.endpoint
    body = json.dumps(
        {"id": event.event_id, "type": event.type, "createdAt": event.created_at.isoformat(),
         "data": event.payload}, separators=(",", ":"),
    ).encode()  # fmt: skip
    post = Post(endpoint.url, endpoint.secret, event.event_id, event.type, body)
    return await attempt(rt, client, post, delivery, _continued_trace(event))


def _continued_trace(event: WebhookEvent) -> AbstractContextManager[object]:
    """The trace of the change that emitted `event`, for its post; nothing when it had none."""
    if _trace_carrier is None or not event.trace_context:
        return contextlib.nullcontext()
    return _trace_carrier.continued(event.trace_context)


async def deliveries_page(
    principal: Principal, partner_id: int | None, request: PageRequest
) -> Page[WebhookDelivery]:
    """Deliveries to a partner's endpoints, newest first (a partner its own; admins name one),
    or, for admins naming none, to the brand's own."""
    partner_id = _owner_of(principal, partner_id)
    deliveries = WebhookDelivery.filter(endpoint__brand_id=principal.brand_id)
    if partner_id is None:
        deliveries = deliveries.filter(endpoint__partner_id__isnull=True)
    else:
        deliveries = deliveries.filter(endpoint__partner_id=partner_id)
    return await paginate(deliveries, request, ("id",), descending=True)


async def send_again(
    principal: Principal,
    operation: str,
    key: str | None,
    delivery_id: int,
    deliveries: QuerySet[Delivery],
    now: datetime,
) -> Delivery:
    """Send delivery `delivery_id`, found among `deliveries` (the caller's: a webhook's or a
    notice's), again soon, whatever became of it (a DEAD one gets a new day); NOT_FOUND if it
    is not there; once per idempotency key."""

    async def again(connection: BaseDBAsyncClient) -> Delivery:
        delivery = await deliveries.filter(id=delivery_id).using_db(connection).first()
        if delivery is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such delivery.", ["input", "id"])
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now
        delivery.created_at = now
        await delivery.save(
            using_db=connection, update_fields=["status", "next_attempt_at", "created_at"]
        )
        return delivery

    request = {"id": delivery_id}
    return await change_once(principal, operation, key, request, deliveries.model, again)


async def redeliver(
    principal: Principal, delivery_id: int, now: datetime, key: str | None = None
) -> WebhookDelivery:
    """Send a delivery again soon (see `send_again`): a partner its own, an admin any of the
    brand's."""
    deliveries = WebhookDelivery.filter(endpoint__brand_id=principal.brand_id)
    if principal.role is Role.PARTNER:
        deliveries = deliveries.filter(endpoint__partner_id=principal.partner_id)
    return await send_again(principal, "redeliverWebhook", key, delivery_id, deliveries, now)


def redemption_event(redemption: Redemption, item: CatalogItem, member_code: str) -> dict[str, Any]:
    """What a partner learns of a redemption of its offer (never the member's personal data)."""
    return {
        "redemptionId": encode_id("Redemption", redemption.id),
        "sku": item.sku,
        "quantity": redemption.quantity,
        "pointsSpent": redemption.points_spent,
        "status": redemption.status.value,
        "memberCode": member_code,
    }


def coupon_event(coupon: Coupon, item: CatalogItem, reference: str) -> dict[str, Any]:
    """What a partner learns of one of its offer's coupons used at a till."""
    assert coupon.redemption_id is not None  # a coupon in use was issued by a redemption
    return {
        "code": coupon.code,
        "redemptionId": encode_id("Redemption", coupon.redemption_id),
        "sku": item.sku,
        "reference": reference,
    }


def offer_event(item: CatalogItem) -> dict[str, Any]:
    """What a partner learns when the brand approves its offer."""
    return {"itemId": encode_id("CatalogItem", item.id), "sku": item.sku, "name": item.name}


def risk_flag_event(flag: Any) -> dict[str, Any]:
    """What the brand's own endpoints learn of a new risk flag (a row of `risk_flag`)."""
    entry_id = flag["entry_id"]
    details = flag["details"]
    return {
        "flagId": encode_id("RiskFlag", flag["id"]),
        "reason": flag["reason"],
        "details": orjson.loads(details) if isinstance(details, str) else details,
        "memberId": encode_id("Member", flag["member_id"]),
        "entryId": encode_id("LedgerEntry", entry_id) if entry_id is not None else None,
        "createdAt": flag["created_at"].isoformat(),
    }


async def event_of(delivery: WebhookDelivery) -> WebhookEvent:
    return await WebhookEvent.get(id=delivery.event_id)
