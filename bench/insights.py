"""Insights at scale: every report of the `insights` query over a brand of 1,000,000 ledger
entries and 100,000 members, and an earn (tier qualification included) for a member whose own
ledger is a million entries long.

    python -m bench.insights [--members 100000] [--entries 1000000] [--long-ledger 1000000]
                             [--requests 100] [--purchases 200] [--seconds 3]
                             [--workers 2] [--connections 8] [--explain]

In one run, on a database and Redis prefix of the run's own, everything is seeded with
set-based SQL (seconds, not the API):
  the brand  UTC, 4 stores, 3 tiers (BASE, SILVER at 2,000 qualifying points, GOLD at 10,000;
             members 75/20/5 % in them, with their tier changes), rules BASE (1 point per
             unit), COFFEE_X2 and DOUBLE_DAYS, a partner, 4 catalog items; --members members
             whose histories start 0 to 400 days ago, 5 to 15 entries each (--entries in all),
             in cycles of ten: purchases earning by rule (each with its purchase row), a
             campaign earn whose lot expires and its EXPIRE, a half refund (REVERSAL), an
             ADJUST (+ or -), a partner earn, and for one member in 20 a redemption (one in
             ten of those cancelled: REFUND). Lots, consumptions and balances follow the
             entries (the audit checks them).
  the long   a second brand like it whose GOLD is out of reach (10^9 points), so that every
  ledger     earn sums the qualification window (a member at the top tier skips it): a SILVER
             member with --long-ledger entries of the same cycles over the last 360 days, and
             a SILVER member with 10.
Then the roll-ups, as production fills them: member_day and expiry_rollup by the migration's
backfill statements (db/migrations/0018_insights.py), ledger_rollup and the active members'
numbers and days (member_number, active_day) by the roll-up job
(domain.insights.rollups.roll_up) and the RFM segments by domain.insights.reports.
refresh_segments.

Measured on uvicorn workers (the scheduler off, so no job runs meanwhile), as ANALYST:
  queries    each report (liability, expiringForecast(12), breakage and earnBurn over 30 and 365
             days by DAY, MONTH, STORE, RULE and TIER, redemptions, members, segments,
             highValueMembers(first: 20)) beside `{ __typename }`: --requests sent one at a
             time (p50, p99: the target is p99 <= 50 ms), then wrk with --connections for
             --seconds (req/s, p99 under load). Checked first: liability equals the sum of the
             brand's balances, and earnBurn's earned over 365 days the EARN entries'.
  earn       recordPurchase (ADMIN) one at a time, --purchases of them, for the 10-entry member
             and the long ledger's member (target p99 <= 10 ms).
--explain prints EXPLAIN ANALYZE of the reports' statements that read the roll-ups.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import asyncpg

from bench.backends import database, own_backends
from bench.checks import check_books
from bench.cli import add_load_arguments, run
from bench.graphql import authorized, graphql_body, purchase_body
from bench.load import Target, load, one_at_a_time, percentile, probe
from bench.report import load_average
from bench.seed import brand_token, new_brand_code, seed_members, skip_foreign_key_checks
from bench.servers import SERVICE_FACTORY, serve
from domain.brands import create_brand
from domain.clock import Clock
from domain.ids import encode_id
from domain.insights import reports
from domain.insights.reports import refresh_segments
from domain.insights.rollups import roll_up

ANALYST, ADMIN = "bench-analyst", "bench-admin"
HISTORY_DAYS = 400
LONG_LEDGER_DAYS = 360  # within the brand's 12-month qualification window
SHORT_LEDGER = 10
OUT_OF_REACH = 10**9
TIER_SHARES = (("BASE", 0.75), ("SILVER", 0.20), ("GOLD", 0.05))


# --- The brand's configuration ---------------------------------------------------------------

CONFIGURE_SQL = """
WITH stores AS (
    INSERT INTO store (brand_id, code, name, created_at)
    SELECT $1, 'S' || n, 'Store ' || n, now() FROM generate_series(1, 4) n
),
tiers AS (
    INSERT INTO tier (brand_id, code, name, rank, qualifying_points, earn_multiplier,
                      discount_percent, birthday_bonus_points, flash_sale_early_access_minutes,
                      created_at)
    VALUES ($1, 'SILVER', 'Silver', 1, 2000, 1, 5, 0, 0, now()),
           ($1, 'GOLD', 'Gold', 2, $2, 1, 10, 0, 10, now())
),
rules AS (
    INSERT INTO earning_rule (brand_id, code, name, kind, priority, rounding, multiplier,
                              category, starts_at, ends_at, weekdays, store_codes, tier_codes,
                              partner_codes, created_at, updated_at)
    VALUES ($1, 'COFFEE_X2', 'Coffee double', 'CATEGORY_MULTIPLIER', 10, 'DOWN', 2, 'coffee',
            NULL, NULL, '[]', '[]', '[]', '[]', now(), now()),
           ($1, 'DOUBLE_DAYS', 'Double days', 'CAMPAIGN', 20, 'DOWN', 2, NULL,
            now() - interval '400 days', now() - interval '1 day', '[]', '[]', '[]', '[]',
            now(), now())
),
items AS (
    INSERT INTO catalog_item (brand_id, sku, name, description, kind, status, category,
                              points_price, cash_price, stock, image_urls, coupon_value,
                              redeemed_count, created_at, updated_at, code_pool)
    SELECT $1, 'SKU' || n, 'Item ' || n, '', CASE WHEN n % 2 = 0 THEN 'COUPON' ELSE 'PHYSICAL' END,
           'ACTIVE', CASE WHEN n <= 2 THEN 'drinks' ELSE 'goods' END, 20 + 20 * n, 0,
           CASE WHEN n % 2 = 1 THEN 500 END, '[]', 0, 0, now(), now(), false
    FROM generate_series(1, 4) n
)
INSERT INTO partner (brand_id, code, name, point_value, created_at)
VALUES ($1, 'LANES', 'Lane''s Bakery', 0.01, now())
"""
CONFIGURED_SQL = """
SELECT (SELECT array_agg(id ORDER BY code) FROM store WHERE brand_id = $1) AS stores,
       (SELECT array_agg(id ORDER BY sku) FROM catalog_item WHERE brand_id = $1) AS items,
       (SELECT id FROM partner WHERE brand_id = $1) AS partner,
       (SELECT jsonb_object_agg(code, id) FROM tier WHERE brand_id = $1) AS tiers
"""


@dataclass(frozen=True)
class SeededBrand:
    id: int
    code: str
    stores: list[int]
    items: list[int]
    partner: int
    tiers: dict[str, int]


async def configure(db: asyncpg.Connection, code: str, gold_points: int) -> SeededBrand:
    """A brand (create_brand: its BASE tier and rule) with its stores, tiers, rules, partner
    and catalog."""
    brand_id = (await create_brand(code, f"Bench {code}")).id
    await db.execute(CONFIGURE_SQL, brand_id, gold_points)
    row = await db.fetchrow(CONFIGURED_SQL, brand_id)
    tiers = json.loads(row["tiers"])
    return SeededBrand(brand_id, code, row["stores"], row["items"], row["partner"], tiers)


# --- Members and their histories --------------------------------------------------------------

PLACE_MEMBERS_SQL = """
UPDATE member m SET joined_at = s.since, tier_id = s.tier_id
FROM unnest($1::int[], $2::timestamptz[], $3::int[]) AS s(id, since, tier_id)
WHERE m.id = s.id
"""
# One change into each tier above BASE a member climbed, at a time within their history.
TIER_CHANGES_SQL = """
INSERT INTO tier_change (member_id, previous_id, current_id, qualifying_points, changed_at)
SELECT m.id, below.id, t.id, t.qualifying_points,
       m.joined_at + (now() - m.joined_at) * (t.rank / 3.0)::float8
FROM member m
JOIN tier mine ON mine.id = m.tier_id
JOIN tier t ON t.brand_id = m.brand_id AND t.rank BETWEEN 1 AND mine.rank
JOIN tier below ON below.brand_id = m.brand_id AND below.rank = t.rank - 1
WHERE m.brand_id = $1
"""


def earned(pos: str) -> str:
    """SQL for the points the purchase at cycle position `pos` earns (100 to 499)."""
    return f"(100 + (member_id::bigint * 7919 + cycle * 104729 + {pos} * 7) % 400)::int"


CAMPAIGN = "(10 + (member_id::bigint * 31 + cycle * 17) % 90)::int"
ITEM = "((member_id + cycle) % 4)::int"  # index of the catalog item a redemption takes
PRICE = f"(40 + 20 * {ITEM})"  # its points price (catalog_item: 20 + 20 * n, n from 1)
REDEEMER = "(member_id % 20 = 0)"
CANCELLER = "(member_id % 200 = 0)"
AT = "since + ($4::timestamptz - since) * (({v} - 1)::float8 / entries)"

# Entry v of each member: at position (v - 1) % 10 + 1 of cycle (v - 1) / 10:
#   1, 3, 8 EARN (a store purchase)   2 EARN (a campaign, its lot expiring before 4)
#   4 EXPIRE of 2's lot               5 REVERSAL of half of 3's purchase
#   6 ADJUST: + (a lot) for even members, - a quarter of 3's lot for odd ones
#   7 EARN (a partner purchase)       9 REDEEM from 1's lot for one member in 20, else EARN
#   10 REFUND of 9 for one in 200, else EARN.
# `lot_pos` is the position of the lot an entry takes from (or gives back to).
PLAN_SQL = f"""
CREATE TEMP TABLE seed_plan AS
WITH steps AS (
    SELECT m.member_id, m.entries, m.since, v, (v - 1) % 10 + 1 AS pos,
           ((v - 1) / 10)::bigint AS cycle, {AT.format(v="v")} AS at
    FROM unnest($1::int[], $2::int[], $3::timestamptz[]) AS m(member_id, entries, since)
    CROSS JOIN LATERAL generate_series(1, m.entries) v
),
kinds AS (
    SELECT *,
           CASE pos WHEN 4 THEN 'EXPIRE' WHEN 5 THEN 'REVERSAL' WHEN 6 THEN 'ADJUST'
                    WHEN 9 THEN CASE WHEN {REDEEMER} THEN 'REDEEM' ELSE 'EARN' END
                    WHEN 10 THEN CASE WHEN {CANCELLER} THEN 'REFUND' ELSE 'EARN' END
                    ELSE 'EARN' END AS kind,
           CASE pos WHEN 2 THEN {CAMPAIGN} WHEN 4 THEN -{CAMPAIGN}
                    WHEN 5 THEN -({earned("3")} / 2)
                    WHEN 6 THEN CASE WHEN member_id % 2 = 0 THEN 10 + member_id % 50
                                     ELSE -({earned("3")} / 4) END
                    WHEN 9 THEN CASE WHEN {REDEEMER} THEN -{PRICE} ELSE {earned("pos")} END
                    WHEN 10 THEN CASE WHEN {CANCELLER} THEN {PRICE} ELSE {earned("pos")} END
                    ELSE {earned("pos")} END AS points
    FROM steps
)
SELECT *,
       nextval('ledger_entry_id_seq') AS entry_id,
       CASE WHEN points > 0 AND kind IN ('EARN', 'ADJUST') THEN nextval('lot_id_seq') END
           AS lot_id,
       CASE WHEN kind = 'EARN' AND pos <> 2 THEN nextval('purchase_id_seq') END AS purchase_id,
       CASE WHEN pos = 4 THEN 2 WHEN pos IN (5, 6) AND points < 0 THEN 3
            WHEN kind IN ('REDEEM', 'REFUND') THEN 1 END AS lot_pos,
       SUM(points) OVER (PARTITION BY member_id ORDER BY v) AS balance_after,
       CASE WHEN pos = 2 AND v + 2 <= entries THEN {AT.format(v="v + 2")} - interval '1 minute'
            WHEN pos = 2 THEN GREATEST(at + interval '90 days',
                                       $4::timestamptz + interval '30 days')
            WHEN points > 0 AND kind IN ('EARN', 'ADJUST') THEN at + interval '24 months'
       END AS expires_at,
       CASE WHEN kind = 'EARN' AND pos <> 7 OR kind = 'REVERSAL'
            THEN ($5::int[])[1 + (member_id + v - CASE WHEN pos = 5 THEN 2 ELSE 0 END)
                               % cardinality($5::int[])] END AS store_id
FROM kinds
"""
ENTRIES_SQL = """
INSERT INTO ledger_entry (id, brand_id, member_id, kind, points, balance_after, version,
                          description, created_at, expires_at, breakdown, actor, reason,
                          order_ref, shortfall, store_id, partner_id, tier_id)
SELECT p.entry_id, $1, p.member_id, p.kind, p.points, p.balance_after, p.v,
       CASE p.kind WHEN 'EARN' THEN 'Purchase' WHEN 'EXPIRE' THEN 'Points expired'
                   WHEN 'REVERSAL' THEN 'Refund of a purchase' WHEN 'ADJUST' THEN 'Goodwill'
                   WHEN 'REDEEM' THEN 'Redeemed an item' ELSE 'Redemption cancelled' END,
       p.at, p.expires_at,
       CASE WHEN p.kind <> 'EARN' THEN '[]'::jsonb
            WHEN p.pos = 2 THEN jsonb_build_array(jsonb_build_object(
                'rule', 'DOUBLE_DAYS', 'description', 'Double days', 'points', p.points))
            WHEN (p.member_id + p.v) % 3 = 0 THEN jsonb_build_array(
                jsonb_build_object('rule', 'BASE', 'description', '1 point per unit',
                                   'points', p.points - p.points / 4),
                jsonb_build_object('rule', 'COFFEE_X2', 'description', 'Coffee x2',
                                   'points', p.points / 4))
            ELSE jsonb_build_array(jsonb_build_object(
                'rule', 'BASE', 'description', '1 point per unit', 'points', p.points)) END,
       'bench:seed', CASE WHEN p.kind = 'ADJUST' THEN 'bench' END,
       CASE WHEN p.purchase_id IS NOT NULL OR p.kind = 'REVERSAL'
            THEN 'B' || p.member_id || '-' || (p.v - CASE WHEN p.pos = 5 THEN 2 ELSE 0 END) END,
       0, p.store_id, CASE WHEN p.pos = 7 AND p.kind = 'EARN' THEN $2::int END, m.tier_id
FROM seed_plan p JOIN member m ON m.id = p.member_id
ORDER BY p.member_id, p.v
"""
PURCHASES_SQL = """
INSERT INTO purchase (id, brand_id, partner_id, member_id, store_id, order_ref, total,
                      occurred_at, earn_day, categories, points_earned, earn_entry_id,
                      refunded_amount, points_reversed)
SELECT p.purchase_id, $1, CASE WHEN p.pos = 7 THEN $2::int END, p.member_id, p.store_id,
       'B' || p.member_id || '-' || p.v, p.points, p.at, (p.at AT TIME ZONE 'UTC')::date, '{}',
       p.points, p.entry_id, COALESCE(floor(p.points / 2.0), 0) * (r.v IS NOT NULL)::int,
       COALESCE(-r.points, 0)
FROM seed_plan p
LEFT JOIN seed_plan r ON r.member_id = p.member_id AND r.v = p.v + 2 AND r.kind = 'REVERSAL'
WHERE p.purchase_id IS NOT NULL
"""
# Each lot: its points less what later entries of its cycle took (or gave back); emptied by
# its EXPIRE, when it has one.
LOTS_SQL = """
WITH taken AS (
    SELECT member_id, cycle, lot_pos,
           COALESCE(SUM(points) FILTER (WHERE kind <> 'EXPIRE'), 0) AS points,
           max(at) FILTER (WHERE kind = 'EXPIRE') AS expired_at
    FROM seed_plan WHERE lot_pos IS NOT NULL GROUP BY 1, 2, 3
)
INSERT INTO lot (id, member_id, entry_id, purchase_id, points, remaining, earned_at, expires_at,
                 expired_at)
SELECT p.lot_id, p.member_id, p.entry_id, p.purchase_id, p.points,
       CASE WHEN t.expired_at IS NULL THEN p.points + COALESCE(t.points, 0) ELSE 0 END,
       p.at, p.expires_at, t.expired_at
FROM seed_plan p
LEFT JOIN taken t ON t.member_id = p.member_id AND t.cycle = p.cycle AND t.lot_pos = p.pos
WHERE p.lot_id IS NOT NULL
"""
CONSUMPTIONS_SQL = f"""
INSERT INTO lot_consumption (lot_id, entry_id, points, returned)
SELECT l.lot_id, t.entry_id, -t.points,
       CASE WHEN t.kind = 'REDEEM' AND t.v < t.entries AND {
    CANCELLER.replace("member_id", "t.member_id")
}
            THEN -t.points ELSE 0 END
FROM seed_plan t
JOIN seed_plan l ON l.member_id = t.member_id AND l.cycle = t.cycle AND l.pos = t.lot_pos
WHERE t.points < 0 AND t.kind <> 'EXPIRE'
"""
REDEMPTIONS_SQL = """
INSERT INTO redemption (brand_id, member_id, item_id, redeem_entry_id, quantity, points_spent,
                        cash_amount, status, created_at, confirmed_at, fulfilled_at,
                        cancelled_at, cancel_reason, cancelled_by)
SELECT $1, p.member_id, ($2::int[])[1 + (p.member_id + p.cycle) % 4], p.entry_id, 1, -p.points,
       0, CASE WHEN f.v IS NULL THEN 'FULFILLED' ELSE 'CANCELLED' END, p.at, p.at,
       CASE WHEN f.v IS NULL THEN p.at + interval '2 days' END, f.at,
       CASE WHEN f.v IS NOT NULL THEN 'Changed my mind' END,
       CASE WHEN f.v IS NOT NULL THEN 'bench:seed' END
FROM seed_plan p
LEFT JOIN seed_plan f ON f.member_id = p.member_id AND f.v = p.v + 1 AND f.kind = 'REFUND'
WHERE p.kind = 'REDEEM'
"""
ITEMS_SOLD_SQL = """
UPDATE catalog_item i SET redeemed_count = sold.units
FROM (SELECT item_id, COUNT(*) AS units FROM redemption
      WHERE brand_id = $1 AND status <> 'CANCELLED' GROUP BY item_id) sold
WHERE i.id = sold.item_id
"""
BALANCES_SQL = """
UPDATE balance b SET available = s.available, version = s.version,
                     lifetime_earned = s.earned, lifetime_redeemed = s.redeemed
FROM (SELECT member_id, SUM(points) AS available, COUNT(*) AS version,
             COALESCE(SUM(points) FILTER (WHERE kind IN ('EARN', 'REVERSAL')
                                               OR kind = 'ADJUST' AND points > 0), 0) AS earned,
             COALESCE(-SUM(points) FILTER (WHERE kind IN ('REDEEM', 'REFUND')), 0) AS redeemed
      FROM seed_plan GROUP BY member_id) s
WHERE b.member_id = s.member_id
"""


async def seed_histories(
    db: asyncpg.Connection,
    brand: SeededBrand,
    member_ids: list[int],
    entries: list[int],
    since: list[datetime],
    now: datetime,
) -> None:
    """Each member's `entries` ledger entries from `since` up to `now`, with everything that
    follows from them, foreign keys unchecked (skip_foreign_key_checks): the rows are
    consistent by construction, and audited later."""
    async with db.transaction():
        await skip_foreign_key_checks(db)
        await db.execute(PLAN_SQL, member_ids, entries, since, now, brand.stores)
        await db.execute(ENTRIES_SQL, brand.id, brand.partner)
        await db.execute(PURCHASES_SQL, brand.id, brand.partner)
        await db.execute(LOTS_SQL)
        await db.execute(CONSUMPTIONS_SQL)
        await db.execute(REDEMPTIONS_SQL, brand.id, brand.items)
        await db.execute(ITEMS_SOLD_SQL, brand.id)
        await db.execute(BALANCES_SQL)
        await db.execute("DROP TABLE seed_plan")


async def seed_member_histories(
    db: asyncpg.Connection,
    brand: SeededBrand,
    entries: list[int],
    since: list[datetime],
    tiers: list[str],
    now: datetime,
) -> list[int]:
    """Members (bench.seed.seed_members) who joined when their history starts, in `tiers`,
    with their tier changes and histories."""
    member_ids = await seed_members(db, brand.id, len(entries))
    tier_ids = [brand.tiers[code] for code in tiers]
    await db.execute(PLACE_MEMBERS_SQL, member_ids, since, tier_ids)
    await db.execute(TIER_CHANGES_SQL, brand.id)
    await seed_histories(db, brand, member_ids, entries, since, now)
    return member_ids


def spread(members: int, total: int, now: datetime, rng: random.Random) -> tuple[list, ...]:
    """Per member: entries (5 to 15, `total` in all), the start of their history (0 to
    HISTORY_DAYS ago) and their tier."""
    entries = [5 + rng.randrange(11) for _ in range(members)]
    shortfall = total - sum(entries)
    step = 1 if shortfall > 0 else -1
    index = 0
    while shortfall:
        if 5 <= entries[index] + step <= 15:
            entries[index] += step
            shortfall -= step
        index = (index + 1) % members
    since = [now - timedelta(days=rng.uniform(1, HISTORY_DAYS)) for _ in range(members)]
    codes, weights = zip(*TIER_SHARES, strict=True)
    tiers = rng.choices(codes, weights, k=members)
    return entries, since, tiers


# --- Roll-ups, as production fills them ------------------------------------------------------

BACKFILL = importlib.import_module("db.migrations.0018_insights").BACKFILL_SQL
MEMBER_AND_EXPIRY_ROLLUPS = [
    statement
    for statement in BACKFILL.split(";")
    if statement.strip().startswith(("INSERT INTO member_day", "INSERT INTO expiry_rollup"))
]


UNROLLED_SQL = """
SELECT EXISTS (SELECT 1 FROM ledger_entry e JOIN rollup_watermark w ON w.name = 'ledger'
               WHERE e.txid >= w.next_xid)
"""


async def fill_rollups(db: asyncpg.Connection, database_url: str) -> None:
    """member_day and expiry_rollup by the migration's backfill statements (the movements
    write them in production); then the roll-up job and the RFM scoring."""
    for statement in MEMBER_AND_EXPIRY_ROLLUPS:
        await db.execute(statement)
    async with database(database_url):
        # The job sums settled transactions only: a transaction still open anywhere on the
        # server (another database's too) holds it back until it ends.
        while await db.fetchval(UNROLLED_SQL):
            await roll_up(None)
            await asyncio.sleep(0.2)
        await refresh_segments(SimpleNamespace(clock=Clock()))
    await db.execute("VACUUM ANALYZE")


# --- Queries ---------------------------------------------------------------------------------

EARN_BURN = "earnBurn(from: $from, to: $to, groupBy: {}) {{ key label earned redeemed expired " \
    "adjusted reversed }}"  # fmt: skip
PERIOD_QUERIES = {
    "breakage": "breakage(from: $from, to: $to) { earned expired rate earnedAmount }",
    **{
        f"earnBurn {group}": EARN_BURN.format(group)
        for group in ("DAY", "MONTH", "STORE", "RULE", "TIER")
    },
    "redemptions": "redemptions(from: $from, to: $to) { items { sku units points cash "
    "cancelRate sellThrough } categories { category units points } flashSales { itemName } }",
    "members": "members(from: $from, to: $to) { active new tiers { tierCode members } "
    "movements { fromTier toTier members } }",
}
PLAIN_QUERIES = {
    "liability": "liability { asOf points amount byExpiryMonth { month points amount } }",
    "expiringForecast(12)": "expiringForecast(months: 12) { month points amount }",
    "segments": "segments { refreshedAt segments { segment members spend } }",
    "highValueMembers(20)": "highValueMembers(first: 20) { edges { cursor node { spend "
    "purchases recency frequency monetary segment member { id } } } }",
}
TYPENAME = "{ __typename }"


@dataclass(frozen=True)
class Query:
    name: str
    document: str
    variables: dict[str, str]


def queries(today: date) -> list[Query]:
    """`{ __typename }`, then each report; those over a period for 30 and 365 days."""
    found = [Query(TYPENAME, TYPENAME, {})]
    found += [
        Query(name, f"{{ insights {{ {field} }} }}", {}) for name, field in PLAIN_QUERIES.items()
    ]
    for days in (30, 365):
        period = {"from": str(today - timedelta(days=days - 1)), "to": str(today)}
        found += [
            Query(f"{name}, {days} days",
                  f"query ($from: Date!, $to: Date!) {{ insights {{ {field} }} }}", period)
            for name, field in PERIOD_QUERIES.items()
        ]  # fmt: skip
    return found


def purchase_bodies(member_gid: str, count: int) -> list[bytes]:
    """recordPurchase of 25.00 for the member, each with its own orderRef and key."""
    return [
        purchase_body(member_gid, "25.00", f"ins-{random.randrange(1 << 60):x}")
        for _ in range(count)
    ]


# --- Checks and plans ------------------------------------------------------------------------

BALANCES_OF_BRAND = """
SELECT COALESCE(SUM(b.available), 0) FROM balance b JOIN member m ON m.id = b.member_id
WHERE m.brand_id = $1
"""
EARNED_IN = """
SELECT COALESCE(SUM(points), 0) FROM ledger_entry
WHERE brand_id = $1 AND kind = 'EARN' AND created_at >= $2 AND created_at < $3
"""


async def check_figures(
    url: str, headers: dict[str, str], db: asyncpg.Connection, brand_id: int, today: date
) -> str:
    """Liability against Σ balances; earnBurn's earned over 365 days against the entries."""
    start = today - timedelta(days=364)
    document = (
        "query ($from: Date!, $to: Date!) { insights { liability { points } "
        "earnBurn(from: $from, to: $to, groupBy: MONTH) { earned } } }"
    )
    body = graphql_body(document, {"from": str(start), "to": str(today)})
    target = Target(f"{url}/graphql", body, headers)
    insights = (await probe(target))["data"]["insights"]
    balances = await db.fetchval(BALANCES_OF_BRAND, brand_id)
    midnight = datetime.combine(start, datetime.min.time(), UTC)
    entries = await db.fetchval(EARNED_IN, brand_id, midnight, midnight + timedelta(days=365))
    reported = sum(row["earned"] for row in insights["earnBurn"])
    same = insights["liability"]["points"] == balances and reported == entries
    return (
        f"liability {insights['liability']['points']:,} (balances {balances:,}); earned over 365 "
        f"days {reported:,} (entries {entries:,}): {'equal' if same else 'MISMATCH'}"
    )


def explained_statements(brand_id: int, today: date) -> list[tuple[str, str, list[Any]]]:
    """The reports' statements over the big tables, with the bench's arguments."""
    year = (today - timedelta(days=364), today)
    month = (today - timedelta(days=29), today)
    bounds = [datetime.combine(day, datetime.min.time(), UTC) for day in year]
    bounds[1] += timedelta(days=1)
    by_day = reports.EARN_BURN_SQL.format(
        key=reports.GROUP_KEYS[reports.GroupBy.DAY],
        label=reports.GROUP_KEYS[reports.GroupBy.DAY],
        rules="r.rule = ''",
    )
    return [
        ("members: active, 30 days", reports.ACTIVE_SQL, [brand_id, *month]),
        ("members: active, 365 days", reports.ACTIVE_SQL, [brand_id, *year]),
        ("members: new, 365 days", reports.NEW_SQL, [brand_id, *bounds]),
        ("members: tiers", reports.TIERS_SQL, [brand_id]),
        ("members: movements, 365 days", reports.MOVEMENTS_SQL, [brand_id, *bounds]),
        ("earnBurn DAY, 365 days", by_day, [brand_id, *year]),
        ("breakage, 365 days", reports.BREAKAGE_SQL, [brand_id, *year]),
        ("redemptions: items, 365 days", reports.ITEMS_SQL, [brand_id, *bounds]),
        ("segments", reports.SEGMENT_COUNTS_SQL, [brand_id]),
        ("liability: expiry months", reports.EXPIRY_SQL, [brand_id]),
    ]


async def explain(db: asyncpg.Connection, brand_id: int, today: date) -> None:
    for name, sql, arguments in explained_statements(brand_id, today):
        rows = await db.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *arguments)
        print(f"\n-- {name}")
        print("\n".join(row[0] for row in rows))


# --- The run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    members: int
    entries: int
    long_ledger: int
    requests: int
    purchases: int
    seconds: float
    workers: int
    connections: int
    explain: bool


@dataclass(frozen=True)
class Figure:
    name: str
    p50_ms: float
    p99_ms: float
    rate: float | None = None  # under wrk
    loaded_p99_ms: float | None = None
    errors: int = 0


def describe(figure: Figure) -> str:
    loaded = (
        f"  wrk {figure.rate:>7,.0f} req/s  p99 {figure.loaded_p99_ms:8.2f} ms"
        if figure.rate is not None
        else ""
    )
    errors = f"  {figure.errors:,} ERRORS" if figure.errors else ""
    return f"{figure.name:<42} p50 {figure.p50_ms:7.2f} ms  p99 {figure.p99_ms:7.2f} ms" + (
        loaded + errors
    )


def table(figures: list[Figure], connections: int) -> str:
    lines = [
        f"| measure | p50 ms | p99 ms | wrk ({connections} conns) req/s | wrk p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for figure in figures:
        rate = f"{figure.rate:,.0f}" if figure.rate is not None else "-"
        loaded = f"{figure.loaded_p99_ms:.1f}" if figure.loaded_p99_ms is not None else "-"
        name = f"{figure.name} ({figure.errors:,} errors)" if figure.errors else figure.name
        lines.append(f"| {name} | {figure.p50_ms:.1f} | {figure.p99_ms:.1f} | {rate} | {loaded} |")
    return "\n".join(lines)


async def measure_queries(
    url: str, headers: dict[str, str], options: Options, today: date, figures: list[Figure]
) -> None:
    graphql = f"{url}/graphql"
    for query in queries(today):
        body = graphql_body(query.document, query.variables)
        await one_at_a_time(graphql, [body] * 5, headers)  # warm-up
        latencies = await one_at_a_time(graphql, [body] * options.requests, headers)
        target = Target(graphql, body, headers)
        loaded = await load(target, seconds=options.seconds, connections=options.connections)
        figure = Figure(
            query.name,
            percentile(latencies, 50),
            percentile(latencies, 99),
            loaded.rate,
            loaded.p99_ms,
            loaded.errors,
        )
        figures.append(figure)
        print(describe(figure), flush=True)


async def measure_earns(
    url: str, headers: dict[str, str], options: Options, members: dict[str, int]
) -> list[Figure]:
    figures = []
    graphql = f"{url}/graphql"
    for who, member_id in members.items():
        gid = encode_id("Member", member_id)
        await one_at_a_time(graphql, purchase_bodies(gid, 5), headers)  # warm-up
        bodies = purchase_bodies(gid, options.purchases)
        latencies = await one_at_a_time(graphql, bodies, headers)
        figure = Figure(
            f"recordPurchase one at a time, {who}",
            percentile(latencies, 50),
            percentile(latencies, 99),
        )
        figures.append(figure)
        print(describe(figure), flush=True)
    return figures


TIER_OF = "SELECT t.code FROM member m JOIN tier t ON t.id = m.tier_id WHERE m.id = $1"


async def main(options: Options) -> None:
    print(
        f"{options.members:,} members, {options.entries:,} entries; a long ledger of "
        f"{options.long_ledger:,}; {options.workers} uvicorn workers; {load_average()}"
    )
    rng = random.Random(20240601)
    now = datetime.now(UTC)
    today = now.date()  # the brands are on UTC
    async with own_backends() as backends:
        db = await asyncpg.connect(backends.database_url)
        try:
            started = time.perf_counter()
            async with database(backends.database_url):
                brand = await configure(db, new_brand_code("ins"), 10_000)
                long_brand = await configure(db, new_brand_code("long"), OUT_OF_REACH)
            entries, since, tiers = spread(options.members, options.entries, now, rng)
            await seed_member_histories(db, brand, entries, since, tiers, now)
            long_start = now - timedelta(days=LONG_LEDGER_DAYS)
            long_id, short_id = await seed_member_histories(
                db, long_brand, [options.long_ledger, SHORT_LEDGER],
                [long_start, long_start], ["SILVER", "SILVER"], now,
            )  # fmt: skip
            seeded = time.perf_counter() - started
            await fill_rollups(db, backends.database_url)
            counted = await db.fetchrow(
                "SELECT (SELECT count(*) FROM ledger_entry WHERE brand_id = $1) AS entries, "
                "(SELECT count(*) FROM redemption WHERE brand_id = $1) AS redemptions, "
                "(SELECT count(*) FROM purchase WHERE brand_id = $1) AS purchases, "
                "(SELECT count(*) FROM member_day) AS member_days, "
                "(SELECT count(*) FROM ledger_rollup) AS ledger_rollups, "
                "(SELECT count(*) FROM member_number) AS member_numbers, "
                "(SELECT count(*) FROM active_day) AS active_days",
                brand.id,
            )
            print(
                f"  seeded in {seeded:.1f} s, rolled up in "
                f"{time.perf_counter() - started - seeded:.1f} s: {dict(counted)}; books "
                f"{await check_books(backends.database_url)}"
            )

            env = backends.service_env(scheduler=False)
            secret = env["POINTSMALL_JWT_SECRET"]
            analyst = brand_token(secret, brand.code, "ANALYST", ANALYST)
            admin = brand_token(secret, long_brand.code, "ADMIN", ADMIN)
            figures: list[Figure] = []
            serving = serve(SERVICE_FACTORY, workers=options.workers, env=env)
            async with serving as url:
                reader = authorized(analyst)
                print(f"  {await check_figures(url, reader, db, brand.id, today)}")
                await measure_queries(url, reader, options, today, figures)
                writer = authorized(admin)
                earners = {
                    f"{SHORT_LEDGER}-entry member": short_id,
                    f"{options.long_ledger:,}-entry member": long_id,
                }
                figures += await measure_earns(url, writer, options, earners)
            tiers_now = [await db.fetchval(TIER_OF, pk) for pk in (short_id, long_id)]
            print(f"  the earners' tiers after: {tiers_now} (SILVER: each earn summed the window)")
            if options.explain:
                await explain(db, brand.id, today)
        finally:
            await db.close()

    print(f"\nAt the end, {load_average()}.")
    print(
        f"\n{options.members:,} members, {options.entries:,} entries over {HISTORY_DAYS} days; "
        f"p50/p99 of {options.requests} queries (of {options.purchases} purchases) one at a "
        f"time from httpx; wrk: {options.connections} connections, {options.seconds:g} s; "
        f"{options.workers} uvicorn workers:\n"
    )
    print(table(figures, options.connections))


def cli() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.insights",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_load_arguments(parser, seconds=3.0)
    parser.set_defaults(connections=8)
    parser.add_argument("--members", type=int, default=100_000, help="members of the brand")
    parser.add_argument("--entries", type=int, default=1_000_000, help="the brand's entries")
    parser.add_argument(
        "--long-ledger", type=int, default=1_000_000, help="entries of the long ledger's member"
    )
    parser.add_argument("--requests", type=int, default=100, help="one at a time, per query")
    parser.add_argument("--purchases", type=int, default=200, help="one at a time, per member")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the reports")
    arguments = parser.parse_args()
    run(main(Options(**vars(arguments))))


if __name__ == "__main__":
    cli()
