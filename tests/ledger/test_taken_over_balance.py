"""A balanceChanged stream that its socket renders itself after the first message
(server/planned_streams.py), over graphql-transport-ws: a `complete` from the client ends it
and leaves the member's channel, and a socket may follow several such streams at once."""

from __future__ import annotations

import asyncio
import json

from redis.asyncio import Redis

from db.keys import RedisKeys
from domain.ledger.events import balance_channel
from tests.support.ledger import pk
from tests.support.live import admin_of, bearer, connected, nothing_more, receive

WATCH = """
subscription ($memberId: ID, $sinceVersion: Int) {
  balanceChanged(memberId: $memberId, sinceVersion: $sinceVersion) {
    version entry { version points }
  }
}
"""


async def subscribe(socket, operation: str, **variables) -> None:
    payload = {"query": WATCH, "variables": variables}
    await socket.send(json.dumps({"id": operation, "type": "subscribe", "payload": payload}))


async def versions_of(socket, count: int) -> list[tuple[str, int]]:
    """The operation and version of the next `count` messages, each a change."""
    seen = []
    for _ in range(count):
        message = await receive(socket)
        assert message["type"] == "next" and "errors" not in message["payload"], message
        seen.append((message["id"], message["payload"]["data"]["balanceChanged"]["version"]))
    return seen


async def listeners(redis: Redis, channel: str) -> int:
    return (await redis.pubsub_numsub(channel))[0][1]


async def test_a_complete_ends_the_stream_and_leaves_the_channel(
    live_server, brand, make_token, redis, settings
):
    async with admin_of(live_server, brand, make_token) as staff:
        member = await staff.register()
        channel = RedisKeys(settings.redis_prefix).channel(balance_channel(pk(member["id"])))
        await staff.adjust(member["id"], 5)
        await staff.adjust(member["id"], 6)
        async with connected(live_server, bearer(staff.token)) as socket:
            await subscribe(socket, "1", memberId=member["id"], sinceVersion=0)
            assert await versions_of(socket, 2) == [("1", 1), ("1", 2)]
            await staff.adjust(member["id"], 7)
            assert await versions_of(socket, 1) == [("1", 3)]
            assert await listeners(redis, channel) == 1

            await socket.send(json.dumps({"id": "1", "type": "complete"}))
            for _ in range(50):
                if not await listeners(redis, channel):
                    break
                await asyncio.sleep(0.1)
            assert await listeners(redis, channel) == 0
            await staff.adjust(member["id"], 8)
            await nothing_more(socket)


async def test_two_streams_on_one_socket_each_get_their_own(live_server, brand, make_token):
    async with admin_of(live_server, brand, make_token) as staff:
        first, second = await staff.register("Ada"), await staff.register("Bea")
        await staff.adjust(first["id"], 5)
        await staff.adjust(second["id"], 5)
        async with connected(live_server, bearer(staff.token)) as socket:
            await subscribe(socket, "a", memberId=first["id"], sinceVersion=0)
            await subscribe(socket, "b", memberId=second["id"], sinceVersion=0)
            assert sorted(await versions_of(socket, 2)) == [("a", 1), ("b", 1)]
            await staff.adjust(second["id"], 1)
            await staff.adjust(first["id"], 2)
            await staff.adjust(first["id"], 3)
            assert sorted(await versions_of(socket, 3)) == [("a", 2), ("a", 3), ("b", 2)]
            await socket.send(json.dumps({"id": "a", "type": "complete"}))
            await staff.adjust(first["id"], 4)
            await staff.adjust(second["id"], 4)
            assert await versions_of(socket, 1) == [("b", 3)]
            await nothing_more(socket)
