"""Flash sales under attack, against real PostgreSQL, real Redis and real uvicorn processes.

Thousands of entries spread over two server processes; a server killed with SIGKILL while its
entries are in flight; Redis losing the sale (FLUSHALL) mid-sale; a live subscriber watching the
stock run out; two reconcilers racing; and clients repeating an idempotency key. Whatever
happens, PostgreSQL never sells more than the stock, no member passes the limit, every winner is
debited once and every loser untouched, and once the reconciler has run Redis agrees with
PostgreSQL again: stock left + sold == total, every hold resolved exactly once.

Live servers run on real time, while the in-process app's clock may have been moved forward by
other tests: sales and points are therefore made here with a runtime of real time (`rt`), on
the in-process database connection and the run's Redis prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import random
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import asyncpg
import pytest

from db.flash_sales import SaleKeys
from db.keys import RedisKeys
from db.models import Brand
from domain.catalog.items import ItemKind, ItemSpec, create_item
from domain.errors import DomainError, ErrorCode
from domain.flash_sales import entry as entry_module
from domain.flash_sales.entry import enter
from domain.flash_sales.reconcile import reconcile
from domain.flash_sales.sales import SaleSpec, create_sale
from domain.ledger.audit import audit
from domain.principal import Principal, Role
from domain.runtime import DEADLINE_MARGIN_MS, Backends
from resolvers.ids import encode_id, parse_id
from server.settings import Settings
from tests.support.commands import POINTSMALL
from tests.support.flash_sales import runtime_on, start_servers, stop_servers
from tests.support.live import (
    LiveServer,
    bearer,
    connected,
    receive,
    stop_live_server,
)

SEED_POINTS = 1_000
OPENS_IN = 1.5  # seconds from real now: a sale must start in the future
IN_FLIGHT = 100

ENTER = """
mutation ($input: EnterFlashSaleInput!) {
  enterFlashSale(input: $input) {
    redemption { id quantity pointsSpent status }
    userErrors { code field }
  }
}
"""

STOCK = """
subscription ($id: ID!) {
  flashSaleStock(flashSaleId: $id) { flashSale { id } remainingStock status }
}
"""


# Seeding, with SQL -------------------------------------------------------------------------

SEED_MEMBERS = """
INSERT INTO member (brand_id, display_name, referral_code, member_code, status,
                    marketing_email, marketing_sms, tier_id, joined_at)
SELECT $1, 'Flash member ' || i, 'R' || $3 || i, 'M' || $3 || i, 'ACTIVE', false, false,
       (SELECT id FROM tier WHERE brand_id = $1 ORDER BY rank LIMIT 1), now()
FROM generate_series(1, $2) i
RETURNING id
"""
# Each member's one EARN entry (version 1) with its lot, expiring in two years, and the balance.
SEED_BALANCES = """
INSERT INTO balance (member_id, available, lifetime_earned, lifetime_redeemed, version, shortfall)
SELECT id, $2::int, $2::int, 0, 1, 0 FROM unnest($1::int[]) id
"""
SEED_LOTS = """
WITH entries AS (
    INSERT INTO ledger_entry (brand_id, member_id, kind, points, balance_after, version,
                              description, created_at, expires_at, breakdown, actor, shortfall)
    SELECT $1, id, 'EARN', $3, $3, 1, 'Seeded points', now(), now() + interval '2 years',
           '[]', 'test:seed', 0
    FROM unnest($2::int[]) id
    RETURNING id, member_id, points, created_at, expires_at
)
INSERT INTO lot (member_id, entry_id, points, remaining, earned_at, expires_at)
SELECT member_id, id, points, points, created_at, expires_at FROM entries
"""


async def seed_members(
    db: asyncpg.Connection, brand: Brand, count: int, points: int = SEED_POINTS
) -> list[int]:
    """`count` active members of the brand, each with `points` in one lot (books consistent)."""
    tag = uuid.uuid4().hex[:6].upper()
    async with db.transaction():
        ids = [row["id"] for row in await db.fetch(SEED_MEMBERS, brand.id, count, tag)]
        await db.execute(SEED_BALANCES, ids, points)
        await db.execute(SEED_LOTS, brand.id, ids, points)
    return ids


def member_tokens(make_token, brand: Brand, members: list[int]) -> dict[int, str]:
    return {
        member: make_token(brand, "MEMBER", subject=encode_id("Member", member))
        for member in members
    }


# A sale of real time ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sale:
    id: int
    brand: Brand
    total: int
    price: int
    limit: int
    starts_at: datetime

    @property
    def gid(self) -> str:
        return encode_id("FlashSale", self.id)

    def keys(self, prefix: str) -> SaleKeys:
        return SaleKeys.of(RedisKeys(prefix), self.id)


def admin_of(brand: Brand) -> Principal:
    return Principal(Role.ADMIN, brand.id, brand.code, "admin-1")


def member_principal(brand: Brand, member_id: int) -> Principal:
    subject = encode_id("Member", member_id)
    return Principal(Role.MEMBER, brand.id, brand.code, subject, member_id, time.time() + 3600)


async def open_sale(
    rt: Backends, brand: Brand, *, total: int, price: int = 100, limit: int = 1
) -> Sale:
    """A sale of a new item opening OPENS_IN seconds from real now, loaded into rt's Redis."""
    now = datetime.now(UTC)
    spec = ItemSpec(f"FLASH-{uuid.uuid4().hex[:10]}", "Flash item", ItemKind.PARTNER_OFFER,
                    "flash", price)  # fmt: skip
    item = await create_item(admin_of(brand), spec, now)
    starts_at = now + timedelta(seconds=OPENS_IN)
    sale = await create_sale(
        rt,
        admin_of(brand),
        SaleSpec(item.id, price, starts_at, starts_at + timedelta(hours=1), total, limit),
    )
    return Sale(sale.id, brand, total, price, limit, starts_at)


async def until_open(sale: Sale) -> None:
    wait = (sale.starts_at - datetime.now(UTC)).total_seconds() + 0.05
    if wait > 0:
        await asyncio.sleep(wait)


# Entering over HTTP --------------------------------------------------------------------------


@dataclass
class Answer:
    member_id: int
    key: str
    server: int
    redemption: dict | None = None
    codes: tuple[str, ...] = ()
    failure: str | None = None  # no GraphQL answer: a transport error or top-level errors
    at: float = 0.0  # seconds into the run when the answer (or failure) came
    repeated: bool = False  # its connection dropped; sent again with the same key


class Connection:
    """One keep-alive HTTP/1.1 connection to a live server, one request at a time.

    Deliberately lean: an httpx client spends more CPU per request than the server it calls
    (three times the two servers' together, measured here), which on a small machine made the
    client, not the service, the bottleneck of the load tests."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 "Content-Type: application/json", f"Content-Length: {len(body)}",
                 *(f"{name}: {value}" for name, value in headers.items())]  # fmt: skip
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            fields = dict(
                (name.strip().lower(), value.strip())
                for name, _, value in (line.partition(":") for line in header_lines if line)
            )
            if fields.get("transfer-encoding") == "chunked":
                content = b""
                while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                    content += (await reader.readexactly(size + 2))[:-2]
                await reader.readuntil(b"\r\n")
            else:
                content = await reader.readexactly(int(fields.get("content-length", 0)))
            if fields.get("connection") == "close":
                await self.close()
            return int(status_line.split()[1]), content
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self.streams is not None:
            writer = self.streams[1]
            self.streams = None
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


DROPPED = (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError)


async def fire(
    servers: list[LiveServer],
    sale: Sale,
    entries: list[tuple[int, str]],
    tokens: dict[int, str],
    in_flight: int = IN_FLIGHT,
    *,
    repeat_dropped: bool = True,
) -> list[Answer]:
    """POST enterFlashSale for each (member, idempotency key), spread round-robin over the
    servers, `in_flight` at a time (each on a connection of its own); every answer, or why
    there is none, in entry order.

    A request whose connection dropped before its answer is repeated once, with its key, on a
    new connection, as clients do (`repeat_dropped`; a loaded machine may stall this process
    past the server's keep-alive timeout): the key makes that safe, and the checks after each
    run hold the service to it. Refused connections and timeouts are never repeated."""
    answers = [Answer(member, key, index % len(servers)) for index, (member, key) in
               enumerate(entries)]  # fmt: skip
    queue = iter(answers)
    started = time.monotonic()

    async def one(answer: Answer, connection: Connection) -> None:
        variables = {
            "input": {"flashSaleId": sale.gid, "quantity": 1, "idempotencyKey": answer.key}
        }
        body = json.dumps({"query": ENTER, "variables": variables}).encode()
        headers = bearer(tokens[answer.member_id])
        try:
            try:
                status, content = await connection.post("/graphql", body, headers)
            except DROPPED:
                if not repeat_dropped:
                    raise
                answer.repeated = True
                status, content = await connection.post("/graphql", body, headers)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as error:
            answer.failure = type(error).__name__
            return
        finally:
            answer.at = round(time.monotonic() - started, 2)
        if status != 200:
            answer.failure = f"HTTP {status}: {content[:300]!r}"
            return
        reply = json.loads(content)
        if reply.get("errors"):
            answer.failure = json.dumps(reply["errors"])[:300]
            return
        payload = reply["data"]["enterFlashSale"]
        answer.redemption = payload["redemption"]
        answer.codes = tuple(error["code"] for error in payload["userErrors"])

    async def worker() -> None:
        connections = [Connection(server.url) for server in servers]
        try:
            for answer in queue:
                await one(answer, connections[answer.server])
        finally:
            for connection in connections:
                await connection.close()

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return answers


def new_entries(members: list[int], each: int = 1) -> list[tuple[int, str]]:
    """`each` entries per member, each with a key of its own, shuffled."""
    entries = [(member, uuid.uuid4().hex) for member in members for _ in range(each)]
    random.shuffle(entries)
    return entries


def won(answers: list[Answer]) -> list[Answer]:
    return [answer for answer in answers if answer.redemption is not None]


def refusals(answers: list[Answer]) -> Counter:
    return Counter(code for answer in answers for code in answer.codes)


# Reading the record and Redis ------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """PostgreSQL's record of a sale."""

    sold: int
    total: int
    redemptions: list[dict]

    def units_by_member(self) -> Counter:
        units: Counter = Counter()
        for redemption in self.redemptions:
            units[redemption["member_id"]] += redemption["quantity"]
        return units

    def by_reservation(self) -> dict[str, dict]:
        return {row["reservation_id"]: row for row in self.redemptions}


async def record_of(db: asyncpg.Connection, sale: Sale) -> Record:
    row = await db.fetchrow("SELECT sold, total_stock FROM flash_sale WHERE id = $1", sale.id)
    redemptions = await db.fetch(
        "SELECT id, member_id, quantity, points_spent, status, reservation_id, redeem_entry_id "
        "FROM redemption WHERE flash_sale_id = $1 ORDER BY id",
        sale.id,
    )
    return Record(row["sold"], row["total_stock"], [dict(r) for r in redemptions])


@dataclass(frozen=True)
class InRedis:
    """A sale's state in Redis."""

    loaded: bool
    stock: int | None
    holds: dict[str, float]
    holddata: dict[str, str]
    buyers: dict[int, int]
    outcomes: dict[str, str]


async def in_redis(redis, keys: SaleKeys) -> InRedis:
    stock = await redis.get(keys.stock)
    return InRedis(
        loaded=bool(await redis.exists(keys.meta)),
        stock=None if stock is None else int(stock),
        holds=dict(await redis.zrange(keys.holds, 0, -1, withscores=True)),
        holddata=await redis.hgetall(keys.holddata),
        buyers={int(k): int(v) for k, v in (await redis.hgetall(keys.buyers)).items()},
        outcomes=await redis.hgetall(keys.outcomes),
    )


async def assert_books_right(
    db: asyncpg.Connection, sale: Sale, members: list[int], answers: list[Answer] = ()
) -> Record:
    """The record never oversells nor passes the limit; each redemption is one debit of the
    price per unit; every member without one is untouched; the audit is clean. Every winning
    answer names a redemption of the record, each a different one."""
    record = await record_of(db, sale)
    units = record.units_by_member()
    assert 0 <= record.sold <= record.total == sale.total
    assert sum(units.values()) == record.sold, (units, record.sold)
    assert max(units.values(), default=0) <= sale.limit, units.most_common(3)
    for redemption in record.redemptions:
        assert redemption["status"] == "CONFIRMED", redemption
        assert redemption["points_spent"] == sale.price * redemption["quantity"], redemption
        assert redemption["redeem_entry_id"] is not None, redemption
    assert len({r["reservation_id"] for r in record.redemptions}) == len(record.redemptions)

    balances = {
        row["member_id"]: (row["available"], row["version"])
        for row in await db.fetch(
            "SELECT member_id, available, version FROM balance WHERE member_id = ANY($1)", members
        )
    }
    debits = {
        row["member_id"]: (row["entries"], row["points"])
        for row in await db.fetch(
            "SELECT member_id, count(*) AS entries, sum(points) AS points FROM ledger_entry "
            "WHERE member_id = ANY($1) AND kind = 'REDEEM' GROUP BY member_id",
            members,
        )
    }
    spent_by_member: Counter = Counter()
    count_by_member: Counter = Counter()
    for redemption in record.redemptions:
        spent_by_member[redemption["member_id"]] += redemption["points_spent"]
        count_by_member[redemption["member_id"]] += 1
    wrong = {}
    for member in members:
        spent, count = spent_by_member[member], count_by_member[member]
        expected = (SEED_POINTS - spent, 1 + count)
        debited = debits.get(member, (0, 0))
        if balances[member] != expected or (debited[0], debited[1] or 0) != (count, -spent):
            wrong[member] = {"balance": balances[member], "expected": expected, "debits": debited}
    assert not wrong, dict(list(wrong.items())[:5])
    findings = await audit(brand_id=sale.brand.id)
    assert findings == [], [finding.describe() for finding in findings[:5]]

    winners = [decode(answer.redemption["id"]) for answer in won(answers)]
    assert len(winners) == len(set(winners)), "two answers name the same redemption"
    assert set(winners) <= {r["id"] for r in record.redemptions}
    for answer in won(answers):
        assert answer.redemption["status"] == "CONFIRMED", answer
        assert answer.redemption["pointsSpent"] == sale.price, answer
    return record


def decode(global_id: str) -> int:
    parsed = parse_id(global_id)
    assert parsed is not None and parsed[0] == "Redemption", global_id
    return parsed[1]


def assert_redis_agrees(state: InRedis, record: Record, sale: Sale) -> None:
    """Once nothing is in flight and every hold is resolved: Redis says what the record says."""
    assert state.loaded
    assert state.holds == {} and state.holddata == {}, (state.holds, state.holddata)
    assert state.stock is not None and state.stock + record.sold == sale.total, (
        f"Redis stock {state.stock} + sold {record.sold} != total {sale.total}"
    )
    units = record.units_by_member()
    buyers = {member: count for member, count in state.buyers.items() if count}
    assert buyers == dict(units), "Redis's units per member differ from the redemptions"


async def sold_reaches(db: asyncpg.Connection, sale: Sale, at_least: int, task) -> None:
    """Wait until PostgreSQL has sold `at_least` units (the entries must still be running)."""
    while (await record_of(db, sale)).sold < at_least:
        assert not task.done(), "the entries ended before the moment to strike"
        await asyncio.sleep(0.01)


def reconcile_env(settings: Settings, redis_url: str | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": redis_url or settings.redis_url,
        "POINTSMALL_REDIS_PREFIX": settings.redis_prefix,
        "POINTSMALL_JWT_SECRET": settings.jwt_secret,
        "POINTSMALL_JWT_ISSUER": settings.jwt_issuer,
        "POINTSMALL_DATA_DIR": str(settings.data_dir),
    }


RECONCILED = re.compile(r"Rebuilt (\d+) sales; confirmed (\d+) and released (\d+) holds")


async def reconcile_cli(settings: Settings, redis_url: str | None = None) -> tuple[int, ...]:
    """`pointsmall reconcile` as a process: (rebuilt, confirmed, released)."""
    process = await asyncio.create_subprocess_exec(
        str(POINTSMALL),
        "reconcile",
        env=reconcile_env(settings, redis_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()[-2000:]
    found = RECONCILED.search(out.decode())
    assert found, out.decode()
    return tuple(int(group) for group in found.groups())


async def overdue_elsewhere(redis, prefix: str, sale: Sale, within: float = 30) -> int:
    """Holds of other sales under this prefix that are overdue, or will be within `within`
    seconds, as the reconciler sees them: a reconciler run resolves them as well as ours."""
    cutoff = (time.time() + within) * 1000 - DEADLINE_MARGIN_MS
    count = 0
    async for key in redis.scan_iter(match=f"{prefix}:{{fs:*}}:holds", count=1000):
        if key != sale.keys(prefix).holds:
            count += await redis.zcount(key, "-inf", cutoff)
    return count


async def wait_past_deadlines(holds: dict[str, float]) -> None:
    """Sleep until every hold's deadline plus the margin no transaction commits in is past."""
    if holds:
        latest = max(holds.values())
        wait = (latest + DEADLINE_MARGIN_MS + 300) / 1000 - time.time()
        if wait > 0:
            await asyncio.sleep(wait)


# 1. Thousands of entries on two processes -----------------------------------------------------


async def test_5000_entries_of_1000_members_on_two_servers_sell_exactly_the_stock(
    pair, rt, db, brand, make_token, settings
):
    members = await seed_members(db, brand, 1_000)
    tokens = member_tokens(make_token, brand, members)
    sale = await open_sale(rt, brand, total=100, price=100, limit=1)
    entries = new_entries(members, each=5)
    await until_open(sale)

    started = time.monotonic()
    answers = await fire(pair, sale, entries, tokens)
    elapsed = time.monotonic() - started

    record = await assert_books_right(db, sale, members, answers)
    assert record.sold == 100 and len(record.redemptions) == 100
    state = await in_redis(rt.redis, sale.keys(settings.redis_prefix))
    assert_redis_agrees(state, record, sale)
    assert state.stock == 0

    failures = Counter(answer.failure[:80] for answer in answers if answer.failure)
    first = [(i, a.server, a.at) for i, a in enumerate(answers) if a.failure][:10]
    assert not failures, f"{failures}; first (entry, server, at s): {first}"
    winners = won(answers)
    assert len(winners) == 100, refusals(answers)
    assert {r["member_id"] for r in record.redemptions} == {a.member_id for a in winners}
    # Every other entry is refused by Redis: sold out, or the member's one unit is taken.
    assert set(refusals(answers)) <= {"SOLD_OUT", "LIMIT_REACHED"}, refusals(answers)
    assert sum(refusals(answers).values()) == len(entries) - 100
    assert {answer.server for answer in winners} == {0, 1}, "both processes sold"
    assert elapsed < 60, f"5,000 entries took {elapsed:.1f} s"


async def test_a_burst_above_the_redis_pool_size_waits_for_connections_instead_of_failing(
    rt, db, brand, make_token, settings
):
    """100 entries at a time on one process with the default Redis pool (50 a process): a
    flash sale is a burst by nature. Members press before it opens (NOT_STARTED), then at
    once when it opens; nearly every entry is refused by Redis alone, so nearly every request
    in flight waits on Redis at the same time. Each must get an answer (a unit or a refusal),
    never an INTERNAL error because the pool had no free connection."""
    (server,) = await asyncio.to_thread(
        start_servers, settings, 1, {"POINTSMALL_REDIS_POOL_MAX": "50"}
    )
    try:
        members = await seed_members(db, brand, 400)
        tokens = member_tokens(make_token, brand, members)
        sale = await open_sale(rt, brand, total=30, price=10, limit=1)
        early = await fire([server], sale, new_entries(members), tokens, in_flight=100)
        await until_open(sale)
        answers = await fire([server], sale, new_entries(members, 3), tokens, in_flight=100)
    finally:
        await asyncio.to_thread(stop_live_server, server)
    record = await assert_books_right(db, sale, members, [*early, *answers])
    failures = Counter(answer.failure[:120] for answer in [*early, *answers] if answer.failure)
    assert not failures, f"{sum(failures.values())} of 1,600 entries failed: {failures}"
    assert record.sold == 30 and len(won([*early, *answers])) == 30


# 5. A server killed mid-sale ------------------------------------------------------------------


async def test_a_server_killed_mid_sale_leaves_holds_the_reconciler_resolves_once(
    pair, rt, db, brand, make_token, settings
):
    """SIGKILL while its entries are in flight: its holds stay in Redis, some with a committed
    redemption, most without. Past their deadline the reconciler confirms the first and
    releases the others, once each; then the sale goes on to sell exactly its stock, and the
    killed entries, repeated with their keys, answer from the record."""
    hold_seconds = 6  # the shortest allowed, so the deadline comes soon
    (victim,) = await asyncio.to_thread(
        start_servers,
        settings,
        1,
        # More transactions at once: more chances that one has committed, not confirmed.
        {"POINTSMALL_FLASH_SALE_HOLD_SECONDS": str(hold_seconds), "POINTSMALL_DB_POOL_MAX": "12"},
    )
    try:
        members = await seed_members(db, brand, 400)
        tokens = member_tokens(make_token, brand, members)
        sale = await open_sale(rt, brand, total=150, price=100, limit=1)
        keys = sale.keys(settings.redis_prefix)
        entries = new_entries(members[:300])
        await until_open(sale)

        firing = asyncio.create_task(fire([victim], sale, entries, tokens, repeat_dropped=False))
        await sold_reaches(db, sale, 15, firing)
        victim.process.kill()  # SIGKILL: no shutdown, no resolving
        assert await asyncio.to_thread(victim.process.wait, 15) == -9
        answers = await firing
    finally:
        await asyncio.to_thread(stop_live_server, victim)

    unanswered = [answer for answer in answers if answer.failure]
    assert unanswered, "the kill met no entry in flight"
    left = (await in_redis(rt.redis, keys)).holds
    assert left, "the killed process left no hold"
    await asyncio.sleep(0.5)  # PostgreSQL rolls back the dead connections' transactions
    before = await assert_books_right(db, sale, members, answers)
    committed = set(left) & set(before.by_reservation())
    print(f"killed: {len(unanswered)} unanswered, {len(left)} holds left, {len(committed)} "
          "of them committed")  # fmt: skip

    await wait_past_deadlines(left)
    outcome = await reconcile(rt)
    state = await in_redis(rt.redis, keys)
    record = await assert_books_right(db, sale, members, answers)
    assert record == before, "the reconciler changes no record"
    assert_redis_agrees(state, record, sale)
    assert outcome.confirmed >= len(committed)
    assert outcome.confirmed + outcome.released >= len(left)
    for reservation in left:
        if reservation in committed:
            redemption_id = record.by_reservation()[reservation]["id"]
            assert state.outcomes[reservation].endswith(f"|{redemption_id}"), reservation
            assert state.outcomes[reservation].startswith("R|"), reservation
        else:
            assert reservation not in state.outcomes  # forgotten: its key may try again
    await reconcile(rt)
    assert (await in_redis(rt.redis, keys)) == state, "a second run changes nothing"

    # The killed entries, repeated with their keys on a healthy server, then the rest.
    retried = await fire(pair, sale, [(a.member_id, a.key) for a in unanswered], tokens)
    assert [a for a in retried if a.failure] == []
    for answer in retried:  # a key whose redemption was made answers with it, whatever died
        principal = member_principal(brand, answer.member_id)
        made = before.by_reservation().get(entry_module.reservation_of(principal, answer.key))
        if made is not None:
            assert answer.redemption and decode(answer.redemption["id"]) == made["id"], answer
    more = await fire(pair, sale, new_entries(members, each=2), tokens)
    assert [a for a in more if a.failure] == []
    record = await assert_books_right(db, sale, members, [*answers, *retried, *more])
    assert record.sold == sale.total, refusals(more)
    assert_redis_agrees(await in_redis(rt.redis, keys), record, sale)


# 6. Redis loses the sale mid-sale ------------------------------------------------------------


async def test_redis_losing_the_sale_mid_sale_never_oversells_and_the_sale_goes_on(
    db, brand, make_token, settings, private_redis, runtime
):
    private_url = f"unix://{private_redis.socket}"
    assert private_url != settings.redis_url
    async with runtime_on(private_url, settings.redis_prefix) as prt:
        members = await seed_members(db, brand, 300)
        tokens = member_tokens(make_token, brand, members)
        sale = await open_sale(prt, brand, total=120, price=100, limit=2)
        keys = sale.keys(settings.redis_prefix)
        servers = await asyncio.to_thread(start_servers, settings, 2, {"REDIS_URL": private_url})
        try:
            await until_open(sale)
            firing = asyncio.create_task(fire(servers, sale, new_entries(members, 3), tokens))
            await sold_reaches(db, sale, 30, firing)
            assert (await prt.redis.flushall()) is True  # the private server only
            answers = await firing
            assert [a for a in answers if a.failure] == []
            codes = refusals(answers)
            assert codes["CONFLICT"] > 0, codes  # entries after the loss: "being restored"
            assert set(codes) <= {"SOLD_OUT", "LIMIT_REACHED", "CONFLICT"}, codes
            record = await assert_books_right(db, sale, members, answers)
            assert len(won(answers)) == len(record.redemptions), "every unit sold was answered"
            assert not (await in_redis(prt.redis, keys)).loaded

            outcome = await reconcile(prt)
            assert outcome.rebuilt >= 1
            assert_redis_agrees(await in_redis(prt.redis, keys), record, sale)

            # The sale goes on from the record: it sells what is left, and no more.
            more = []
            for _ in range(3):
                units = (await record_of(db, sale)).units_by_member()
                more += await fire(
                    servers, sale, new_entries([m for m in members if units[m] < 2]), tokens
                )
                if (await record_of(db, sale)).sold == sale.total:
                    break
            assert [a for a in more if a.failure] == []
            assert won(more), refusals(more)
            record = await assert_books_right(db, sale, members, [*answers, *more])
            assert record.sold == sale.total, refusals(more)
            assert_redis_agrees(await in_redis(prt.redis, keys), record, sale)
        finally:
            await asyncio.to_thread(stop_servers, servers)


# 9. The stock, live ------------------------------------------------------------------------


def stock_in(message: dict) -> dict:
    assert message.get("id") == "s" and message["type"] == "next", message
    assert "errors" not in message["payload"], message
    return message["payload"]["data"]["flashSaleStock"]


async def test_a_subscriber_on_one_server_sees_the_stock_sold_on_another_at_10_a_second(
    pair, rt, db, brand, make_token
):
    watcher, seller = pair
    members = await seed_members(db, brand, 400)
    tokens = member_tokens(make_token, brand, members)
    sale = await open_sale(rt, brand, total=200, price=10, limit=1)
    async with connected(watcher, bearer(make_token(brand, "STAFF", "watcher"))) as socket:
        await socket.send(
            json.dumps(
                {
                    "id": "s",
                    "type": "subscribe",
                    "payload": {"query": STOCK, "variables": {"id": sale.gid}},
                }
            )
        )
        first = stock_in(await receive(socket))
        assert first["flashSale"] == {"id": sale.gid}
        assert (first["remainingStock"], first["status"]) == (200, "SCHEDULED")
        await until_open(sale)

        seen: list[tuple[float, dict]] = []

        async def watch() -> None:
            while True:
                change = stock_in(await receive(socket, 20))
                seen.append((time.monotonic(), change))
                if change["remainingStock"] == 0:
                    return

        watching = asyncio.create_task(watch())
        started = time.monotonic()
        answers = await fire([seller], sale, new_entries(members, each=2), tokens)
        await asyncio.wait_for(watching, 20)
        # Whatever else comes soon after must still say sold out.
        try:
            while True:
                seen.append((time.monotonic(), stock_in(await receive(socket, 1.0))))
        except TimeoutError:
            pass

    assert [a for a in answers if a.failure] == []
    assert len(won(answers)) == 200
    stocks = [change["remainingStock"] for _, change in seen]
    assert all(stock >= 0 for stock in stocks), stocks
    assert stocks == sorted(stocks, reverse=True), f"the stock went back up: {stocks}"
    assert stocks[-1] == 0 and seen[-1][1]["status"] == "SOLD_OUT", seen[-1]
    for _, change in seen:
        expected = "SOLD_OUT" if change["remainingStock"] == 0 else "LIVE"
        assert change["status"] == expected, change
    elapsed = seen[-1][0] - started
    assert len(seen) <= 12 * elapsed + 3, f"{len(seen)} updates in {elapsed:.2f} s"
    assert len(seen) < len(won(answers)) / 2, f"{len(seen)} updates for 200 units"


# Reconcilers racing ------------------------------------------------------------------------


async def dead_holds(
    rt: Backends, sale: Sale, members: list[int], monkeypatch, *, committed: bool
) -> list[int]:
    """Entries whose process 'died': after the commit, before the hold was confirmed
    (`committed`), or before any transaction; returns the redemption ids made."""
    made = []
    with monkeypatch.context() as patch:
        if committed:
            resolve = entry_module.resolve_hold

            async def dies_before_confirming(rt, sale_id, reservation, outcome, how):
                if how == "confirm":
                    return False
                return await resolve(rt, sale_id, reservation, outcome, how)

            patch.setattr(entry_module, "resolve_hold", dies_before_confirming)
        else:

            async def dies_before_buying(*args, **kwargs):
                return None

            patch.setattr(entry_module, "_buy", dies_before_buying)
        for member in members:
            redeemed = await enter(rt, member_principal(sale.brand, member), sale.id, 1, "k-1")
            if committed:
                made.append(redeemed.redemption.id)
            else:
                assert redeemed is None
    return made


@pytest.mark.parametrize("how", ["two pointsmall reconcile processes", "two tasks in-process"])
async def test_two_reconcilers_at_once_resolve_each_overdue_hold_exactly_once(
    rt, db, brand, settings, monkeypatch, how
):
    members = await seed_members(db, brand, 40)
    sale = await open_sale(rt, brand, total=60, price=10, limit=1)
    keys = sale.keys(settings.redis_prefix)
    await until_open(sale)
    await reconcile(rt)  # nothing else overdue anywhere: the counts below are this sale's
    made = await dead_holds(rt, sale, members[:20], monkeypatch, committed=True)
    await dead_holds(rt, sale, members[20:], monkeypatch, committed=False)
    left = await in_redis(rt.redis, keys)
    assert len(left.holds) == 40 and left.stock == 20
    # Time passes (as the reconciler sees it): every hold is past its deadline and margin.
    overdue = int(time.time() * 1000) - DEADLINE_MARGIN_MS - 1_000
    await rt.redis.zadd(keys.holds, dict.fromkeys(left.holds, overdue), xx=True)

    others = await overdue_elsewhere(rt.redis, settings.redis_prefix, sale)
    if how.startswith("two pointsmall"):
        runs = await asyncio.gather(reconcile_cli(settings), reconcile_cli(settings))
        confirmed = sum(run[1] for run in runs)
        released = sum(run[2] for run in runs)
    else:
        async with (
            runtime_on(settings.redis_url, settings.redis_prefix) as one,
            runtime_on(settings.redis_url, settings.redis_prefix) as other,
        ):
            runs = await asyncio.gather(reconcile(one), reconcile(other))
        confirmed = sum(run.confirmed for run in runs)
        released = sum(run.released for run in runs)

    if others:  # another test's holds may be resolved too: only bounds hold then
        assert confirmed >= 20 and released >= 20 and confirmed + released <= 40 + others, runs
    else:
        assert (confirmed, released) == (20, 20), runs
    record = await assert_books_right(db, sale, members)
    assert sorted(r["id"] for r in record.redemptions) == sorted(made)
    state = await in_redis(rt.redis, keys)
    assert_redis_agrees(state, record, sale)
    assert state.stock == 40
    for redemption in record.redemptions:
        assert state.outcomes[redemption["reservation_id"]].startswith("R|")
    assert len(state.outcomes) == 20, "the released holds' keys are forgotten"


# PostgreSQL has the last word ----------------------------------------------------------------


async def test_where_redis_lets_an_entry_through_the_record_refuses_it_and_the_units_go_back(
    rt, db, brand, settings
):
    """Redis is the fast gate, PostgreSQL the last word: when Redis has forgotten a member's
    units, or the member cannot pay, the hold is taken but the transaction refuses it: nothing
    is debited, the units go back to the stock, and the same key answers the same refusal."""
    buyer, poor = await seed_members(db, brand, 2)
    sale = await open_sale(rt, brand, total=5, price=100, limit=1)
    dear = await open_sale(rt, brand, total=5, price=SEED_POINTS + 1, limit=1)
    await until_open(dear)
    await enter(rt, member_principal(brand, buyer), sale.id, 1, "first")
    await rt.redis.delete(sale.keys(settings.redis_prefix).buyers)  # Redis forgets who bought

    with pytest.raises(DomainError) as refused:
        await enter(rt, member_principal(brand, buyer), sale.id, 1, "second")
    assert refused.value.code is ErrorCode.LIMIT_REACHED
    state = await in_redis(rt.redis, sale.keys(settings.redis_prefix))
    record = await assert_books_right(db, sale, [buyer, poor])
    assert (record.sold, state.stock, state.holds) == (1, 4, {})

    for _ in range(2):  # the first call, then its key again
        with pytest.raises(DomainError) as refused:
            await enter(rt, member_principal(brand, poor), dear.id, 1, "too dear")
        assert refused.value.code is ErrorCode.INSUFFICIENT_POINTS
    state = await in_redis(rt.redis, dear.keys(settings.redis_prefix))
    record = await assert_books_right(db, dear, [poor])
    assert record.sold == 0
    assert_redis_agrees(state, record, dear)


async def test_a_transaction_stalled_past_its_hold_commits_nothing_once_the_hold_is_released(
    rt, db, brand, settings, monkeypatch
):
    """A process stalls in its transaction until its hold is past the deadline and margin;
    meanwhile the reconciler (another process) finds no redemption and releases the hold. When
    the process wakes, its transaction must commit nothing: the unit was given back already.
    The member's next try, with the same key, buys it."""
    (member,) = await seed_members(db, brand, 1)
    sale = await open_sale(rt, brand, total=3, price=100, limit=1)
    keys = sale.keys(settings.redis_prefix)
    await until_open(sale)
    zscore = rt.redis.zscore
    released = []

    async def after_a_stall(key, reservation):
        if key == keys.holds and not released:
            overdue = int(time.time() * 1000) - DEADLINE_MARGIN_MS - 1_000
            assert await rt.redis.zadd(keys.holds, {reservation: overdue}, xx=True, ch=True)
            async with runtime_on(settings.redis_url, settings.redis_prefix) as other:
                # Another process: its own connection, outside this transaction's context.
                elsewhere = asyncio.create_task(reconcile(other), context=contextvars.Context())
                released.append((await elsewhere).released)
        return await zscore(key, reservation)

    monkeypatch.setattr(rt.redis, "zscore", after_a_stall)
    with pytest.raises(DomainError) as late:
        await enter(rt, member_principal(brand, member), sale.id, 1, "k")
    assert late.value.code is ErrorCode.CONFLICT
    assert released and released[0] >= 1
    record = await assert_books_right(db, sale, [member])
    assert record.sold == 0 and record.redemptions == []
    state = await in_redis(rt.redis, keys)
    assert_redis_agrees(state, record, sale)
    assert state.stock == 3

    monkeypatch.undo()
    redeemed = await enter(rt, member_principal(brand, member), sale.id, 1, "k")
    record = await assert_books_right(db, sale, [member])
    assert [r["id"] for r in record.redemptions] == [redeemed.redemption.id]
    assert_redis_agrees(await in_redis(rt.redis, keys), record, sale)


async def test_a_transaction_stalled_after_reading_its_hold_commits_nothing_past_the_deadline(
    rt, db, brand, settings, monkeypatch
):
    """The transaction reads its hold's deadline, then stalls until the deadline is within the
    margin: the hold is still there (the reconciler has not come yet), but the transaction must
    not commit, since a release may now meet its commit. The units go back."""
    (member,) = await seed_members(db, brand, 1)
    sale = await open_sale(rt, brand, total=3, price=100, limit=1)
    keys = sale.keys(settings.redis_prefix)
    await until_open(sale)
    zscore = rt.redis.zscore

    async def then_a_stall(key, reservation):
        deadline = await zscore(key, reservation)
        if key == keys.holds and deadline is not None:
            rt.clock.advance(timedelta(milliseconds=deadline - time.time() * 1000))
        return deadline

    monkeypatch.setattr(rt.redis, "zscore", then_a_stall)
    with pytest.raises(DomainError) as late:
        await enter(rt, member_principal(brand, member), sale.id, 1, "k")
    assert late.value.code is ErrorCode.CONFLICT
    record = await assert_books_right(db, sale, [member])
    assert record.sold == 0 and record.redemptions == []
    state = await in_redis(rt.redis, keys)
    assert_redis_agrees(state, record, sale)
    assert state.stock == 3


async def test_a_server_with_a_short_hold_either_refuses_to_start_or_sells(
    db, brand, make_token, settings, rt
):
    """A transaction commits only while its hold has DEADLINE_MARGIN_MS (3 s) left, so a hold
    shorter than that (POINTSMALL_FLASH_SALE_HOLD_SECONDS=2) lets no entry ever commit: every
    member would get CONFLICT and the sale sell nothing, silently. Such a setting must be
    refused when the server starts, or still sell."""
    try:
        (server,) = await asyncio.to_thread(
            start_servers, settings, 1, {"POINTSMALL_FLASH_SALE_HOLD_SECONDS": "2"}
        )
    except RuntimeError:
        return  # refused at start: that is one right answer
    try:
        members = await seed_members(db, brand, 3)
        tokens = member_tokens(make_token, brand, members)
        sale = await open_sale(rt, brand, total=3, price=100, limit=1)
        await until_open(sale)
        answers = await fire([server], sale, new_entries(members), tokens)
    finally:
        await asyncio.to_thread(stop_live_server, server)
    assert [a.failure for a in answers if a.failure] == []
    record = await assert_books_right(db, sale, members, answers)
    assert record.sold == 3, f"a 2 s hold sold {record.sold} of 3: {refusals(answers)}"


# Repeating an idempotency key ------------------------------------------------------------------


async def test_a_retry_after_the_process_died_between_commit_and_confirm_keeps_the_unit_sold(
    rt, db, brand, settings, monkeypatch
):
    """The client's request died with its process after the commit, before the hold was
    confirmed; the client repeats it with the same key before the reconciler runs. The answer
    is the first redemption, and the hold, which is that redemption's, must end confirmed: its
    unit stays sold in Redis as in PostgreSQL."""
    members = await seed_members(db, brand, 1)
    sale = await open_sale(rt, brand, total=5, price=10, limit=1)
    keys = sale.keys(settings.redis_prefix)
    await until_open(sale)
    (made,) = await dead_holds(rt, sale, members, monkeypatch, committed=True)
    held = await in_redis(rt.redis, keys)
    assert (held.stock, len(held.holds), held.buyers) == (4, 1, {members[0]: 1})

    retry = await enter(rt, member_principal(brand, members[0]), sale.id, 1, "k-1")
    assert retry.redemption.id == made
    record = await assert_books_right(db, sale, members)
    assert record.sold == 1
    state = await in_redis(rt.redis, keys)
    assert state.stock + record.sold == sale.total, (
        f"Redis stock {state.stock} + sold {record.sold} != total {sale.total}: the retry "
        "released the hold of a committed redemption"
    )
    assert state.buyers == {members[0]: 1}
    await reconcile(rt)
    assert_redis_agrees(await in_redis(rt.redis, keys), await record_of(db, sale), sale)


async def test_the_same_key_sent_twice_at_once_to_two_servers_buys_once(
    pair, rt, db, brand, make_token, settings
):
    """A double click reaching both processes: one redemption, one debit, and once both have
    answered Redis and PostgreSQL agree (no hold of a sold unit released)."""
    members = await seed_members(db, brand, 150)
    tokens = member_tokens(make_token, brand, members)
    sale = await open_sale(rt, brand, total=100, price=100, limit=1)
    entries = [(member, uuid.uuid4().hex) for member in members]
    doubled = [pair_ for entry in entries for pair_ in (entry, entry)]  # consecutive: both servers
    await until_open(sale)
    answers = await fire(pair, sale, doubled, tokens)
    assert [a for a in answers if a.failure] == []
    by_key: dict[str, list[Answer]] = {}
    for answer in answers:
        by_key.setdefault(answer.key, []).append(answer)
    for first, second in by_key.values():
        assert (first.redemption, first.codes) == (second.redemption, second.codes), (
            first,
            second,
        )
    record = await assert_books_right(db, sale, members)
    assert record.sold == 100
    assert_redis_agrees(await in_redis(rt.redis, sale.keys(settings.redis_prefix)), record, sale)
