"""A flash sale under load: enterFlashSale through the whole stack, N attempts at a sale of a
small stock, beside three baselines measured in the same run.

    python -m bench.flash_sale [--attempts 5000] [--stock 100] [--members 1000] [--workers 2]
                               [--connections 64] [--seconds 5]

In one run, on a database and Redis prefix of the run's own, with members seeded with points by
SQL and the service's uvicorn workers (periodic jobs off, the per-member attempt rate limit far
above what the run sends):
  (a) no-op    `mutation { __typename }` over HTTP with the same members' tokens, --attempts
               times: what a mutation request costs through the stack, doing nothing;
  warm-up      a sale of a few units, one attempt per member: the entry path is warm, and each
               member's facts cached as after any entry (for 30 s);
  sale         a sale of --stock units, one a member, opening ~2 s after createFlashSale (an
               ADMIN token); at its start, --attempts enterFlashSale, each by a random member
               with its own idempotencyKey, sent by `documentId` (a trusted document the
               service loads, as persisted-document clients send it). Figures of all
               attempts, of the sold-out path (the attempts sent once the first SOLD_OUT
               answer was in) and of the winners;
  alone        a sale of a unit per member, each entering once: every attempt wins, with no
               refusal beside the winners (not a target's measure: for comparison);
  (b) script   the entry Lua script alone on the sold-out sale, through redis-py with the keys
               and arguments entry.py passes, in as many loops as --connections, for --seconds;
  (c) SQL      the winners' transaction (the statements entry.py's write sends, in its order)
               on asyncpg pools, one process per worker with the service's pool size, on a sale
               of its own with a large stock, for --seconds.
The HTTP scenarios are sent by bench.load.volley, a Python process that sends exactly N requests
and times each answer (wrk can do neither), as fast as answers come back. After the sale:
winners == FlashSale.sold == its redemptions <= stock, no unit oversold, nobody past the limit,
one debit per winner and losers' balances untouched, no hold left open in Redis, and
domain.ledger.audit over every member. Targets: the sold-out path at >= 0.9 of (a)'s rate, the
winners of the sale every attempt wins at >= 0.5 of (c)'s (the stampede's winners, who wait
their turn among thousands of refusals, are shown for information).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import itertools
import json
import os
import random
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from multiprocessing import get_context

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bench.backends import Backends, database, own_backends
from bench.bare_book import (
    INSERT_REDEMPTION,
    claim_key,
    close,
    committed_with,
    debit,
    issue_coupon,
    open_book,
    store_outcome,
    tell_redeemed,
)
from bench.baselines import BaselinePlan, Refused, Tally, baseline_load, timed_calls
from bench.checks import check_books, settled_count
from bench.cli import run
from bench.cpu import CpuMeter, cpu_seconds, cpu_used, redis_pid
from bench.graphql import authorized, graphql_body
from bench.load import (
    WARMUP_SECONDS,
    Answer,
    Target,
    Volley,
    http_request,
    load,
    percentile,
    probe,
    volley,
)
from bench.report import Row, cpu_ms, describe_row, load_average, load_row, rows_table
from bench.seed import brand_token, member_token, new_brand_code, seed_members, seed_points
from bench.servers import SERVICE_FACTORY, serve
from db.flash_sales import FlashScripts, SaleKeys
from db.keys import RedisKeys
from db.redis import open_redis
from domain.brands import create_brand
from domain.catalog.items import ItemKind, ItemSpec, create_item
from domain.flash_sales.entry import (
    REDEEMED_IN_SALE_SQL,
    SALE_AND_ITEM_SQL,
    TAKE_SOLD_SQL,
    reservation_of,
)
from domain.flash_sales.sales import MAX_LIMIT, MAX_STOCK
from domain.flash_sales.stock import entry_fingerprint
from domain.ids import encode_id
from domain.principal import Principal, Role
from domain.runtime import STATEMENT_TIMEOUT_MS
from resolvers.ids import decode_id
from server.settings import Settings

PRICE = 100  # points a unit
QUANTITY = 1
SEED_POINTS = 1_000_000  # each member's one lot
WARMUP_STOCK = 10
START_AHEAD = timedelta(seconds=2)
SALE_LENGTH = timedelta(hours=1)
ATTEMPTS_PER_MINUTE = 1_000_000_000  # per member and sale: never reached
ATTEMPTS_WINDOW_MS = 60_000  # the window entry.py counts attempts in
SOLD_OUT_TARGET = 0.9  # the sold-out path's rate, as a share of the no-op mutation's
WINNERS_TARGET = 0.5  # the winners' rate, as a share of their transaction's on asyncpg
CPU_PARTS = ("app", "PostgreSQL", "Redis")  # app: the workers, or a baseline's client
ADMIN = "bench-admin"
WON, FAILED = "WON", "FAILED"  # outcomes of an attempt, beside the userErrors' codes

NOOP = "mutation { __typename }"
CREATE_SALE = """
mutation ($input: CreateFlashSaleInput!) {
  createFlashSale(input: $input) {
    flashSale { id totalStock startsAt }
    userErrors { field message code }
  }
}
"""
ENTER = """
mutation ($input: EnterFlashSaleInput!) {
  enterFlashSale(input: $input) {
    redemption { id status pointsSpent }
    member { points { available } }
    userErrors { field message code }
  }
}
"""

ENTER_ID = "sha256:" + hashlib.sha256(ENTER.encode()).hexdigest()


def write_manifest(directory: str) -> str:
    """The trusted documents the service loads: ENTER, as codegen's persistedDocuments writes."""
    path = os.path.join(directory, "persisted-documents.json")
    with open(path, "w", encoding="utf-8") as manifest:
        json.dump({ENTER_ID.removeprefix("sha256:"): ENTER}, manifest)
    return path


# --- Sales, over GraphQL --------------------------------------------------------------------


@dataclass(frozen=True)
class Sale:
    id: int
    stock: int
    starts_at: datetime

    @property
    def gid(self) -> str:
        return encode_id("FlashSale", self.id)


async def create_item_for_sales(brand_id: int, brand_code: str) -> int:
    """A points-only partner offer (a coupon a unit) to put on sale (ORM opened by caller)."""
    admin = Principal(Role.ADMIN, brand_id, brand_code, ADMIN)
    spec = ItemSpec("BENCH-FLASH", "Bench flash offer", ItemKind.PARTNER_OFFER, "bench", PRICE)
    return (await create_item(admin, spec, datetime.now(UTC))).id


async def create_sale(
    url: str, headers: dict[str, str], item_id: int, stock: int, limit: int = 1
) -> Sale:
    """createFlashSale: `stock` units at PRICE, `limit` a member, opening START_AHEAD from now."""
    starts_at = datetime.now(UTC) + START_AHEAD
    sale = {
        "itemId": encode_id("CatalogItem", item_id),
        "pointsPrice": PRICE,
        "startsAt": starts_at.isoformat(),
        "endsAt": (starts_at + SALE_LENGTH).isoformat(),
        "totalStock": stock,
        "perMemberLimit": limit,
        "idempotencyKey": f"bench-sale-{starts_at.isoformat()}-{stock}-{limit}",
    }
    body = graphql_body(CREATE_SALE, {"input": sale})
    answer = await probe(Target(f"{url}/graphql", body, headers))
    payload = answer["data"]["createFlashSale"]
    if payload["userErrors"]:
        raise RuntimeError(f"createFlashSale refused: {payload['userErrors']}")
    return Sale(decode_id(payload["flashSale"]["id"], "FlashSale", "id"), stock, starts_at)


def enter_requests(
    url: str, sale: Sale, tokens: list[str], who: list[int], tag: str
) -> list[bytes]:
    """enterFlashSale by member `who[i]` (an index into tokens), each its own idempotencyKey;
    sent as clients of persisted documents send it: its id in the manifest, and variables."""
    requests = []
    for number, member in enumerate(who):
        entry = {"flashSaleId": sale.gid, "quantity": QUANTITY, "idempotencyKey": f"{tag}-{number}"}
        body = json.dumps({"documentId": ENTER_ID, "variables": {"input": entry}}).encode()
        requests.append(http_request(f"{url}/graphql", body, authorized(tokens[member])))
    return requests


def noop_requests(url: str, tokens: list[str], who: list[int]) -> list[bytes]:
    """The no-op mutation with the same members' tokens."""
    body = graphql_body(NOOP)
    return [http_request(f"{url}/graphql", body, authorized(tokens[member])) for member in who]


# --- Answers and their figures --------------------------------------------------------------


def outcome_of(answer: Answer) -> str:
    """WON, the refusal's code, or FAILED (an HTTP error or a GraphQL error)."""
    if answer.status != 200:
        return FAILED
    body = json.loads(answer.body)
    if "errors" in body:
        return FAILED
    payload = body["data"]["enterFlashSale"]
    if payload["redemption"] is not None:
        return WON
    return payload["userErrors"][0]["code"] if payload["userErrors"] else FAILED


def noop_failed(answer: Answer) -> bool:
    return answer.status != 200 or b'"__typename":"Mutation"' not in answer.body


@dataclass(frozen=True)
class SaleVolley:
    """A volley of entries and what each answered."""

    volley: Volley
    outcomes: list[str]

    @classmethod
    def of(cls, sent: Volley) -> SaleVolley:
        return cls(sent, [outcome_of(answer) for answer in sent.answers])

    def counts(self) -> Counter[str]:
        return Counter(self.outcomes)

    def answers(self, outcome: str) -> list[Answer]:
        pairs = zip(self.volley.answers, self.outcomes, strict=True)
        return [answer for answer, got in pairs if got == outcome]

    @property
    def sold_out_at(self) -> float | None:
        """When the first SOLD_OUT answer was in: the stock had run out."""
        return min((answer.done for answer in self.answers("SOLD_OUT")), default=None)

    def sold_out_path(self) -> list[Answer]:
        """The attempts sent once the stock had run out."""
        moment = self.sold_out_at
        if moment is None:
            return []
        return [answer for answer in self.volley.answers if answer.sent >= moment]

    def failure_sample(self) -> str | None:
        failed = self.answers(FAILED)
        return failed[0].body[:400].decode(errors="replace") if failed else None

    def describe_counts(self) -> str:
        return ", ".join(f"{count:,} {outcome}" for outcome, count in self.counts().most_common())


def answers_row(name: str, answers: list[Answer], since: float, errors: int = 0, **notes) -> Row:
    """Answers per second from `since` (seconds into the volley) to the last one in, and the
    percentiles of their latencies."""
    seconds = max(answer.done for answer in answers) - since
    latencies = [answer.ms for answer in answers]
    return Row(
        name,
        len(answers) / seconds,
        percentile(latencies, 50),
        percentile(latencies, 99),
        errors,
        **notes,
    )


# --- Checks, with SQL and Redis -------------------------------------------------------------

SALE_RECORD = """
SELECT s.total_stock, s.sold,
       count(r.id) AS redemptions,
       COALESCE(SUM(r.quantity), 0) AS units,
       count(e.id) AS debits,
       (SELECT count(*) FROM (
            SELECT 1 FROM redemption m
            WHERE m.flash_sale_id = s.id AND m.status <> 'CANCELLED'
            GROUP BY m.member_id HAVING SUM(m.quantity) > s.per_member_limit) excess) AS past_limit
FROM flash_sale s
LEFT JOIN redemption r ON r.flash_sale_id = s.id AND r.status <> 'CANCELLED'
LEFT JOIN ledger_entry e
       ON e.id = r.redeem_entry_id AND e.kind = 'REDEEM' AND e.points = -r.points_spent
WHERE s.id = $1
GROUP BY s.id
"""
# Members whose balance is not their seed less what their redemptions spent.
BALANCES_OFF = """
SELECT count(*) FROM balance b
WHERE b.member_id = ANY($1::int[])
  AND b.available <> $2 - (SELECT COALESCE(SUM(r.points_spent), 0) FROM redemption r
                           WHERE r.member_id = b.member_id AND r.status <> 'CANCELLED')
"""


@dataclass(frozen=True)
class SaleCheck:
    winners: int  # answered WON
    stock: int
    sold: int  # FlashSale.sold
    redemptions: int
    units: int
    debits: int  # REDEEM entries of the redemptions, of their points
    past_limit: int  # members with more units than the limit
    balances_off: int  # members (all of them) whose balance is not seed - spent
    redis_stock: int | None
    open_holds: int

    @property
    def oversold(self) -> int:
        return max(0, self.units - self.stock, self.sold - self.stock)

    @property
    def sound(self) -> bool:
        return (
            self.sold == self.winners == self.redemptions == self.units == self.debits
            and self.sold <= self.stock
            and not (self.oversold or self.past_limit or self.balances_off or self.open_holds)
            and self.redis_stock == self.stock - self.sold
        )

    def describe(self) -> str:
        return (
            f"{self.winners:,} winners answered; FlashSale.sold {self.sold:,} of {self.stock:,}; "
            f"{self.redemptions:,} redemptions of {self.units:,} units with {self.debits:,} "
            f"debits; OVERSOLD {self.oversold:,}; {self.past_limit:,} members past the limit; "
            f"{self.balances_off:,} balances off; Redis: stock left {self.redis_stock}, "
            f"{self.open_holds:,} holds open: {'sound' if self.sound else 'NOT SOUND'}"
        )


async def check_sale(
    db: asyncpg.Connection, redis: Redis, prefix: str, sale: Sale, winners: int, members: list[int]
) -> SaleCheck:
    """The sale's record, its Redis state and every member's balance, once writes have stopped."""
    await settled_count(db, "SELECT sold FROM flash_sale WHERE id = $1", sale.id)
    record = await db.fetchrow(SALE_RECORD, sale.id)
    keys = SaleKeys.of(RedisKeys(prefix), sale.id)
    stock = await redis.get(keys.stock)
    return SaleCheck(
        winners,
        record["total_stock"],
        record["sold"],
        record["redemptions"],
        record["units"],
        record["debits"],
        record["past_limit"],
        await db.fetchval(BALANCES_OFF, members, SEED_POINTS),
        None if stock is None else int(stock),
        await redis.zcard(keys.holds),
    )


# --- Baseline (b): the entry script on bare redis-py ----------------------------------------


@dataclass(frozen=True)
class ScriptPlan:
    redis_url: str
    prefix: str
    sale_id: int
    brand_id: int
    member_ids: list[int]
    hold_ms: int
    tasks: int  # concurrent calls wanted (this process's share of --connections)
    pool_size: int  # Redis connections, as one service worker has
    redis_pid: int | None
    warmup: float
    seconds: float


@dataclass(frozen=True)
class ScriptRun:
    latencies: list[float]  # ms, of the measured part
    seconds: float
    errors: int
    verdicts: Counter[str]  # what the script answered (a refusal by its code), warm-up included
    client_cpu: float  # CPU seconds of this process, measured part
    redis_cpu: float  # of Redis meanwhile (every process's calls)


def _script_process(plan: ScriptPlan) -> ScriptRun:
    return asyncio.run(_script_clients(plan))


async def _script_clients(plan: ScriptPlan) -> ScriptRun:
    """Loops of the entry script as entry.py calls it, for random members, each with its own
    reservation; facts as the base tier's active members have them."""
    redis = open_redis(plan.redis_url, max_connections=plan.pool_size)  # as the service's
    scripts = FlashScripts(redis)  # what scripts_of(rt) holds
    keys = SaleKeys.of(RedisKeys(plan.prefix), plan.sale_id)
    principals = [
        Principal(Role.MEMBER, plan.brand_id, "", encode_id("Member", pk), pk)
        for pk in plan.member_ids
    ]
    fingerprint = entry_fingerprint(plan.sale_id, QUANTITY)
    numbers = itertools.count()
    verdicts: Counter[str] = Counter()

    async def enter() -> None:
        principal = random.choice(principals)
        reservation = reservation_of(principal, f"script-{os.getpid()}-{next(numbers)}")
        answer = await scripts.enter(
            keys=[keys.meta, keys.stock, keys.buyers, keys.holds, keys.holddata, keys.outcomes,
                  keys.attempts(principal.member_id)],
            args=[reservation, principal.member_id, QUANTITY, 0, "ACTIVE", plan.hold_ms,
                  ATTEMPTS_PER_MINUTE, ATTEMPTS_WINDOW_MS, fingerprint, plan.brand_id, 0],
        )  # fmt: skip
        verdicts[answer[1] if answer[0] == "REFUSED" else answer[0]] += 1

    tally, failures = Tally(), (RedisError,)
    pids = [plan.redis_pid] if plan.redis_pid else []
    try:
        await timed_calls(enter, plan.tasks, plan.warmup, tally, failures)
        cpu, redis_cpu = time.process_time(), cpu_seconds(pids)
        began = time.perf_counter()
        latencies = await timed_calls(enter, plan.tasks, plan.seconds, tally, failures)
        elapsed = time.perf_counter() - began
        cpu, redis_cpu = time.process_time() - cpu, cpu_used(redis_cpu, cpu_seconds(pids))
    finally:
        await redis.aclose()
    return ScriptRun(latencies, elapsed, tally.errors, verdicts, cpu, redis_cpu)


async def script_load(plan: ScriptPlan, processes: int) -> tuple[Row, Counter[str]]:
    """(b) The plan run by `processes` processes at once; its row and the script's verdicts."""
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        runs = await asyncio.gather(
            *(loop.run_in_executor(pool, _script_process, plan) for _ in range(processes))
        )
    latencies = [ms for run in runs for ms in run.latencies]
    redis_cpu = sum(run.redis_cpu for run in runs) / len(runs)  # each saw all of Redis's work
    cpu = cpu_ms(sum(run.client_cpu for run in runs), 0.0, redis_cpu, requests=len(latencies))
    row = Row(
        f"(b) baseline: the entry Lua script on redis-py, sold out, {plan.tasks * processes} loops",
        len(latencies) / max(run.seconds for run in runs),
        percentile(latencies, 50),
        percentile(latencies, 99),
        sum(run.errors for run in runs),
        cpu_ms=cpu,
    )
    return row, sum((run.verdicts for run in runs), Counter())


# --- Baseline (c): the winners' transaction on bare asyncpg ---------------------------------

# The statements the hold's transaction sends beside the book's (bench/bare_book.py), in its
# order: the domain's own SQL, and the redemption's insert as the ORM sends it. The Redis round
# trip it makes before it stores its outcome (the hold's deadline) is left out: this is its SQL.


async def baseline_win(
    db: asyncpg.Connection, member_id: int, key: str, *, brand_id: int, sale_id: int
) -> None:
    """enterFlashSale's transaction for a hold, in the domain's order: the debit, the
    redemption and its coupon, the outcome, then `sold` taken last."""
    now = datetime.now(UTC)
    member = Principal(Role.MEMBER, brand_id, "", encode_id("Member", member_id), member_id)
    reservation = reservation_of(member, key)
    payload = {"sale": sale_id, "quantity": QUANTITY}
    async with committed_with(db) as last:
        record_id = await claim_key(db, member, "enterFlashSale", key, payload)
        book = await open_book(db, member_id, now, member.idempotency_scope)
        await db.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
        row = await db.fetchrow(SALE_AND_ITEM_SQL, sale_id)
        sale, item = row["sale"], row["item"]
        units = await db.fetchval(REDEEMED_IN_SALE_SQL, member_id, sale_id)
        if units + QUANTITY > sale["per_member_limit"]:
            raise Refused("LIMIT_REACHED")
        points = sale["points_price"] * QUANTITY
        if book.balance["available"] < points:
            raise Refused("INSUFFICIENT_POINTS")
        entry_id = await debit(book, points, f"Flash sale: {QUANTITY} x {item['name']}")
        redemption_id = await db.fetchval(
            INSERT_REDEMPTION,
            *(reservation, QUANTITY, points, Decimal("0.00"), "CONFIRMED", None, None, None),
            *("[]", None, now, None, None, None, None, now, brand_id, sale_id, item["id"]),
            *(member_id, entry_id),
        )
        await issue_coupon(db, item, redemption_id, now)
        tell_redeemed(book, redemption_id, QUANTITY, points, item["name"])
        await close(book)
        outcome = {
            "redemption_id": redemption_id,
            "hold_deadline": time.time() * 1000 + 10_000,
            "entry_id": entry_id,
        }
        await store_outcome(db, member, record_id, "enterFlashSale", payload, outcome)
        last.append(TAKE_SOLD_SQL.format(sale_id=sale_id, quantity=QUANTITY))


# --- The run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    attempts: int
    stock: int
    members: int
    workers: int
    connections: int
    seconds: float


@dataclass(frozen=True)
class SaleFigures:
    sale: Sale
    attempts: Row
    sold_out: Row | None  # None when the stock never ran out
    winners: Row | None
    check: SaleCheck


def compared(row: Row, base: Row, label: str) -> Row:
    """The row with its rate as a share of the baseline's."""
    return replace(row, ratio=(row.rate or 0) / (base.rate or 1), of=label)


def record(row: Row) -> Row:
    print(describe_row(row, CPU_PARTS), flush=True)
    return row


@dataclass
class FlashBench:
    """One run's scenarios, sharing its backends, brand, members and server."""

    options: Options
    backends: Backends
    db: asyncpg.Connection
    redis: Redis
    brand_id: int
    item_id: int
    member_ids: list[int]
    tokens: list[str]  # the members', in the order of member_ids
    admin_headers: dict[str, str]
    url: str
    meter: CpuMeter

    def random_members(self, count: int) -> list[int]:
        return random.choices(range(len(self.member_ids)), k=count)

    async def measured_volley(
        self, requests: list[bytes], start_at: float | None = None
    ) -> tuple[Volley, tuple[float, ...]]:
        """The volley, and the CPU seconds (app, PostgreSQL, Redis) it took."""
        before = await self.meter.snapshot()
        sent = await volley(
            f"{self.url}/graphql", requests, self.options.connections, start_at=start_at
        )
        return sent, await self.meter.since(before)

    async def noop(self) -> Row:
        """(a) The no-op mutation, after a warm-up of the same."""
        count, url = self.options.attempts, self.url
        warmup = noop_requests(url, self.tokens, self.random_members(min(count, 2000)))
        await volley(f"{url}/graphql", warmup, self.options.connections)
        sent, cpu = await self.measured_volley(
            noop_requests(url, self.tokens, self.random_members(count))
        )
        failed = sum(noop_failed(answer) for answer in sent.answers)
        name = f"(a) baseline: `{NOOP}`, {count:,} requests"
        per_request = cpu_ms(*cpu, requests=count)
        row = record(answers_row(name, sent.answers, 0.0, failed, ratio=1.0, cpu_ms=per_request))
        print(f"  the sending process kept {sent.client_cpu / sent.seconds:.2f} cores busy")
        await self.cross_check(graphql_body(NOOP))
        return row

    async def cross_check(self, body: bytes) -> None:
        """The same request from wrk (one member's token), over --seconds: how much the Python
        sender's own CPU takes from the servers."""
        target = Target(f"{self.url}/graphql", body, authorized(self.tokens[0]))
        options = self.options
        result = await load(target, seconds=options.seconds, connections=options.connections)
        print(
            f"  the same from {result.generator} for {result.seconds:.0f} s: {result.rate:,.0f}/s, "
            f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, {result.errors} errors"
        )

    async def run_sale(
        self, stock: int, who: list[int], tag: str
    ) -> tuple[Sale, SaleVolley, tuple[float, ...]]:
        """A sale of `stock` units, one a member, and at its start an attempt by each of `who`;
        the CPU the attempts took."""
        sale = await create_sale(self.url, self.admin_headers, self.item_id, stock)
        requests = enter_requests(self.url, sale, self.tokens, who, f"{tag}-{sale.id}")
        start_at = sale.starts_at.timestamp() + 0.05  # Redis TIME and this clock: one machine
        sent, cpu = await self.measured_volley(requests, start_at)
        return sale, SaleVolley.of(sent), cpu

    async def warm_up(self) -> None:
        """A small sale, one attempt per member."""
        who = random.sample(range(len(self.member_ids)), len(self.member_ids))
        _, entries, _ = await self.run_sale(WARMUP_STOCK, who, "warmup")
        print(f"  warm-up: a sale of {WARMUP_STOCK} units, {len(who):,} attempts: ", end="")
        print(entries.describe_counts())

    async def sale(self) -> SaleFigures:
        """The sale: all attempts, the sold-out path, the winners; then the checks."""
        options = self.options
        sale, entries, cpu = await self.run_sale(
            options.stock, self.random_members(options.attempts), "sale"
        )
        answers, failed = entries.volley.answers, len(entries.answers(FAILED))
        name = f"enterFlashSale: all {len(answers):,} attempts"
        per_request = cpu_ms(*cpu, requests=len(answers))
        attempts = record(answers_row(name, answers, 0.0, failed, cpu_ms=per_request))
        print(f"  answers: {entries.describe_counts()}")
        if sample := entries.failure_sample():
            print(f"  e.g. a failure: {sample}")
        sold_out = winners = None
        if path := entries.sold_out_path():
            name = f"enterFlashSale: sold-out path ({len(path):,} attempts)"
            sold_out = record(answers_row(name, path, entries.sold_out_at or 0.0))
        if won := entries.answers(WON):
            winners = record(answers_row(f"enterFlashSale: the {len(won):,} winners", won, 0.0))
        check = await check_sale(
            self.db, self.redis, self.backends.redis_prefix, sale, len(won), self.member_ids
        )
        print(f"  {check.describe()}")
        print(f"  books {await check_books(self.backends.database_url)}")
        return SaleFigures(sale, attempts, sold_out, winners, check)

    async def winners_alone(self) -> Row:
        """A sale with a unit for each member, each entering once: every attempt wins, and no
        refusal shares the workers with the winners' transactions."""
        who = random.sample(range(len(self.member_ids)), len(self.member_ids))
        sale, entries, cpu = await self.run_sale(len(who), who, "alone")
        won = entries.answers(WON)
        name = f"enterFlashSale: a sale every attempt wins ({len(won):,} winners)"
        per_request = cpu_ms(*cpu, requests=len(entries.volley.answers))
        failed = len(entries.answers(FAILED))
        row = record(answers_row(name, won, 0.0, failed, cpu_ms=per_request))
        check = await check_sale(
            self.db, self.redis, self.backends.redis_prefix, sale, len(won), self.member_ids
        )
        print(f"  answers: {entries.describe_counts()}; {check.describe()}")
        return row

    async def script_baseline(self, sale: Sale) -> Row | None:
        """(b) The entry script alone, on the sale once it is sold out."""
        keys = SaleKeys.of(RedisKeys(self.backends.redis_prefix), sale.id)
        left = int(await self.redis.get(keys.stock) or 0)
        if left > 0:
            print(f"  (b) not run: {left} units are left in the sale, a call would hold them")
            return None
        settings, options = Settings(), self.options
        plan = ScriptPlan(
            self.backends.redis_url,
            self.backends.redis_prefix,
            sale.id,
            self.brand_id,
            self.member_ids,
            int(settings.flash_sale_hold_seconds * 1000),
            tasks=max(1, options.connections // options.workers),
            pool_size=settings.redis_pool_max,
            redis_pid=self.meter.redis_pid,
            warmup=WARMUP_SECONDS,
            seconds=options.seconds,
        )
        row, verdicts = await script_load(plan, options.workers)
        record(row)
        print(f"  the script answered: {', '.join(f'{n:,} {v}' for v, n in verdicts.items())}")
        return row

    async def sql_baseline(self) -> Row:
        """(c) The winners' transaction on asyncpg, on a sale of its own."""
        options, pool_size = self.options, Settings().db_pool_max
        sale = await create_sale(self.url, self.admin_headers, self.item_id, MAX_STOCK, MAX_LIMIT)
        plan = BaselinePlan(
            self.backends.database_url,
            functools.partial(baseline_win, brand_id=self.brand_id, sale_id=sale.id),
            self.member_ids,
            tasks=max(1, options.connections // options.workers),
            pool_size=pool_size,
            warmup=WARMUP_SECONDS,
            seconds=options.seconds,
        )
        runs = await baseline_load(plan, options.workers)
        name = f"(c) baseline: the winners' SQL on asyncpg, {options.workers} x {pool_size} conns"
        cpu = cpu_ms(runs.client_cpu, runs.database_cpu, 0.0, requests=runs.result.requests)
        row = record(load_row(name, runs.result, ratio=1.0, cpu_ms=cpu))
        sold = await self.db.fetchval("SELECT sold FROM flash_sale WHERE id = $1", sale.id)
        verdict = "" if sold == runs.committed else " MISMATCH"
        print(
            f"  {sold:,} units sold for {runs.committed:,} commits (warm-up included){verdict}; "
            f"{runs.result.errors:,} failed; "
            f"books {await check_books(self.backends.database_url)}"
        )
        if runs.first_error:
            print(f"  the first failure: {runs.first_error}")
        return row


async def seed(backends: Backends, options: Options) -> tuple[str, int, int, list[int]]:
    """A brand, its item, and members with SEED_POINTS each: (brand code, brand id, item id,
    member ids)."""
    brand_code = new_brand_code()
    async with database(backends.database_url):
        brand_id = (await create_brand(brand_code, "Bench Brand")).id
        item_id = await create_item_for_sales(brand_id, brand_code)
    db = await asyncpg.connect(backends.database_url)
    try:
        member_ids = await seed_members(db, brand_id, options.members)
        await seed_points(db, brand_id, member_ids, SEED_POINTS)
    finally:
        await db.close()
    return brand_code, brand_id, item_id, member_ids


async def main(options: Options) -> None:
    print(
        f"{options.workers} uvicorn workers, {options.connections} connections, "
        f"{options.attempts:,} attempts at a stock of {options.stock:,}, {options.members:,} "
        f"members; baselines (b) and (c) {options.seconds:g} s each; {load_average()}"
    )
    manifest_dir = tempfile.TemporaryDirectory(prefix="pointsmall-bench-")
    async with own_backends() as backends:
        brand_code, brand_id, item_id, member_ids = await seed(backends, options)
        # The periodic jobs (expiry, the reconciler) would run in the middle of a measure: off.
        env = {
            **backends.service_env(scheduler=False),
            "POINTSMALL_FLASH_SALE_ATTEMPTS_PER_MINUTE": str(ATTEMPTS_PER_MINUTE),
            "POINTSMALL_TRUSTED_DOCUMENTS": write_manifest(manifest_dir.name),
        }
        secret = env["POINTSMALL_JWT_SECRET"]
        tokens = [member_token(secret, brand_code, pk) for pk in member_ids]
        admin = authorized(brand_token(secret, brand_code, "ADMIN", ADMIN))
        db = await asyncpg.connect(backends.database_url)
        redis = Redis.from_url(backends.redis_url, decode_responses=True)
        try:
            serving = serve(SERVICE_FACTORY, workers=options.workers, env=env)
            async with serving as url:
                meter = CpuMeter(url, db, await redis_pid(redis))
                bench = FlashBench(
                    options, backends, db, redis, brand_id, item_id, member_ids, tokens, admin,
                    url, meter,
                )  # fmt: skip
                noop = await bench.noop()
                await bench.warm_up()
                figures = await bench.sale()
                alone = await bench.winners_alone()
                script = await bench.script_baseline(figures.sale)
                sql = await bench.sql_baseline()
        finally:
            await redis.aclose()
            await db.close()
    report(options, noop, figures, alone, script, sql, meter.redis_pid is not None)


def target(name: str, row: Row | None, goal: float) -> str:
    if row is None or row.ratio is None:
        return f"{name}: not measured"
    verdict = "met" if row.ratio >= goal else "NOT met"
    return f"{name}: {row.ratio:.3f} (target >= {goal}): {verdict}"


def report(
    options: Options,
    noop: Row,
    figures: SaleFigures,
    alone: Row,
    script: Row | None,
    sql: Row,
    redis_measured: bool,
) -> None:
    sold_out = figures.sold_out and compared(figures.sold_out, noop, "(a)")
    winners = figures.winners and compared(figures.winners, sql, "(c)")
    alone = compared(alone, sql, "(c)")
    rows = [
        replace(noop, of="(a)"),
        compared(figures.attempts, noop, "(a)"),
        *([sold_out] if sold_out else []),
        *([script] if script else []),
        *([winners] if winners else []),
        alone,
        replace(sql, of="(c)"),
    ]
    print(f"\nAt the end, {load_average()}.")
    print(
        "The servers, the sending process (HTTP rows), the baselines' processes, PostgreSQL and "
        "Redis share this machine's cores."
        + (
            " Redis's CPU is all it did meanwhile, for whoever else it serves too."
            if redis_measured
            else " Redis is not on this machine: its CPU shows as 0."
        )
    )
    print(
        "The sold-out path: attempts sent once the first SOLD_OUT answer was in, over the time "
        "from that answer to the last; the winners: from the first attempt to the last winner. "
        "CPU per request where it can be told apart: (a)'s, all attempts', (b)'s and (c)'s."
    )
    print(
        f"\n{options.workers} uvicorn workers, {options.connections} connections, "
        f"{options.attempts:,} attempts at a stock of {options.stock:,} (1 a member), "
        f"{options.members:,} members; (b) and (c) {options.seconds:g} s each:\n"
    )
    print(rows_table(rows, CPU_PARTS))
    print()
    print(target("sold-out path vs the no-op mutation", sold_out, SOLD_OUT_TARGET))
    print(
        target("winners, in a sale every attempt wins, vs their transaction on asyncpg", alone,
               WINNERS_TARGET)
    )  # fmt: skip
    if winners is not None and winners.ratio is not None:
        print(
            f"(not a target: the winners of the stampede, beside its refusals, {winners.ratio:.3f} "
            "of their transaction on asyncpg)"
        )
    print(f"oversold: {figures.check.oversold}; {figures.check.describe()}")


def cli() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.flash_sale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--attempts", type=int, default=5000, help="entries sent at the sale")
    parser.add_argument("--stock", type=int, default=100, help="units on sale")
    parser.add_argument("--members", type=int, default=1000, help="members who enter")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections")
    parser.add_argument("--seconds", type=float, default=5.0, help="load per baseline (b) and (c)")
    arguments = parser.parse_args()
    run(main(Options(**vars(arguments))))


if __name__ == "__main__":
    cli()
