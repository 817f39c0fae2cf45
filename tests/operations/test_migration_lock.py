"""Two hosts rolling out at once each run `pointsmall migrate`: one applies the migrations, the
other waits for it and finds nothing left to do.

Both processes are held at the migrations table until both are inside their migration (the test
locks the table they read first), so that they overlap however fast they start."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import asyncpg

from tests.support.backends import Backends, create_database, drop_database
from tests.support.serving import POINTSMALL

MIGRATIONS = sorted(
    path.stem for path in (Path(__file__).resolve().parents[2] / "db" / "migrations").glob("0*.py")
)
# The table Tortoise records applied migrations in, as it creates it (if it does not exist).
RECORDER_TABLE = """
CREATE TABLE tortoise_migrations (
    id SERIAL PRIMARY KEY,
    app VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL,
    UNIQUE (app, name)
)
"""
# From another session than the gate's: a transaction sees one snapshot of the activity.
WAITING = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND wait_event_type = 'Lock'"
)


async def migrate(url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(POINTSMALL),
        "migrate",
        env={**os.environ, "DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_two_migrations_at_once_apply_each_migration_once(backend_servers: Backends):
    name = f"pointsmall_race_{uuid.uuid4().hex[:10]}"
    url = await create_database(backend_servers.postgres_server_url, name)
    gate, watcher = await asyncpg.connect(url), await asyncpg.connect(url)
    processes: list[asyncio.subprocess.Process] = []
    try:
        await gate.execute(RECORDER_TABLE)
        gate_held = gate.transaction()
        await gate_held.start()
        await gate.execute("LOCK TABLE tortoise_migrations IN ACCESS EXCLUSIVE MODE")
        processes = [await migrate(url), await migrate(url)]
        for _ in range(600):  # both blocked inside their migration: at the gate or the lock
            if await watcher.fetchval(WAITING) == 2:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the two migrations did not both start within 30 s")
        await gate_held.rollback()
        outputs = [
            await asyncio.wait_for(process.communicate(), timeout=120) for process in processes
        ]
        for process, (stdout, stderr) in zip(processes, outputs, strict=True):
            assert process.returncode == 0, stdout.decode() + stderr.decode()
        said = sorted(stdout.decode() for stdout, _ in outputs)
        applied = [text for text in said if text.startswith("Applied")]
        waited = [text for text in said if text.startswith("Another `pointsmall migrate`")]
        assert len(applied) == 1 and f"Applied {len(MIGRATIONS)} migrations" in applied[0], said
        assert len(waited) == 1 and "No migrations to apply" in waited[0], said
        recorded = await gate.fetch("SELECT name FROM tortoise_migrations ORDER BY name")
        assert [row["name"] for row in recorded] == MIGRATIONS
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
        await gate.close()
        await watcher.close()
        await drop_database(backend_servers.postgres_server_url, name)
