"""The CPU processes used (Linux /proc): a server's, the run database's PostgreSQL backends',
Redis's; and a load measured with the CPU it took."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from bench.load import LoadResult, Target, load
from bench.servers import server_pids


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User + system CPU seconds of each process still alive."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            found[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def cpu_wait_seconds(pids: Iterable[int]) -> dict[int, float]:
    """Seconds each live process has spent runnable but waiting for a core (schedstat)."""
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            found[pid] = int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two cpu_seconds snapshots (a process new since: all of it)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


async def backend_pids(db: asyncpg.Connection) -> list[int]:
    """PostgreSQL backends serving this run's database, other than `db` itself."""
    rows = await db.fetch(
        "SELECT pid FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return [row["pid"] for row in rows]


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
