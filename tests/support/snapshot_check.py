"""Run as `python -m tests.support.snapshot_check SERVER_URL`: db/schema.sql beside a replay of
every migration, printed as JSON for tests/foundation/test_migrations.py.

In a process of its own: applying migrations initialises Tortoise, and then closes its
connections, in the process that does it (a test's would be the app fixture's).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from db.database import apply_migrations
from db.migration_tools import built, replayed, snapshot
from tests.support.backends import create_database, drop_database


async def loaded(server: str, load: Callable[[str], Awaitable[Any]]) -> dict[str, Any]:
    """A scratch database after `load(url)`: what `load` returned, and what it holds."""
    name = f"pointsmall_snapshot_{uuid.uuid4().hex[:10]}"
    url = await create_database(server, name)
    try:
        returned = await load(url)
        return {"returned": returned, **dataclasses.asdict(await built(url))}
    finally:
        await drop_database(server, name)


async def run_script(url: str, script: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(script)
    finally:
        await connection.close()


async def compared(server: str) -> dict[str, Any]:
    """What a replay built; a database given the snapshot written from that replay, and one
    given db/schema.sql by `apply_migrations` (both loaded from a snapshot, to compare their
    dumps: PostgreSQL prints a constraint read back from a dump a little differently from one a
    migration made)."""
    replay = await replayed(server)
    script = snapshot(replay)
    return {
        "replay": dataclasses.asdict(replay),
        "from_replay": await loaded(server, lambda url: run_script(url, script)),
        "from_file": await loaded(server, apply_migrations),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(compared(sys.argv[1])), default=str))
