"""One member's points inside one transaction, from the moment their balance row is locked.

Every movement opens a book: it locks the member's balance row (so movements of one member run
one after another, and never deadlock, since each locks exactly one such row), expires the
member's due lots first, then credits or debits. The balance row, the entries and the lots
change together; the entries written are kept, to be published after commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from db.models import Balance, LedgerEntry, LedgerKind, Lot, LotConsumption, Member
from domain.errors import DomainError, ErrorCode

EARNING_KINDS = {LedgerKind.EARN, LedgerKind.ADJUST}
# Points are GraphQL Ints (32-bit): no balance may grow past what the API can show.
MAX_BALANCE = 2**31 - 1


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


class MemberBook:
    def __init__(
        self,
        connection: BaseDBAsyncClient,
        member: Member,
        balance: Balance,
        now: datetime,
        actor: str,
    ) -> None:
        self.connection = connection
        self.member = member
        self.balance = balance
        self.now = now
        self.actor = actor
        self.entries: list[LedgerEntry] = []
        self.tier_changes: list[int] = []  # ids of the tier changes this movement made
        # Books of other members the same movement wrote to (a referrer's bonus), in lock order.
        self.companions: list[MemberBook] = []
        # Ids of what the movement made beside its entry (a redemption), kept for its replays.
        self.outcome: dict[str, Any] = {}

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
        """Lock the member's balance, read the member as of now, and expire their due lots.

        With `brand_id`, a member of another brand (or none) is NOT_FOUND.
        """
        balance = (
            await Balance.select_for_update().using_db(connection).get_or_none(member_id=member_id)
        )
        member = await Member.get_or_none(id=member_id).using_db(connection)
        if balance is None or member is None or brand_id not in (None, member.brand_id):
            raise DomainError(ErrorCode.NOT_FOUND, "No such member.", ["memberId"])
        book = cls(connection, member, balance, now, actor)
        await book.expire_due()
        return book

    async def expire_due(self) -> LedgerEntry | None:
        """Take what remains of every lot past its expiry, in one EXPIRE entry."""
        due = await Lot.filter(
            member_id=self.member.id, expired_at=None, remaining__gt=0, expires_at__lte=self.now
        ).using_db(self.connection)
        if not due:
            return None
        total = sum(lot.remaining for lot in due)
        await (
            Lot.filter(id__in=[lot.id for lot in due])
            .using_db(self.connection)
            .update(remaining=0, expired_at=self.now)
        )
        return await self._append(LedgerKind.EXPIRE, -total, f"{total} points expired")

    async def credit(
        self,
        kind: LedgerKind,
        lots: list[tuple[int, datetime]],
        description: str,
        *,
        breakdown: list[dict[str, Any]],
        purchase_id: int | None = None,
        **entry_fields: Any,
    ) -> LedgerEntry:
        """Add points as new lots, (points, expires at) each, after paying off any shortfall the
        member owes from the soonest-expiring of them. The entry shows the soonest expiry."""
        points = sum(lot_points for lot_points, _ in lots if lot_points > 0)
        paid = min(self.balance.shortfall, points)
        if paid:
            self.balance.shortfall -= paid
            breakdown = [*breakdown, shortfall_component(paid)]
        kept = lots_after_paying(lots, paid)
        entry = await self._append(
            kind,
            points - paid,
            description,
            breakdown=breakdown,
            expires_at=kept[0][1] if kept else None,
            **entry_fields,
        )
        for lot_points, expires_at in kept:
            await Lot.create(
                member_id=self.member.id,
                entry_id=entry.id,
                purchase_id=purchase_id,
                points=lot_points,
                remaining=lot_points,
                earned_at=self.now,
                expires_at=expires_at,
                using_db=self.connection,
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
        **entry_fields: Any,
    ) -> LedgerEntry:
        """Take points from the lots that expire first (a named lot before all others).

        Without enough points this is INSUFFICIENT_POINTS, unless `owe_the_rest`: then the
        balance stops at zero and what is missing is recorded as a shortfall.
        """
        lots = await self._spendable_lots(first_lot_id)
        available = sum(lot.remaining for lot in lots)
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
            lot.remaining -= part
            still_to_take -= part
            await lot.save(using_db=self.connection, update_fields=["remaining"])
            await LotConsumption.create(
                lot_id=lot.id, entry_id=entry.id, points=part, using_db=self.connection
            )
        return entry

    async def give_back(
        self,
        debit_entry_id: int,
        description: str,
        *,
        grace_expiry: datetime,
        **entry_fields: Any,
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
        lots = (
            await Lot.filter(
                member_id=self.member.id, expired_at=None, remaining__gt=0, expires_at__gt=self.now
            )
            .using_db(self.connection)
            .order_by("expires_at", "id")
        )
        return sorted(lots, key=lambda lot: lot.id != first_lot_id)  # stable: FIFO otherwise

    async def _append(
        self, kind: LedgerKind, points: int, description: str, **fields: Any
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
        if kind in EARNING_KINDS and points > 0:
            balance.lifetime_earned += points
        elif kind is LedgerKind.REVERSAL:
            balance.lifetime_earned += points  # a reversal takes back what was earned
        elif kind in (LedgerKind.REDEEM, LedgerKind.REFUND):
            balance.lifetime_redeemed -= points  # a refund gives back what was redeemed
        await balance.save(using_db=self.connection)
        entry = await LedgerEntry.create(
            brand_id=self.member.brand_id,
            member_id=self.member.id,
            kind=kind,
            points=points,
            balance_after=balance.available,
            version=balance.version,
            description=description,
            created_at=self.now,
            actor=self.actor,
            using_db=self.connection,
            **fields,
        )
        self.entries.append(entry)
        return entry
