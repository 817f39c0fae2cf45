"""A balanceChanged stream that fails after its first message ends as strawberry's pipeline ends
one, whether the socket took it over (server/planned_streams.py) or not: through the npm
graphql-ws client, the same `next` with the failure's error, then the same `complete`. The
failure is real: the watcher's read of a gap in the ledger (domain/ledger/live.py
`watch_entries`) waits for a lock the test holds on the ledger, and PostgreSQL cancels it (the
error a statement timeout raises too; the service's sessions set none, so the test cancels)."""

from __future__ import annotations

import asyncio
import json
import re

import asyncpg
import pytest

from domain.ids import parse_id
from domain.ledger.events import balance_channel
from domain.runtime import Backends
from tests.support.clients import NodeClient, node_client
from tests.support.live import TIMEOUT, admin_of

TAKEN_OVER = """
subscription ($memberId: ID, $sinceVersion: Int) {
  balanceChanged(memberId: $memberId, sinceVersion: $sinceVersion) {
    version available entry { kind points balanceAfter version }
  }
}
"""
# The same selection, kept in strawberry's pipeline by a directive on a variable.
EXECUTED = TAKEN_OVER.replace(
    "$sinceVersion: Int)", "$sinceVersion: Int, $always: Boolean = true)", 1
).replace("version available", "version @include(if: $always) available", 1)
# Backends of this database waiting for a lock on the ledger.
WAITING_FOR_LEDGER_SQL = """
SELECT pid FROM pg_locks
WHERE locktype = 'relation' AND NOT granted AND relation = 'ledger_entry'::regclass
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
POLL = 0.05
# An internal error names the request it happened in: each socket's own.
REQUEST_ID = re.compile(rb',"requestId":"[^"]*"')


async def printed(client: NodeClient, count: int) -> list[bytes]:
    """The client's next `count` lines, as it printed them but for request ids."""
    lines = [
        await asyncio.wait_for(client.process.stdout.readline(), TIMEOUT) for _ in range(count)
    ]
    return [REQUEST_ID.sub(b"", line) for line in lines]


async def waiting_for_ledger(db: asyncpg.Connection, count: int) -> list[int]:
    """The backends waiting for the ledger's lock, once `count` of them are."""
    for _ in range(int(TIMEOUT / POLL)):
        waiting = [pid for (pid,) in await db.fetch(WAITING_FOR_LEDGER_SQL)]
        if len(waiting) >= count:
            return waiting
        await asyncio.sleep(POLL)
    pytest.fail(f"{count} reads of the ledger did not wait for its lock within {TIMEOUT} s")


async def announce(runtime: Backends, member_id: str, version: int) -> None:
    """The member's version `version` announced without its entry, as the sweep announces one:
    a watcher behind it reads the gap from the ledger."""
    parsed = parse_id(member_id)
    assert parsed is not None, member_id
    pk = parsed[1]
    await runtime.bus.publish(balance_channel(pk), {"memberId": pk, "version": version})


async def test_a_failure_of_a_taken_over_stream_ends_it_as_execution_does(
    live_server, brand, make_token, runtime, db, endpoint
):
    assert endpoint.documents.stream_plan(TAKEN_OVER, None) is not None
    assert endpoint.documents.stream_plan(EXECUTED, None) is None
    async with admin_of(live_server, brand, make_token) as staff:
        member = await staff.register()
        await staff.adjust(member["id"], 10)
        await staff.adjust(member["id"], 5)
        token = make_token(brand, "MEMBER", subject=member["id"])
        variables = {"memberId": member["id"], "sinceVersion": 0}
        async with (
            node_client(live_server, token, TAKEN_OVER, variables) as taken_over,
            node_client(live_server, token, EXECUTED, variables) as executed,
        ):
            # The first entry is strawberry's, the second the socket's own: taken over.
            replayed = await printed(executed, 2)
            assert await printed(taken_over, 2) == replayed
            last = json.loads(replayed[-1])["next"]["data"]["balanceChanged"]["version"]
            async with db.transaction():
                await db.execute("LOCK TABLE ledger_entry IN ACCESS EXCLUSIVE MODE")
                await announce(runtime, member["id"], last + 1)
                for pid in await waiting_for_ledger(db, 2):
                    assert await db.fetchval("SELECT pg_cancel_backend($1)", pid)
            failed = await printed(executed, 2)
            assert await printed(taken_over, 2) == failed
            assert await taken_over.process.wait() == await executed.process.wait() == 1

    failure, end = (json.loads(line) for line in failed)
    (error,) = failure["next"].pop("errors")
    assert failure == {"next": {"data": None}}
    assert error["message"] == "canceling statement due to user request"
    # The database failing under a subscription is the service's fault, not the client's.
    assert set(error) == {"message", "extensions"} and error["extensions"]["code"] == "INTERNAL"
    assert end == {"complete": True}
