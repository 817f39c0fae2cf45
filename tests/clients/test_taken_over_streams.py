"""A balanceChanged subscription whose later events the socket renders itself (schema/plans.py
`stream_plan_of`, kept per document by schema/documents.py) sends, through the npm graphql-ws
client, exactly what execution sends: the same selection written with fragment spreads, an
inline fragment, a literal @include and a key selected twice is taken over too, the same
document with an `@include` on a variable stays in strawberry's pipeline, and the three clients
print the same lines, byte for byte, replayed entries and live ones alike."""

from __future__ import annotations

import asyncio

import pytest

from schema.build import build_schema
from schema.safety import GuardedSchema
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
# The same selection through fragments, merged as execution merges them.
FRAGMENTED = """
subscription ($memberId: ID, $sinceVersion: Int) {
  change: balanceChanged(memberId: $memberId, sinceVersion: $sinceVersion) {
    ...Change
    member @include(if: true) { id __typename displayName status email }
    ... on BalanceChange { entry { ...Entry } }
    entry { shortfall }
  }
}
fragment Change on BalanceChange { __typename version points: available }
fragment Entry on LedgerEntry {
  __typename id kind points balanceAfter version description createdAt expiresAt
  pending pendingUntil actor reason orderRef
}
"""
# The same selection, kept in strawberry's pipeline by a directive on a variable.
EXECUTED = TAKEN_OVER.replace(
    "$sinceVersion: Int)", "$sinceVersion: Int, $always: Boolean = true)", 1
).replace("    version\n", "    version @include(if: $always)\n", 1)


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
            node_client(live_server, token, FRAGMENTED, variables) as fragmented,
            node_client(live_server, token, EXECUTED, variables) as executed,
        ):
            replayed = await printed(executed, 3)
            assert await printed(taken_over, 3) == replayed
            assert await printed(fragmented, 3) == replayed
            await staff.purchase(member["id"], "35.00")
            await staff.adjust(member["id"], 7, reason="goodwill")
            live = await printed(executed, 2)
            assert await printed(taken_over, 2) == live
            assert await printed(fragmented, 2) == live
    versions = [line.count(b'"version":') for line in replayed + live]
    assert versions == [2] * 5


def test_the_documents_are_taken_over_or_executed_as_meant():
    schema = build_schema()
    assert isinstance(schema, GuardedSchema) and schema.documents is not None
    plans = schema.documents
    assert plans.stream_plan(TAKEN_OVER, None) is not None
    assert plans.stream_plan(FRAGMENTED, None) is not None
    assert plans.stream_plan(EXECUTED, None) is None
