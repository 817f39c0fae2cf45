"""Every insights report as CSV (`pointsmall report NAME`): a header row, then the rows of the
report in domain/insights/reports.py, so that the file and the GraphQL answer agree. Money at
the brand's point value beside the points, days and moments in the brand's timezone."""

from __future__ import annotations

import csv
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TextIO

from tortoise.transactions import in_transaction

from db.models import Brand, Member
from domain.ids import encode_id
from domain.insights import reports
from domain.insights.reports import Figures, GroupBy
from domain.insights.rollups import roll_up
from domain.pagination import MAX_PAGE_SIZE, PageRequest
from domain.runtime import Backends

DEFAULT_PERIOD = timedelta(days=30)

Row = list[Any]
Write = Callable[[Row], None]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ReportOptions:
    """The command line's options; a period left out ends today and starts 30 days before."""

    start: date | None = None
    end: date | None = None
    group_by: GroupBy = GroupBy.DAY
    months: int = 12
    segment: str | None = None
    as_of: date | None = None

    def period(self, figures: Figures, now: datetime) -> tuple[date, date]:
        end = self.end or figures.today(now)
        return self.start or end - DEFAULT_PERIOD, end


@dataclass(frozen=True)
class Report:
    write: Callable[[Backends, Figures, ReportOptions, Write, Progress], Awaitable[None]]
    scores_segments: bool = False  # refresh the RFM scores first
    streamed: bool = False  # long enough to show progress


def _month(first_day: date) -> str:
    return f"{first_day:%Y-%m}"


def _local(figures: Figures, moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(figures.zone).isoformat("T", "seconds")


def _cash(amount: Decimal) -> str:
    return f"{amount:.2f}"


async def _liability(
    rt: Backends, figures: Figures, options: ReportOptions, write: Write, _: Progress
) -> None:
    """Today's by the month its points expire; an earlier day's, its total only."""
    owed = await reports.liability(figures, options.as_of, rt.clock.now())
    write(["as_of", "expiry_month", "points", "amount"])
    if owed.by_expiry_month is None:
        write([owed.as_of, None, owed.points, owed.amount])
        return
    for month in owed.by_expiry_month:
        write([owed.as_of, _month(month.month), month.points, month.amount])


async def _expiring_forecast(
    rt: Backends, figures: Figures, options: ReportOptions, write: Write, _: Progress
) -> None:
    """From this month, or from the month of --from (points due before it counted in it)."""
    now = rt.clock.now()
    if options.start is not None:
        now = datetime.combine(options.start, time(12), figures.zone)
    forecast = await reports.expiring_forecast(figures, options.months, now)
    write(["month", "points", "amount"])
    for month in forecast:
        write([_month(month.month), month.points, month.amount])


async def _breakage(
    rt: Backends, figures: Figures, options: ReportOptions, write: Write, _: Progress
) -> None:
    start, end = options.period(figures, rt.clock.now())
    lost = await reports.breakage(figures, start, end)
    write(["from", "to", "earned", "earned_amount", "expired", "expired_amount", "rate"])
    write([start, end, lost.earned, lost.earned_amount, lost.expired, lost.expired_amount,
           lost.rate])  # fmt: skip


EARN_BURN_FIGURES = ("earned", "redeemed", "expired", "adjusted", "reversed")
EARN_BURN_COLUMNS = [f"{name}{money}" for name in EARN_BURN_FIGURES for money in ("", "_amount")]


async def _earn_burn(
    rt: Backends, figures: Figures, options: ReportOptions, write: Write, _: Progress
) -> None:
    """One row per group; its first column is named after the grouping (day, store, ...)."""
    start, end = options.period(figures, rt.clock.now())
    rows = await reports.earn_burn(figures, start, end, options.group_by)
    write([options.group_by.value.lower(), "label", *EARN_BURN_COLUMNS])
    for row in rows:
        points = [getattr(row, name) for name in EARN_BURN_FIGURES]
        write([row.key, row.label,
               *(cell for value in points for cell in (value, figures.money(value)))])  # fmt: skip


async def _redemptions(
    rt: Backends, figures: Figures, options: ReportOptions
) -> reports.Redemptions:
    start, end = options.period(figures, rt.clock.now())
    return await reports.redemptions(rt, figures, start, end)


async def _items(
    rt: Backends, figures: Figures, options: ReportOptions, write: Write, _: Progress
) -> None:
    redeemed = await _redemptions(rt, figures, options)
    write(["sku", "name", "category", "units", "points", "points_amount", "cash",
           "cancelled_units", "cancel_rate", "stock_left", "sell_through"])  # fmt: skip
    for item in redeemed.items:
        write([item.sku, item.name, item.category, item.units, item.points,
               figures.money(item.points), _cash(item.cash), item.cancelled_units,
               item.cancel_rate, item.stock_left, item.sell_through])  # fmt: skip


async def _categories(
    rt: Backends, figures: Figures, options: ReportOptions, write: Write, _: Progress
) -> None:
    redeemed = await _redemptions(rt, figures, options)
    write(["category", "units", "points", "points_amount", "cash"])
    for category in redeemed.categories:
        write([category.category, category.units, category.points,
               figures.money(category.points), _cash(category.cash)])  # fmt: skip


async def _flash_sales(
    rt: Backends, figures: Figures, options: ReportOptions, write: Write, _: Progress
) -> None:
    redeemed = await _redemptions(rt, figures, options)
    write(["item", "starts_at", "total_stock", "sold", "sold_out_after_seconds", "attempts",
           "attempts_per_unit"])  # fmt: skip
    for sale in redeemed.flash_sales:
        write([sale.item_name, _local(figures, sale.starts_at), sale.total_stock, sale.sold,
               sale.sold_out_after_seconds, sale.attempts, sale.attempts_per_unit])  # fmt: skip


async def _member_figures(
    rt: Backends, figures: Figures, options: ReportOptions
) -> tuple[date, date, reports.MemberFigures]:
    start, end = options.period(figures, rt.clock.now())
    return start, end, await reports.members(figures, start, end)


async def _members(
    rt: Backends, figures: Figures, options: ReportOptions, write: Write, _: Progress
) -> None:
    start, end, counted = await _member_figures(rt, figures, options)
    write(["from", "to", "active", "new"])
    write([start, end, counted.active, counted.new])


async def _tiers(
    rt: Backends, figures: Figures, options: ReportOptions, write: Write, _progress: Progress
) -> None:
    """Members per tier now (the period does not change it)."""
    _, _, counted = await _member_figures(rt, figures, options)
    write(["tier_code", "tier_name", "members"])
    for tier in counted.tiers:
        write([tier.tier_code, tier.tier_name, tier.members])


async def _tier_movements(
    rt: Backends, figures: Figures, options: ReportOptions, write: Write, _progress: Progress
) -> None:
    _, _, counted = await _member_figures(rt, figures, options)
    write(["from_tier", "to_tier", "members"])
    for movement in counted.movements:
        write([movement.from_tier, movement.to_tier, movement.members])


async def _segments(
    rt: Backends, figures: Figures, options: ReportOptions, write: Write, _: Progress
) -> None:
    scored = await reports.segments(figures)
    write(["segment", "members", "spend", "refreshed_at"])
    for segment in scored.segments:
        write([segment.segment, segment.members, _cash(segment.spend),
               _local(figures, scored.refreshed_at)])  # fmt: skip


async def _members_of_segment(
    rt: Backends, figures: Figures, options: ReportOptions, write: Write, progress: Progress
) -> None:
    """Every scored member (of one segment, or all), most spent first, a page at a time. The
    pages are read in one snapshot, so an hourly rescoring meanwhile neither skips nor repeats
    a member."""
    async with in_transaction() as connection:
        await connection.execute_script("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        request = PageRequest(first=MAX_PAGE_SIZE)
        page = await reports.high_value_members(figures, options.segment, request)
        write(["member_id", "display_name", "segment", "recency", "frequency", "monetary",
               "purchases", "spend", "last_purchase_at"])  # fmt: skip
        done = 0
        while True:
            names = dict(
                await Member.filter(id__in=[score.member_id for score in page.items]).values_list(
                    "id", "display_name"
                )
            )
            for score in page.items:
                write([encode_id("Member", score.member_id), names[score.member_id],
                       score.segment, score.recency, score.frequency, score.monetary,
                       score.purchases, _cash(score.spend),
                       _local(figures, score.last_purchase_at)])  # fmt: skip
            done += len(page.items)
            progress(done, page.total_count)
            if not page.has_next_page:
                return
            request = PageRequest(first=MAX_PAGE_SIZE, after=page.cursors[-1])
            page = await reports.high_value_members(figures, options.segment, request)


REPORTS = {
    "liability": Report(_liability),
    "expiring-forecast": Report(_expiring_forecast),
    "breakage": Report(_breakage),
    "earn-burn": Report(_earn_burn),
    "redemptions": Report(_items),
    "redemption-categories": Report(_categories),
    "flash-sales": Report(_flash_sales),
    "members": Report(_members),
    "tiers": Report(_tiers),
    "tier-movements": Report(_tier_movements),
    "segments": Report(_segments, scores_segments=True),
    "members-of-segment": Report(_members_of_segment, scores_segments=True, streamed=True),
}


def _cell(value: Any) -> Any:
    """How a value reads in the file: '' for none, ISO dates, money as written."""
    if value is None:
        return ""
    if isinstance(value, date | Decimal):
        return str(value)
    return value


async def write_report(
    rt: Backends,
    brand_id: int,
    name: str,
    options: ReportOptions,
    stream: TextIO,
    progress: Progress,
) -> None:
    """Write report `name` of the brand to `stream` as CSV, on figures brought up to date first
    (the ledger's roll-up; the RFM scores for the segment reports). A DomainError for a bad
    option comes before anything is written."""
    report = REPORTS[name]
    await roll_up(rt)
    if report.scores_segments:
        await reports.refresh_segments(rt)
    figures = Figures(await Brand.get(id=brand_id))
    writer = csv.writer(stream)
    await report.write(
        rt, figures, options, lambda row: writer.writerow([_cell(value) for value in row]), progress
    )
