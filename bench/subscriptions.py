"""Live updates at scale: thousands of graphql-transport-ws subscribers on one server process,
their memory, how soon events reach them, what they cost while idle, and how they recover.

    python -m bench.subscriptions [--subscribers 5000] [--movements 1000] [--watchers 5000]
                                  [--concurrency 32] [--idle-seconds 65] [--lost 20]
                                  [--storm-movements 100] [--changes 10] [--runs 1]
                                  [--client-processes 2] [--only memory,burst,...]
                                  [--no-scheduler]

In one run, on a database and Redis prefix of the run's own, with a brand and --subscribers
members seeded with points by SQL (each at version 1), ONE uvicorn process of the service and
the subscribers in Node processes of their own (bench/subscribers.mjs, plain `ws`;
--client-processes of them), so the client is not the bottleneck. Each member's socket sends
connection_init with {"Authorization": "Bearer <member token>"} and subscribes. Arrival times
are taken in Node on the machine's wall clock (performance.timeOrigin + performance.now()),
response times in the sending Python process (time.time()): one clock, in ms. The server runs
its periodic jobs, as `pointsmall serve` does (unlike the other benches): what makes good an
event lost after its commit may be one of them; the idle figures are compared with a window
without subscribers, where the jobs do the same work (--no-scheduler turns them off). Scenarios
(--only picks some):

  memory     the server process's RSS (VmRSS) before and after --subscribers members subscribe
             to `balanceChanged(sinceVersion: 0)` (the replay of their version 1 tells each is
             in), per subscriber; beside it, in the same run, the same for a bare Starlette
             WebSocket (bench/ws_baseline_app.py, same uvicorn settings). Target <= 30 KB.
  idle       with the subscribers idle for --idle-seconds (65: two 30 s periods), the SQL
             transactions PostgreSQL ran on the run's database (pg_stat_database, every
             statement outside a transaction is one; read 11 s after the previous activity,
             since idle backends report late), rows it returned, the Redis commands on
             the run's prefix (MONITOR, counted by prefix: other users of the Redis are left
             out) and the server's CPU, per second, and the statements seen most (sampled from
             pg_stat_activity); beside the same over --idle-baseline-seconds with no subscriber,
             each once the periodic jobs' first runs are over. Target: ~0 (under 1/s) more with
             subscribers than without.
  lost       --lost subscribed members get a movement committed by SQL and never published (a
             valid next-version ADJUST entry, its lot and the balance, as the audit wants it: a
             publisher that died after its commit); the time until each subscriber has it.
             Target <= 30 s.
  burst      --movements `recordPurchase` (STAFF token) for as many distinct subscribed members,
             --concurrency in flight, from a Python process of their own; per purchase, its
             event's arrival minus the purchase's response (and minus its request, shown too: an
             event sent before the response makes the first negative). Target: all delivered,
             p99 <= 250 ms.
  reconnect  every balance socket dropped at once and opened again at once with sinceVersion =
             the last version it saw. Before, a movement for every member is committed by SQL
             unpublished (made while the clients were away: each has a replay to show it is
             back); during, --storm-movements purchases. Each member must then get exactly the
             versions after its sinceVersion up to its last, in order. Target: all, <= 30 s.
  watchers   --watchers sockets on one live sale's `flashSaleStock` (created by an ADMIN);
             --changes winning `enterFlashSale` --change-spacing (0.5 s) apart; per (watcher,
             change), the first message carrying the new remaining stock (or less), timed from
             the change's publish (heard by the bench on the sale's Redis channel), from the
             entry's response (the issue's measure; negative when the message came first: the
             stock is published at the hold, before the entry's transaction commits) and from
             its request. Target p99 <= 200 ms, from the publish and from the response. Before
             the changes, what the watchers cost over 10 s while the stock stands still.

--runs repeats burst and watchers (medians of their runs are reported); the other scenarios
run once. The tables end with each target and whether it is met.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
from redis.asyncio import Redis

from bench.backends import Backends, database, own_backends, server_database_url
from bench.checks import check_books
from bench.cli import run
from bench.cpu import cpu_seconds
from bench.flash_sale import create_item_for_sales, create_sale
from bench.graphql import authorized, graphql_body, purchase_body
from bench.load import Answer, http_request, percentile, volley
from bench.report import load_average
from bench.seed import brand_token, member_token, new_brand_code, seed_members, seed_points
from bench.servers import PROJECT_ROOT, SERVICE_FACTORY, serve, server_pids
from db.flash_sales import SaleKeys
from db.keys import RedisKeys
from domain.brands import create_brand
from domain.flash_sales.stock import stock_channel
from domain.ids import encode_id

SEED_POINTS = 1_000_000
TOTAL = Decimal("100.00")  # of each purchase
STAFF, ADMIN = "bench-cashier", "bench-admin"
BASELINE_FACTORY = "bench.ws_baseline_app:create_app"
CLIENT_SCRIPT = Path(__file__).with_name("subscribers.mjs")
WARMUP_SOCKETS = 100  # opened and closed before the memory is read, for each server
SETTLE_SECONDS = 3.0  # after the sockets are in, before RSS is read
OPEN_CONCURRENCY = 500  # sockets being opened at a time, per client process
STATS_LAG = 11.0  # seconds PostgreSQL may take to count an idle backend's statements
QUIET_WAIT, QUIET_SPAN, QUIET_RATE = 180.0, 5.0, 10.0  # s, s, transactions/s
DELIVERY_WAIT = 15.0  # seconds after the last movement to wait for its events
WATCHERS_IDLE_SECONDS = 10.0  # the sale's watchers, measured while its stock does not change
SALE_STOCK = 1000
SCENARIOS = ("memory", "idle", "lost", "burst", "reconnect", "watchers")
BALANCE_SCENARIOS = {"memory", "idle", "lost", "burst", "reconnect"}

# Targets of the issue.
KB_PER_SUBSCRIBER = 30.0
BURST_P99_MS = 250.0
WATCHERS_P99_MS = 200.0
IDLE_EXTRA_PER_SECOND = 1.0  # "~0": below one SQL transaction (and Redis command) a second
LOST_SECONDS = 30.0
STORM_SECONDS = 30.0

BALANCE = """
subscription ($sinceVersion: Int) {
  balanceChanged(sinceVersion: $sinceVersion) {
    available version entry { kind points description }
  }
}
"""
STOCK = """
subscription ($id: ID!) { flashSaleStock(flashSaleId: $id) { remainingStock status } }
"""
ENTER = """
mutation ($input: EnterFlashSaleInput!) {
  enterFlashSale(input: $input) { redemption { id status } userErrors { code message } }
}
"""
BARE = "subscription { ok }"  # what the bare baseline's clients send (it answers any)

# A movement for each of $1's members, committed and never published: the next version, an
# ADJUST of $2 points with its lot (as an admin's adjustPoints writes them), and the balance.
UNPUBLISHED_MOVEMENTS = """
WITH chosen AS (
    SELECT b.member_id, b.available, b.version, m.brand_id
    FROM balance b JOIN member m ON m.id = b.member_id
    WHERE b.member_id = ANY($1::int[])
    FOR UPDATE OF b
),
entries AS (
    INSERT INTO ledger_entry (brand_id, member_id, kind, points, balance_after, version,
                              description, created_at, expires_at, breakdown, actor, reason,
                              shortfall)
    SELECT brand_id, member_id, 'ADJUST', $2::int, available + $2::int, version + 1,
           'Adjustment: bench, committed and never published', now(),
           now() + interval '2 years', '[]', 'bench:unpublished', 'bench', 0
    FROM chosen
    RETURNING id, member_id, points, version, balance_after, created_at, expires_at
),
lots AS (
    INSERT INTO lot (member_id, entry_id, points, remaining, earned_at, expires_at)
    SELECT member_id, id, points, points, created_at, expires_at FROM entries
)
UPDATE balance b
SET available = e.balance_after, lifetime_earned = b.lifetime_earned + e.points,
    version = e.version
FROM entries e
WHERE b.member_id = e.member_id
RETURNING b.member_id, b.version
"""
DATABASE_ACTIVITY = """
SELECT xact_commit + xact_rollback AS transactions, tup_returned, tup_fetched
FROM pg_stat_database WHERE datname = current_database()
"""


def now_ms() -> float:
    return time.time() * 1000


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def pct(values: list[float], q: float) -> float | None:
    return percentile(values, q) if values else None


# --- The Node subscribers -----------------------------------------------------------------------


class Clients:
    """The Node processes holding the sockets; each command goes to all of them, each with its
    share of the sockets, and their answers come back together."""

    def __init__(self, processes: int) -> None:
        self.count = processes
        self._processes: list[asyncio.subprocess.Process] = []
        self._readers: list[asyncio.Task[None]] = []
        self._waiting: dict[int, asyncio.Future[dict]] = {}
        self._ids = itertools.count(1)
        self._stderr: list[bytearray] = []

    async def __aenter__(self) -> Clients:
        for index in range(self.count):
            process = await asyncio.create_subprocess_exec(
                "node",
                str(CLIENT_SCRIPT),
                cwd=PROJECT_ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=1 << 28,  # a `collect` answer is one long line
                start_new_session=True,
            )
            self._processes.append(process)
            self._stderr.append(bytearray())
            self._readers.append(asyncio.create_task(self._read(process, index)))
            self._readers.append(asyncio.create_task(self._read_stderr(process, index)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for process in self._processes:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
        for process in self._processes:
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._processes]

    async def _read(self, process: asyncio.subprocess.Process, index: int) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            message = json.loads(line)
            waiter = self._waiting.pop(message.pop("id"), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
        error = RuntimeError(f"subscriber process {index} ended: {self._stderr[index][-2000:]!r}")
        for waiter in list(self._waiting.values()):
            if not waiter.done():
                waiter.set_exception(error)

    async def _read_stderr(self, process: asyncio.subprocess.Process, index: int) -> None:
        assert process.stderr is not None
        while chunk := await process.stderr.read(4096):
            self._stderr[index] += chunk
            del self._stderr[index][:-10000]

    async def _call(self, index: int, command: str, arguments: dict) -> dict:
        process = self._processes[index]
        assert process.stdin is not None
        number = next(self._ids)
        answer = self._waiting[number] = asyncio.get_running_loop().create_future()
        process.stdin.write(
            json.dumps({"id": number, "cmd": command, **arguments}).encode() + b"\n"
        )
        await process.stdin.drain()
        message = await answer
        if "error" in message:
            raise RuntimeError(f"subscriber process {index}, {command}: {message['error']}")
        return message

    async def each(self, command: str, arguments: list[dict] | dict | None = None) -> list[dict]:
        """The command in every process (each its own arguments when given a list)."""
        if not isinstance(arguments, list):
            arguments = [arguments or {}] * self.count
        return list(
            await asyncio.gather(
                *(self._call(index, command, args) for index, args in enumerate(arguments))
            )
        )

    def shares(self, items: list[Any]) -> list[list[Any]]:
        return [items[index :: self.count] for index in range(self.count)]

    async def open(self, kind: str, url: str, query: str, subs: list[dict], **options) -> dict:
        """Open and subscribe every sub (spread over the processes); their totals."""
        answers = await self.each(
            "open",
            [
                {"kind": kind, "url": url, "query": query, "subs": share, **options}
                for share in self.shares(subs)
            ],
        )
        return {
            "ready": sum(a["ready"] for a in answers),
            "failed": sum(a["failed"] for a in answers),
            "timed_out": any(a["timedOut"] for a in answers),
            "ms": max(a["ms"] for a in answers),
        }

    async def close(self, kind: str) -> None:
        await self.each("close", {"kind": kind})


@dataclass
class EventLog:
    """Every `next` the subscribers received, as (key, value, arrival ms, generation)."""

    clients: Clients
    events: list[tuple[str, int, float, int]] = field(default_factory=list)
    error_count: int = 0
    errors: list[dict] = field(default_factory=list)

    async def collect(self) -> None:
        for answer in await self.clients.each("collect"):
            self.events.extend(tuple(event) for event in answer["events"])
            self.error_count += answer["errorCount"]
            self.errors.extend(answer["errors"][: max(0, 20 - len(self.errors))])

    def since(self, mark: int) -> list[tuple[str, int, float, int]]:
        return self.events[mark:]

    def take_errors(self) -> tuple[int, list[dict]]:
        found = (self.error_count, self.errors)
        self.error_count, self.errors = 0, []
        return found

    async def wait_for(self, done: Any, seconds: float, poll: float = 0.25) -> bool:
        """Collect until `done()` holds or `seconds` have passed; whether it held."""
        deadline = time.monotonic() + seconds
        while True:
            await self.collect()
            if done():
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(poll)


# --- What the server and the backends did -------------------------------------------------------


def rss_kb(pids: Iterable[int]) -> int:
    """Resident memory of the processes, in KB (VmRSS)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


async def settled_rss(pids: list[int]) -> int:
    """RSS once it has stopped moving (a few reads a second apart)."""
    await asyncio.sleep(SETTLE_SECONDS)
    return rss_kb(pids)


class RedisMonitor:
    """Counts the commands Redis runs on the run's prefix, by name (MONITOR on a connection of
    its own; commands of other users of the same Redis are left out)."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self._url = urlsplit(redis_url)
        self._needle = prefix.encode()
        self.counts: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RedisMonitor:
        if self._url.scheme == "unix":
            reader, writer = await asyncio.open_unix_connection(self._url.path)
        else:
            reader, writer = await asyncio.open_connection(
                self._url.hostname or "127.0.0.1", self._url.port or 6379
            )
        self._writer = writer
        if self._url.password:
            user = self._url.username or "default"
            writer.write(f"AUTH {user} {self._url.password}\r\n".encode())
            await reader.readline()
        writer.write(b"MONITOR\r\n")
        await reader.readline()  # +OK
        self._task = asyncio.create_task(self._count(reader))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None and self._writer is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._writer.close()

    async def _count(self, reader: asyncio.StreamReader) -> None:
        rest = b""
        while chunk := await reader.read(1 << 16):
            lines = (rest + chunk).split(b"\r\n")
            rest = lines.pop()
            for line in lines:
                if self._needle in line:
                    # +1712345678.123456 [0 127.0.0.1:50000] "MGET" "prefix:..."
                    start = line.find(b'] "')
                    name = line[start + 3 : line.find(b'"', start + 3)] if start >= 0 else b"?"
                    self.counts[name.decode(errors="replace").upper()] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class StatementSampler:
    """What the server's connections to the run's database last ran, sampled every 0.1 s from
    pg_stat_activity (from the maintenance database, so the samples are not counted as the run
    database's statements): which statements an idle server still sends."""

    def __init__(self, database: str) -> None:
        self._database = database
        self._seen: dict[tuple[int, Any], str] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StatementSampler:
        self._connection = await asyncpg.connect(server_database_url())
        self._task = asyncio.create_task(self._sample())
        return self

    async def _sample(self) -> None:
        before: set[tuple[int, Any]] | None = None  # what ran before the window
        while True:
            rows = await self._connection.fetch(
                "SELECT pid, query_start, query FROM pg_stat_activity WHERE datname = $1 "
                "AND backend_type = 'client backend' AND query_start IS NOT NULL",
                self._database,
            )
            keys = [(row["pid"], row["query_start"]) for row in rows]
            if before is None:
                before = set(keys)
            for key, row in zip(keys, rows, strict=True):
                if key not in before:
                    self._seen[key] = " ".join(row["query"].split())
            await asyncio.sleep(0.1)

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._connection.close()

    def top(self, count: int) -> list[tuple[str, int]]:
        texts = Counter(text[:160] for text in self._seen.values())
        texts.pop(" ".join(DATABASE_ACTIVITY.split())[:160], None)  # the bench's own
        return texts.most_common(count)


@dataclass(frozen=True)
class Idle:
    seconds: float
    subscribers: int
    transactions: float  # per second
    rows_returned: float
    rows_fetched: float
    redis: float  # commands on the prefix per second
    redis_by_command: dict[str, float]
    server_cores: float  # CPU seconds per second
    statements: list[tuple[str, int]]  # the statements seen most often, sampled

    def describe(self) -> str:
        top = ", ".join(f"{name} {rate:.1f}" for name, rate in self.redis_by_command.items())
        return (
            f"{self.subscribers:,} subscribers idle {self.seconds:.0f} s: "
            f"{self.transactions:.1f} SQL transactions/s ({self.rows_returned:,.0f} rows "
            f"returned/s, {self.rows_fetched:,.0f} fetched/s), {self.redis:.1f} Redis commands/s "
            f"on the prefix ({top or 'none'}), server CPU {self.server_cores:.3f} cores"
            + "".join(f"\n    seen {n}x: {text}" for text, n in self.statements)
        )


# --- The run --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    subscribers: int
    movements: int
    watchers: int
    concurrency: int
    idle_seconds: float
    idle_baseline_seconds: float
    lost: int
    storm_movements: int
    changes: int
    change_spacing: float
    runs: int
    client_processes: int
    only: frozenset[str]
    scheduler: bool


@dataclass(frozen=True)
class Figure:
    """One target's line in the table."""

    what: str
    measured: str
    target: str
    met: bool | None  # None: not a target


@dataclass
class Seeded:
    brand_code: str
    item_id: int
    member_ids: list[int]
    env: dict[str, str]
    tokens: list[str]
    staff: dict[str, str]
    admin: dict[str, str]


@dataclass
class SubscriptionBench:
    options: Options
    backends: Backends
    seeded: Seeded
    db: asyncpg.Connection
    clients: Clients
    log: EventLog
    url: str = ""
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rss_before: int = 0
    balance_open: bool = False
    used: set[int] = field(default_factory=set)  # members given a purchase (kept distinct)

    # -- helpers ----------------------------------------------------------------------------------

    @property
    def db_name(self) -> str:
        return urlsplit(self.backends.database_url).path.lstrip("/")

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    @property
    def server(self) -> list[int]:
        return server_pids(self.url)

    def say(self, line: str) -> None:
        print(f"  {line}", flush=True)

    def figure(self, what: str, measured: str, target: str, met: bool | None) -> None:
        self.figures.append(Figure(what, measured, target, met))

    def balance_subs(self, count: int, since: int | None) -> list[dict]:
        ids, tokens = self.seeded.member_ids, self.seeded.tokens
        return [
            {"key": f"b{index}", "token": tokens[index], "variables": {"sinceVersion": since}}
            for index in range(min(count, len(ids)))
        ]

    def client_cpu(self) -> float:
        return sum(cpu_seconds(self.clients.pids).values())

    def server_cpu(self) -> float:
        return sum(cpu_seconds(self.server).values())

    async def versions(self, member_ids: list[int]) -> dict[int, int]:
        rows = await self.db.fetch(
            "SELECT member_id, version FROM balance WHERE member_id = ANY($1::int[])", member_ids
        )
        return {row["member_id"]: row["version"] for row in rows}

    def purchase_requests(self, indexes: list[int], tag: str) -> list[bytes]:
        requests = []
        for index in indexes:
            gid = encode_id("Member", self.seeded.member_ids[index])
            body = purchase_body(gid, TOTAL, f"{tag}-{index}-{random.randrange(1 << 40):x}")
            requests.append(http_request(f"{self.url}/graphql", body, self.seeded.staff))
        return requests

    def fresh_members(self, count: int, among: int) -> list[int]:
        """`count` member indexes below `among` not given a purchase yet in this run (or any,
        once all were)."""
        free = [index for index in range(among) if index not in self.used]
        if len(free) < count:
            free = list(range(among))
        chosen = random.sample(free, min(count, len(free)))
        self.used.update(chosen)
        return chosen

    # -- the baseline: a bare Starlette WebSocket -------------------------------------------------

    async def bare_baseline(self) -> float:
        """KB per socket of the bare Starlette WebSocket app, measured like the service."""
        count = self.options.subscribers
        subs = [{"key": f"x{index}", "token": "-", "variables": {}} for index in range(count)]
        async with serve(BASELINE_FACTORY, workers=1) as url:
            ws_url = url.replace("http://", "ws://") + "/graphql"
            pids = server_pids(url)
            warm = [{**sub, "key": f"xw{n}"} for n, sub in enumerate(subs[:WARMUP_SOCKETS])]
            await self.clients.open("bare", ws_url, BARE, warm, concurrency=OPEN_CONCURRENCY)
            await self.clients.close("bare")
            before = await settled_rss(pids)
            opened = await self.clients.open(
                "bare", ws_url, BARE, subs, concurrency=OPEN_CONCURRENCY
            )
            after = await settled_rss(pids)
            await self.clients.close("bare")
        await self.log.collect()
        self.log.events.clear()
        self.log.take_errors()
        per = (after - before) / max(opened["ready"], 1)
        self.say(
            f"bare Starlette WebSocket: {opened['ready']:,} sockets in {opened['ms'] / 1000:.1f} "
            f"s ({opened['failed']} failed); RSS {before / 1024:.1f} -> {after / 1024:.1f} MB: "
            f"{per:.1f} KB a socket"
        )
        return per

    # -- balance subscribers and their memory -----------------------------------------------------

    async def warm_up(self) -> None:
        """A few subscriptions opened and closed, and a purchase: every code path has run once
        before memory or time is measured."""
        warm = self.balance_subs(WARMUP_SOCKETS, 0)
        for sub in warm:
            sub["key"] = "w" + sub["key"]
        opened = await self.clients.open("balance", self.ws_url, BALANCE, warm)
        requests = self.purchase_requests(random.sample(range(WARMUP_SOCKETS), 10), "warm")
        await volley(f"{self.url}/graphql", requests, 4)
        await asyncio.sleep(1)
        await self.clients.close("balance")
        await self.log.collect()
        self.log.events.clear()
        count, errors = self.log.take_errors()
        if opened["failed"] or count:
            raise RuntimeError(f"warm-up subscriptions failed: {opened}, {errors[:3]}")
        await self.quiet_database()  # the periodic jobs' first runs, over every member, are done
        self.rss_before = await settled_rss(self.server)

    async def subscribe_balances(self, baseline_kb: float | None) -> None:
        count = self.options.subscribers
        cpu = self.server_cpu()
        began = time.monotonic()
        opened = await self.clients.open(
            "balance", self.ws_url, BALANCE, self.balance_subs(count, 0),
            concurrency=OPEN_CONCURRENCY, timeoutMs=300_000,
        )  # fmt: skip
        seconds = time.monotonic() - began
        cpu = self.server_cpu() - cpu
        self.balance_open = True
        after = await settled_rss(self.server)
        await self.log.collect()
        errors, sample = self.log.take_errors()
        ready = opened["ready"]
        per = (after - self.rss_before) / max(ready, 1)
        self.say(
            f"{ready:,} of {count:,} balance subscriptions in (their replay of version 1 "
            f"arrived) in {seconds:.1f} s, {opened['failed']} failed, {errors} errors"
            + (f" e.g. {sample[0]}" if sample else "")
            + f"; the server used {cpu:.1f} CPU s ({cpu * 1000 / max(ready, 1):.2f} ms each)"
        )
        self.say(
            f"server RSS {self.rss_before / 1024:.1f} -> {after / 1024:.1f} MB: {per:.1f} KB a "
            f"subscriber"
        )
        if "memory" in self.options.only:
            ratio = f", x{per / baseline_kb:.2f} of a bare Starlette WebSocket's {baseline_kb:.1f}"
            self.figure(
                f"memory per balance subscriber ({ready:,} on one process)",
                f"{per:.1f} KB{ratio if baseline_kb else ''}",
                f"<= {KB_PER_SUBSCRIBER:.0f} KB",
                per <= KB_PER_SUBSCRIBER and ready == count,
            )
        if ready < count:
            self.notes.append(f"only {ready:,} of {count:,} balance subscriptions came in")

    # -- idle -------------------------------------------------------------------------------------

    async def quiet_database(self) -> None:
        """Wait until the server's SQL has fallen to a trickle (the periodic jobs' first runs,
        over every member, are over), for at most QUIET_WAIT seconds."""
        deadline = time.monotonic() + QUIET_WAIT
        count = (await self.db.fetchrow(DATABASE_ACTIVITY))["transactions"]
        while time.monotonic() < deadline:
            await asyncio.sleep(QUIET_SPAN)
            latest = (await self.db.fetchrow(DATABASE_ACTIVITY))["transactions"]
            if (latest - count - 1) / QUIET_SPAN < QUIET_RATE:
                return
            count = latest
        self.notes.append(f"the database was still busy {QUIET_WAIT:.0f} s before an idle window")

    async def idle(self, seconds: float, subscribers: int) -> Idle:
        await self.quiet_database()
        # An idle backend reports its counts up to 10 s late: what came before must be in.
        await asyncio.sleep(STATS_LAG)
        before = await self.db.fetchrow(DATABASE_ACTIVITY)
        cpu = self.server_cpu()
        began = time.monotonic()
        async with (
            RedisMonitor(self.backends.redis_url, self.backends.redis_prefix) as monitor,
            StatementSampler(self.db_name) as statements,
        ):
            await asyncio.sleep(seconds)
        elapsed = time.monotonic() - began
        after = await self.db.fetchrow(DATABASE_ACTIVITY)
        cpu = self.server_cpu() - cpu
        await self.log.collect()
        top = dict(monitor.counts.most_common(5))
        return Idle(
            elapsed,
            subscribers,
            (after["transactions"] - before["transactions"] - 2) / elapsed,  # less our 2 reads
            (after["tup_returned"] - before["tup_returned"]) / elapsed,
            (after["tup_fetched"] - before["tup_fetched"]) / elapsed,
            monitor.total / elapsed,
            {name: count / elapsed for name, count in top.items()},
            cpu / elapsed,
            statements.top(3),
        )

    async def idle_cost(self, empty: Idle | None) -> None:
        options = self.options
        mark = len(self.log.events)
        loaded = await self.idle(options.idle_seconds, options.subscribers)
        messages = len(self.log.since(mark))
        self.say(loaded.describe() + f"; {messages:,} messages reached the subscribers")
        if empty is None:
            return
        extra_sql = loaded.transactions - empty.transactions
        extra_redis = loaded.redis - empty.redis
        self.figure(
            f"idle: SQL transactions/s with {loaded.subscribers:,} subscribers (none: "
            f"{empty.transactions:.1f}/s)",
            f"{loaded.transactions:.1f}/s (+{extra_sql:.1f}; {loaded.rows_returned:,.0f} rows "
            f"returned/s)",
            "~0 more than with none",
            extra_sql < IDLE_EXTRA_PER_SECOND,
        )
        self.figure(
            f"idle: Redis commands/s on the run's prefix (none: {empty.redis:.1f}/s)",
            f"{loaded.redis:.1f}/s (+{extra_redis:.1f})",
            "~0 more than with none",
            extra_redis < IDLE_EXTRA_PER_SECOND,
        )
        self.figure(
            f"idle: server CPU (none: {empty.server_cores:.3f} cores)",
            f"{loaded.server_cores:.3f} cores",
            "-",
            None,
        )

    # -- an event lost between commit and publish -------------------------------------------------

    async def lost(self) -> None:
        count = min(self.options.lost, self.options.subscribers)
        indexes = self.fresh_members(count, self.options.subscribers)
        ids = [self.seeded.member_ids[index] for index in indexes]
        mark = len(self.log.events)
        rows = await self.db.fetch(UNPUBLISHED_MOVEMENTS, ids, 10)
        committed = now_ms()
        wanted = {f"b{indexes[ids.index(row['member_id'])]}": row["version"] for row in rows}
        arrived: dict[str, float] = {}

        def all_in() -> bool:
            for key, value, t, _ in self.log.since(mark):
                if wanted.get(key) == value and key not in arrived:
                    arrived[key] = t
            return len(arrived) == len(wanted)

        await self.log.wait_for(all_in, LOST_SECONDS * 2, poll=0.5)
        waits = [(t - committed) / 1000 for t in arrived.values()]
        worst = max(waits) if waits else None
        self.say(
            f"{len(wanted)} movements committed and never published: {len(arrived)} reached "
            f"their subscriber (within {LOST_SECONDS * 2:.0f} s); after "
            + (
                f"{min(waits):.1f} s to {worst:.1f} s (median {statistics.median(waits):.1f} s)"
                if waits
                else "-"
            )
        )
        self.figure(
            "lost event (committed, never published): delivered within",
            f"{len(arrived)}/{len(wanted)}, "
            + (f"at most {worst:.1f} s" if worst is not None else "none arrived"),
            f"all, <= {LOST_SECONDS:.0f} s",
            len(arrived) == len(wanted) and worst is not None and worst <= LOST_SECONDS,
        )

    # -- a burst of movements ---------------------------------------------------------------------

    async def burst(self) -> dict[str, float]:
        options = self.options
        count = min(options.movements, options.subscribers)
        indexes = self.fresh_members(count, options.subscribers)
        requests = self.purchase_requests(indexes, "burst")
        mark = len(self.log.events)
        cpu, client_cpu = self.server_cpu(), self.client_cpu()
        purchases = await volley(f"{self.url}/graphql", requests, options.concurrency)
        cpu, client_cpu = self.server_cpu() - cpu, self.client_cpu() - client_cpu
        expected: dict[tuple[str, int], float] = {}  # (key, version) -> its response, in ms
        sent_at: dict[tuple[str, int], float] = {}  # its request
        failed = 0
        for index, answer in zip(indexes, purchases.answers, strict=True):
            version = purchase_version(answer)
            if version is None:
                failed += 1
                continue
            expected[(f"b{index}", version)] = purchases.wall_ms(answer.done)
            sent_at[(f"b{index}", version)] = purchases.wall_ms(answer.sent)
        arrived: dict[tuple[str, int], float] = {}

        def all_in() -> bool:
            for key, value, t, _ in self.log.since(mark):
                if (key, value) in expected and (key, value) not in arrived:
                    arrived[(key, value)] = t
            return len(arrived) == len(expected)

        await self.log.wait_for(all_in, DELIVERY_WAIT)
        latencies = [arrived[pair] - done for pair, done in expected.items() if pair in arrived]
        from_sent = [arrived[pair] - sent for pair, sent in sent_at.items() if pair in arrived]
        seconds = purchases.seconds
        responses = [answer.ms for answer in purchases.answers]
        errors, sample = self.log.take_errors()
        self.say(
            f"{count:,} recordPurchase, {options.concurrency} in flight: "
            f"{len(responses) / seconds:,.0f}/s, response p50 {fmt_ms(pct(responses, 50))}, "
            f"p99 {fmt_ms(pct(responses, 99))}, "
            f"{failed} failed; events: {len(arrived):,}/{len(expected):,} delivered, from the "
            f"response p50 {fmt_ms(pct(latencies, 50))}, p99 {fmt_ms(pct(latencies, 99))}, max "
            f"{fmt_ms(max(latencies, default=None))} (from the request: p50 "
            f"{fmt_ms(pct(from_sent, 50))}, p99 {fmt_ms(pct(from_sent, 99))}); server CPU "
            f"{cpu / seconds:.2f} cores, "
            f"subscriber processes {client_cpu / seconds:.2f} cores; {errors} client errors"
            + (f" e.g. {sample[0]}" if sample else "")
        )
        return {
            "expected": count,
            "delivered": len(arrived),
            "failed": failed,
            "p50": pct(latencies, 50) or float("nan"),
            "p99": pct(latencies, 99) or float("nan"),
            "max": max(latencies, default=float("nan")),
            "sent_p99": pct(from_sent, 99) or float("nan"),
        }

    def burst_figures(self, runs: list[dict[str, float]]) -> None:
        median = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
        every = all(run["delivered"] == run["expected"] and not run["failed"] for run in runs)
        label = f" (median of {len(runs)} runs)" if len(runs) > 1 else ""
        self.figure(
            f"burst: {runs[0]['expected']:,.0f} purchases for as many subscribers, delivered",
            " / ".join(f"{run['delivered']:,.0f}/{run['expected']:,.0f}" for run in runs),
            "all",
            every,
        )
        self.figure(
            f"burst: purchase's response -> its event{label}",
            f"p50 {median['p50']:,.0f} ms, p99 {median['p99']:,.0f} ms, max "
            f"{median['max']:,.0f} ms (p99 from the request: {median['sent_p99']:,.0f} ms)",
            f"p99 <= {BURST_P99_MS:.0f} ms",
            median["p99"] <= BURST_P99_MS,
        )

    # -- a reconnect storm ------------------------------------------------------------------------

    async def reconnect(self) -> None:
        options = self.options
        count = options.subscribers
        ids = self.seeded.member_ids[:count]
        await self.log.collect()
        # Made while the clients are away (as a deploy's movements would be), never published:
        # every member has something to catch up on, which shows when it is back.
        await self.db.fetch(UNPUBLISHED_MOVEMENTS, ids, 1)
        mark = len(self.log.events)
        movers = self.fresh_members(min(options.storm_movements, count), count)
        requests = self.purchase_requests(movers, "storm")
        cpu = self.server_cpu()
        storm = self.clients.each(
            "storm", {"kind": "balance", "url": self.ws_url, "query": BALANCE, "timeoutMs": 120_000}
        )
        sending = asyncio.create_task(volley(f"{self.url}/graphql", requests, 8))
        answers = await storm
        purchases = (await sending).answers
        started = min(answer["started"] for answer in answers)
        last_ack = max(answer["lastAck"] for answer in answers)
        acked = sum(answer["acked"] for answer in answers)
        since = {key: value for answer in answers for key, value in answer["since"].items()}
        failed = sum(purchase_version(answer) is None for answer in purchases)
        final = await self.versions(ids)
        last_of = {f"b{index}": final[pk] for index, pk in enumerate(ids)}
        got: dict[str, list[tuple[int, float]]] = defaultdict(list)

        def all_in() -> bool:
            got.clear()
            for key, value, t, generation in self.log.since(mark):
                if generation >= 2:
                    got[key].append((value, t))
            return all(got.get(key) and got[key][-1][0] >= last for key, last in last_of.items())

        done = await self.log.wait_for(all_in, 60.0, poll=0.5)
        cpu = self.server_cpu() - cpu
        complete = gaps = duplicates = missing = 0
        resumed: list[float] = []
        for key, last in last_of.items():
            versions = [value for value, _ in got.get(key, [])]
            start = since.get(key)
            wanted = list(range((start or 0) + 1, last + 1))
            if versions == wanted:
                complete += 1
                resumed.append((got[key][-1][1] - started) / 1000)
                continue
            if not versions:
                missing += 1
            elif len(set(versions)) < len(versions):
                duplicates += 1
            else:
                gaps += 1
        errors, sample = self.log.take_errors()
        worst = max(resumed) if resumed else None
        self.say(
            f"storm: {acked:,} of {count:,} sockets acknowledged again within "
            f"{(last_ack - started) / 1000:.1f} s; {len(purchases) - failed} purchases during it "
            f"({failed} failed); {complete:,} members got exactly the versions after their "
            f"sinceVersion, {gaps} with a gap or out of order, {duplicates} with a duplicate, "
            f"{missing} nothing{'' if done else ' (gave up after 60 s)'}; all in after "
            + (f"{worst:.1f} s (p50 {statistics.median(resumed):.1f} s)" if resumed else "-")
            + f"; server CPU {cpu:.1f} s; {errors} client errors"
            + (f" e.g. {sample[0]}" if sample else "")
        )
        self.figure(
            f"reconnect storm: {count:,} resumed with sinceVersion, without a gap",
            f"{complete:,}/{count:,} in "
            + (f"{worst:.1f} s" if worst is not None else "-")
            + (f" ({gaps + duplicates + missing} not)" if complete < count else ""),
            f"all, <= {STORM_SECONDS:.0f} s",
            complete == count and worst is not None and worst <= STORM_SECONDS,
        )

    # -- a flash sale's watchers ------------------------------------------------------------------

    async def watchers(self) -> dict[str, float]:
        options = self.options
        count = min(options.watchers, len(self.seeded.tokens))
        sale = await create_sale(
            self.url, self.seeded.admin, self.seeded.item_id, SALE_STOCK, limit=1
        )
        gid = encode_id("FlashSale", sale.id)
        subs = [
            {"key": f"s{index}", "token": self.seeded.tokens[index], "variables": {"id": gid}}
            for index in range(count)
        ]
        rss = rss_kb(self.server)
        opened = await self.clients.open(
            "stock", self.ws_url, STOCK, subs, concurrency=OPEN_CONCURRENCY, timeoutMs=300_000
        )
        rss_after = await settled_rss(self.server)
        await asyncio.sleep(max(0.0, sale.starts_at.timestamp() + 0.2 - time.time()))
        # What the watchers cost while the stock does not change.
        await self.log.collect()
        mark = len(self.log.events)
        cpu = self.server_cpu()
        async with RedisMonitor(self.backends.redis_url, self.backends.redis_prefix) as monitor:
            await asyncio.sleep(WATCHERS_IDLE_SECONDS)
        cpu = self.server_cpu() - cpu
        await self.log.collect()
        quiet = len(self.log.since(mark)) / WATCHERS_IDLE_SECONDS
        redis_top = ", ".join(
            f"{name} {n / WATCHERS_IDLE_SECONDS:,.0f}" for name, n in monitor.counts.most_common(3)
        )
        self.say(
            f"{opened['ready']:,} watchers, stock unchanged for {WATCHERS_IDLE_SECONDS:g} s: "
            f"{quiet:,.0f} messages/s reached them, {monitor.total / WATCHERS_IDLE_SECONDS:,.0f} "
            f"Redis commands/s on the prefix ({redis_top or 'none'}), server CPU "
            f"{cpu / WATCHERS_IDLE_SECONDS:.2f} cores"
        )
        mark = len(self.log.events)
        entrants = self.fresh_members(options.changes, len(self.seeded.member_ids))
        changes: list[Change] = []
        failures: list[str] = []
        stock_key = SaleKeys.of(RedisKeys(self.backends.redis_prefix), sale.id).stock
        channel = RedisKeys(self.backends.redis_prefix).channel(stock_channel(sale.id))
        cpu, client_cpu, began = self.server_cpu(), self.client_cpu(), time.monotonic()
        async with (
            StockObserver(self.backends.redis_url, channel) as published,
            httpx.AsyncClient(timeout=60) as http,
        ):
            for number, index in enumerate(entrants):
                if number:
                    await asyncio.sleep(options.change_spacing)
                headers = authorized(self.seeded.tokens[index])
                entry = {"flashSaleId": gid, "quantity": 1, "idempotencyKey": f"w{sale.id}-{index}"}
                body = graphql_body(ENTER, {"input": entry})
                sent = now_ms()
                response = await http.post(f"{self.url}/graphql", content=body, headers=headers)
                done = now_ms()
                payload = (response.json().get("data") or {}).get("enterFlashSale") or {}
                if not payload.get("redemption"):
                    failures.append(response.text[:400])
                    continue
                remaining = int(await published.redis.get(stock_key) or 0)
                changes.append(Change(remaining, sent, done))
            lowest = min((change.remaining for change in changes), default=-1)

            def all_in() -> bool:
                seen = {key for key, value, _, _ in self.log.since(mark) if value <= lowest}
                return len(seen) >= opened["ready"]

            await self.log.wait_for(all_in, DELIVERY_WAIT)
        seconds = time.monotonic() - began
        cpu, client_cpu = self.server_cpu() - cpu, self.client_cpu() - client_cpu
        for change in changes:
            change.published = next(
                (
                    t
                    for value, t in published.seen
                    if value <= change.remaining and t >= change.sent
                ),
                None,
            )
        by_key: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for key, value, t, _ in self.log.since(mark):
            if key.startswith("s"):
                by_key[key].append((value, t))
        from_response: list[float] = []
        from_sent: list[float] = []
        from_publish: list[float] = []
        arrived = 0
        for messages in by_key.values():
            for change in changes:
                first = next((t for value, t in messages if value <= change.remaining), None)
                if first is None:
                    continue
                arrived += 1
                from_response.append(first - change.done)
                from_sent.append(first - change.sent)
                if change.published is not None:
                    from_publish.append(first - change.published)
        pairs = opened["ready"] * len(changes)
        messages = sum(len(m) for m in by_key.values())
        entry_ms = [change.done - change.sent for change in changes]
        await self.clients.close("stock")
        errors, sample = self.log.take_errors()
        self.say(
            f"{opened['ready']:,} of {count:,} watchers in ({opened['failed']} failed) in "
            f"{opened['ms'] / 1000:.1f} s, server RSS +{(rss_after - rss) / 1024:.1f} MB "
            f"({(rss_after - rss) / max(opened['ready'], 1):.1f} KB a watcher)"
        )
        self.say(
            f"{len(changes)} changes {options.change_spacing:g} s apart ({len(failures)} entries "
            f"failed{': ' + failures[0] if failures else ''}); the entries took "
            f"{fmt_ms(min(entry_ms, default=None))} to {fmt_ms(max(entry_ms, default=None))}; "
            f"{arrived:,}/{pairs:,} (watcher, change) arrived; from the change's publish p50 "
            f"{fmt_ms(pct(from_publish, 50))}, p99 {fmt_ms(pct(from_publish, 99))}, max "
            f"{fmt_ms(max(from_publish, default=None))}; from the entry's response p50 "
            f"{fmt_ms(pct(from_response, 50))}, p99 {fmt_ms(pct(from_response, 99))}; from its "
            f"request p50 {fmt_ms(pct(from_sent, 50))}, p99 {fmt_ms(pct(from_sent, 99))}"
        )
        self.say(
            f"{messages:,} messages in all ({messages / max(opened['ready'], 1):.1f} a watcher), "
            f"{len(published.seen)} publishes; server CPU {cpu / seconds:.2f} cores, subscriber "
            f"processes {client_cpu / seconds:.2f} cores; {errors} client errors"
            + (f" e.g. {sample[0]}" if sample else "")
        )
        nan = float("nan")
        return {
            "pairs": pairs,
            "arrived": arrived,
            "watchers": opened["ready"],
            "failed": len(failures),
            "p50": pct(from_publish, 50) or nan,
            "p99": pct(from_publish, 99) or nan,
            "max": max(from_publish, default=nan),
            "response_p50": pct(from_response, 50) or nan,
            "response_p99": pct(from_response, 99) or nan,
            "sent_p99": pct(from_sent, 99) or nan,
            "quiet_messages": quiet,
            "quiet_redis": monitor.total / WATCHERS_IDLE_SECONDS,
        }

    def watcher_figures(self, runs: list[dict[str, float]]) -> None:
        median = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
        label = f" (median of {len(runs)} runs)" if len(runs) > 1 else ""
        every = all(run["arrived"] == run["pairs"] for run in runs)
        self.figure(
            f"flash sale: {runs[0]['watchers']:,.0f} watchers x {self.options.changes} changes, "
            "arrived",
            " / ".join(f"{run['arrived']:,.0f}/{run['pairs']:,.0f}" for run in runs)
            + (
                f" (and {failed:.0f} winning entries refused under the load)"
                if (failed := sum(run["failed"] for run in runs))
                else ""
            ),
            "all",
            every,
        )
        worst = max(median["p99"], median["response_p99"])
        self.figure(
            f"flash sale: change -> each watcher's message{label}",
            f"from its publish: p50 {median['p50']:,.0f} ms, p99 {median['p99']:,.0f} ms, max "
            f"{median['max']:,.0f} ms; from the entry's response: p50 "
            f"{median['response_p50']:,.0f} ms, p99 {median['response_p99']:,.0f} ms (from its "
            f"request: p99 {median['sent_p99']:,.0f} ms)",
            f"p99 <= {WATCHERS_P99_MS:.0f} ms (from the publish and from the response)",
            worst <= WATCHERS_P99_MS,
        )
        self.figure(
            "flash sale: watchers while the stock does not change",
            f"{median['quiet_messages']:,.0f} messages/s, {median['quiet_redis']:,.0f} Redis "
            "commands/s",
            "-",
            None,
        )


@dataclass
class Change:
    """A change of the sale's stock: what is left after it, and when its entry was sent and
    answered, and when its publish was seen on Redis (ms)."""

    remaining: int
    sent: float
    done: float
    published: float | None = None


class StockObserver:
    """The sale's stock channel, heard straight from Redis: when each publish went out."""

    def __init__(self, redis_url: str, channel: str) -> None:
        self.redis = Redis.from_url(redis_url, decode_responses=True)
        self._channel = channel
        self.seen: list[tuple[int, float]] = []  # (remaining, ms)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StockObserver:
        self._pubsub = self.redis.pubsub()
        await self._pubsub.subscribe(self._channel)
        self._task = asyncio.create_task(self._listen())
        return self

    async def _listen(self) -> None:
        async for message in self._pubsub.listen():
            if message["type"] == "message":
                t = now_ms()
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    self.seen.append((int(json.loads(message["data"])["remaining"]), t))

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._pubsub.aclose()
        await self.redis.aclose()


def purchase_version(answer: Answer) -> int | None:
    """The version of the entry a recordPurchase answer made, or None when it failed."""
    if answer.status != 200:
        return None
    payload = (json.loads(answer.body).get("data") or {}).get("recordPurchase") or {}
    entry = payload.get("entry")
    return entry["version"] if entry and not payload.get("userErrors") else None


async def seed(backends: Backends, options: Options) -> Seeded:
    """A brand with its base rate, an item to put on sale, members with SEED_POINTS each, and
    everyone's tokens."""
    brand_code = new_brand_code()
    async with database(backends.database_url):
        brand_id = (await create_brand(brand_code, "Bench Brand")).id
        item_id = await create_item_for_sales(brand_id, brand_code)
    db = await asyncpg.connect(backends.database_url)
    try:
        count = max(options.subscribers, options.watchers)
        member_ids = await seed_members(db, brand_id, count)
        await seed_points(db, brand_id, member_ids, SEED_POINTS)
    finally:
        await db.close()
    env = backends.service_env(scheduler=options.scheduler)
    secret = env["POINTSMALL_JWT_SECRET"]
    tokens = [member_token(secret, brand_code, pk) for pk in member_ids]

    def headers(role: str, subject: str) -> dict[str, str]:
        return authorized(brand_token(secret, brand_code, role, subject))

    return Seeded(
        brand_code, item_id, member_ids, env, tokens, headers("STAFF", STAFF),
        headers("ADMIN", ADMIN),
    )  # fmt: skip


async def main(options: Options) -> None:
    only = options.only
    print(
        f"one uvicorn process; {options.subscribers:,} subscribers, {options.movements:,} "
        f"movements, {options.watchers:,} watchers; scenarios: {', '.join(sorted(only))}; "
        f"{options.client_processes} subscriber processes; {load_average()}",
        flush=True,
    )
    async with own_backends() as backends, Clients(options.client_processes) as clients:
        seeded = await seed(backends, options)
        db = await asyncpg.connect(backends.database_url)
        try:
            bench = SubscriptionBench(options, backends, seeded, db, clients, EventLog(clients))
            await run_scenarios(bench)
            print(f"  books of every member: {await check_books(backends.database_url)}")
        finally:
            await db.close()
    report(bench)


async def run_scenarios(bench: SubscriptionBench) -> None:
    options, only = bench.options, bench.options.only
    baseline_kb = None
    if "memory" in only:
        print("memory: a bare Starlette WebSocket first", flush=True)
        baseline_kb = await bench.bare_baseline()
    async with serve(SERVICE_FACTORY, workers=1, env=bench.seeded.env) as url:
        bench.url = url
        bench.say(f"the service: pids {server_pids(url)}")
        await bench.warm_up()
        empty = None
        if "idle" in only:
            print("idle: no subscribers first", flush=True)
            empty = await bench.idle(options.idle_baseline_seconds, 0)
            bench.say(empty.describe())
        if only & BALANCE_SCENARIOS:
            print(f"memory: {options.subscribers:,} balance subscribers", flush=True)
            await bench.subscribe_balances(baseline_kb)
        if "idle" in only:
            print(f"idle: {options.idle_seconds:g} s", flush=True)
            await bench.idle_cost(empty)
        if "lost" in only:
            print("lost: movements committed and never published", flush=True)
            await bench.lost()
        if "burst" in only:
            runs = []
            for run in range(options.runs):
                print(f"burst: run {run + 1} of {options.runs}", flush=True)
                runs.append(await bench.burst())
            bench.burst_figures(runs)
        if "reconnect" in only:
            print("reconnect: every balance socket at once", flush=True)
            await bench.reconnect()
        if bench.balance_open:
            await bench.clients.close("balance")
        if "watchers" in only:
            runs = []
            for run in range(options.runs):
                print(f"watchers: run {run + 1} of {options.runs}", flush=True)
                runs.append(await bench.watchers())
            bench.watcher_figures(runs)


def report(bench: SubscriptionBench) -> None:
    options = bench.options
    print(f"\nAt the end, {load_average()}.")
    print(
        "One uvicorn process serves the sockets and the mutations; the subscribers are "
        f"{options.client_processes} Node processes, the mutations come from a Python process "
        "of their own; all share this machine's cores with PostgreSQL and Redis. Latencies: an "
        "event's arrival in Node minus its mutation's response in Python, one wall clock. "
        + (
            "The periodic jobs ran, as in `pointsmall serve`."
            if options.scheduler
            else "No periodic jobs (--no-scheduler)."
        )
    )
    print(
        f"\n{options.subscribers:,} balance subscribers, {options.movements:,} movements at "
        f"{options.concurrency} in flight, {options.watchers:,} flash-sale watchers, idle "
        f"{options.idle_seconds:g} s, {options.runs} run(s) of burst and watchers:\n"
    )
    print("| figure | measured | target | met |")
    print("|---|---|---|---|")
    for figure in bench.figures:
        met = "-" if figure.met is None else ("yes" if figure.met else "**no**")
        print(f"| {figure.what} | {figure.measured} | {figure.target} | {met} |")
    for note in bench.notes:
        print(f"\nNote: {note}")


def cli() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.subscriptions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--subscribers", type=int, default=5000, help="balance subscribers")
    parser.add_argument("--movements", type=int, default=1000, help="purchases in the burst")
    parser.add_argument("--watchers", type=int, default=5000, help="flash-sale stock watchers")
    parser.add_argument("--concurrency", type=int, default=32, help="purchases in flight")
    parser.add_argument("--idle-seconds", type=float, default=65.0, help="idle window")
    parser.add_argument(
        "--idle-baseline-seconds", type=float, default=15.0, help="idle window, no subscribers"
    )
    parser.add_argument("--lost", type=int, default=20, help="movements never published")
    parser.add_argument(
        "--storm-movements", type=int, default=100, help="purchases during the reconnect storm"
    )
    parser.add_argument("--changes", type=int, default=10, help="changes of the sale's stock")
    parser.add_argument(
        "--change-spacing", type=float, default=0.5, help="seconds between the sale's changes"
    )
    parser.add_argument("--runs", type=int, default=1, help="runs of burst and watchers")
    parser.add_argument(
        "--client-processes", type=int, default=2, help="Node processes holding the sockets"
    )
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios, of {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--no-scheduler",
        dest="scheduler",
        action="store_false",
        help="no periodic jobs in the server (a lost event's sweep is one of them)",
    )
    arguments = vars(parser.parse_args())
    only = frozenset(name.strip() for name in arguments.pop("only").split(",") if name.strip())
    if unknown := only - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    run(main(Options(only=only, **arguments)))


if __name__ == "__main__":
    cli()
