"""The roll-ups the brand's reports and tier qualification read instead of the ledger.

- `member_day` (a member's qualifying, earned and redeemed points per brand-local day) and
  `expiry_rollup` (points left in live lots per brand-local month of expiry) are written in
  each movement's transaction, in one statement when its book closes. A member's own rows
  wait only for that member's movements (which wait for each other anyway); the expiry rows
  are split over SHARDS by member, so concurrent movements seldom share one.
- `ledger_rollup` (the ledger per day, kind, store, partner, tier and rule) is written by the
  roll-up job (`roll_up`, every few seconds in `serve`), from the entries of settled
  transactions: every entry carries the id of the transaction that wrote it (`txid`), and the
  job sums those below the oldest transaction of this database still running, then moves its
  watermark there.
  An entry is summed once, even when transactions commit out of order; reports lag by seconds.
- `member_number` and `active_day` (the brand's active members per brand-local day, as bits)
  are written by the same job from the same settled entries, under a watermark of their own
  (`members`): a member gets the next number of their brand the first time the job sees them
  active, and each day's bits are OR-ed in. A period's active members are its days' bits OR-ed
  together and counted, whatever the number of entries.

Design: docs/decisions.md, "Active members as bits per day".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from db.models import LedgerKind
from db.sql import Sql
from domain.runtime import Backends

SHARDS = 64
QUALIFYING = {LedgerKind.EARN, LedgerKind.REVERSAL}


def month_of(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date().replace(day=1)


@dataclass
class BookRollup:
    """What one member's movement changes of the roll-ups written with it."""

    member_id: int
    brand_id: int
    day: date
    zone: ZoneInfo
    qualifying: int = 0
    earned: int = 0
    redeemed: int = 0
    expiring: dict[date, int] = field(default_factory=lambda: defaultdict(int))

    def entry(self, kind: LedgerKind, points: int) -> None:
        if kind in QUALIFYING:
            self.qualifying += points
        if kind is LedgerKind.EARN:
            self.earned += points
        elif kind is LedgerKind.REDEEM:
            self.redeemed -= points

    def lot(self, expires_at: datetime, points: int) -> None:
        """Points added to (or taken from, negative) a live lot expiring then."""
        self.expiring[month_of(expires_at, self.zone)] += points


ROLLUPS_SQL = """
WITH expiry AS (
    INSERT INTO expiry_rollup AS x (brand_id, month, shard, points)
    SELECT * FROM unnest($1::int[], $2::date[], $3::smallint[], $4::bigint[])
    ON CONFLICT (brand_id, month, shard) DO UPDATE SET points = x.points + excluded.points
)
INSERT INTO member_day AS d (member_id, brand_id, day, qualifying, earned, redeemed)
SELECT * FROM unnest($5::int[], $6::int[], $7::date[], $8::bigint[], $9::bigint[],
                     $10::bigint[])
ON CONFLICT (member_id, day) DO UPDATE
SET qualifying = d.qualifying + excluded.qualifying, earned = d.earned + excluded.earned,
    redeemed = d.redeemed + excluded.redeemed
"""


async def record_rollups(connection: BaseDBAsyncClient, rollups: Iterable[BookRollup]) -> None:
    """Write the movement's roll-ups (one statement), in its transaction."""
    arguments = rollups_arguments(rollups)
    if arguments is not None:
        await Sql(connection).execute(ROLLUPS_SQL, *arguments)


def rollups_arguments(rollups: Iterable[BookRollup]) -> tuple[list[Any], ...] | None:
    """ROLLUPS_SQL's arguments (None: nothing to write). Rows go in key order, so two
    movements never wait for each other's rows in a cycle."""
    rollups = list(rollups)
    expiry = sorted(
        (r.brand_id, month, r.member_id % SHARDS, points)
        for r in rollups
        for month, points in r.expiring.items()
        if points
    )
    days = sorted(
        (r.member_id, r.brand_id, r.day, r.qualifying, r.earned, r.redeemed)
        for r in rollups
        if r.qualifying or r.earned or r.redeemed
    )
    if not expiry and not days:
        return None
    return (*_columns(expiry, 4), *_columns(days, 6))


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


QUALIFYING_SQL = """
SELECT COALESCE((SELECT SUM(qualifying) FROM member_day WHERE member_id = $1 AND day > $2), 0)
     + COALESCE((SELECT SUM(points) FROM ledger_entry
                 WHERE member_id = $1 AND created_at > $3 AND created_at < $4
                   AND kind IN ('EARN', 'REVERSAL')), 0) AS points
"""


async def qualifying_since(
    connection: BaseDBAsyncClient, member_id: int, since: datetime, zone: ZoneInfo
) -> int:
    """What the member earned (less what reversals took back) after `since`: whole days from
    `member_day`, and the entries of the day `since` falls in after it. O(days), whatever the
    number of entries."""
    first_day = since.astimezone(zone).date()
    next_midnight = datetime.combine(first_day + timedelta(days=1), time(0), zone)
    rows = await connection.execute_query_dict(
        QUALIFYING_SQL, [member_id, first_day, since, next_midnight]
    )
    return int(rows[0]["points"])


# The roll-up job.
# The ledger's watermark and the active members' (which may be behind after an upgrade, if a
# process of the previous release moved the ledger's alone), locked in name order.
LOCK_WATERMARKS_SQL = """
SELECT name, next_xid FROM rollup_watermark WHERE name IN ('ledger', 'members')
ORDER BY name FOR UPDATE
"""
# The oldest transaction of this database still running (ids are the server's, shared by all
# its databases: one elsewhere must not hold the roll-up back), or the next id to be given.
SETTLED_BELOW_SQL = """
WITH snapshot AS (SELECT pg_current_snapshot() AS s),
ours AS (
    SELECT backend_xid::text::bigint AS xid FROM pg_stat_activity
    WHERE datname = current_database() AND backend_xid IS NOT NULL
      AND pid <> pg_backend_pid()
)
SELECT COALESCE(
    (SELECT min(running::text::bigint)
     FROM snapshot, pg_snapshot_xip(snapshot.s) AS running
     WHERE running::text::bigint % 4294967296 IN (SELECT xid FROM ours)),
    (SELECT pg_snapshot_xmax(s)::text::bigint FROM snapshot)
) AS xid
"""
ROLL_UP_SQL = """
INSERT INTO ledger_rollup AS r (brand_id, day, kind, store_id, partner_id, tier_id, rule,
                                points, entries)
SELECT e.brand_id, (e.created_at AT TIME ZONE b.timezone)::date, e.kind,
       COALESCE(e.store_id, 0), COALESCE(e.partner_id, 0), COALESCE(e.tier_id, 0),
       parts.rule, SUM(parts.points), COUNT(*)
FROM ledger_entry e
JOIN brand b ON b.id = e.brand_id
CROSS JOIN LATERAL (
    SELECT '' AS rule, e.points
    UNION ALL
    SELECT part->>'rule', (part->>'points')::int
    FROM jsonb_array_elements(CASE WHEN e.kind = 'EARN' THEN e.breakdown ELSE '[]' END) part
    WHERE COALESCE(part->>'rule', '') <> ''
) parts
WHERE e.txid >= $1 AND e.txid < $2
GROUP BY 1, 2, 3, 4, 5, 6, 7
ORDER BY 1, 2, 3, 4, 5, 6, 7
ON CONFLICT (brand_id, day, kind, store_id, partner_id, tier_id, rule) DO UPDATE
SET points = r.points + excluded.points, entries = r.entries + excluded.entries
"""
# Bits per chunk of `active_day.bits`: 1 KB, which stays in its row (no TOAST), so a small
# brand's day costs 1 KB, and a 365-day period of 100,000 members ORs 4,745 rows (5 ms in
# bench/insights.py; 65,536-bit chunks took 6 ms uncompressed, 11 ms compressed).
ACTIVE_CHUNK_BITS = 8192
# An entry that makes its member active on its day.
ACTIVE_ENTRY = "(e.kind = 'EARN' AND e.points > 0 OR e.kind = 'REDEEM' AND e.points < 0)"
# Members first seen active take the next numbers of their brand, in member id order. Each
# brand's highest number is read once, before any row is inserted: read per row, the index
# scan would step over every row this statement inserted (invisible to it) each time.
NUMBER_MEMBERS_SQL = f"""
WITH fresh AS MATERIALIZED (
    SELECT DISTINCT e.member_id, e.brand_id FROM ledger_entry e
    WHERE e.txid >= $1 AND e.txid < $2 AND {ACTIVE_ENTRY}
      AND NOT EXISTS (SELECT 1 FROM member_number n WHERE n.member_id = e.member_id)
),
tops AS MATERIALIZED (
    SELECT brand_id,
           COALESCE((SELECT max(n.number) FROM member_number n WHERE n.brand_id = b.brand_id),
                    -1) AS top
    FROM (SELECT DISTINCT brand_id FROM fresh) b
)
INSERT INTO member_number (member_id, brand_id, number)
SELECT f.member_id, f.brand_id,
       t.top + row_number() OVER (PARTITION BY f.brand_id ORDER BY f.member_id)
FROM fresh f JOIN tops t ON t.brand_id = f.brand_id
ORDER BY f.brand_id, f.member_id
"""
# Each (brand, day, chunk)'s bits from its active members' numbers (a '1' after as many '0's
# as the gap from the previous one, '0's to the chunk's end), OR-ed into what is there.
MARK_ACTIVE_SQL = f"""
INSERT INTO active_day AS a (brand_id, day, chunk, bits)
SELECT brand_id, day, chunk,
       (string_agg(repeat('0', bit - previous - 1) || '1', '' ORDER BY bit)
        || repeat('0', {ACTIVE_CHUNK_BITS} - 1 - max(bit)))::varbit
FROM (
    SELECT brand_id, day, number / {ACTIVE_CHUNK_BITS} AS chunk,
           number % {ACTIVE_CHUNK_BITS} AS bit,
           lag(number % {ACTIVE_CHUNK_BITS}, 1, -1) OVER (
               PARTITION BY brand_id, day, number / {ACTIVE_CHUNK_BITS} ORDER BY number
           ) AS previous
    FROM (SELECT DISTINCT e.brand_id, (e.created_at AT TIME ZONE b.timezone)::date AS day,
                 n.number
          FROM ledger_entry e
          JOIN brand b ON b.id = e.brand_id
          JOIN member_number n ON n.member_id = e.member_id
          WHERE e.txid >= $1 AND e.txid < $2 AND {ACTIVE_ENTRY}) active
) placed
GROUP BY brand_id, day, chunk
ORDER BY brand_id, day, chunk
ON CONFLICT (brand_id, day, chunk) DO UPDATE SET bits = a.bits | excluded.bits
"""
MOVE_WATERMARKS_SQL = """
UPDATE rollup_watermark SET next_xid = GREATEST(next_xid, $1), rolled_at = now()
WHERE name IN ('ledger', 'members')
"""


async def roll_up(rt: Backends) -> int:
    """Sum the entries of every transaction settled since the last run into `ledger_rollup`,
    and mark their members active in `active_day`; how many transaction ids it moved past.
    Runs one at a time (the watermarks' row locks). A scheduler job: `rt` is not needed."""
    async with in_transaction() as connection:
        sql = Sql(connection)
        starts: dict[str, int] = {
            row["name"]: row["next_xid"] for row in await sql.fetch(LOCK_WATERMARKS_SQL)
        }
        settled = await sql.fetchrow(SETTLED_BELOW_SQL)
        assert settled is not None  # one row, whatever runs
        settled_below: int = settled["xid"]
        start = min(starts.values())
        if settled_below <= start:
            return 0
        if settled_below > starts["ledger"]:
            await sql.execute(ROLL_UP_SQL, starts["ledger"], settled_below)
        if settled_below > starts["members"]:
            await sql.execute(NUMBER_MEMBERS_SQL, starts["members"], settled_below)
            await sql.execute(MARK_ACTIVE_SQL, starts["members"], settled_below)
        await sql.execute(MOVE_WATERMARKS_SQL, settled_below)
    return settled_below - start
