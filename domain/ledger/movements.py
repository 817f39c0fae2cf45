"""Movements of points: purchases earned, purchases reversed, adjustments.

Each runs in one transaction through a MemberBook, at most once per idempotency key, and
publishes its entries after commit.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from db.models import (
    Brand,
    LedgerEntry,
    LedgerKind,
    Lot,
    Member,
    MemberStatus,
    Purchase,
    Store,
    Tier,
)
from domain.errors import DomainError, ErrorCode
from domain.idempotency import run_once
from domain.ledger.book import MemberBook
from domain.ledger.events import publish_balance_changes, published_entries
from domain.ledger.policy import expiry_of
from domain.principal import Principal
from domain.runtime import Backends
from domain.tiers import publish_tier_changes, requalify

MAX_TOTAL = Decimal("1000000000")
MAX_ADJUSTMENT = 1_000_000_000
MAX_PURCHASE_AGE = timedelta(days=30)
CLOCK_SKEW = timedelta(minutes=5)
MAX_LINES = 500


@dataclass(frozen=True, slots=True)
class PurchaseLine:
    sku: str
    category: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class PurchaseRecord:
    order_ref: str
    total: Decimal
    store_code: str | None = None
    lines: tuple[PurchaseLine, ...] = ()
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Movement:
    """What a movement left: its entry (None when nothing moved) and the member after it."""

    entry: LedgerEntry | None
    member: Member


Write = Callable[[MemberBook, BaseDBAsyncClient], Awaitable[LedgerEntry | None]]


async def _move(
    rt: Backends,
    principal: Principal,
    operation: str,
    key: str,
    member_id: int,
    payload: dict[str, Any],
    write: Write,
    *,
    frozen_may: bool = False,
) -> Movement:
    """Lock the member's book, check their status, write, and publish after commit."""
    made: dict[str, Any] = {}

    async def movement(connection: BaseDBAsyncClient) -> dict[str, Any]:
        book = await MemberBook.open(
            connection,
            member_id,
            rt.clock.now(),
            principal.idempotency_scope,
            brand_id=principal.brand_id,
        )
        status = book.member.status
        if status is not MemberStatus.ACTIVE and not (frozen_may and status is MemberStatus.FROZEN):
            raise DomainError(
                ErrorCode.MEMBER_FROZEN, f"The member is {status.value.lower()}.", ["memberId"]
            )
        entry = await write(book, connection)
        made.update(entry=entry, member=book.member)
        return {
            "entry_id": entry.id if entry else None,
            "published": published_entries(book.entries),
            "tier_changes": book.tier_changes,
        }

    outcome, replayed = await run_once(principal, operation, key, payload, movement)
    if not replayed:
        await publish_balance_changes(rt, member_id, outcome["published"])
        await publish_tier_changes(rt, member_id, outcome["tier_changes"])
        return Movement(entry=made["entry"], member=made["member"])
    entry = await LedgerEntry.get(id=outcome["entry_id"]) if outcome["entry_id"] else None
    return Movement(entry=entry, member=await Member.get(id=member_id))


def _check_purchase(purchase: PurchaseRecord, now: datetime) -> None:
    if not 0 < purchase.total <= MAX_TOTAL:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"Total must be above 0 and at most {MAX_TOTAL}.", ["total"]
        )
    if not 1 <= len(purchase.order_ref.strip()) <= 64:
        raise DomainError(ErrorCode.INVALID_INPUT, "orderRef: 1 to 64 characters.", ["orderRef"])
    if purchase.occurred_at is not None and not (
        now - MAX_PURCHASE_AGE <= purchase.occurred_at <= now + CLOCK_SKEW
    ):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"occurredAt must be within the last {MAX_PURCHASE_AGE.days} days, not in the future.",
            ["occurredAt"],
        )
    if len(purchase.lines) > MAX_LINES:
        raise DomainError(ErrorCode.INVALID_INPUT, f"At most {MAX_LINES} lines.", ["lines"])
    for index, line in enumerate(purchase.lines):
        if not 1 <= line.quantity <= 1_000_000 or not 0 <= line.unit_price <= MAX_TOTAL:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "A line needs a quantity from 1 and a unit price from 0.",
                ["lines", str(index)],
            )


def purchase_points(brand: Brand, tier: Tier, total: Decimal) -> tuple[int, list[dict[str, Any]]]:
    """Points for spending `total`: the brand's base rate, rounded down, then the member's tier
    multiplier on top; with one component per reason."""
    points = math.floor(total * brand.earn_rate)
    rate = f"{brand.earn_rate.normalize():f}"
    description = f"{rate} point{'s' if rate != '1' else ''} per 1.00 spent on {total:.2f}"
    breakdown = [{"rule": "base", "description": description, "points": points}]
    bonus = math.floor(points * tier.earn_multiplier) - points
    if bonus:
        multiplier = f"{tier.earn_multiplier.normalize():f}"
        breakdown.append(
            {"rule": "tier", "description": f"{tier.name} tier: x{multiplier}", "points": bonus}
        )
    return points + bonus, breakdown


EXPIRED_POINTS_SQL = """
SELECT COALESCE(SUM(lot.points - lot.remaining - COALESCE(
    (SELECT SUM(taken.points - taken.returned) FROM lot_consumption taken
     WHERE taken.lot_id = lot.id), 0)), 0) AS points
FROM lot
WHERE lot.purchase_id = $1 AND lot.expired_at IS NOT NULL
"""


async def expired_points_of(connection: BaseDBAsyncClient, purchase_id: int) -> int:
    """Points a purchase earned that expired unspent."""
    rows = await connection.execute_query_dict(EXPIRED_POINTS_SQL, [purchase_id])
    return int(rows[0]["points"])


async def record_purchase(
    rt: Backends, principal: Principal, member_id: int, purchase: PurchaseRecord, key: str
) -> Movement:
    """Earn points for a purchase in any of the brand's stores; an order is recorded once.

    Checked inside the movement, after its idempotency key: a retry of a purchase that was
    recorded gets the first answer, even once its occurredAt has grown too old to record.
    """
    brand = await Brand.get(id=principal.brand_id)
    order_ref = purchase.order_ref.strip()

    async def write(book: MemberBook, connection: BaseDBAsyncClient) -> LedgerEntry:
        _check_purchase(purchase, book.now)
        tier = await Tier.get(id=book.member.tier_id).using_db(connection)
        points, breakdown = purchase_points(brand, tier, purchase.total)
        store = None
        if purchase.store_code:
            store = await Store.get_or_none(brand_id=brand.id, code=purchase.store_code)
            if store is None:
                raise DomainError(ErrorCode.NOT_FOUND, "No such store.", ["storeCode"])
        occurred_at = purchase.occurred_at or book.now
        expires_at = expiry_of(brand, occurred_at)
        if expires_at <= book.now:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "The points of a purchase this old would have expired already.",
                ["occurredAt"],
            )
        entry = await book.credit(
            LedgerKind.EARN,
            points,
            f"Purchase {order_ref}",
            expires_at=expires_at,
            breakdown=breakdown,
            store_id=store.id if store else None,
            order_ref=order_ref,
        )
        try:
            record = await Purchase.create(
                brand_id=brand.id,
                member_id=member_id,
                store_id=store.id if store else None,
                order_ref=order_ref,
                total=purchase.total,
                occurred_at=occurred_at,
                points_earned=points,
                earn_entry_id=entry.id,
                using_db=connection,
            )
        except IntegrityError:
            raise DomainError(
                ErrorCode.DUPLICATE, "This order was recorded already.", ["orderRef"]
            ) from None
        await Lot.filter(entry_id=entry.id).using_db(connection).update(purchase_id=record.id)
        change = await requalify(connection, book.member, brand, book.now, may_go_down=False)
        if change is not None:
            book.tier_changes.append(change.id)
        return entry

    payload = {
        "member": member_id,
        "order": order_ref,
        "total": f"{purchase.total:.2f}",
        "store": purchase.store_code,
        "lines": [
            [line.sku, line.category, line.quantity, f"{line.unit_price:.2f}"]
            for line in purchase.lines
        ],
        "at": purchase.occurred_at.astimezone(UTC).isoformat() if purchase.occurred_at else None,
    }
    return await _move(rt, principal, "recordPurchase", key, member_id, payload, write)


async def reverse_purchase(
    rt: Backends,
    principal: Principal,
    member_id: int,
    order_ref: str,
    amount: Decimal | None,
    key: str,
) -> Movement:
    """Claw back a refunded purchase's points, in proportion, never more than were earned.

    Unspent points of that purchase go first, then FIFO; what the member has already spent
    is recorded as a shortfall that later earns pay off. Points of the purchase that expired
    before the refund are not clawed back: the member has lost them once already.
    """
    if amount is not None and not 0 < amount <= MAX_TOTAL:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"The refunded amount must be above 0 and at most {MAX_TOTAL}.",
            ["amount"],
        )

    async def write(book: MemberBook, connection: BaseDBAsyncClient) -> LedgerEntry | None:
        # Looked up once the member is known to be the caller's (else memberId is NOT_FOUND).
        record = (
            await Purchase.select_for_update()
            .using_db(connection)
            .get_or_none(
                brand_id=principal.brand_id, member_id=member_id, order_ref=order_ref.strip()
            )
        )
        if record is None:
            raise DomainError(
                ErrorCode.NOT_FOUND, "No such purchase for this member.", ["orderRef"]
            )
        refundable = record.total - record.refunded_amount
        refund = refundable if amount is None else amount
        if refund <= 0 or refund > refundable:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"At most {refundable:.2f} of this purchase is left to refund.",
                ["amount"],
            )
        record.refunded_amount += refund
        proportional = math.floor(record.points_earned * record.refunded_amount / record.total)
        # Points of this purchase that expired are gone already: they are not taken again.
        clawable = record.points_earned - await expired_points_of(connection, record.id)
        claw = max(min(proportional, clawable) - record.points_reversed, 0)
        record.points_reversed += claw
        await record.save(using_db=connection, update_fields=["refunded_amount", "points_reversed"])
        if claw == 0:
            return None
        first_lot = await Lot.filter(purchase_id=record.id).using_db(connection).first()
        return await book.debit(
            LedgerKind.REVERSAL,
            claw,
            f"Refund of {refund:.2f} on purchase {record.order_ref}",
            owe_the_rest=True,
            first_lot_id=first_lot.id if first_lot else None,
            store_id=record.store_id,
            order_ref=record.order_ref,
        )

    payload = {
        "member": member_id,
        "order": order_ref.strip(),
        "amount": None if amount is None else f"{amount:.2f}",
    }
    return await _move(
        rt, principal, "reversePurchase", key, member_id, payload, write, frozen_may=True
    )


async def adjust(
    rt: Backends, principal: Principal, member_id: int, points: int, reason: str, key: str
) -> Movement:
    """An admin's correction: positive adds a lot with the default expiry, negative spends FIFO."""
    if points == 0 or abs(points) > MAX_ADJUSTMENT:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"Points must be non-zero and at most {MAX_ADJUSTMENT} either way.",
            ["points"],
        )
    reason = reason.strip()
    if not 1 <= len(reason) <= 500:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Give a reason (up to 500 characters).", ["reason"]
        )
    brand = await Brand.get(id=principal.brand_id)

    async def write(book: MemberBook, connection: BaseDBAsyncClient) -> LedgerEntry:
        description = f"Adjustment: {reason}"
        if points > 0:
            return await book.credit(
                LedgerKind.ADJUST,
                points,
                description,
                expires_at=expiry_of(brand, book.now),
                breakdown=[{"rule": "adjustment", "description": reason, "points": points}],
                reason=reason,
            )
        return await book.debit(LedgerKind.ADJUST, -points, description, reason=reason)

    payload = {"member": member_id, "points": points, "reason": reason}
    return await _move(rt, principal, "adjustPoints", key, member_id, payload, write)
