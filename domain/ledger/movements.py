"""Movements of points: purchases earned, purchases reversed, adjustments.

Each runs in one transaction through a MemberBook, at most once per idempotency key, and
publishes its entries after commit.

Design: docs/ledger.md, "A movement".
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from db.models import Award, AwardKind, LedgerEntry, LedgerKind, Lot, Member, Purchase
from db.sql import Refused, Sql
from domain.errors import DomainError, ErrorCode
from domain.idempotency import run_once
from domain.insights.rollups import record_rollups
from domain.ledger.book import MemberBook, check_active
from domain.ledger.events import publish_balance_changes, published_entries
from domain.ledger.policy import expiry_of, held_until
from domain.ledger.reads import BalanceView, balance_view
from domain.member_facts import forget_facts
from domain.notices.outbox import publish_notices, record
from domain.principal import Principal
from domain.risk import LARGE_ADJUSTMENT, FlagDraft, record_flags
from domain.rules.bonuses import pay_referrer
from domain.rules.earning import MAX_TOTAL, assess_purchase
from domain.rules.engine import PurchaseRecord, spend_by_category
from domain.runtime import Backends
from domain.tiers import publish_tier_changes, requalify
from domain.velocity import Admission, VelocityKind, admit

MAX_ADJUSTMENT = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Movement:
    """What a movement left: its entry (None when nothing moved), the member after it, and
    what else the write kept in `book.outcome` (ids of records it made); and the member's
    balance as it left it (None for a replay, which reads it afresh)."""

    entry: LedgerEntry | None
    member: Member
    outcome: dict[str, Any]
    replayed: bool = False
    balance: BalanceView | None = None


Write = Callable[[MemberBook, BaseDBAsyncClient], Awaitable[LedgerEntry | None]]


async def close_books(book: MemberBook) -> list[list[Any]]:
    """Before commit: write the roll-ups and notices of every member the movement wrote to;
    what to publish after commit, per member (see `publish_books`)."""
    written = (book, *book.companions)
    await record_rollups(book.connection, [one.rollup for one in written])
    flags = [
        FlagDraft(one.member.brand_id, one.member.id,
                  one.flagged_entry.id if one.flagged_entry else None, reason, details)
        for one in written
        for reason, details in one.flags
    ]  # fmt: skip
    await record_flags(book.connection, flags, book.now)
    notices = await record(
        book.connection, book.brand, book.now, [draft for one in written for draft in one.notices]
    )
    return [
        [
            one.member.id,
            published_entries(one.entries),
            one.tier_changes,
            [notice for notice in notices if notice["memberId"] == one.member.id],
        ]
        for one in written
    ]


async def publish_books(rt: Backends, books: list[list[Any]]) -> None:
    """After commit: each member's new entries, tier changes and notices."""
    for member_id, published, tier_changes, notices in books:
        await publish_balance_changes(rt, member_id, published)
        if tier_changes:
            await forget_facts(rt, member_id)
            await publish_tier_changes(rt, member_id, tier_changes)
        await publish_notices(rt, notices)


async def move(
    rt: Backends,
    principal: Principal,
    operation: str,
    key: str,
    member_id: int,
    payload: dict[str, Any],
    write: Write,
    *,
    frozen_may: bool = False,
    counted: dict[VelocityKind, str] | None = None,
) -> Movement:
    """Lock the member's book, check their status and the brand's velocity limits on what the
    movement counts as (`counted`), write, and publish after commit; at most once per
    idempotency key (a replay returns the first movement's entry and outcome)."""
    made: dict[str, Any] = {}
    opened: list[MemberBook] = []
    admitted: list[Admission] = []

    async def movement(connection: BaseDBAsyncClient) -> dict[str, Any]:
        book = await MemberBook.open(
            connection,
            member_id,
            rt.clock.now(),
            principal.idempotency_scope,
            brand_id=principal.brand_id,
        )
        opened.append(book)
        check_active(book.member, frozen_may=frozen_may)
        if counted:
            admitted.append(await admit(rt, book.brand, counted, book.now))
            for limit in admitted[-1].flagged:
                book.flag("VELOCITY", limit.as_json())
        entry = await write(book, connection)
        book.flagged_entry = entry  # what a flag on the movement names
        balance = book.balance
        made.update(
            books=await close_books(book),
            entry=entry,
            member=book.member,
            balance=balance_view(
                *(book.member.id, balance.available, balance.version),
                *(balance.lifetime_earned, balance.lifetime_redeemed, balance.pending),
            ),
        )
        return {**book.outcome, "entry_id": entry.id if entry else None}

    async def last(sql: Sql) -> None:
        statements = [make() for make in opened[0].last_statements]
        if not statements:
            return  # the transaction commits as any other
        try:
            await sql.commit_with([statement.sql for statement in statements])
        except Refused as refused:
            refusals = {statement.refusal.code.value: statement.refusal for statement in statements}
            raise refusals[refused.code] from refused

    try:
        outcome, replayed = await run_once(principal, operation, key, payload, movement, last=last)
    except BaseException:
        for admission in admitted:  # the movement did not happen: its places go back
            await admission.give_back()
        raise
    if not replayed:
        await publish_books(rt, made.pop("books"))  # of the attempt that committed
        return Movement(outcome=outcome, **made)
    entry = await LedgerEntry.get(id=outcome["entry_id"]) if outcome["entry_id"] else None
    member = await Member.get(id=member_id)
    return Movement(entry=entry, member=member, outcome=outcome, replayed=True)


EXPIRED_POINTS_SQL = """
SELECT COALESCE(SUM(lot.points - lot.remaining - COALESCE(
    (SELECT SUM(taken.points - taken.returned) FROM lot_consumption taken
     WHERE taken.lot_id = lot.id), 0)), 0) AS points
FROM lot
WHERE lot.purchase_id = $1 AND lot.expired_at IS NOT NULL
"""


INSERT_PURCHASE_SQL = """
INSERT INTO purchase (brand_id, partner_id, member_id, store_id, order_ref, total, occurred_at,
                      earn_day, categories, points_earned, earn_entry_id, refunded_amount,
                      points_reversed)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, 0)
RETURNING id
"""
LINK_LOTS_SQL = "UPDATE lot SET purchase_id = $2 WHERE entry_id = $1"


async def expired_points_of(connection: BaseDBAsyncClient, purchase_id: int) -> int:
    """Points a purchase earned that expired unspent."""
    rows = await connection.execute_query_dict(EXPIRED_POINTS_SQL, [purchase_id])
    return int(rows[0]["points"])


async def record_purchase(
    rt: Backends, principal: Principal, member_id: int, purchase: PurchaseRecord, key: str
) -> Movement:
    """Earn points for a purchase in any of the brand's stores, as the brand's rules say; an
    order is recorded once. A referred member's first purchase also rewards their referrer.

    Checked inside the movement, after its idempotency key: a retry of a purchase that was
    recorded gets the first answer, even once its occurredAt has grown too old to record.
    """
    order_ref = purchase.order_ref.strip()

    async def write(book: MemberBook, connection: BaseDBAsyncClient) -> LedgerEntry:
        brand = book.brand
        earned = await assess_purchase(
            connection, brand, book.member, purchase, book.now, book.balance.shortfall,
            principal.partner_code,
        )  # fmt: skip
        for reason, details in earned.flags:
            book.flag(reason, details)
        entry = await book.credit(
            LedgerKind.EARN,
            earned.lots,
            "Purchase",
            breakdown=earned.breakdown(),
            store_id=earned.store_id,
            order_ref=order_ref,
            partner_id=principal.partner_id,
            held_until=held_until(brand, book.now),
        )
        categories = {
            category: f"{spent:.2f}"
            for category, spent in spend_by_category(purchase.lines).items()
        }
        try:
            record = await book.sql.fetchrow(
                INSERT_PURCHASE_SQL,
                *(brand.id, principal.partner_id, member_id, earned.store_id, order_ref),
                *(purchase.total, earned.occurred_at, earned.earn_day),
                *(json.dumps(categories), earned.earn.points, entry.id),
            )
        except IntegrityError:
            raise DomainError(
                ErrorCode.DUPLICATE, "This order was recorded already.", ["orderRef"]
            ) from None
        assert record is not None  # INSERT ... RETURNING: the row made
        await book.sql.execute(LINK_LOTS_SQL, entry.id, record["id"])
        if any(expires_at <= book.now for _, expires_at in earned.lots):
            await book.settle_due()  # a rule's short-lived points, past due for an old purchase
        if earned.earn.referral is not None:
            await pay_referrer(
                book, brand, earned.earn.referral, book.member.display_name, earned.earn_day
            )
        for written in (book, *book.companions):
            change = await requalify(
                connection, written.member, brand, book.now, may_go_down=False,
                notices=written.notices, unwritten=written.rollup.qualifying,
            )  # fmt: skip
            if change is not None:
                written.tier_changes.append(change.id)
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
    counted = {
        VelocityKind.EARNS_PER_MEMBER: str(member_id),
        VelocityKind.PURCHASES_PER_ACTOR: principal.idempotency_scope,
    }
    if purchase.store_code:
        counted[VelocityKind.PURCHASES_PER_STORE] = purchase.store_code.strip().upper()
    return await move(
        rt, principal, "recordPurchase", key, member_id, payload, write, counted=counted
    )


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
                brand_id=principal.brand_id,
                partner_id=principal.partner_id,
                member_id=member_id,
                order_ref=order_ref.strip(),
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
        if record.refunded_amount >= record.total:
            await take_back_referral(book, record)
        if claw == 0:
            return None
        first_lot = await Lot.filter(purchase_id=record.id).using_db(connection).first()
        return await book.debit(
            LedgerKind.REVERSAL,
            claw,
            f"Refund of {refund:.2f} on a purchase",
            owe_the_rest=True,
            first_lot_id=first_lot.id if first_lot else None,
            held_of_purchase=record.id,
            store_id=record.store_id,
            order_ref=record.order_ref,
            partner_id=record.partner_id,
        )

    payload = {
        "member": member_id,
        "order": order_ref.strip(),
        "amount": None if amount is None else f"{amount:.2f}",
    }
    return await move(
        rt, principal, "reversePurchase", key, member_id, payload, write, frozen_may=True
    )


async def take_back_referral(book: MemberBook, refunded: Purchase) -> None:
    """A first purchase refunded in full pays no referral: the referrer's bonus for it is
    reversed (once; what they spent of it is owed, as any reversal's), in the same movement."""
    purchases = Purchase.filter(member_id=book.member.id).using_db(book.connection)
    first = await purchases.order_by("id").first()
    if first is None or first.id != refunded.id:
        return
    award = (
        await Award.select_for_update()
        .using_db(book.connection)
        .get_or_none(
            kind=AwardKind.REFERRAL_REFERRER, once_key=str(book.member.id), reversed_by_id=None
        )
    )
    if award is None or award.entry_id is None or award.points <= 0:
        return
    # The referrer's balance after the member's, as when the bonus was paid: from the higher
    # member id to the lower (book.py).
    assert award.member_id < book.member.id
    referrer = await MemberBook.open(book.connection, award.member_id, book.now, book.actor)
    bonus_lot = await Lot.filter(entry_id=award.entry_id).using_db(book.connection).first()
    entry = await referrer.debit(
        LedgerKind.REVERSAL,
        award.points,
        f"Referral bonus reversed: {book.member.display_name}'s first purchase was refunded",
        owe_the_rest=True,
        first_lot_id=bonus_lot.id if bonus_lot else None,
        order_ref=refunded.order_ref,
    )
    award.reversed_by_id = entry.id
    await award.save(using_db=book.connection, update_fields=["reversed_by_id"])
    book.companions.append(referrer)


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

    async def write(book: MemberBook, connection: BaseDBAsyncClient) -> LedgerEntry:
        description = f"Adjustment: {reason}"
        if abs(points) >= LARGE_ADJUSTMENT:
            book.flag("LARGE_ADJUSTMENT", {"points": points, "reason": reason})
        if points > 0:
            return await book.credit(
                LedgerKind.ADJUST,
                [(points, expiry_of(book.brand, book.now))],
                description,
                breakdown=[{"rule": "adjustment", "description": reason, "points": points}],
                reason=reason,
            )
        return await book.debit(LedgerKind.ADJUST, -points, description, reason=reason)

    payload = {"member": member_id, "points": points, "reason": reason}
    return await move(rt, principal, "adjustPoints", key, member_id, payload, write)
