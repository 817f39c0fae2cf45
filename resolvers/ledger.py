"""Resolvers for points: balances, ledgers, movements and the live balance."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import strawberry

from domain import records
from domain.ledger import live, movements, reads
from domain.rules.engine import PurchaseLine, PurchaseRecord
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import Context, Info, principal_of, stream_takeover
from resolvers.ids import decode_id
from resolvers.loaders import Loaders
from resolvers.payloads import PayloadView, reports_user_errors


class PurchaseLineFields(Protocol):
    sku: str
    category: str
    quantity: int
    unit_price: Decimal


class PurchaseFields(Protocol):
    """A purchase, as recordPurchase's and previewEarn's inputs give it."""

    order_ref: str
    total: Decimal
    store_code: str | None
    occurred_at: datetime | None

    @property
    def lines(self) -> Sequence[PurchaseLineFields] | None: ...


class RecordPurchaseFields(PurchaseFields, Protocol):
    member_id: strawberry.ID
    idempotency_key: str


class ReversePurchaseFields(Protocol):
    member_id: strawberry.ID
    order_ref: str
    amount: Decimal | None
    idempotency_key: str


class AdjustPointsFields(Protocol):
    member_id: strawberry.ID
    points: int
    reason: str
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class EarnComponentView:
    rule: str
    description: str
    points: int


@dataclass(frozen=True, slots=True)
class BalanceChangeView:
    member: records.Member
    entry: records.LedgerEntry
    available: int
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MovementPayloadView(PayloadView):
    """A movement's payload: recordPurchase's, reversePurchase's, adjustPoints' and
    completeTask's."""

    entry: records.LedgerEntry | None
    member: records.Member | None


def prime_balance(info: Info, member_id: int, balance: reads.BalanceView | None) -> None:
    """The balance a movement left is known: the payload's `points` need not read it again."""
    if balance is not None:
        info.context.loaders.balance_by_member_id.prime(member_id, balance)


def moved(info: Info, movement: movements.Movement) -> MovementPayloadView:
    prime_balance(info, movement.member.id, movement.balance)
    return MovementPayloadView(entry=movement.entry, member=movement.member)


def purchase_of(input: PurchaseFields) -> PurchaseRecord:
    """The purchase a recordPurchase or previewEarn input describes."""
    return PurchaseRecord(
        order_ref=input.order_ref,
        total=input.total,
        store_code=input.store_code,
        lines=tuple(
            PurchaseLine(line.sku, line.category, line.quantity, line.unit_price)
            for line in input.lines or ()
        ),
        occurred_at=input.occurred_at,
    )


@reports_user_errors(MovementPayloadView)
async def record_purchase(info: Info, input: RecordPurchaseFields) -> MovementPayloadView:
    member_id = decode_id(input.member_id, "Member", "memberId")
    purchase = purchase_of(input)
    return moved(
        info,
        await movements.record_purchase(
            info.context.backends, principal_of(info), member_id, purchase, input.idempotency_key
        ),
    )


@reports_user_errors(MovementPayloadView)
async def reverse_purchase(info: Info, input: ReversePurchaseFields) -> MovementPayloadView:
    member_id = decode_id(input.member_id, "Member", "memberId")
    return moved(
        info,
        await movements.reverse_purchase(
            info.context.backends,
            principal_of(info),
            member_id,
            input.order_ref,
            input.amount,
            input.idempotency_key,
        ),
    )


@reports_user_errors(MovementPayloadView)
async def adjust_points(info: Info, input: AdjustPointsFields) -> MovementPayloadView:
    member_id = decode_id(input.member_id, "Member", "memberId")
    return moved(
        info,
        await movements.adjust(
            info.context.backends,
            principal_of(info),
            member_id,
            input.points,
            input.reason,
            input.idempotency_key,
        ),
    )


def balance_of(
    info: Info, member: records.Member
) -> reads.BalanceView | Awaitable[reads.BalanceView | None] | None:
    """The member's balance: at once when the request knows it already (a movement's payload
    was primed with it), so the response's completion stays synchronous; else an awaitable,
    loaded together with the other members' of the response."""
    loader = info.context.loaders.balance_by_member_id
    known = loader.cache_map.get(member.id)
    if known is not None and known.done() and not known.cancelled() and not known.exception():
        return known.result()
    return loader.load(member.id)


async def expiring(
    info: Info, balance: reads.BalanceView, within_days: int
) -> list[reads.ExpiringPoints]:
    return await reads.expiring(balance.member_id, info.context.backends.clock.now(), within_days)


async def ledger_of(
    info: Info,
    member: records.Member,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    kind: records.LedgerKind | None,
) -> ConnectionView[records.LedgerEntry]:
    request = page_request(first, after, last, before)
    return to_connection(await reads.ledger_page(principal_of(info), member.id, kind, request))


def components_of(breakdown: list[dict[str, Any]]) -> list[EarnComponentView]:
    """An earn's breakdown, as its entry keeps it (JSON: rule, description, points)."""
    return [EarnComponentView(**component) for component in breakdown]


def breakdown_of(entry: records.LedgerEntry) -> list[EarnComponentView]:
    return components_of(entry.breakdown)


async def store_of(info: Info, entry: records.LedgerEntry) -> records.Store | None:
    return await info.context.loaders.store_by_id.load(entry.store_id) if entry.store_id else None


class BalanceChangeOf:
    """The change an entry of the member's makes, for a subscriber: a plain object, not a
    closure, as it waits with the subscriber for hours."""

    __slots__ = ("context", "member")

    def __init__(self, context: Context, member: records.Member) -> None:
        self.context = context
        self.member = member

    def __call__(self, entry: records.LedgerEntry) -> BalanceChangeView:
        self.context.loaders = Loaders(self.context.backends)  # every event reads fresh data
        return BalanceChangeView(self.member, entry, entry.balance_after, entry.version)


async def balance_changed(
    info: Info, member_id: str | None, since_version: int | None
) -> AsyncIterator[BalanceChangeView]:
    """Check access first (a refusal is the subscription's error), then stream the changes."""
    context = info.context
    principal = principal_of(info)
    wanted = decode_id(member_id, "Member", "memberId") if member_id is not None else None
    member = await live.watched_member(principal, wanted)
    await live.starting_version(member, since_version)  # refuse a future version now

    watched = live.watch_entries(context.backends, member, since_version, principal.still_valid)
    change = BalanceChangeOf(context, member)
    takeover = stream_takeover.get()
    if takeover is not None:
        return takeover.after_first(watched, change, info)

    async def changes() -> AsyncIterator[BalanceChangeView]:
        async with aclosing(watched):
            async for entry in watched:
                yield change(entry)

    return changes()
