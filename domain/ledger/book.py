"""One member's points inside one transaction, from the moment their balance row is locked.

Every movement opens a book: it locks the member's balance row (so movements of one member run
one after another), expires the member's due lots first, then credits or debits. Most lock that
one balance row; a referral locks two: a movement that also writes to another member's points
(a referred member's first purchase paying the referrer's bonus, or its reversal on a full
refund) opens the referrer's book after its own, as one of its `companions`. A referrer joined
before the member they invited, so has the lower id: balance rows are always locked from the
higher member id to the lower, and no two movements wait for each other in a cycle
(docs/ledger.md, "Locks and their order"). The balance row, the entries and the lots
change together; the entries written are kept, to be published after commit, and each tells
its member by a notice written in the same transaction (domain/notices/outbox.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient

from db.models import (
    Balance,
    Brand,
    LedgerEntry,
    LedgerKind,
    Lot,
    LotConsumption,
    Member,
    MemberStatus,
    NoticeKind,
)
from db.rows import model_of
from db.sql import Sql
from domain.errors import DomainError, ErrorCode
from domain.insights.rollups import BookRollup
from domain.notices.outbox import NoticeDraft
from domain.risk import quick_redeem

EARNING_KINDS = {LedgerKind.EARN, LedgerKind.ADJUST}
# The notice each kind of entry sends its member (a refund's is its cancellation's).
ENTRY_NOTICES = {
    LedgerKind.EARN: NoticeKind.POINTS_EARNED,
    LedgerKind.REDEEM: NoticeKind.POINTS_SPENT,
    LedgerKind.EXPIRE: NoticeKind.POINTS_EXPIRED,
    LedgerKind.ADJUST: NoticeKind.POINTS_ADJUSTED,
    LedgerKind.REVERSAL: NoticeKind.POINTS_ADJUSTED,
}
# Points are GraphQL Ints (32-bit): no balance may grow past what the API can show.
MAX_BALANCE = 2**31 - 1


# The hot statements are hand-written (db/rows.py says why); the rarer paths use the ORM.
# The book's first: the balance row locked, with the member and the brand, each as a row value.
OPEN_BOOK_SQL = """
SELECT b AS balance, m AS member, br AS brand
FROM balance b JOIN member m ON m.id = b.member_id JOIN brand br ON br.id = m.brand_id
WHERE b.member_id = $1
FOR UPDATE OF b
"""
# Lots past their expiry, and held lots whose release time has come: each half by its own
# partial index (lot_live_by_expiry, lot_held_by_member), however long the member's ledger.
DUE_LOTS_SQL = """
SELECT id, remaining, expires_at, held_until FROM lot
WHERE member_id = $1 AND expired_at IS NULL AND remaining > 0 AND expires_at <= $2
UNION
SELECT id, remaining, expires_at, held_until FROM lot
WHERE member_id = $1 AND held_until <= $2 AND expired_at IS NULL AND remaining > 0
"""
EXPIRE_LOTS_SQL = "UPDATE lot SET remaining = 0, expired_at = $2 WHERE id = ANY($1::bigint[])"
RELEASE_LOTS_SQL = """
UPDATE lot SET held_until = NULL, remaining = released.remaining
FROM unnest($1::bigint[], $2::int[]) AS released (id, remaining)
WHERE lot.id = released.id
"""
SPENDABLE_LOTS_SQL = """
SELECT * FROM lot
WHERE member_id = $1 AND expired_at IS NULL AND remaining > 0 AND expires_at > $2
  AND held_until IS NULL
ORDER BY expires_at, id
"""
HELD_LOTS_OF_PURCHASE_SQL = """
SELECT * FROM lot
WHERE purchase_id = $1 AND expired_at IS NULL AND remaining > 0 AND held_until IS NOT NULL
ORDER BY expires_at, id
"""
INSERT_LOT_SQL = """
INSERT INTO lot (member_id, entry_id, purchase_id, points, remaining, earned_at, expires_at,
                 held_until)
VALUES ($1, $2, $3, $4, $4, $5, $6, $7)
"""
TAKE_FROM_LOT_SQL = "UPDATE lot SET remaining = $2 WHERE id = $1"
INSERT_CONSUMPTION_SQL = """
INSERT INTO lot_consumption (lot_id, entry_id, points, returned) VALUES ($1, $2, $3, 0)
"""
UPDATE_BALANCE_SQL = """
UPDATE balance SET available = $2, lifetime_earned = $3, lifetime_redeemed = $4, version = $5,
                   shortfall = $6, pending = $7
WHERE member_id = $1
"""
INSERT_ENTRY_SQL = """
INSERT INTO ledger_entry (brand_id, member_id, kind, points, balance_after, version, description,
                          created_at, actor, store_id, expires_at, breakdown, reason, order_ref,
                          shortfall, partner_id, tier_id, pending, pending_until)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
        $19)
RETURNING *
"""
# The entry's optional fields, as _append takes them, with their defaults.
ENTRY_FIELDS: dict[str, object] = {
    "store_id": None,
    "expires_at": None,
    "breakdown": [],
    "reason": None,
    "order_ref": None,
    "shortfall": 0,
    "partner_id": None,
    "pending": 0,
    "pending_until": None,
}


def shortfall_component(paid: int) -> dict[str, Any]:
    """The breakdown line of an earn that paid off points owed from an earlier refund."""
    return {
        "rule": "shortfall",
        "description": "Points owed from an earlier refund, paid off",
        "points": -paid,
    }


def lots_after_paying(lots: list[tuple[int, datetime]], paid: int) -> list[tuple[int, datetime]]:
    """New lots, soonest expiry first, once `paid` points owed are taken from the soonest."""
    kept = []
    for points, expires_at in sorted((lot for lot in lots if lot[0] > 0), key=lambda lot: lot[1]):
        taken = min(paid, points)
        paid -= taken
        if points - taken:
            kept.append((points - taken, expires_at))
    return kept


def check_active(member: Member, *, frozen_may: bool = False) -> None:
    """MEMBER_FROZEN unless the member is active (or frozen, where `frozen_may`)."""
    status = member.status
    if status is not MemberStatus.ACTIVE and not (frozen_may and status is MemberStatus.FROZEN):
        raise DomainError(
            ErrorCode.MEMBER_FROZEN, f"The member is {status.value.lower()}.", ["memberId"]
        )


@dataclass(frozen=True, slots=True)
class LastStatement:
    """A statement sent with the transaction's COMMIT (db/sql.py, `Sql.commit_with`), its values
    written into its text. When it takes nothing it calls refuse(code) with its refusal's code:
    the refusal is raised, and nothing is committed."""

    sql: str
    refusal: DomainError


class MemberBook:
    def __init__(
        self,
        connection: BaseDBAsyncClient,
        member: Member,
        balance: Balance,
        brand: Brand,
        now: datetime,
        actor: str,
    ) -> None:
        self.connection = connection
        self.sql = Sql(connection)
        self.member = member
        self.balance = balance
        self.brand = brand
        self.now = now
        self.actor = actor
        self.entries: list[LedgerEntry] = []
        self.tier_changes: list[int] = []  # ids of the tier changes this movement made
        # Books of other members the same movement wrote to (a referrer's bonus), in lock order.
        self.companions: list[MemberBook] = []
        # Ids of what the movement made beside its entry (a redemption), kept for its replays.
        self.outcome: dict[str, Any] = {}
        # Statements on a row that every movement of a kind waits for (a sale's `sold`, an item's
        # stock), each made right before it is sent: after the outcome is stored, with the
        # COMMIT in one message, so that row is locked for the commit alone.
        self.last_statements: list[Callable[[], LastStatement]] = []
        # Notices to the member, written when the book closes: one per entry (an earn's kind
        # may be set, a birthday gift's), and what the movement adds (its redemption's).
        self.notices: list[NoticeDraft] = []
        self.earn_notice = NoticeKind.POINTS_EARNED
        # Risk flags (reason, details) on the movement, written when the book closes, naming
        # the movement's entry.
        self.flags: list[tuple[str, dict[str, Any]]] = []
        self.flagged_entry: LedgerEntry | None = None
        # What the movement changes of the roll-ups, written when the book closes.
        zone = ZoneInfo(brand.timezone)
        self.rollup = BookRollup(member.id, member.brand_id, now.astimezone(zone).date(), zone)

    @classmethod
    async def open(
        cls,
        connection: BaseDBAsyncClient,
        member_id: int,
        now: datetime,
        actor: str,
        *,
        brand_id: int | None = None,
    ) -> MemberBook:
        """Lock the member's balance, read the member and their brand as of now, release their
        held lots whose time has come and expire their due lots.

        With `brand_id`, a member of another brand (or none) is NOT_FOUND.
        """
        row = await Sql(connection).fetchrow(OPEN_BOOK_SQL, member_id)
        if row is None or brand_id not in (None, row["member"]["brand_id"]):
            raise DomainError(ErrorCode.NOT_FOUND, "No such member.", ["memberId"])
        member, balance = model_of(Member, row["member"]), model_of(Balance, row["balance"])
        book = cls(connection, member, balance, model_of(Brand, row["brand"]), now, actor)
        await book.settle_due()
        return book

    async def settle_due(self) -> None:
        """Release the held lots whose time has come (one EARN entry), then take what remains
        of every lot past its expiry (one EXPIRE entry). A held lot never expires while held."""
        due = [dict(lot) for lot in await self.sql.fetch(DUE_LOTS_SQL, self.member.id, self.now)]
        released = [lot for lot in due if lot["held_until"] and lot["held_until"] <= self.now]
        if released:
            await self._release(released)
        expired = [
            lot
            for lot in due
            if lot["expires_at"] <= self.now and lot["remaining"] > 0
            and (lot["held_until"] is None or lot in released)
        ]  # fmt: skip
        if expired:
            total = sum(lot["remaining"] for lot in expired)
            await self.sql.execute(EXPIRE_LOTS_SQL, [lot["id"] for lot in expired], self.now)
            for lot in expired:
                self.rollup.lot(lot["expires_at"], -lot["remaining"])
            await self._append(LedgerKind.EXPIRE, -total, f"{total} points expired")

    async def _release(self, lots: list[dict[str, Any]]) -> None:
        """Held points become available, paying off any shortfall first from the live ones
        that expire soonest (a lot already past its expiry pays nothing: it expires next)."""
        total = sum(lot["remaining"] for lot in lots)
        live = sorted(
            (lot for lot in lots if lot["expires_at"] > self.now), key=lambda lot: lot["expires_at"]
        )
        paid = min(self.balance.shortfall, sum(lot["remaining"] for lot in live))
        self.balance.shortfall -= paid
        still_to_pay = paid
        for lot in live:
            part = min(lot["remaining"], still_to_pay)
            lot["remaining"] -= part
            still_to_pay -= part
            self.rollup.lot(lot["expires_at"], -part)
        await self.sql.execute(
            RELEASE_LOTS_SQL, [lot["id"] for lot in lots], [lot["remaining"] for lot in lots]
        )
        self.balance.pending -= total
        kept = [lot for lot in live if lot["remaining"]]
        await self._append(
            LedgerKind.EARN,
            total - paid,
            f"{total} pending points released",
            breakdown=[shortfall_component(paid)] if paid else [],
            expires_at=kept[0]["expires_at"] if kept else None,
            pending=-total,
        )

    async def credit(
        self,
        kind: LedgerKind,
        lots: list[tuple[int, datetime]],
        description: str,
        *,
        breakdown: list[dict[str, Any]],
        purchase_id: int | None = None,
        held_until: datetime | None = None,
        **entry_fields: object,
    ) -> LedgerEntry:
        """Add points as new lots, (points, expires at) each, after paying off any shortfall the
        member owes from the soonest-expiring of them. The entry shows the soonest expiry.

        With `held_until`, the points are pending until then: the lots are held, the entry's
        points are 0 and its `pending` says how many; the shortfall is paid on release."""
        points = sum(lot_points for lot_points, _ in lots if lot_points > 0)
        paid = 0 if held_until else min(self.balance.shortfall, points)
        if paid:
            self.balance.shortfall -= paid
            breakdown = [*breakdown, shortfall_component(paid)]
        kept = lots_after_paying(lots, paid)
        if held_until:
            self.balance.pending += points
            entry_fields |= {"pending": points, "pending_until": held_until}
        entry = await self._append(
            kind,
            0 if held_until else points - paid,
            description,
            breakdown=breakdown,
            expires_at=kept[0][1] if kept else None,
            **entry_fields,
        )
        for lot_points, expires_at in kept:
            self.rollup.lot(expires_at, lot_points)
            await self.sql.execute(
                INSERT_LOT_SQL,
                self.member.id,
                entry.id,
                purchase_id,
                lot_points,
                self.now,
                expires_at,
                held_until,
            )
        return entry

    async def debit(
        self,
        kind: LedgerKind,
        points: int,
        description: str,
        *,
        owe_the_rest: bool = False,
        first_lot_id: int | None = None,
        held_of_purchase: int | None = None,
        **entry_fields: object,
    ) -> LedgerEntry:
        """Take points from the lots that expire first (a named lot before all others).

        Without enough points this is INSUFFICIENT_POINTS, unless `owe_the_rest`: then the
        balance stops at zero and what is missing is recorded as a shortfall. With
        `held_of_purchase`, that purchase's pending points are cancelled first (a refund in
        its return window): they were never available, so they leave no shortfall.
        """
        parts: list[tuple[Lot, int]] = []  # what is taken from each lot
        if held_of_purchase is not None and self.balance.pending:
            for row in await self.sql.fetch(HELD_LOTS_OF_PURCHASE_SQL, held_of_purchase):
                part = min(row["remaining"], points - sum(taken for _, taken in parts))
                if part:
                    parts.append((model_of(Lot, row), part))
            pending = sum(part for _, part in parts)
            self.balance.pending -= pending
            points -= pending
            entry_fields["pending"] = -pending
        lots = await self._spendable_lots(first_lot_id) if points or not parts else []
        available = sum(lot.remaining for lot in lots)
        if kind is LedgerKind.REDEEM and (details := quick_redeem(lots, self.now)):
            self.flag("QUICK_REDEEM", details)
        if available < points and not owe_the_rest:
            raise DomainError(
                ErrorCode.INSUFFICIENT_POINTS,
                f"Only {available} points are available; {points} are needed.",
                ["points"],
            )
        taken = min(points, available)
        shortfall = points - taken
        self.balance.shortfall += shortfall
        entry = await self._append(kind, -taken, description, shortfall=shortfall, **entry_fields)
        still_to_take = taken
        for lot in lots:
            if not still_to_take:
                break
            part = min(lot.remaining, still_to_take)
            still_to_take -= part
            parts.append((lot, part))
        for lot, part in parts:
            lot.remaining -= part
            self.rollup.lot(lot.expires_at, -part)
            await self.sql.execute(TAKE_FROM_LOT_SQL, lot.id, lot.remaining)
            await self.sql.execute(INSERT_CONSUMPTION_SQL, lot.id, entry.id, part)
        return entry

    async def give_back(
        self,
        debit_entry_id: int,
        description: str,
        *,
        grace_expiry: datetime,
        **entry_fields: object,
    ) -> LedgerEntry | None:
        """Return what a debit took and has not yet returned, as one REFUND entry: to the lots
        it came from while they live; what came from lots that expired meanwhile comes back as
        one new lot expiring at `grace_expiry` (never reviving an expired lot). Any shortfall
        the member owes is paid off first. None when nothing is left to return."""
        consumptions = (
            await LotConsumption.filter(entry_id=debit_entry_id)
            .using_db(self.connection)
            .order_by("id")
        )
        owed = [(part, part.points - part.returned) for part in consumptions]
        owed = [(part, points) for part, points in owed if points > 0]
        if not owed:
            return None
        total = sum(points for _, points in owed)
        paid = min(self.balance.shortfall, total)
        self.balance.shortfall -= paid
        # The part paying the debt was redeemed and is now clawed back: neither redeemed nor
        # earned any more (the REFUND entry's own points leave the redeemed total below).
        self.balance.lifetime_redeemed -= paid
        self.balance.lifetime_earned -= paid
        breakdown = [shortfall_component(paid)] if paid else []
        lots = {
            lot.id: lot
            for lot in await Lot.filter(id__in=[part.lot_id for part, _ in owed]).using_db(
                self.connection
            )
        }
        still_to_pay, grace_points = paid, 0
        for part, points in owed:
            part.returned = part.points
            await part.save(using_db=self.connection, update_fields=["returned"])
            kept = points - min(still_to_pay, points)
            still_to_pay -= points - kept
            lot = lots[part.lot_id]
            if lot.expired_at is None and lot.expires_at > self.now:
                lot.remaining += kept
                self.rollup.lot(lot.expires_at, kept)
                await lot.save(using_db=self.connection, update_fields=["remaining"])
            else:
                grace_points += kept
        entry = await self._append(
            LedgerKind.REFUND,
            total - paid,
            description,
            breakdown=breakdown,
            expires_at=grace_expiry if grace_points else None,
            **entry_fields,
        )
        if grace_points:
            self.rollup.lot(grace_expiry, grace_points)
            await Lot.create(
                member_id=self.member.id,
                entry_id=entry.id,
                points=grace_points,
                remaining=grace_points,
                earned_at=self.now,
                expires_at=grace_expiry,
                using_db=self.connection,
            )
        return entry

    async def _spendable_lots(self, first_lot_id: int | None) -> list[Lot]:
        rows = await self.sql.fetch(SPENDABLE_LOTS_SQL, self.member.id, self.now)
        lots = [model_of(Lot, row) for row in rows]
        return sorted(lots, key=lambda lot: lot.id != first_lot_id)  # stable: FIFO otherwise

    async def _append(
        self, kind: LedgerKind, points: int, description: str, **fields: object
    ) -> LedgerEntry:
        balance = self.balance
        if balance.available + points > MAX_BALANCE:
            raise DomainError(
                ErrorCode.CAP_EXCEEDED,
                f"A balance cannot exceed {MAX_BALANCE} points.",
                ["points"],
            )
        balance.available += points
        balance.version += 1
        self.rollup.entry(kind, points)
        if kind in EARNING_KINDS and points > 0:
            balance.lifetime_earned += points
        elif kind is LedgerKind.REVERSAL:
            balance.lifetime_earned += points  # a reversal takes back what was earned
        elif kind in (LedgerKind.REDEEM, LedgerKind.REFUND):
            balance.lifetime_redeemed -= points  # a refund gives back what was redeemed
        await self.sql.execute(
            UPDATE_BALANCE_SQL,
            *(self.member.id, balance.available, balance.lifetime_earned),
            *(balance.lifetime_redeemed, balance.version, balance.shortfall, balance.pending),
        )
        unknown = fields.keys() - ENTRY_FIELDS.keys()
        if unknown:
            raise TypeError(f"unknown ledger entry fields: {sorted(unknown)}")
        given = ENTRY_FIELDS | fields
        row = await self.sql.fetchrow(
            INSERT_ENTRY_SQL,
            *(self.member.brand_id, self.member.id, kind.value, points, balance.available),
            *(balance.version, description, self.now, self.actor, given["store_id"]),
            *(given["expires_at"], orjson.dumps(given["breakdown"]).decode()),
            *(given["reason"], given["order_ref"], given["shortfall"], given["partner_id"]),
            *(self.member.tier_id, given["pending"], given["pending_until"]),
        )
        assert row is not None  # INSERT ... RETURNING: the row made
        entry = model_of(LedgerEntry, row)
        self.entries.append(entry)
        notice = self.earn_notice if kind is LedgerKind.EARN else ENTRY_NOTICES.get(kind)
        if notice is not None and points:
            self.tell(
                notice,
                f"entry:{entry.id}",
                points=points if notice is NoticeKind.POINTS_ADJUSTED else abs(points),
                balance=balance.available,
                reason=entry.reason or description,
            )
        return entry

    def flag(self, reason: str, details: dict[str, Any]) -> None:
        """A risk flag on the movement, for review (domain/risk.py)."""
        self.flags.append((reason, details))

    def tell(self, kind: NoticeKind, subject: str, **variables: Any) -> None:
        """A notice to the member, written with the movement (once per kind and subject)."""
        self.notices.append(NoticeDraft(self.member.id, kind, subject, variables))
