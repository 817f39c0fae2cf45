"""What every benchmark shares: its own backends, uvicorn servers, a load generator, tables;
members seeded with SQL, the audit, baselines on bare asyncpg, CPU measures, rows of figures.

Backends are the machine's PostgreSQL and Redis (DATABASE_URL, REDIS_URL); a run works in a
database and under a Redis prefix of its own, both removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from redis.asyncio import Redis

from db.database import apply_migrations, close_database, open_database
from db.models import Brand, LedgerKind, NoticeKind
from db.rows import model_of
from domain.idempotency import CLAIM_KEY_SQL, SET_OUTCOME_SQL, request_hash
from domain.insights.rollups import ROLLUPS_SQL, BookRollup, rollups_arguments
from domain.ledger.audit import audit
from domain.ledger.book import (
    DUE_LOTS_SQL,
    ENTRY_FIELDS,
    INSERT_CONSUMPTION_SQL,
    INSERT_ENTRY_SQL,
    OPEN_BOOK_SQL,
    SPENDABLE_LOTS_SQL,
    TAKE_FROM_LOT_SQL,
    UPDATE_BALANCE_SQL,
)
from domain.notices.outbox import DRAFTS_SQL, NoticeDraft, drafts_arguments
from resolvers.ids import encode_id
from server.auth import brand_signing_secret, mint_token
from server.cli import WEBSOCKETS
from server.settings import Settings

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SERVICE_FACTORY = "server.app:create_app_from_environment"
WARMUP_SECONDS = 1.0
READY_TIMEOUT_SECONDS = 30.0
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def run(main: Coroutine[Any, Any, None]) -> None:
    """asyncio.run, where SIGTERM cancels like Ctrl-C does, so every cleanup still runs."""

    async def guarded() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await main

    try:
        asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit("interrupted: servers stopped, database and Redis keys removed")


# --- Backends --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backends:
    database_url: str  # this run's own database, migrated
    redis_url: str
    redis_prefix: str  # this run's own key prefix

    def service_env(self) -> dict[str, str]:
        """The environment the service's uvicorn workers read their settings from."""
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "POINTSMALL_REDIS_PREFIX": self.redis_prefix,
            "POINTSMALL_ENV": "production",
            "POINTSMALL_JWT_SECRET": secrets.token_urlsafe(48),
            "POINTSMALL_ACCESS_LOG": "false",  # as uvicorn's is off in `serve` below
        }


def _database_named(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def backends() -> AsyncIterator[Backends]:
    """A migrated database and a Redis prefix of this run's own, both removed at the end."""
    run_id = uuid.uuid4().hex[:10]
    server_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    name, prefix = f"pointsmall_bench_{run_id}", f"pmbench-{run_id}"
    redis = Redis.from_url(redis_url)
    try:
        await redis.ping()  # before anything is created, so a missing Redis leaves nothing
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
            try:
                database_url = _database_named(server_url, name)
                await apply_migrations(database_url)
                yield Backends(database_url, redis_url, prefix)
            finally:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
            await _delete_keys(redis, prefix)
    finally:
        await redis.aclose()


async def _delete_keys(redis: Redis, prefix: str) -> None:
    """SCAN and DEL the prefix's keys (never FLUSHALL: the Redis may be shared)."""
    batch = []
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) == 1000:
            await redis.delete(*batch)
            batch.clear()
    if batch:
        await redis.delete(*batch)


@contextlib.asynccontextmanager
async def database(database_url: str) -> AsyncIterator[None]:
    """The ORM opened in this process, to seed data with the domain functions."""
    await open_database(database_url, pool_max=2)
    try:
        yield
    finally:
        await close_database()


# --- Servers ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.asynccontextmanager
async def serve(
    factory: str, *, workers: int, env: dict[str, str] | None = None
) -> AsyncIterator[str]:
    """uvicorn serving the app factory with N workers on a free port; yields its base URL.

    Served like `pointsmall serve` does, less the access log, which would be measured too.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        *(sys.executable, "-m", "uvicorn", factory, "--factory"),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
        *("--log-level", "warning", "--no-access-log", "--ws-per-message-deflate", "false"),
        *("--ws", WEBSOCKETS),
    ]
    # A session of its own: Ctrl-C reaches the bench alone, which then stops the server.
    # Its logs go to a file, shown only if it fails to start, to keep the figures readable.
    with tempfile.TemporaryFile() as log:
        process = await asyncio.create_subprocess_exec(
            *command,
            env={**os.environ, **(env or {})},
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            await _wait_ready(url, process, log)
            _servers[url], _logs[url] = process.pid, log
            yield url
        finally:
            _servers.pop(url, None)
            _logs.pop(url, None)
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 15)
                except TimeoutError:
                    os.killpg(process.pid, signal.SIGKILL)  # the workers too: its session
                    await process.wait()


_servers: dict[str, int] = {}  # base URL -> pid of the uvicorn serving it
_logs: dict[str, IO[bytes]] = {}  # base URL -> the file its output goes to


def server_log(url: str, chars: int = 3000) -> str:
    """The end of what the server at `url` has logged (read without moving the shared offset
    its processes write at)."""
    fd = _logs[url].fileno()
    size = os.fstat(fd).st_size
    start = max(0, size - chars)
    return os.pread(fd, size - start, start).decode(errors="replace")


def server_pids(url: str) -> list[int]:
    """The processes of the server at `url`: uvicorn and its workers."""
    return process_tree(_servers[url])


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, pending = [], [pid]
    while pending:
        tree.append(current := pending.pop())
        pending.extend(children.get(current, []))
    return tree


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User + system CPU seconds of each process still alive (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            found[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def cpu_wait_seconds(pids: Iterable[int]) -> dict[int, float]:
    """Seconds each live process has spent runnable but waiting for a core (Linux schedstat)."""
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            found[pid] = int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    return found


async def _wait_ready(url: str, process: asyncio.subprocess.Process, log: IO[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    async with httpx.AsyncClient(timeout=1) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    log.seek(0)
    tail = log.read().decode(errors="replace")[-3000:]
    raise RuntimeError(f"server at {url} did not become ready; its log ends:\n{tail}")


# --- Load ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One request, sent again and again; or, with a wrk `script`, requests it makes.

    `script` is Lua added to the wrk script, e.g. a `request()` that varies the body; it may
    use the global `run_id`, unique to each wrk run (warm-up and measure each get their own).
    A `report()` it defines is called at the end: each `BENCH_COUNT name=N` line it writes
    lands in LoadResult.counts, each `BENCH_NOTE text` line in LoadResult.notes.
    """

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    script: str = ""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int  # connection errors, timeouts and HTTP statuses >= 400
    seconds: float
    p50_ms: float
    p99_ms: float
    generator: str
    # What a wrk script's report() counted (e.g. answers by outcome), and lines it noted.
    counts: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


WRK_GENERATOR = "wrk"
PYTHON_GENERATOR = "python"
PYTHON_NOTE = (
    "Load from a Python process (wrk not installed): it competes with the servers "
    "for the same cores, so rates are understated; `apt-get install wrk` for real figures."
)


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank q-th percentile (0 < q <= 100) of values, in any order."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


async def probe(target: Target) -> Any:
    """Send the request once; its decoded JSON, after checking it is a 200 without errors."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(target.url, content=target.body, headers=target.headers)
    if response.status_code != 200 or "errors" in response.json():
        raise RuntimeError(f"{target.url} answered {response.status_code}: {response.text}")
    return response.json()


async def load(
    target: Target, *, seconds: float, connections: int, warmup: float = WARMUP_SECONDS
) -> LoadResult:
    """Keep `connections` connections busy for `seconds`, after a warm-up (none when 0)."""
    generate = _wrk if shutil.which("wrk") else _python
    if warmup > 0:
        await generate(target, warmup, connections)
    return await generate(target, seconds, connections)


WRK_SCRIPT = """\
wrk.method = "POST"
wrk.body = "{body}"
{headers}
run_id = "{run_id}"
{script}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d errors=%d duration_us=%d p50_us=%d p99_us=%d\\n",
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99)))
  if report then report() end
end
"""
WRK_RESULT = re.compile(
    r"BENCH requests=(\d+) errors=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+)"
)
WRK_COUNT = re.compile(r"^BENCH_COUNT (\w+)=(\d+)$", re.MULTILINE)
WRK_NOTE = re.compile(r"^BENCH_NOTE (.*)$", re.MULTILINE)


def lua_string(data: bytes) -> str:
    """Bytes as the inside of a Lua string literal: every byte a 3-digit decimal escape."""
    return "".join(f"\\{byte:03d}" for byte in data)


async def _wrk(target: Target, seconds: float, connections: int) -> LoadResult:
    headers = "\n".join(
        f'wrk.headers["{lua_string(name.encode())}"] = "{lua_string(value.encode())}"'
        for name, value in target.headers.items()
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(
            WRK_SCRIPT.format(
                body=lua_string(target.body),
                headers=headers,
                run_id=uuid.uuid4().hex[:12],
                script=target.script,
            )
        )
        script.flush()
        threads = min(connections, os.cpu_count() or 1)
        process = await asyncio.create_subprocess_exec(
            *("wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s"),
            *("--timeout", "10s", "-s", script.name, target.url),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output = (await process.communicate())[0].decode()
        except BaseException:
            process.kill()
            await process.wait()
            raise
    found = WRK_RESULT.search(output)
    if process.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed:\n{output}")
    requests, errors, duration_us, p50_us, p99_us = map(int, found.groups())
    return LoadResult(
        requests,
        errors,
        duration_us / 1e6,
        p50_us / 1e3,
        p99_us / 1e3,
        WRK_GENERATOR,
        counts={name: int(count) for name, count in WRK_COUNT.findall(output)},
        notes=tuple(WRK_NOTE.findall(output)),
    )


async def _python(target: Target, seconds: float, connections: int) -> LoadResult:
    """The fallback: asyncio clients in a separate process, so the event loops do not mix."""
    if target.script:
        raise RuntimeError("this scenario makes its requests with a wrk script: install wrk")
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        requests, errors, elapsed, latencies = await asyncio.get_running_loop().run_in_executor(
            pool, _python_process, target, seconds, connections
        )
    return LoadResult(
        requests,
        errors,
        elapsed,
        percentile(latencies, 50),
        percentile(latencies, 99),
        PYTHON_GENERATOR,
    )


def _python_process(
    target: Target, seconds: float, connections: int
) -> tuple[int, int, float, list[float]]:
    return asyncio.run(_python_clients(target, seconds, connections))


async def _python_clients(
    target: Target, seconds: float, connections: int
) -> tuple[int, int, float, list[float]]:
    """Requests sent, errors, seconds taken, and the successful requests' latencies in ms.

    Plain HTTP/1.1 keep-alive over asyncio streams: httpx.AsyncClient managed only ~140
    requests/s here with 64 connections where these manage ~8,000 (encode/httpx#3215).
    """
    parts = urlsplit(target.url)
    head = [
        f"POST {parts.path or '/'} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"Content-Length: {len(target.body)}",
        *(f"{name}: {value}" for name, value in target.headers.items()),
    ]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + target.body
    latencies: list[float] = []
    errors = 0

    async def connection() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            try:
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                try:
                    while (started := time.perf_counter()) < deadline:
                        writer.write(request)
                        if await _read_status(reader) >= 400:
                            errors += 1
                        else:
                            latencies.append((time.perf_counter() - started) * 1000)
                finally:
                    writer.close()
            except (OSError, asyncio.IncompleteReadError):
                errors += 1

    began = time.perf_counter()
    deadline = began + seconds
    await asyncio.gather(*(connection() for _ in range(connections)))
    return len(latencies) + errors, errors, time.perf_counter() - began, latencies


CONTENT_LENGTH = re.compile(rb"^content-length:\s*(\d+)", re.IGNORECASE | re.MULTILINE)


async def _read_status(reader: asyncio.StreamReader) -> int:
    """Read one response (sized by Content-Length, as uvicorn sends them); its status."""
    return (await _read_response(reader))[0]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one response (sized by Content-Length, as uvicorn sends them); status and body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = CONTENT_LENGTH.search(head)
    if length is None:
        raise RuntimeError(f"a response without Content-Length: {head!r}")
    body = await reader.readexactly(int(length[1]))
    return int(head.split(b" ", 2)[1]), body


def http_request(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A POST to `url` as the bytes of an HTTP/1.1 keep-alive request."""
    parts = urlsplit(url)
    head = [
        f"POST {parts.path or '/'} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


# --- Volleys: a fixed number of requests, each its own, every answer kept --------------------


@dataclass(frozen=True)
class Answer:
    sent: float  # seconds after the volley began
    done: float  # when the whole answer was in
    status: int  # HTTP status; 0 when the connection failed
    body: bytes

    @property
    def ms(self) -> float:
        return (self.done - self.sent) * 1000


@dataclass(frozen=True)
class Volley:
    answers: list[Answer]  # in the order of the requests
    seconds: float  # from the first request sent to the last answer in
    client_cpu: float  # CPU seconds of the process that sent them


async def volley(
    url: str, requests: list[bytes], connections: int, *, start_at: float | None = None
) -> Volley:
    """Send each request (raw HTTP, see http_request) once, over `connections` keep-alive
    connections, each sending its next request as soon as its answer is in; from a process of
    its own, whose connections are open before the first request. `start_at` (time.time())
    holds the first request back until then.

    For what wrk cannot do: stop after exactly N requests and time each answer. Asyncio
    streams, not httpx (see _python_clients); the process's CPU is measured, to be shown.
    """
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return await asyncio.get_running_loop().run_in_executor(
            pool, _volley_process, url, requests, connections, start_at
        )


def _volley_process(
    url: str, requests: list[bytes], connections: int, start_at: float | None
) -> Volley:
    return asyncio.run(_volley(url, requests, connections, start_at))


async def _volley(
    url: str, requests: list[bytes], connections: int, start_at: float | None
) -> Volley:
    parts = urlsplit(url)

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(parts.hostname, parts.port)

    streams = [await connect() for _ in range(min(connections, len(requests)))]
    answers: list[Answer] = [Answer(0.0, 0.0, 0, b"")] * len(requests)
    pending = iter(range(len(requests)))  # shared: each connection takes the next request

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for index in pending:
            sent = time.perf_counter() - began
            try:
                writer.write(requests[index])
                status, body = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError):
                status, body = 0, b""
                writer.close()
                reader, writer = await connect()
            answers[index] = Answer(sent, time.perf_counter() - began, status, body)
        writer.close()

    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu, began = time.process_time(), time.perf_counter()
    await asyncio.gather(*(connection(*stream) for stream in streams))
    seconds = max(answer.done for answer in answers)
    return Volley(answers, seconds, time.process_time() - cpu)


# --- Reports ---------------------------------------------------------------------------------


def describe(name: str, result: LoadResult, baseline: LoadResult) -> str:
    """One scenario's figures on a line, with its rate as a ratio to the baseline's."""
    errors = f", {result.errors} ERRORS" if result.errors else ""
    return (
        f"{name:<34} {result.rate:>9,.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
        f"p99 {result.p99_ms:7.2f} ms  x{result.rate / baseline.rate:.3f} of baseline"
        f"  ({result.requests:,} requests in {result.seconds:.1f} s{errors})"
    )


def markdown_table(results: dict[str, LoadResult], baseline: str) -> str:
    """scenario | req/s | p50 ms | p99 ms | ratio to the baseline scenario's rate."""
    base = results[baseline].rate
    lines = [
        "| scenario | req/s | p50 ms | p99 ms | ratio to baseline |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {name} | {r.rate:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.rate / base:.3f} |"
            for name, r in results.items()
        ),
    ]
    return "\n".join(lines)


def generator_note(results: dict[str, LoadResult]) -> str:
    """How the load was generated, to print with the figures."""
    if any(r.generator == PYTHON_GENERATOR for r in results.values()):
        return PYTHON_NOTE
    return "Load from wrk on the same machine (it takes a little of the servers' CPU too)."


def load_average() -> str:
    """The machine's 1-minute load average and cores: other work skews every figure."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


# --- Seeding and checking, with SQL ----------------------------------------------------------

SEED_MEMBERS = """
INSERT INTO member (brand_id, display_name, referral_code, member_code, status,
                    marketing_email, marketing_sms, tier_id, joined_at)
SELECT $1, 'Bench member ' || i, 'R' || $3 || i, 'M' || $3 || i, 'ACTIVE', false, false,
       (SELECT id FROM tier WHERE brand_id = $1 ORDER BY rank LIMIT 1), now()
FROM generate_series(1, $2) i
RETURNING id
"""
SEED_BALANCES = """
INSERT INTO balance (member_id, available, lifetime_earned, lifetime_redeemed, version, shortfall)
SELECT id, 0, 0, 0, 0, 0 FROM unnest($1::int[]) id
"""


async def seed_members(db: asyncpg.Connection, brand_id: int, count: int) -> list[int]:
    """`count` active members of the brand on its base tier, each with a zero balance."""
    rows = await db.fetch(SEED_MEMBERS, brand_id, count, f"{random.randrange(36**4):x}")
    ids = [row["id"] for row in rows]
    await db.execute(SEED_BALANCES, ids)
    return ids


# One EARN entry (version 1) and its lot per member, expiring in two years; then the balance.
SEED_LOTS = """
WITH entries AS (
    INSERT INTO ledger_entry (brand_id, member_id, kind, points, balance_after, version,
                              description, created_at, expires_at, breakdown, actor, shortfall)
    SELECT $1, id, 'EARN', $3, $3, 1, 'Seeded points', now(), now() + interval '2 years',
           '[]', 'bench:seed', 0
    FROM unnest($2::int[]) id
    RETURNING id, member_id, points, created_at, expires_at
)
INSERT INTO lot (member_id, entry_id, points, remaining, earned_at, expires_at)
SELECT member_id, id, points, points, created_at, expires_at FROM entries
"""
SEED_POINTS = """
UPDATE balance SET available = $2::int, lifetime_earned = $2::int, version = 1
WHERE member_id = ANY($1::int[])
"""


async def seed_points(
    db: asyncpg.Connection, brand_id: int, member_ids: list[int], points: int
) -> None:
    """Give each member, whose ledger is empty, `points` in one lot."""
    async with db.transaction():
        await db.execute(SEED_LOTS, brand_id, member_ids, points)
        await db.execute(SEED_POINTS, member_ids, points)
    await db.execute("ANALYZE ledger_entry; ANALYZE lot; ANALYZE balance")


async def settled_count(db: asyncpg.Connection, query: str, *args: Any) -> int:
    """A `SELECT count(*)` once writes have stopped (requests still in flight when wrk ended)."""
    count = await db.fetchval(query, *args)
    while True:
        await asyncio.sleep(0.5)
        latest = await db.fetchval(query, *args)
        if latest == count:
            return count
        count = latest


async def check_books(database_url: str) -> str:
    """domain.ledger.audit over every member: 'consistent', or what is wrong."""
    async with database(database_url):
        findings = await audit()
    if findings:
        shown = "; ".join(finding.describe() for finding in findings[:3])
        return f"INCONSISTENT: {len(findings)} members, e.g. {shown}"
    return "consistent"


async def backend_pids(db: asyncpg.Connection) -> list[int]:
    """PostgreSQL backends serving this run's database, other than `db` itself."""
    rows = await db.fetch(
        "SELECT pid FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return [row["pid"] for row in rows]


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two cpu_seconds snapshots (a process new since: all of it)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


# --- Tokens, as the brand's identity service signs them -------------------------------------

TOKEN_TTL_SECONDS = 6 * 3600


def brand_token(secret: str, brand_code: str, role: str, subject: str) -> str:
    """A token of the brand's: its key is derived from the deployment's secret (the brand has
    no key of its own), as the service checks it."""
    return mint_token(
        brand_signing_secret(secret, brand_code),
        role=role,
        brand=brand_code,
        subject=subject,
        issuer=Settings().jwt_issuer,
        ttl_seconds=TOKEN_TTL_SECONDS,
    )


def member_token(secret: str, brand_code: str, member_id: int) -> str:
    """A MEMBER token: its subject is the member's global id."""
    return brand_token(secret, brand_code, "MEMBER", encode_id("Member", member_id))


# --- Baselines: a transaction on bare asyncpg, as many at once as the service runs -----------

# One transaction: (connection, a random member's id, a reference unique to the run).
Transaction = Callable[[asyncpg.Connection, int, str], Awaitable[object]]


class Refused(Exception):
    """A baseline transaction refused what it was asked (as the domain would with a user
    error): rolled back and counted as an error, like a failed statement."""


@dataclass(frozen=True)
class BaselinePlan:
    database_url: str
    transaction: Transaction  # picklable: a module-level function or a partial of one
    member_ids: list[int]
    tasks: int  # concurrent transactions wanted (this process's share of --connections)
    pool_size: int  # connections to PostgreSQL, as one service worker has
    warmup: float
    seconds: float


@dataclass(frozen=True)
class BaselineRun:
    committed: int  # warm-up included
    errors: int
    seconds: float  # of the measured part
    latencies: list[float]  # ms, of the measured part
    client_cpu: float  # CPU seconds of this process over the measured part
    database_cpu: float  # of its PostgreSQL backends, over the measured part
    first_error: str | None  # what the first failed transaction raised


@dataclass(frozen=True)
class BaselineLoad:
    """The processes' runs put together."""

    result: LoadResult
    committed: int  # warm-up included
    client_cpu: float
    database_cpu: float
    first_error: str | None


def _baseline_process(plan: BaselinePlan) -> BaselineRun:
    return asyncio.run(_baseline_clients(plan))


@dataclass
class Tally:
    """Calls made by timed_calls, across its runs (a warm-up, then the measure)."""

    done: int = 0
    errors: int = 0
    first_error: str | None = None  # what the first failed call raised


async def timed_calls(
    call: Callable[[], Awaitable[object]],
    tasks: int,
    seconds: float,
    tally: Tally,
    failures: tuple[type[BaseException], ...],
) -> list[float]:
    """`tasks` loops of `call()`, one after another each, for `seconds`; the latencies (ms) of
    the calls that succeeded. A call raising one of `failures` is counted as an error."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        while (started := time.perf_counter()) < deadline:
            try:
                await call()
            except failures as error:
                tally.errors += 1
                tally.first_error = tally.first_error or f"{type(error).__name__}: {error}"
                continue
            tally.done += 1
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(loop() for _ in range(tasks)))
    return latencies


async def _baseline_clients(plan: BaselinePlan) -> BaselineRun:
    """`plan.tasks` loops of transactions for random members, for the warm-up, then measured."""
    numbers = itertools.count()
    tally = Tally()

    async def transaction() -> None:
        ref = f"base-{os.getpid()}-{next(numbers)}"
        async with pool.acquire() as db:
            await plan.transaction(db, random.choice(plan.member_ids), ref)

    async def clients(seconds: float) -> list[float]:
        return await timed_calls(
            transaction, plan.tasks, seconds, tally, (asyncpg.PostgresError, Refused)
        )

    size = plan.pool_size
    async with asyncpg.create_pool(plan.database_url, min_size=size, max_size=size) as pool:
        held = [await pool.acquire() for _ in range(size)]  # all of them, for their pids
        pids = [await db.fetchval("SELECT pg_backend_pid()") for db in held]
        for db in held:
            await pool.release(db)
        await clients(plan.warmup)
        cpu, database_cpu = time.process_time(), cpu_seconds(pids)
        began = time.perf_counter()
        latencies = await clients(plan.seconds)
        elapsed = time.perf_counter() - began
        cpu, database_cpu = (
            time.process_time() - cpu,
            cpu_used(database_cpu, cpu_seconds(pids)),
        )
    return BaselineRun(
        tally.done, tally.errors, elapsed, latencies, cpu, database_cpu, tally.first_error
    )


async def baseline_load(plan: BaselinePlan, processes: int) -> BaselineLoad:
    """The plan run by `processes` processes at once (spawned: no event loop is inherited)."""
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        runs = await asyncio.gather(
            *(loop.run_in_executor(pool, _baseline_process, plan) for _ in range(processes))
        )
    latencies = [ms for run in runs for ms in run.latencies]
    result = LoadResult(
        len(latencies),
        sum(run.errors for run in runs),
        max(run.seconds for run in runs),
        percentile(latencies, 50),
        percentile(latencies, 99),
        "asyncpg",
    )
    return BaselineLoad(
        result,
        sum(run.committed for run in runs),
        sum(run.client_cpu for run in runs),
        sum(run.database_cpu for run in runs),
        next((run.first_error for run in runs if run.first_error), None),
    )


# --- The domain's statements, for the baselines ---------------------------------------------

# The ledger's own SQL is imported from the domain (CLAIM_KEY_SQL, OPEN_BOOK_SQL, ...). What the
# ORM still sends is spelled here as it sends it: its reads select every column (`*` here) and
# its get() adds LIMIT 2; its writes name every column. The benches' baselines build their
# transactions of these, in the domain's order.
INSERT_REDEMPTION = """
INSERT INTO redemption (reservation_id, quantity, points_spent, cash_amount, status,
                        payment_due_at, payment_reference, shipping_address, tracking_reference,
                        confirmed_at, fulfilled_at, cancelled_at, cancel_reason, cancelled_by,
                        created_at, brand_id, flash_sale_id, item_id, member_id, redeem_entry_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20)
RETURNING id
"""


def compact_json(value: Any) -> str:
    """JSON as the ORM writes it to a JSON column."""
    return json.dumps(value, separators=(",", ":"))


@dataclass
class Book:
    """A member's locked balance row inside the transaction, as MemberBook holds it."""

    db: asyncpg.Connection
    member: asyncpg.Record
    balance: dict
    now: datetime
    actor: str
    brand: Brand
    rollup: BookRollup

    def written(self, entry_id: int) -> list[Any]:
        """What the outcome keeps of the member's one new entry, to publish after commit."""
        balance = self.balance
        return [self.member["id"], [[entry_id, balance["version"], balance["available"]]], []]


async def claim_key(
    db: asyncpg.Connection, brand_id: int, actor: str, operation: str, key: str, payload: dict
) -> int:
    """run_once: the idempotency record, inserted first; its id."""
    record_id = await db.fetchval(
        CLAIM_KEY_SQL, brand_id, actor, operation, key, request_hash(payload)
    )
    if record_id is None:
        raise Refused(f"the key {key} was used already")
    return record_id


async def set_outcome(db: asyncpg.Connection, record_id: int, outcome: dict) -> None:
    """run_once: the movement's outcome, kept on its idempotency record."""
    await db.execute(SET_OUTCOME_SQL, record_id, compact_json(outcome))


async def open_book(db: asyncpg.Connection, member_id: int, now: datetime, actor: str) -> Book:
    """MemberBook.open: lock the balance, read the member and brand, find no due lots; then
    active?"""
    row = await db.fetchrow(OPEN_BOOK_SQL, member_id)
    if await db.fetch(DUE_LOTS_SQL, member_id, now):
        raise RuntimeError("the bench's lots never fall due")
    if row["member"]["status"] != "ACTIVE":
        raise RuntimeError(f"member {member_id} is not active")
    brand = model_of(Brand, row["brand"])
    zone = ZoneInfo(brand.timezone)
    member = row["member"]
    rollup = BookRollup(member["id"], brand.id, now.astimezone(zone).date(), zone)
    return Book(db, member, dict(row["balance"]), now, actor, brand, rollup)


async def append_entry(book: Book, kind: str, points: int, description: str, **fields: Any) -> int:
    """MemberBook._append: the balance row, then the entry; the entry's id."""
    balance, member_id = book.balance, book.member["id"]
    book.rollup.entry(LedgerKind(kind), points)
    await book.db.execute(
        UPDATE_BALANCE_SQL,
        *(member_id, balance["available"], balance["lifetime_earned"]),
        *(balance["lifetime_redeemed"], balance["version"], balance["shortfall"]),
    )
    given = ENTRY_FIELDS | fields
    entry = await book.db.fetchrow(
        INSERT_ENTRY_SQL,
        *(book.member["brand_id"], member_id, kind, points, balance["available"]),
        *(balance["version"], description, book.now, book.actor, given["store_id"]),
        *(given["expires_at"], compact_json(given["breakdown"]), given["reason"]),
        *(given["order_ref"], given["shortfall"], given["partner_id"]),
        book.member["tier_id"],
    )
    return entry["id"]


async def close(book: Book) -> None:
    """MemberBook closing: the movement's roll-ups (its notices are `tell`'s)."""
    arguments = rollups_arguments([book.rollup])
    if arguments is not None:
        await book.db.execute(ROLLUPS_SQL, *arguments)


async def tell(book: Book, *notices: tuple[NoticeKind, str, dict[str, Any]]) -> None:
    """MemberBook's notices, (kind, subject, variables) each, written in one statement."""
    drafts = [NoticeDraft(book.member["id"], *notice) for notice in notices]
    await book.db.fetch(DRAFTS_SQL, *drafts_arguments(book.brand, book.now, drafts))


async def tell_redeemed(
    book: Book, entry_id: int, redemption_id: int, item_name: str, points: int
) -> None:
    """A redemption's notices: points spent (its entry's), redemption confirmed."""
    balance = book.balance["available"]
    await tell(
        book,
        (NoticeKind.POINTS_SPENT, f"entry:{entry_id}",
         {"points": points, "balance": balance, "reason": f"Redeemed {item_name}"}),
        (NoticeKind.REDEMPTION_CONFIRMED, f"redemption:{redemption_id}",
         {"item": item_name, "quantity": 1, "points": points}),
    )  # fmt: skip


async def debit(book: Book, points: int, description: str) -> int:
    """MemberBook.debit: lots first to expire first, the balance, the entry, each lot's part;
    the entry's id."""
    db, member_id = book.db, book.member["id"]
    lots = await db.fetch(SPENDABLE_LOTS_SQL, member_id, book.now)
    if sum(lot["remaining"] for lot in lots) < points:
        raise Refused("INSUFFICIENT_POINTS")
    balance = book.balance
    balance["available"] -= points
    balance["version"] += 1
    balance["lifetime_redeemed"] += points
    entry_id = await append_entry(book, "REDEEM", -points, description)
    still_to_take = points
    for lot in lots:
        if not still_to_take:
            break
        part = min(lot["remaining"], still_to_take)
        still_to_take -= part
        book.rollup.lot(lot["expires_at"], -part)
        await db.execute(TAKE_FROM_LOT_SQL, lot["id"], lot["remaining"] - part)
        await db.execute(INSERT_CONSUMPTION_SQL, lot["id"], entry_id, part)
    return entry_id


# --- Load on the service, with the CPU it took ----------------------------------------------


@dataclass(frozen=True)
class MeasuredLoad:
    result: LoadResult
    app_cpu: float  # CPU seconds of uvicorn and its workers
    app_wait: float  # seconds they were runnable but waited for a core
    database_cpu: float  # CPU seconds of the PostgreSQL backends of the run's database

    def describe_cores(self) -> str:
        seconds = self.result.seconds
        return (
            f"the workers ran on {self.app_cpu / seconds:.2f} cores and waited for a free "
            f"core {self.app_wait / seconds:.2f} cores' worth of the time"
        )


async def measured_load(
    target: Target, server_url: str, db: asyncpg.Connection, *, seconds: float, connections: int
) -> MeasuredLoad:
    """load() without a warm-up, measuring the CPU of the server and of PostgreSQL meanwhile."""
    app = server_pids(server_url)
    app_cpu, app_wait, database_cpu = (
        cpu_seconds(app),
        cpu_wait_seconds(app),
        cpu_seconds(await backend_pids(db)),
    )
    result = await load(target, seconds=seconds, connections=connections, warmup=0)
    return MeasuredLoad(
        result,
        cpu_used(app_cpu, cpu_seconds(app)),
        cpu_used(app_wait, cpu_wait_seconds(app)),
        cpu_used(database_cpu, cpu_seconds(await backend_pids(db))),
    )


async def redis_pid(redis: Redis) -> int | None:
    """The Redis server's pid, when it runs on this machine (so its CPU can be measured)."""
    pid = int((await redis.info("server"))["process_id"])
    return pid if _runs_here(pid, "redis") else None


def _runs_here(pid: int, command: str) -> bool:
    """Whether process `pid` of this machine runs `command` (not another pid namespace's)."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().startswith(command)
    return False


@dataclass(frozen=True)
class CpuMeter:
    """CPU seconds of the server's processes, of the run database's PostgreSQL backends and of
    Redis (when it runs here), between a snapshot() and since()."""

    server_url: str
    db: asyncpg.Connection
    redis_pid: int | None

    async def snapshot(self) -> tuple[dict[int, float], ...]:
        return (
            cpu_seconds(server_pids(self.server_url)),
            cpu_seconds(await backend_pids(self.db)),
            cpu_seconds([self.redis_pid] if self.redis_pid else []),
        )

    async def since(self, before: tuple[dict[int, float], ...]) -> tuple[float, ...]:
        """(app, PostgreSQL, Redis) CPU seconds used since the `before` snapshot."""
        after = await self.snapshot()
        return tuple(cpu_used(then, now) for then, now in zip(before, after, strict=True))


def graphql_body(query: str, variables: dict | None = None) -> bytes:
    return json.dumps({"query": query, "variables": variables or {}}).encode()


# --- Rows of figures: rate, latency, ratio and CPU per request -------------------------------

CPU_PARTS = ("app", "PostgreSQL")  # whose CPU a row's cpu_ms holds, unless a table says more


@dataclass(frozen=True)
class Row:
    name: str
    rate: float | None  # None for requests sent one at a time
    p50_ms: float
    p99_ms: float
    errors: int = 0
    ratio: float | None = None  # rate as a share of the baseline's
    cpu_ms: tuple[float, ...] | None = None  # CPU ms per request: application, PostgreSQL, ...
    of: str | None = None  # which baseline the ratio is to, where a table has several


def load_row(name: str, result: LoadResult, **notes: Any) -> Row:
    return Row(name, result.rate, result.p50_ms, result.p99_ms, result.errors, **notes)


def sequential_row(name: str, latencies: list[float]) -> Row:
    return Row(name, None, percentile(latencies, 50), percentile(latencies, 99))


def cpu_ms(*seconds: float, requests: int) -> tuple[float, ...]:
    """CPU seconds (application, PostgreSQL, ...) as ms per request."""
    return tuple(part * 1000 / max(requests, 1) for part in seconds)


def _ratio(row: Row) -> str:
    if row.ratio is None:
        return "-"
    return f"{row.ratio:.3f}" + (f" of {row.of}" if row.of else "")


def describe_row(row: Row, cpu_parts: Sequence[str] = CPU_PARTS) -> str:
    rate = f"{row.rate:>9,.0f}/s" if row.rate is not None else " " * 11
    notes = [f"p50 {row.p50_ms:8.2f} ms", f"p99 {row.p99_ms:8.2f} ms"]
    if row.ratio is not None:
        notes.append(f"x{_ratio(row)}" if row.of else f"x{row.ratio:.3f} of baseline")
    if row.cpu_ms is not None:
        named = zip(row.cpu_ms, cpu_parts, strict=True)
        parts = " + ".join(f"{ms:.2f} ms {part}" for ms, part in named)
        notes.append(f"CPU/req {parts}")
    if row.errors:
        notes.append(f"{row.errors:,} ERRORS")
    return f"{row.name:<58} {rate}  " + "  ".join(notes)


def rows_table(rows: list[Row], cpu_parts: Sequence[str] = CPU_PARTS) -> str:
    lines = [
        "| scenario | per s | p50 ms | p99 ms | ratio to baseline | CPU ms/req: "
        + " + ".join(cpu_parts)
        + " |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        name = f"{row.name} ({row.errors:,} errors)" if row.errors else row.name
        rate = f"{row.rate:,.0f}" if row.rate is not None else "-"
        cpu = " + ".join(f"{ms:.2f}" for ms in row.cpu_ms) if row.cpu_ms else "-"
        lines.append(
            f"| {name} | {rate} | {row.p50_ms:.1f} | {row.p99_ms:.1f} | {_ratio(row)} | {cpu} |"
        )
    return "\n".join(lines)


def add_load_arguments(parser: argparse.ArgumentParser, seconds: float = 10.0) -> None:
    """The options every benchmark takes: how long, how many workers and connections."""
    parser.add_argument("--seconds", type=float, default=seconds, help="load per scenario")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections")
