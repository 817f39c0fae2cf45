"""A balanceChanged subscription whose later events the socket renders itself
(server/planned_streams.py) sends, through the npm graphql-ws client, exactly what execution
sends: the same document with a literal `@include(if: true)` stays in strawberry's pipeline, and
both clients print the same lines, byte for byte, replayed entries and live ones alike."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.clients import NodeClient, node_client
from tests.support.live import admin_of

TAKEN_OVER = """
subscription ($memberId: ID, $sinceVersion: Int) {
  change: balanceChanged(memberId: $memberId, sinceVersion: $sinceVersion) {
    __typename
    version
    points: available
    member { id __typename displayName status email }
    entry {
      __typename id kind points balanceAfter version description createdAt expiresAt
      pending pendingUntil actor reason orderRef shortfall
    }
  }
}
"""
# The same selection, kept in strawberry's pipeline by a directive.
EXECUTED = TAKEN_OVER.replace("    version\n", "    version @include(if: true)\n", 1)


async def printed(client: NodeClient, count: int) -> list[bytes]:
    """The client's next `count` lines, as it printed them."""
    lines = [await asyncio.wait_for(client.process.stdout.readline(), 30) for _ in range(count)]
    assert all(line.startswith(b'{"next":') for line in lines), lines
    return lines


@pytest.mark.parametrize("role", ["MEMBER", "ADMIN"])
async def test_a_taken_over_stream_sends_what_execution_sends(live_server, brand, make_token, role):
    async with admin_of(live_server, brand, make_token) as staff:
        member = await staff.register()
        token = make_token(brand, "MEMBER", subject=member["id"])
        if role == "ADMIN":
            token = staff.token
        await staff.adjust(member["id"], 10)
        await staff.purchase(member["id"], "20.00")
        await staff.adjust(member["id"], -4, reason="correction")
        variables = {"sinceVersion": 0, "memberId": member["id"]}
        async with (
            node_client(live_server, token, TAKEN_OVER, variables) as taken_over,
            node_client(live_server, token, EXECUTED, variables) as executed,
        ):
            replayed = await printed(taken_over, 3)
            assert replayed == await printed(executed, 3)
            await staff.purchase(member["id"], "35.00")
            await staff.adjust(member["id"], 7, reason="goodwill")
            live = await printed(taken_over, 2)
            assert live == await printed(executed, 2)
    versions = [line.count(b'"version":') for line in replayed + live]
    assert versions == [2] * 5
