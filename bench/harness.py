"""What every benchmark shares: its own backends, uvicorn servers, a load generator, tables.

Backends are the machine's PostgreSQL and Redis (DATABASE_URL, REDIS_URL); a run works in a
database and under a Redis prefix of its own, both removed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from redis.asyncio import Redis

from db.database import apply_migrations, close_database, open_database

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
            _servers[url] = process.pid
            yield url
        finally:
            _servers.pop(url, None)
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 15)
                except TimeoutError:
                    os.killpg(process.pid, signal.SIGKILL)  # the workers too: its session
                    await process.wait()


_servers: dict[str, int] = {}  # base URL -> pid of the uvicorn serving it


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
end
"""
WRK_RESULT = re.compile(
    r"BENCH requests=(\d+) errors=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+)"
)


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
        requests, errors, duration_us / 1e6, p50_us / 1e3, p99_us / 1e3, WRK_GENERATOR
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
    head = await reader.readuntil(b"\r\n\r\n")
    length = CONTENT_LENGTH.search(head)
    if length is None:
        raise RuntimeError(f"a response without Content-Length: {head!r}")
    await reader.readexactly(int(length[1]))
    return int(head.split(b" ", 2)[1])


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
