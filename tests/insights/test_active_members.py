"""Active members as the roll-up job keeps them: each brand's members numbered the first time the
job sees them active (an EARN or a REDEEM entry), their bit set in each brand-local day they
were, whatever order transactions commit in; the migration's backfill and the job after it
count every entry once."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from domain.brands import create_brand
from domain.insights.rollups import ACTIVE_CHUNK_BITS, SHARDS, roll_up
from resolvers.ids import parse_id
from tests.support.backends import Backends, create_database, drop_database
from tests.support.factories import Staff

MEMBERS = """
query ($from: Date!, $to: Date!) { insights { members(from: $from, to: $to) { active } } }
"""
NUMBERS_SQL = "SELECT member_id, number FROM member_number WHERE brand_id = $1"
DAYS_SQL = "SELECT day, chunk, bits::text AS bits FROM active_day WHERE brand_id = $1"
LAST_TXID_SQL = "SELECT COALESCE(MAX(txid), 0) FROM ledger_entry WHERE brand_id = $1"
WATERMARKS_SQL = "SELECT name, next_xid FROM rollup_watermark ORDER BY name"
WAITING_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
  AND query LIKE '%INSERT INTO expiry_rollup%'
"""


def pk(member: dict) -> int:
    parsed = parse_id(member["id"])
    assert parsed is not None
    return parsed[1]


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"waited in vain: {what}")


async def rolled_up(db: asyncpg.Connection, brand_id: int) -> None:
    """Run the job until it is past the brand's last entry (another session's transaction
    on the server may hold it back a moment)."""
    last = await db.fetchval(LAST_TXID_SQL, brand_id)

    async def past() -> bool:
        await roll_up(None)
        return all(row["next_xid"] > last for row in await db.fetch(WATERMARKS_SQL))

    await until(past, "the roll-up job passes the brand's last entry")


async def numbers(db: asyncpg.Connection, brand_id: int) -> dict[int, int]:
    return {row["member_id"]: row["number"] for row in await db.fetch(NUMBERS_SQL, brand_id)}


async def active_days(db: asyncpg.Connection, brand_id: int) -> dict[date, set[int]]:
    """The numbers whose bit is set, per day."""
    days: dict[date, set[int]] = {}
    for row in await db.fetch(DAYS_SQL, brand_id):
        assert len(row["bits"]) == ACTIVE_CHUNK_BITS
        days.setdefault(row["day"], set()).update(
            row["chunk"] * ACTIVE_CHUNK_BITS + bit
            for bit, on in enumerate(row["bits"])
            if on == "1"
        )
    return days


async def test_members_of_entries_committed_out_of_order_are_numbered_and_marked_once(
    staff, brand, db, settings, gql, make_token, clock
):
    ada, bo, cy = [await staff.register(name) for name in ("Ada", "Bo", "Cy")]
    assert pk(ada) % SHARDS != pk(bo) % SHARDS
    await staff.purchase(cy["id"], "40.00")
    await staff.adjust(ada["id"], 30)  # an adjustment is not activity
    await rolled_up(db, brand.id)
    assert await numbers(db, brand.id) == {pk(cy): 0}

    # Ada's purchase writes its entry, then waits (its expiry roll-up row is locked here)
    # while Bo's, a later transaction, commits: the job must not pass Ada's transaction.
    blocker = await asyncpg.connect(settings.database_url)
    try:
        async with blocker.transaction():
            await blocker.execute(
                "SELECT 1 FROM expiry_rollup WHERE brand_id = $1 AND shard = $2 FOR UPDATE",
                brand.id,
                pk(ada) % SHARDS,
            )
            adas = asyncio.create_task(staff.purchase(ada["id"], "50.00"))

            async def waiting() -> bool:
                return await db.fetchval(WAITING_SQL) == 1

            await until(waiting, "Ada's purchase waits for the expiry roll-up row")
            bos = await staff.purchase(bo["id"], "30.00")
            assert bos["userErrors"] == [], bos
            for _ in range(3):
                await roll_up(None)
            assert await numbers(db, brand.id) == {pk(cy): 0}
        assert (await adas)["userErrors"] == []
    finally:
        await blocker.close()
    await rolled_up(db, brand.id)
    today = clock.now().astimezone(ZoneInfo(brand.timezone)).date()
    assert await numbers(db, brand.id) == {pk(cy): 0, pk(ada): 1, pk(bo): 2}
    assert await active_days(db, brand.id) == {today: {0, 1, 2}}

    # Again, and a second purchase of Ada's the same day: nothing counts twice.
    await staff.purchase(ada["id"], "10.00")
    await rolled_up(db, brand.id)
    await roll_up(None)
    assert await numbers(db, brand.id) == {pk(cy): 0, pk(ada): 1, pk(bo): 2}
    assert await active_days(db, brand.id) == {today: {0, 1, 2}}
    body = await gql(
        MEMBERS, {"from": str(today), "to": str(today)}, token=make_token(brand, "ANALYST")
    )
    assert body["data"]["insights"]["members"]["active"] == 3


CREATE_ITEM = """
mutation ($input: CreateCatalogItemInput!) {
  createCatalogItem(input: $input) { item { id } userErrors { field message code } }
}
"""
REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) { redemption { id } userErrors { field message code } }
}
"""


async def test_a_period_counts_each_member_active_on_any_of_its_days_once(
    staff, brand, db, gql, make_token, clock
):
    """An earn or a redemption makes its member active that brand-local day; an adjustment
    does not; numbers are the brand's own."""
    ada, bo, cy = [await staff.register(name) for name in ("Ada", "Bo", "Cy")]
    item = await staff.call(
        CREATE_ITEM,
        {"sku": "CUP", "name": "Cup", "kind": "COUPON", "category": "drinks", "pointsPrice": 20},
    )
    assert item["userErrors"] == [], item
    zone = ZoneInfo(brand.timezone)
    first = clock.now().astimezone(zone).date()
    await staff.purchase(ada["id"], "40.00")
    await staff.adjust(cy["id"], 50)
    clock.advance(timedelta(days=1))
    await staff.purchase(ada["id"], "40.00")
    await staff.purchase(bo["id"], "40.00")
    redeemed = await gql(
        REDEEM,
        {"input": {"itemId": item["item"]["id"], "idempotencyKey": uuid.uuid4().hex}},
        token=make_token(brand, "MEMBER", cy["id"]),
    )
    assert redeemed["data"]["redeem"]["userErrors"] == [], redeemed
    other = await create_brand(f"o{uuid.uuid4().hex[:12]}", "Other", timezone="UTC")
    elsewhere = Staff(gql, make_token(other, "ADMIN", "admin"))
    dan = await elsewhere.register("Dan")
    await elsewhere.purchase(dan["id"], "40.00")
    await rolled_up(db, brand.id)
    await rolled_up(db, other.id)

    second = first + timedelta(days=1)
    assert await numbers(db, brand.id) == {pk(ada): 0, pk(bo): 1, pk(cy): 2}
    assert await active_days(db, brand.id) == {first: {0}, second: {0, 1, 2}}
    assert await numbers(db, other.id) == {pk(dan): 0}
    reader = make_token(brand, "ANALYST", "reader")
    for start, end, active in (
        (first, first, 1),
        (second, second, 3),
        (first, second, 3),
        (first - timedelta(days=9), first - timedelta(days=1), 0),
    ):
        body = await gql(MEMBERS, {"from": str(start), "to": str(end)}, token=reader)
        assert (start, end, body["data"]["insights"]["members"]["active"]) == (start, end, active)


# In a process of its own: this one's Tortoise context is the app fixture's.
MIGRATE_OR_ROLL_UP = """
import asyncio, sys
from tortoise import Tortoise
from tortoise.migrations.api import migrate
from db.database import close_database, open_database, tortoise_config
from domain.insights.rollups import roll_up

async def main(url, step):
    if step == "roll-up":
        await open_database(url)
        try:
            await roll_up(None)
        finally:
            await close_database()
    else:
        await migrate(config=tortoise_config(url, pool_max=2), target=f"models.{step}")
        await Tortoise.close_connections()

asyncio.run(main(*sys.argv[1:3]))
"""
SEED_BRAND_SQL = """
WITH b AS (
    INSERT INTO brand (code, name, timezone, expiry_policy, expiry_months, clearing_month,
                       clearing_day, grace_days, tier_window_months, purchase_max_age_days,
                       cancel_window_hours, payment_window_minutes, earning_version, created_at)
    VALUES ('backfill', 'Backfill', 'Asia/Shanghai', 'ROLLING', 24, 12, 31, 30, 12, 30, 24, 30,
            1, now())
    RETURNING id
),
t AS (
    INSERT INTO tier (brand_id, code, name, rank, qualifying_points, earn_multiplier,
                      discount_percent, birthday_bonus_points, flash_sale_early_access_minutes,
                      created_at)
    SELECT id, 'BASE', 'Base', 0, 0, 1, 0, 0, 0, now() FROM b
    RETURNING id, brand_id
)
INSERT INTO member (brand_id, tier_id, display_name, referral_code, member_code, status,
                    marketing_email, marketing_sms, joined_at)
SELECT t.brand_id, t.id, 'Member ' || i, 'R' || i, 'M' || i, 'ACTIVE', false, false, now()
FROM t, generate_series(1, 4) i
RETURNING id, brand_id
"""
SEED_ENTRIES_SQL = """
INSERT INTO ledger_entry (brand_id, member_id, kind, points, balance_after, version,
                          description, created_at, breakdown, actor, shortfall)
SELECT $1, e.member_id, e.kind, e.points, 0, e.version, 'Seeded', e.created_at, '[]', 'test', 0
FROM unnest($2::int[], $3::text[], $4::int[], $5::int[], $6::timestamptz[])
     AS e(member_id, kind, points, version, created_at)
"""
LEDGER_ROLLED_UP_TO_HERE_SQL = """
UPDATE rollup_watermark SET next_xid = (SELECT max(txid) + 1 FROM ledger_entry)
WHERE name = 'ledger'
"""


async def migrate_or_roll_up(url: str, step: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", MIGRATE_OR_ROLL_UP, url, step,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


async def test_the_migration_marks_what_the_ledger_roll_up_summed_and_the_job_the_rest(
    backend_servers: Backends,
):
    """Entries below the ledger's watermark are numbered and marked by the migration, those
    after it by the job, each once; days are the brand's (Asia/Shanghai, UTC+8)."""
    name = f"pointsmall_backfill_{uuid.uuid4().hex[:10]}"
    url = await create_database(backend_servers.postgres_server_url, name)
    try:
        await migrate_or_roll_up(url, "0024_purchase_history_index")
        db = await asyncpg.connect(url)
        try:
            rows = await db.fetch(SEED_BRAND_SQL)
            brand_id = rows[0]["brand_id"]
            m1, m2, m3, m4 = sorted(row["id"] for row in rows)
            summed = [  # then rolled up into ledger_rollup by the previous release's job
                (m1, "EARN", 10, 1, at("2026-03-01T15:30:00+00:00")),  # 23:30 on 1 March
                (m2, "REDEEM", -5, 1, at("2026-03-01T16:30:00+00:00")),  # 00:30 on the 2nd
                (m3, "ADJUST", 5, 1, at("2026-03-01T10:00:00+00:00")),  # not activity
                (m4, "EARN", 0, 1, at("2026-03-01T10:00:00+00:00")),  # nothing earned
            ]
            await db.execute(SEED_ENTRIES_SQL, brand_id, *map(list, zip(*summed, strict=True)))
            await db.execute(LEDGER_ROLLED_UP_TO_HERE_SQL)
            later = [
                (m3, "EARN", 10, 2, at("2026-03-02T02:00:00+00:00")),
                (m1, "EARN", 10, 2, at("2026-03-02T02:00:00+00:00")),
            ]
            await db.execute(SEED_ENTRIES_SQL, brand_id, *map(list, zip(*later, strict=True)))

            await migrate_or_roll_up(url, "0025_active_members")
            marks = {row["name"]: row["next_xid"] for row in await db.fetch(WATERMARKS_SQL)}
            assert marks["members"] == marks["ledger"]
            assert await numbers(db, brand_id) == {m1: 0, m2: 1}
            march_1, march_2 = date(2026, 3, 1), date(2026, 3, 2)
            assert await active_days(db, brand_id) == {march_1: {0}, march_2: {1}}

            for _ in range(2):
                await migrate_or_roll_up(url, "roll-up")
                assert await numbers(db, brand_id) == {m1: 0, m2: 1, m3: 2}
                assert await active_days(db, brand_id) == {march_1: {0}, march_2: {0, 1, 2}}
        finally:
            await db.close()
    finally:
        await drop_database(backend_servers.postgres_server_url, name)
