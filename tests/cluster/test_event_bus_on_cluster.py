"""The event bus tests (tests/foundation/test_event_bus.py) on the cluster: its buses listen
and publish on the node of the channels' hash tag, and every node's subscribers hear them.
Left out: database numbers (a cluster has one), a single server stopped or restarted, and
PUBSUB NUMSUB on one server (a cluster node counts its own connections: see below)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from db.keys import RedisKeys
from db.redis import RedisClient, open_redis
from subscriptions.bus import EventBus
from tests.foundation.test_event_bus import (  # noqa: F401 (run again here, on the cluster)
    test_a_prefix_with_glob_characters_hears_only_itself,
    test_a_subscriber_hears_only_its_channel,
    test_events_published_at_once_reach_subscribers_in_the_order_published,
    test_events_reach_another_process_in_order,
    test_every_subscriber_of_a_channel_gets_every_event,
    test_leaving_the_subscription_removes_the_subscriber,
    test_stop_ends_a_pending_iteration,
    test_subscribers_coming_and_going_at_once_leave_the_last_one_hearing,
)
from tests.support.event_bus import TIMEOUT, BusFactory, take


@pytest.fixture
async def make_bus(backend_servers, redis_prefix) -> AsyncIterator[BusFactory]:
    """Started buses, each on a cluster client of its own (as in separate processes)."""
    base = f"{redis_prefix}-bus-{uuid.uuid4().hex[:8]}"
    opened: list[tuple[EventBus, RedisClient]] = []

    async def make(suffix: str = "") -> EventBus:
        redis = open_redis(backend_servers.redis_url)
        bus = EventBus(redis, RedisKeys(base + suffix))
        opened.append((bus, redis))
        await asyncio.wait_for(bus.start(), TIMEOUT)
        return bus

    yield make
    for bus, redis in opened:
        await bus.stop()
        await redis.aclose()


async def test_a_bus_hears_events_published_through_every_node(make_bus, redis):
    """PUBLISH sent to any node reaches the bus's subscribers, wherever the bus listens."""
    bus = await make_bus()
    await redis.initialize()  # learns the cluster's nodes
    nodes = redis.get_primaries()
    assert len(nodes) == 3
    async with bus.subscribe("a") as events:
        for number, node in enumerate(nodes):
            await redis.publish(bus.redis_channel("a"), f'{{"n": {number}}}', target_nodes=node)
        # Each node forwards to the others on its own link: across nodes, order may differ.
        heard = await take(events, 3)
        assert sorted(event["n"] for event in heard) == [0, 1, 2]


async def subscribed_connections(redis: RedisClient, channel: str) -> int:
    """Connections subscribed to the channel on all the cluster's nodes."""
    await redis.initialize()  # learns the cluster's nodes
    counts = [
        await redis.pubsub_numsub(channel, target_nodes=node) for node in redis.get_primaries()
    ]
    return sum(count for ((_, count),) in counts)


async def test_a_process_holds_one_subscription_in_the_cluster_while_someone_listens(
    make_bus, redis
):
    bus = await make_bus()
    channel = bus.redis_channel("wanted")
    async with bus.subscribe("wanted"), bus.subscribe("wanted"):
        assert await subscribed_connections(redis, channel) == 1
        assert await subscribed_connections(redis, bus.redis_channel("other")) == 0
    for _ in range(int(TIMEOUT / 0.05)):
        if await subscribed_connections(redis, channel) == 0:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"{channel} still subscribed after {TIMEOUT}s")
