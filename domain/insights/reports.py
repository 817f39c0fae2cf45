"""The brand's figures, read from the roll-ups (domain/insights/rollups.py), never by summing
the ledger: liability and its expiry by month, breakage, earn and burn, redemptions, members,
and RFM segments. Periods are brand-local days, both ends included; money is points at the
brand's point value."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, cast
from zoneinfo import ZoneInfo

from tortoise.connection import get_connection

from db.models import Brand, MemberSegment, RollupWatermark
from domain.errors import DomainError, ErrorCode
from domain.flash_sales.stock import attempts_by_sale
from domain.pagination import Page, PageRequest, paginate
from domain.principal import Principal
from domain.runtime import Backends

CENT = Decimal("0.01")
LONGEST_PERIOD = timedelta(days=3 * 366)
LONGEST_FORECAST = 60  # months


def check_period(start: date, end: date) -> None:
    if end < start:
        raise DomainError(ErrorCode.INVALID_INPUT, "`to` is before `from`.", ["to"])
    if end - start > LONGEST_PERIOD:
        raise DomainError(ErrorCode.INVALID_INPUT, "A period of up to three years.", ["to"])


@dataclass(frozen=True)
class Figures:
    """The brand a report is of, for its money and its days."""

    brand: Brand

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.brand.timezone)

    def money(self, points: int) -> Decimal:
        return (Decimal(points) * self.brand.point_value).quantize(CENT)

    def today(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()


async def figures_of(principal: Principal) -> Figures:
    return Figures(await Brand.get(id=principal.brand_id))


async def _rows(sql: str, *arguments: Any) -> list[dict[str, Any]]:
    return await get_connection("default").execute_query_dict(sql, list(arguments))


async def rolled_up_at() -> datetime | None:
    """When the ledger's roll-up last ran: the ledger figures and the active members include
    everything before."""
    return min((watermark.rolled_at for watermark in await RollupWatermark.all()), default=None)


# --- Liability and expiry --------------------------------------------------------------------


@dataclass(frozen=True)
class MonthPoints:
    month: date
    points: int
    amount: Decimal


@dataclass(frozen=True)
class Liability:
    as_of: date
    points: int  # available
    amount: Decimal
    by_expiry_month: list[MonthPoints] | None  # for today only: available and pending
    pending: int | None = None  # for today only
    pending_amount: Decimal | None = None


EXPIRY_SQL = """
SELECT month, SUM(points)::bigint AS points FROM expiry_rollup
WHERE brand_id = $1 GROUP BY month HAVING SUM(points) <> 0 ORDER BY month
"""
# Members holding pending points only (a partial index on balance): nothing for a brand without.
PENDING_SQL = """
SELECT COALESCE(SUM(b.pending), 0)::bigint AS points
FROM balance b JOIN member m ON m.id = b.member_id
WHERE b.pending > 0 AND m.brand_id = $1
"""
OUTSTANDING_SQL = """
SELECT COALESCE(SUM(points), 0)::bigint AS points FROM ledger_rollup
WHERE brand_id = $1 AND rule = '' AND day <= $2
"""


async def liability(figures: Figures, as_of: date | None, now: datetime) -> Liability:
    """What the brand owes its members: today, its members' available points, their pending
    points apart, and both by the month they expire (points due and not yet expired count in
    their month); at the end of an earlier day, the available points from the ledger's roll-up."""
    today = figures.today(now)
    if as_of is not None and as_of > today:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "asOf: today or earlier (see expiringForecast).", ["asOf"]
        )
    if as_of is None or as_of == today:
        months = [
            MonthPoints(row["month"], row["points"], figures.money(row["points"]))
            for row in await _rows(EXPIRY_SQL, figures.brand.id)
        ]
        (held,) = await _rows(PENDING_SQL, figures.brand.id)
        pending = int(held["points"])
        points = sum(month.points for month in months) - pending
        return Liability(
            today, points, figures.money(points), months, pending, figures.money(pending)
        )
    (row,) = await _rows(OUTSTANDING_SQL, figures.brand.id, as_of)
    return Liability(as_of, row["points"], figures.money(row["points"]), None)


async def expiring_forecast(figures: Figures, months: int, now: datetime) -> list[MonthPoints]:
    """Points due to expire in each month from this one on (this month's include those due
    already and not yet expired)."""
    if not 1 <= months <= LONGEST_FORECAST:
        raise DomainError(ErrorCode.INVALID_INPUT, f"months: 1 to {LONGEST_FORECAST}.", ["months"])
    this_month = figures.today(now).replace(day=1)
    by_month = {row["month"]: row["points"] for row in await _rows(EXPIRY_SQL, figures.brand.id)}
    overdue = sum(points for month, points in by_month.items() if month < this_month)
    forecast = []
    month = this_month
    for index in range(months):
        points = by_month.get(month, 0) + (overdue if index == 0 else 0)
        forecast.append(MonthPoints(month, points, figures.money(points)))
        month = (month + timedelta(days=32)).replace(day=1)
    return forecast


# --- Earn and burn, breakage -----------------------------------------------------------------


class GroupBy(Enum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    STORE = "STORE"
    PARTNER = "PARTNER"
    RULE = "RULE"
    TIER = "TIER"


@dataclass(frozen=True)
class EarnBurn:
    key: str  # the day, week's Monday or month's first day (ISO), or the store's, partner's,
    # rule's or tier's code ("" for none)
    label: str
    earned: int
    redeemed: int  # net of refunds
    expired: int
    adjusted: int
    reversed: int


GROUP_KEYS = {
    GroupBy.DAY: "r.day::text",
    GroupBy.WEEK: "date_trunc('week', r.day)::date::text",
    GroupBy.MONTH: "date_trunc('month', r.day)::date::text",
    GroupBy.STORE: "COALESCE(s.code, '')",
    GroupBy.PARTNER: "COALESCE(p.code, '')",
    GroupBy.TIER: "COALESCE(t.code, '')",
    GroupBy.RULE: "r.rule",
}
GROUP_LABELS = {
    GroupBy.STORE: "COALESCE(s.name, 'No store')",
    GroupBy.PARTNER: "COALESCE(p.name, 'The brand')",
    GroupBy.TIER: "COALESCE(t.name, 'No tier')",
    GroupBy.RULE: "COALESCE(er.name, r.rule)",
}
EARN_BURN_SQL = """
SELECT {key} AS key, {label} AS label,
       COALESCE(SUM(r.points) FILTER (WHERE r.kind = 'EARN'), 0)::bigint AS earned,
       COALESCE(-SUM(r.points) FILTER (WHERE r.kind IN ('REDEEM', 'REFUND')), 0)::bigint
           AS redeemed,
       COALESCE(-SUM(r.points) FILTER (WHERE r.kind = 'EXPIRE'), 0)::bigint AS expired,
       COALESCE(SUM(r.points) FILTER (WHERE r.kind = 'ADJUST'), 0)::bigint AS adjusted,
       COALESCE(-SUM(r.points) FILTER (WHERE r.kind = 'REVERSAL'), 0)::bigint AS reversed
FROM ledger_rollup r
LEFT JOIN store s ON s.id = r.store_id
LEFT JOIN partner p ON p.id = r.partner_id
LEFT JOIN tier t ON t.id = r.tier_id
LEFT JOIN earning_rule er ON er.brand_id = r.brand_id AND er.code = r.rule
WHERE r.brand_id = $1 AND r.day BETWEEN $2 AND $3 AND {rules}
GROUP BY 1, 2
ORDER BY 1
"""


async def earn_burn(figures: Figures, start: date, end: date, group_by: GroupBy) -> list[EarnBurn]:
    """Points earned, redeemed (less refunds), expired, adjusted and reversed in the period,
    per group. By RULE, only earning is split (a rule earns; it does not spend)."""
    check_period(start, end)
    sql = EARN_BURN_SQL.format(
        key=GROUP_KEYS[group_by],
        label=GROUP_LABELS.get(group_by, GROUP_KEYS[group_by]),
        rules="r.rule <> '' AND r.kind = 'EARN'" if group_by is GroupBy.RULE else "r.rule = ''",
    )
    return [EarnBurn(**row) for row in await _rows(sql, figures.brand.id, start, end)]


@dataclass(frozen=True)
class Breakage:
    earned: int
    expired: int
    rate: float | None  # expired / earned; None when nothing was earned
    earned_amount: Decimal
    expired_amount: Decimal


BREAKAGE_SQL = """
SELECT COALESCE(SUM(points) FILTER (WHERE kind = 'EARN'), 0)::bigint AS earned,
       COALESCE(-SUM(points) FILTER (WHERE kind = 'EXPIRE'), 0)::bigint AS expired
FROM ledger_rollup WHERE brand_id = $1 AND rule = '' AND day BETWEEN $2 AND $3
"""


async def breakage(figures: Figures, start: date, end: date) -> Breakage:
    """Points that expired in the period against points earned in it."""
    check_period(start, end)
    (row,) = await _rows(BREAKAGE_SQL, figures.brand.id, start, end)
    earned, expired = row["earned"], row["expired"]
    return Breakage(
        earned, expired, expired / earned if earned else None,
        figures.money(earned), figures.money(expired),
    )  # fmt: skip


# --- Redemptions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemRedemptions:
    item_id: int
    sku: str
    name: str
    category: str
    units: int  # not cancelled
    points: int
    cash: Decimal
    cancelled_units: int
    cancel_rate: float | None
    stock_left: int | None
    sell_through: float | None  # units / (units + stock left), for items of limited stock


@dataclass(frozen=True)
class CategoryRedemptions:
    category: str
    units: int
    points: int
    cash: Decimal


@dataclass(frozen=True)
class FlashSaleFigures:
    sale_id: int
    item_name: str
    total_stock: int
    sold: int
    sold_out_after_seconds: float | None
    starts_at: datetime
    attempts: int | None  # entries the sale's script took (None: Redis no longer has the sale)

    @property
    def attempts_per_unit(self) -> float | None:
        return self.attempts / self.sold if self.attempts is not None and self.sold else None


@dataclass(frozen=True)
class Redemptions:
    items: list[ItemRedemptions]
    categories: list[CategoryRedemptions]
    flash_sales: list[FlashSaleFigures]


ITEMS_SQL = """
SELECT i.id AS item_id, i.sku, i.name, i.category, i.stock AS stock_left,
       COALESCE(SUM(r.quantity) FILTER (WHERE r.status <> 'CANCELLED'), 0)::int AS units,
       COALESCE(SUM(r.points_spent) FILTER (WHERE r.status <> 'CANCELLED'), 0)::bigint AS points,
       COALESCE(SUM(r.cash_amount) FILTER (WHERE r.status IN ('CONFIRMED', 'FULFILLED')), 0)
           AS cash,
       COALESCE(SUM(r.quantity) FILTER (WHERE r.status = 'CANCELLED'), 0)::int
           AS cancelled_units
FROM redemption r JOIN catalog_item i ON i.id = r.item_id
WHERE r.brand_id = $1 AND r.created_at >= $2 AND r.created_at < $3
GROUP BY i.id
ORDER BY units DESC, i.id
"""
FLASH_SALES_SQL = """
SELECT s.id AS sale_id, i.name AS item_name, s.total_stock, s.sold, s.starts_at,
       CASE WHEN s.sold >= s.total_stock THEN EXTRACT(EPOCH FROM (
           SELECT max(r.created_at) FROM redemption r
           WHERE r.flash_sale_id = s.id AND r.status <> 'CANCELLED') - s.starts_at)::float
       END AS sold_out_after_seconds
FROM flash_sale s JOIN catalog_item i ON i.id = s.item_id
WHERE s.brand_id = $1 AND s.starts_at >= $2 AND s.starts_at < $3
ORDER BY s.starts_at, s.id
"""


def day_bounds(figures: Figures, start: date, end: date) -> tuple[datetime, datetime]:
    """The period's first moment and the moment after it, in the brand's timezone."""
    zone = figures.zone
    return (
        datetime.combine(start, datetime.min.time(), zone),
        datetime.combine(end + timedelta(days=1), datetime.min.time(), zone),
    )


async def redemptions(rt: Backends, figures: Figures, start: date, end: date) -> Redemptions:
    """What members redeemed in the period, per item and category, and how its flash sales
    sold."""
    check_period(start, end)
    since, until = day_bounds(figures, start, end)
    items = []
    categories: dict[str, list[Any]] = {}
    for row in await _rows(ITEMS_SQL, figures.brand.id, since, until):
        ordered = row["units"] + row["cancelled_units"]
        offered = None if row["stock_left"] is None else row["units"] + row["stock_left"]
        items.append(
            ItemRedemptions(
                **row,
                cancel_rate=row["cancelled_units"] / ordered if ordered else None,
                sell_through=row["units"] / offered if offered else None,
            )
        )
        total = categories.setdefault(row["category"], [0, 0, Decimal(0)])
        total[0] += row["units"]
        total[1] += row["points"]
        total[2] += row["cash"]
    rows = await _rows(FLASH_SALES_SQL, figures.brand.id, since, until)
    attempts = await attempts_by_sale(rt, [row["sale_id"] for row in rows])
    sales = [FlashSaleFigures(**row, attempts=attempts[row["sale_id"]]) for row in rows]
    return Redemptions(
        items,
        [CategoryRedemptions(name, *total) for name, total in sorted(categories.items())],
        sales,
    )


# --- Members ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierCount:
    tier_code: str
    tier_name: str
    members: int


@dataclass(frozen=True)
class TierMovement:
    from_tier: str
    to_tier: str
    members: int


@dataclass(frozen=True)
class MemberFigures:
    active: int
    new: int
    tiers: list[TierCount]
    movements: list[TierMovement]


# The period's days' bits OR-ed per chunk, counted (domain/insights/rollups.py).
ACTIVE_SQL = """
SELECT COALESCE(SUM(bit_count(bits)), 0)::bigint AS members
FROM (SELECT bit_or(bits) AS bits FROM active_day
      WHERE brand_id = $1 AND day BETWEEN $2 AND $3 GROUP BY chunk) chunks
"""
NEW_SQL = """
SELECT COUNT(*) AS members FROM member WHERE brand_id = $1 AND joined_at >= $2 AND joined_at < $3
"""
TIERS_SQL = """
SELECT t.code AS tier_code, t.name AS tier_name, COALESCE(counted.members, 0) AS members
FROM tier t
LEFT JOIN (SELECT tier_id, COUNT(*) AS members FROM member WHERE brand_id = $1
           GROUP BY tier_id) counted ON counted.tier_id = t.id
WHERE t.brand_id = $1 ORDER BY t.rank
"""
# Members per move into each of the brand's tiers, from the index alone (tier_change_moves),
# by previous tier id (a brand's tier codes are unique; a deleted tier's changes have none).
MOVEMENTS_SQL = """
SELECT COALESCE(p.code, '') AS from_tier, c.code AS to_tier, moved.members
FROM tier c
CROSS JOIN LATERAL (
    SELECT previous_id, COUNT(*) AS members
    FROM (SELECT DISTINCT tc.previous_id, tc.member_id FROM tier_change tc
          WHERE tc.current_id = c.id AND tc.changed_at >= $2 AND tc.changed_at < $3) moves
    GROUP BY previous_id
) moved
LEFT JOIN tier p ON p.id = moved.previous_id
WHERE c.brand_id = $1
ORDER BY 1, 2
"""


async def members(figures: Figures, start: date, end: date) -> MemberFigures:
    """Members who earned or redeemed in the period (as rolled up), those who joined in it,
    how many are in each tier now, and how many moved between tiers in it."""
    check_period(start, end)
    since, until = day_bounds(figures, start, end)
    brand_id = figures.brand.id
    # Four reads on as many pooled connections: the report takes the longest, not the sum.
    (active,), (new,), tiers, movements = await asyncio.gather(
        _rows(ACTIVE_SQL, brand_id, start, end),
        _rows(NEW_SQL, brand_id, since, until),
        _rows(TIERS_SQL, brand_id),
        _rows(MOVEMENTS_SQL, brand_id, since, until),
    )
    return MemberFigures(
        active["members"],
        new["members"],
        [TierCount(**row) for row in tiers],
        [TierMovement(**row) for row in movements],
    )


# --- RFM segments ----------------------------------------------------------------------------

SEGMENTS = (
    "CHAMPIONS", "LOYAL", "POTENTIAL_LOYALISTS", "NEW_CUSTOMERS", "CANNOT_LOSE",
    "AT_RISK", "HIBERNATING", "NEED_ATTENTION",
)  # fmt: skip
# The usual RFM map, first match wins (r, f, m: 1 worst to 5 best).
SEGMENT_OF = """
CASE WHEN r >= 4 AND f >= 4 AND m >= 4 THEN 'CHAMPIONS'
     WHEN r <= 2 AND f >= 4 AND m >= 4 THEN 'CANNOT_LOSE'
     WHEN r <= 2 AND f >= 3 THEN 'AT_RISK'
     WHEN r <= 2 THEN 'HIBERNATING'
     WHEN f >= 4 THEN 'LOYAL'
     WHEN r >= 4 AND f = 1 THEN 'NEW_CUSTOMERS'
     WHEN r >= 4 THEN 'POTENTIAL_LOYALISTS'
     ELSE 'NEED_ATTENTION' END
"""
REFRESH_SEGMENTS_SQL = f"""
WITH stats AS (
    SELECT member_id, brand_id, max(occurred_at) AS last_purchase_at, COUNT(*) AS purchases,
           SUM(total - refunded_amount) AS spend
    FROM purchase WHERE brand_id = $1 GROUP BY member_id, brand_id
),
scored AS (
    SELECT *, ntile(5) OVER (ORDER BY last_purchase_at, member_id) AS r,
              ntile(5) OVER (ORDER BY purchases, member_id) AS f,
              ntile(5) OVER (ORDER BY spend, member_id) AS m
    FROM stats
),
kept AS (
    INSERT INTO member_segment (member_id, brand_id, last_purchase_at, purchases, spend,
                                recency, frequency, monetary, segment, refreshed_at)
    SELECT member_id, brand_id, last_purchase_at, purchases, spend, r, f, m, {SEGMENT_OF}, $2
    FROM scored
    ON CONFLICT (member_id) DO UPDATE SET
        last_purchase_at = excluded.last_purchase_at, purchases = excluded.purchases,
        spend = excluded.spend, recency = excluded.recency, frequency = excluded.frequency,
        monetary = excluded.monetary, segment = excluded.segment,
        refreshed_at = excluded.refreshed_at
    RETURNING member_id
)
DELETE FROM member_segment WHERE brand_id = $1 AND member_id NOT IN (SELECT member_id FROM kept)
"""


async def refresh_segments(rt: Backends) -> int:
    """Score every member of every brand on their purchases (the insights job); how many
    brands were scored."""
    # A flat values_list gives the column's values (Tortoise types them as rows).
    brand_ids = cast(list[int], await Brand.all().values_list("id", flat=True))
    for brand_id in brand_ids:
        await get_connection("default").execute_query(
            REFRESH_SEGMENTS_SQL, [brand_id, rt.clock.now()]
        )
    return len(brand_ids)


@dataclass(frozen=True)
class SegmentCount:
    segment: str
    members: int
    spend: Decimal


@dataclass(frozen=True)
class Segments:
    refreshed_at: datetime | None
    segments: list[SegmentCount]


SEGMENT_COUNTS_SQL = """
SELECT segment, COUNT(*) AS members, SUM(spend) AS spend, max(refreshed_at) AS refreshed_at
FROM member_segment WHERE brand_id = $1 GROUP BY segment
"""


async def segments(figures: Figures) -> Segments:
    """How many members are in each RFM segment, as of the last scoring."""
    rows = {row["segment"]: row for row in await _rows(SEGMENT_COUNTS_SQL, figures.brand.id)}
    refreshed = max((row["refreshed_at"] for row in rows.values()), default=None)
    return Segments(
        refreshed,
        [
            SegmentCount(name, rows[name]["members"] if name in rows else 0,
                         rows[name]["spend"] if name in rows else Decimal(0))
            for name in SEGMENTS
        ],
    )  # fmt: skip


def check_segment(segment: str | None) -> str | None:
    if segment is not None and segment not in SEGMENTS:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"segment: one of {', '.join(SEGMENTS)}.", ["segment"]
        )
    return segment


async def high_value_members(
    figures: Figures, segment: str | None, request: PageRequest
) -> Page[MemberSegment]:
    """The brand's members by what they spent, most first (of one segment, or all)."""
    scored = MemberSegment.filter(brand_id=figures.brand.id)
    if check_segment(segment) is not None:
        scored = scored.filter(segment=segment)
    return await paginate(scored, request, ("spend", "member_id"), descending=True)
