"""Baselines on bare clients: a call (a transaction on asyncpg, a Lua script on redis-py) made
in loops, as many at once as the service runs, from processes of their own; the floor the
service's figures are measured against."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import asyncpg

from bench.cpu import cpu_seconds, cpu_used
from bench.load import LoadResult, percentile

# One transaction: (connection, a random member's id, a reference unique to the run).
Transaction = Callable[[asyncpg.Connection, int, str], Awaitable[object]]


class Refused(Exception):
    """A baseline transaction refused what it was asked (as the domain would with a user
    error): rolled back and counted as an error, like a failed statement."""


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


# --- A transaction on asyncpg pools ----------------------------------------------------------


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


def _baseline_process(plan: BaselinePlan) -> BaselineRun:
    return asyncio.run(_baseline_clients(plan))


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
