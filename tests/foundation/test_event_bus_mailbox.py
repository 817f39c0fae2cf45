"""A bus subscriber's mailbox on real Redis: bounded, in order, and ended for good when the
bus stops."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from db.keys import RedisKeys
from db.redis import open_redis
from subscriptions.bus import EventBus
from tests.support.event_bus import TIMEOUT, take

MAILBOX_SIZE = 3


@pytest.fixture
async def buses(backend_servers, redis_prefix) -> AsyncIterator[tuple[EventBus, EventBus]]:
    """A publishing bus and a listening one whose subscribers keep MAILBOX_SIZE events."""
    keys = RedisKeys(f"{redis_prefix}-mailbox-{uuid.uuid4().hex[:8]}")
    clients: list[Redis] = [open_redis(backend_servers.redis_url) for _ in range(2)]
    publisher = EventBus(clients[0], keys)
    listener = EventBus(clients[1], keys, queue_size=MAILBOX_SIZE)
    for bus in (publisher, listener):
        await asyncio.wait_for(bus.start(), TIMEOUT)
    yield publisher, listener
    for bus in (publisher, listener):
        await bus.stop()
    for client in clients:
        await client.aclose()


async def test_a_subscriber_that_falls_behind_keeps_the_newest_events_in_order(buses):
    publisher, listener = buses
    async with listener.subscribe("a") as events, listener.subscribe("a") as probe:
        for n in range(5):
            await publisher.publish("a", {"n": n})
        while (await take(probe, 1))[0] != {"n": 4}:
            pass  # fanned out to every subscriber of the process at once: `events` has all
        assert await take(events, MAILBOX_SIZE) == [{"n": 2}, {"n": 3}, {"n": 4}]
        await publisher.publish("a", {"n": 5})
        assert await take(events, 1) == [{"n": 5}]  # an emptied mailbox fills again


async def test_a_stream_ended_by_the_bus_stays_ended(buses):
    _, listener = buses
    async with listener.subscribe("c") as events:
        await listener.stop()
        async with asyncio.timeout(TIMEOUT):
            assert [event async for event in events] == []
            assert await anext(events, None) is None
    assert listener.subscriber_count("c") == 0
