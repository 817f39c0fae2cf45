"""Resolvers for points: balances, ledgers, movements and the live balance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from domain.ledger import live, movements, reads
from domain.rules.engine import PurchaseLine, PurchaseRecord
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import principal_of
from resolvers.ids import decode_id
from resolvers.loaders import Loaders
from resolvers.payloads import Payload, reports_user_errors


@dataclass(frozen=True, slots=True)
class EarnComponentView:
    rule: str
    description: str
    points: int


@dataclass(frozen=True, slots=True)
class BalanceChangeView:
    member: Any
    entry: Any
    available: int
    version: int


def prime_balance(info: Any, member_id: int, balance: reads.BalanceView | None) -> None:
    """The balance a movement left is known: the payload's `points` need not read it again."""
    if balance is not None:
        info.context.loaders.balance_by_member_id.prime(member_id, balance)


def moved(info: Any, movement: movements.Movement) -> Payload:
    prime_balance(info, movement.member.id, movement.balance)
    return Payload(entry=movement.entry, member=movement.member)


def purchase_of(input: Any) -> PurchaseRecord:
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


@reports_user_errors
async def record_purchase(info: Any, input: Any) -> Payload:
    member_id = decode_id(input.member_id, "Member", "memberId")
    purchase = purchase_of(input)
    return moved(
        info,
        await movements.record_purchase(
            info.context.backends, principal_of(info), member_id, purchase, input.idempotency_key
        ),
    )


@reports_user_errors
async def reverse_purchase(info: Any, input: Any) -> Payload:
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


@reports_user_errors
async def adjust_points(info: Any, input: Any) -> Payload:
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


def balance_of(info: Any, member: Any) -> Any:
    """The member's balance: at once when the request knows it already (a movement's payload
    was primed with it), so the response's completion stays synchronous; else an awaitable,
    loaded together with the other members' of the response."""
    loader = info.context.loaders.balance_by_member_id
    known = loader.cache_map.get(member.id)
    if known is not None and known.done() and not known.cancelled() and not known.exception():
        return known.result()
    return loader.load(member.id)


async def expiring(info: Any, balance: Any, within_days: int) -> list[Any]:
    return await reads.expiring(balance.member_id, info.context.backends.clock.now(), within_days)


async def ledger_of(
    info: Any,
    member: Any,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    kind: Any,
) -> ConnectionView:
    request = page_request(first, after, last, before)
    return to_connection(await reads.ledger_page(principal_of(info), member.id, kind, request))


def components_of(breakdown: list[dict[str, Any]]) -> list[EarnComponentView]:
    return [EarnComponentView(**component) for component in breakdown]


def breakdown_of(entry: Any) -> list[EarnComponentView]:
    return components_of(entry.breakdown)


async def store_of(info: Any, entry: Any) -> Any:
    return await info.context.loaders.store_by_id.load(entry.store_id) if entry.store_id else None


async def balance_changed(
    info: Any, member_id: str | None, since_version: int | None
) -> AsyncIterator[BalanceChangeView]:
    """Check access first (a refusal is the subscription's error), then stream the changes."""
    context = info.context
    principal = principal_of(info)
    wanted = decode_id(member_id, "Member", "memberId") if member_id is not None else None
    member = await live.watched_member(principal, wanted)
    await live.starting_version(member, since_version)  # refuse a future version now

    async def changes() -> AsyncIterator[BalanceChangeView]:
        watched = live.watch_entries(context.backends, member, since_version, principal.still_valid)
        async for entry in watched:
            context.loaders = Loaders(context.backends)  # every event reads fresh data
            yield BalanceChangeView(member, entry, entry.balance_after, entry.version)

    return changes()
