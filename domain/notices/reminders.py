"""Reminders made by jobs, set-based: points expiring soon, coupons expiring, payment windows
closing, flash sales starting (tier lapses are warned of by the tier evaluation).

Each step is one statement per batch of members (or per brand), under a transaction-scoped
advisory lock on its brand and step: two runs at once take turns, and the second finds
everything told. A lot is reminded once per threshold (`lot_reminder`), and a notice's key
is unique, so a rerun, or a run resumed after a crash, tells nothing twice; what a batch
told commits with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

from db.models import Brand
from db.sql import Sql
from domain.errors import DomainError, ErrorCode
from domain.notices.outbox import NOTICES_SQL, publish_notices, published, quiet_until
from domain.runtime import Backends

MEMBERS_PER_BATCH = 5000
COUPON_WARNING = timedelta(days=7)
PAYMENT_WARNING = timedelta(minutes=10)
FLASH_SALE_WARNING = timedelta(minutes=15)

# $4 the brand's thresholds (days before expiry), $5 and $6 the batch's member ids (after,
# up to), $7 the brand's day: one notice per member and day sums the lots newly due.
EXPIRING_SQL = NOTICES_SQL.format(
    wanted="""reminded AS (
    INSERT INTO lot_reminder (lot_id, days_before)
    SELECT lot.id, t.days
    FROM member m
    JOIN lot ON lot.member_id = m.id
    CROSS JOIN unnest($4::int[]) AS t(days)
    WHERE m.brand_id = $1 AND m.status = 'ACTIVE' AND m.id > $5 AND m.id <= $6
      AND lot.expired_at IS NULL AND lot.remaining > 0
      AND lot.expires_at > $2 AND lot.expires_at <= $2 + make_interval(days => t.days)
      AND NOT EXISTS (SELECT 1 FROM lot_reminder r
                      WHERE r.lot_id = lot.id AND r.days_before = t.days)
    ON CONFLICT (lot_id, days_before) DO NOTHING
    RETURNING lot_id, days_before
),
due AS (
    SELECT lot.member_id, lot.id, lot.remaining, lot.expires_at, min(r.days_before) AS days
    FROM reminded r JOIN lot ON lot.id = r.lot_id
    GROUP BY lot.member_id, lot.id, lot.remaining, lot.expires_at
),
wanted AS (
    SELECT member_id, 'POINTS_EXPIRING' AS kind,
           'POINTS_EXPIRING:' || member_id || ':' || $7 || ':' || min(id) AS dedupe_key,
           jsonb_build_object('points', sum(remaining), 'expiresAt', min(expires_at),
                              'days', min(days)) AS variables,
           true AS marketing
    FROM due GROUP BY member_id
)"""
)
COUPONS_SQL = NOTICES_SQL.format(
    wanted="""wanted AS (
    SELECT r.member_id, 'COUPON_EXPIRING' AS kind,
           'COUPON_EXPIRING:' || r.member_id || ':coupon:' || c.id AS dedupe_key,
           jsonb_build_object('item', i.name, 'code', c.code, 'expiresAt', c.expires_at)
               AS variables,
           true AS marketing
    FROM coupon c
    JOIN redemption r ON r.id = c.redemption_id
    JOIN catalog_item i ON i.id = c.item_id
    WHERE c.brand_id = $1 AND c.used_at IS NULL AND c.voided_at IS NULL
      AND c.expires_at > $2 AND c.expires_at <= $2 + $4::interval
)"""
)
PAYMENTS_SQL = NOTICES_SQL.format(
    wanted="""wanted AS (
    SELECT r.member_id, 'PAYMENT_WINDOW_CLOSING' AS kind,
           'PAYMENT_WINDOW_CLOSING:' || r.member_id || ':redemption:' || r.id AS dedupe_key,
           jsonb_build_object('item', i.name, 'cash', r.cash_amount::text,
                              'dueAt', r.payment_due_at) AS variables,
           false AS marketing
    FROM redemption r JOIN catalog_item i ON i.id = r.item_id
    WHERE r.brand_id = $1 AND r.status = 'AWAITING_PAYMENT'
      AND r.payment_due_at > $2 AND r.payment_due_at <= $2 + $4::interval
)"""
)
FLASH_SALES_SQL = NOTICES_SQL.format(
    wanted="""wanted AS (
    SELECT fr.member_id, 'FLASH_SALE_STARTING' AS kind,
           'FLASH_SALE_STARTING:' || fr.member_id || ':sale:' || s.id AS dedupe_key,
           jsonb_build_object('item', i.name, 'points', s.points_price,
                              'startsAt', s.starts_at) AS variables,
           true AS marketing
    FROM flash_sale s
    JOIN flash_sale_reminder fr ON fr.sale_id = s.id
    JOIN catalog_item i ON i.id = s.item_id
    WHERE s.brand_id = $1 AND s.cancelled_at IS NULL
      AND s.starts_at > $2 AND s.starts_at <= $2 + $4::interval
)"""
)
MEMBER_IDS_SQL = "SELECT min(id) AS first, max(id) AS last FROM member WHERE brand_id = $1"
LOCK_SQL = "SELECT pg_advisory_xact_lock($1, $2)"


@dataclass(frozen=True)
class Step:
    name: str
    lock: int  # the advisory lock's first key; the brand's id is the second
    sql: str
    argument: Callable[[Brand], Any]


BRAND_STEPS = (
    Step("coupons", 0x6E01, COUPONS_SQL, lambda brand: COUPON_WARNING),
    Step("payments", 0x6E02, PAYMENTS_SQL, lambda brand: PAYMENT_WARNING),
    Step("flash sales", 0x6E03, FLASH_SALES_SQL, lambda brand: FLASH_SALE_WARNING),
)
EXPIRING_LOCK = 0x6E00


async def _told(
    rt: Backends, brand: Brand, now: datetime, lock: int, sql: str, *arguments: Any
) -> int:
    """One statement of reminders under the step's lock; publishes what it told."""
    async with in_transaction() as connection:
        sql_client = Sql(connection)
        await sql_client.execute(LOCK_SQL, lock, brand.id)
        rows = await sql_client.fetch(sql, brand.id, now, quiet_until(brand, now), *arguments)
    notices = [published(row) for row in rows]
    await publish_notices(rt, notices)
    return len(notices)


async def remind_expiring_points(
    rt: Backends, brand: Brand, progress: Callable[[int, int], None] | None = None
) -> int:
    """Remind the brand's members of lots expiring within its thresholds; batch by batch of
    member ids, each committed (a run stopped midway is resumed by the next)."""
    now = rt.clock.now()
    thresholds = sorted({int(days) for days in brand.expiry_reminder_days if int(days) > 0})
    bounds = (await get_connection("default").execute_query_dict(MEMBER_IDS_SQL, [brand.id]))[0]
    if not thresholds or bounds["first"] is None:
        return 0
    day = now.astimezone(ZoneInfo(brand.timezone)).date().isoformat()
    first, last = bounds["first"] - 1, bounds["last"]
    told = 0
    for after in range(first, last, MEMBERS_PER_BATCH):
        upto = min(after + MEMBERS_PER_BATCH, last)
        told += await _told(
            rt, brand, now, EXPIRING_LOCK, EXPIRING_SQL, thresholds, after, upto, day
        )
        if progress is not None:
            progress(upto - first, last - first)
    return told


async def remind_soon(rt: Backends, brand: Brand) -> int:
    """The brand's reminders of what happens soon: coupons expiring, payment windows closing,
    flash sales starting."""
    now = rt.clock.now()
    told = 0
    for step in BRAND_STEPS:
        told += await _told(rt, brand, now, step.lock, step.sql, step.argument(brand))
    return told


async def _brands(brand_code: str | None) -> list[Brand]:
    if brand_code is None:
        return await Brand.all().order_by("id")
    brand = await Brand.get_or_none(code=brand_code)
    if brand is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"No brand {brand_code!r}.", ["brand"])
    return [brand]


async def send_reminders(
    rt: Backends,
    *,
    brand_code: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Every reminder due (of one brand, or all); how many notices were made."""
    told = 0
    for brand in await _brands(brand_code):
        told += await remind_expiring_points(rt, brand, progress)
        told += await remind_soon(rt, brand)
    return told


async def send_soon_reminders(rt: Backends) -> int:
    """The reminders whose moment is minutes away, for every brand (run every minute)."""
    return sum([await remind_soon(rt, brand) for brand in await _brands(None)])
