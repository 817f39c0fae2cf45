"""Load on a server: one request kept going over N connections (wrk, or a Python fallback),
volleys of exactly N requests with each answer timed, and requests sent one at a time."""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any
from urllib.parse import urlsplit

import httpx

WARMUP_SECONDS = 1.0


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


# --- wrk -------------------------------------------------------------------------------------

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


# --- The Python fallback, and the raw HTTP it and the volleys speak ---------------------------


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
    request = http_request(target.url, target.body, target.headers)
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
                        if (await _read_response(reader))[0] >= 400:
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
    began_at: float  # time.time() when it began

    def wall_ms(self, moment: float) -> float:
        """A moment of the volley (seconds after it began) on the machine's wall clock, in
        ms: to compare with times taken by other processes."""
        return (self.began_at + moment) * 1000


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
    cpu, began_at, began = time.process_time(), time.time(), time.perf_counter()
    await asyncio.gather(*(connection(*stream) for stream in streams))
    seconds = max(answer.done for answer in answers)
    return Volley(answers, seconds, time.process_time() - cpu, began_at)


# --- One at a time ---------------------------------------------------------------------------


def answer_failed(response: httpx.Response) -> bool:
    """Not a 200, a GraphQL error, or a payload with userErrors."""
    if response.status_code != 200:
        return True
    answer = response.json()
    if "errors" in answer:
        return True
    payloads = answer["data"].values()
    return any(isinstance(payload, dict) and payload.get("userErrors") for payload in payloads)


async def one_at_a_time(url: str, bodies: Iterable[bytes], headers: dict[str, str]) -> list[float]:
    """Latencies (ms) of a POST of each body, sent one after another, each answer checked."""
    latencies = []
    async with httpx.AsyncClient(timeout=60) as client:
        for body in bodies:
            started = time.perf_counter()
            response = await client.post(url, content=body, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            if answer_failed(response):
                raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:500]}")
    return latencies
