"""Reading the ledger's record straight from PostgreSQL, to check what the API said."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from db.models import Balance, LedgerEntry, Lot, LotConsumption, Purchase
from resolvers.ids import parse_id


def pk(global_id: str) -> int:
    parsed = parse_id(global_id)
    assert parsed is not None, global_id
    return parsed[1]


async def entries(member_id: str) -> list[LedgerEntry]:
    return await LedgerEntry.filter(member_id=pk(member_id)).order_by("version")


async def lots(member_id: str) -> list[Lot]:
    return await Lot.filter(member_id=pk(member_id)).order_by("id")


async def lot_of_entry(entry_id: str) -> Lot:
    return await Lot.get(entry_id=pk(entry_id))


async def taken_by(entry_id: str) -> list[tuple[int, int]]:
    """(lot id, points) a debit took, in the order it took them."""
    rows = await LotConsumption.filter(entry_id=pk(entry_id)).order_by("id")
    return [(row.lot_id, row.points) for row in rows]


async def purchase(brand, order_ref: str) -> Purchase:
    return await Purchase.get(brand_id=brand.id, order_ref=order_ref)


@dataclass(frozen=True)
class Snapshot:
    """Everything a movement would change: compared before and after a refused one."""

    balance: tuple[int, int, int, int, int]
    entries: int
    lots: list[tuple[int, int, object]]
    purchases: list[tuple[str, object, int]]


async def snapshot(member_id: str) -> Snapshot:
    member_pk = pk(member_id)
    balance = await Balance.get(member_id=member_pk)
    return Snapshot(
        balance=(
            balance.available,
            balance.version,
            balance.shortfall,
            balance.lifetime_earned,
            balance.lifetime_redeemed,
        ),
        entries=await LedgerEntry.filter(member_id=member_pk).count(),
        lots=[
            (lot.id, lot.remaining, lot.expired_at)
            for lot in await Lot.filter(member_id=member_pk).order_by("id")
        ],
        purchases=[
            (row.order_ref, row.refunded_amount, row.points_reversed)
            for row in await Purchase.filter(member_id=member_pk).order_by("id")
        ],
    )


def local_midnight(day: date, timezone: str) -> datetime:
    """The start of `day` in `timezone`, in UTC."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def months_later(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (Jan 31 + 1 month: Feb 28/29)."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def rolling_expiry(earned_at: datetime, months: int, timezone: str) -> datetime:
    """Rolling: points last through the same local day `months` later."""
    earned_day = earned_at.astimezone(ZoneInfo(timezone)).date()
    return local_midnight(months_later(earned_day, months) + timedelta(days=1), timezone)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


def advance_past(clock, moment: datetime) -> None:
    """Move the shared clock (forward only) to just after `moment`."""
    clock.advance(max(moment - clock.now(), timedelta(0)) + timedelta(seconds=1))
