"""The event bus on real Redis: across processes, per channel, per deployment prefix."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from db.keys import RedisKeys
from db.redis import open_redis
from server.embedded import EmbeddedRedis
from subscriptions.bus import EventBus
from tests.support.event_bus import TIMEOUT, BusFactory, take

QUIET = 0.5


@pytest.fixture
async def make_bus(backend_servers, redis_prefix) -> AsyncIterator[BusFactory]:
    """Started buses, each on a Redis client of its own (as in separate processes)."""
    base = f"{redis_prefix}-bus-{uuid.uuid4().hex[:8]}"
    opened: list[tuple[EventBus, Redis]] = []

    async def make(suffix: str = "", *, db: int = 0) -> EventBus:
        redis = open_redis(backend_servers.redis_url)
        redis.connection_pool.connection_kwargs["db"] = db
        assert int((await redis.client_info())["db"]) == db
        bus = EventBus(redis, RedisKeys(base + suffix))
        opened.append((bus, redis))
        await asyncio.wait_for(bus.start(), TIMEOUT)
        return bus

    yield make
    for bus, redis in opened:
        await bus.stop()
        await redis.aclose()


async def test_events_reach_another_process_in_order(make_bus):
    publisher, listener = await make_bus(), await make_bus()
    sent = [{"seq": n, "text": f"event {n}"} for n in range(200)]
    async with listener.subscribe("orders") as remote, publisher.subscribe("orders") as local:
        for event in sent:
            await publisher.publish("orders", event)
        assert await take(remote, len(sent)) == sent
        assert await take(local, len(sent)) == sent


async def test_every_subscriber_of_a_channel_gets_every_event(make_bus):
    publisher, listener = await make_bus(), await make_bus()
    async with listener.subscribe("a") as first, listener.subscribe("a") as second:
        for n in range(3):
            await publisher.publish("a", {"n": n})
        expected = [{"n": n} for n in range(3)]
        assert await take(first, 3) == expected
        assert await take(second, 3) == expected


async def test_a_subscriber_hears_only_its_channel(make_bus):
    publisher, listener = await make_bus(), await make_bus()
    async with listener.subscribe("a") as channel_a:
        await publisher.publish("b", {"for": "b"})
        await publisher.publish("a:b", {"for": "a:b"})
        await publisher.publish("a", {"for": "a"})
        assert await take(channel_a, 1) == [{"for": "a"}]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(channel_a), QUIET)


async def test_another_prefix_hears_nothing(make_bus):
    """Pub/sub ignores database numbers: only the prefix keeps deployments apart."""
    publisher = await make_bus()
    same_prefix_other_db = await make_bus(db=1)
    other_prefix = await make_bus("-other")
    other_prefix_other_db = await make_bus("-other", db=1)
    async with (
        same_prefix_other_db.subscribe("a") as shared,
        other_prefix.subscribe("a") as isolated,
        other_prefix_other_db.subscribe("a") as isolated_other_db,
    ):
        await publisher.publish("a", {"from": "publisher"})
        assert await take(shared, 1) == [{"from": "publisher"}]
        await other_prefix.publish("a", {"from": "other"})
        assert await take(isolated, 1) == [{"from": "other"}]
        assert await take(isolated_other_db, 1) == [{"from": "other"}]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(shared), QUIET)


async def test_a_prefix_with_glob_characters_hears_only_itself(make_bus):
    """A prefix is a literal name, glob characters (* ? [ ]) included."""
    literal = await make_bus("[1]")
    lookalike = await make_bus("1")
    async with literal.subscribe("a") as events:
        await lookalike.publish("a", {"from": "lookalike"})
        await literal.publish("a", {"from": "literal"})
        assert await take(events, 1) == [{"from": "literal"}]


async def test_leaving_the_subscription_removes_the_subscriber(make_bus):
    bus = await make_bus()
    assert bus.subscriber_count("a") == 0
    async with bus.subscribe("a"):
        async with bus.subscribe("a"):
            assert bus.subscriber_count("a") == 2
        assert bus.subscriber_count("a") == 1
    assert bus.subscriber_count("a") == 0


async def test_stop_ends_a_pending_iteration(make_bus):
    publisher, listener = await make_bus(), await make_bus()
    received: list[dict] = []
    subscribed, first_event = asyncio.Event(), asyncio.Event()

    async def consume() -> None:
        async with listener.subscribe("a") as events:
            subscribed.set()
            async for event in events:
                received.append(event)
                first_event.set()

    consumer = asyncio.create_task(consume())
    try:
        await asyncio.wait_for(subscribed.wait(), TIMEOUT)
        await publisher.publish("a", {"n": 1})
        await asyncio.wait_for(first_event.wait(), TIMEOUT)
        assert not consumer.done()
        await listener.stop()
        await asyncio.wait_for(consumer, TIMEOUT)
    finally:
        consumer.cancel()
    assert received == [{"n": 1}]
    assert listener.subscriber_count("a") == 0


async def subscribers_in_redis(redis: Redis, channel: str) -> int:
    """How many connections Redis has subscribed to the channel (a bus's full channel name)."""
    ((_, count),) = await redis.pubsub_numsub(channel)
    return count


async def until_subscribers_in_redis(redis: Redis, channel: str, count: int) -> None:
    """Poll the server: the bus (un)subscribes on a connection we have no handle on."""
    for _ in range(int(TIMEOUT / 0.05)):
        if await subscribers_in_redis(redis, channel) == count:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"{channel} did not reach {count} subscribed connections within {TIMEOUT}s")


async def test_a_process_subscribes_only_to_the_channels_its_subscribers_asked_for(make_bus, redis):
    """One connection per process, subscribed to a channel while someone in the process
    listens to it: events of other channels never reach the process."""
    bus = await make_bus()
    channel = bus.redis_channel("wanted")
    assert await subscribers_in_redis(redis, channel) == 0
    async with bus.subscribe("wanted"), bus.subscribe("wanted"):
        assert await subscribers_in_redis(redis, channel) == 1
        assert await subscribers_in_redis(redis, bus.redis_channel("other")) == 0
    await until_subscribers_in_redis(redis, channel, 0)


async def test_subscribers_coming_and_going_at_once_leave_the_last_one_hearing(make_bus):
    """Tasks join and leave one channel at once, so SUBSCRIBE and UNSUBSCRIBE interleave; the
    subscriber that stays hears every event published once it is in."""
    publisher, listener = await make_bus(), await make_bus()

    async def come_and_go(delay: float) -> None:
        await asyncio.sleep(delay)
        async with listener.subscribe("busy"):
            await asyncio.sleep(delay)

    churn = [asyncio.create_task(come_and_go(n % 7 / 1000)) for n in range(60)]
    await asyncio.sleep(0.003)
    async with listener.subscribe("busy") as events:
        await asyncio.gather(*churn)
        for n in range(20):
            await publisher.publish("busy", {"n": n})
        assert await take(events, 20) == [{"n": n} for n in range(20)]


# Keeps Redis busy (it runs nothing else meanwhile) for ARGV[1] ms.
BUSY_SCRIPT = """
local started = redis.call('TIME')
local deadline = started[1] * 1000000 + started[2] + ARGV[1] * 1000
repeat local now = redis.call('TIME') until now[1] * 1000000 + now[2] >= deadline
return 1
"""


@contextlib.asynccontextmanager
async def on_private_redis(
    server: EmbeddedRedis, prefix: str, *, buses: int, clients: int = 0
) -> AsyncIterator[tuple[list[EventBus], list[Redis]]]:
    """Buses on the test's own Redis, each on a client of its own (as in separate processes),
    not started; and plain clients. All stopped and closed at the end."""
    url = f"unix://{server.socket}"
    bus_clients = [open_redis(url) for _ in range(buses)]
    plain = [open_redis(url) for _ in range(clients)]
    made = [EventBus(client, RedisKeys(prefix)) for client in bus_clients]
    try:
        yield made, plain
    finally:
        for bus in made:
            await bus.stop()
        for client in (*bus_clients, *plain):
            await client.aclose()


async def test_a_subscription_opens_once_redis_has_subscribed(private_redis):
    """Entering subscribe() waits for Redis to confirm the subscription, so an event published
    as soon as it is entered is heard, even while Redis is too busy to read the SUBSCRIBE."""
    async with on_private_redis(private_redis, "confirmed", buses=1, clients=1) as made:
        (listener,), (busy_redis,) = made
        await asyncio.wait_for(listener.start(), TIMEOUT)
        busy = asyncio.create_task(busy_redis.eval(BUSY_SCRIPT, 0, 400))
        await asyncio.sleep(0.05)  # the script runs
        entering = time.monotonic()
        async with listener.subscribe("a") as events:
            waited = time.monotonic() - entering
            await busy_redis.publish(listener.redis_channel("a"), json.dumps({"n": 1}))
            assert await take(events, 1) == [{"n": 1}]
        await busy
        assert waited >= 0.25, waited


async def test_the_bus_resubscribes_after_redis_restarts(private_redis):
    """A Redis restart drops the pub/sub connection; the bus reconnects and hears again."""
    async with on_private_redis(private_redis, "restart", buses=2, clients=1) as made:
        (listener, publisher), (redis,) = made
        await asyncio.wait_for(listener.start(), TIMEOUT)
        async with listener.subscribe("a") as events:
            await publisher.publish("a", {"n": 1})
            assert await take(events, 1) == [{"n": 1}]
            private_redis.stop()
            private_redis.start()
            await until_subscribers_in_redis(redis, listener.redis_channel("a"), 1)
            await publisher.publish("a", {"n": 2})
            assert await take(events, 1) == [{"n": 2}]


async def test_events_published_at_once_reach_subscribers_in_the_order_published(make_bus):
    publisher, listener = await make_bus(), await make_bus()
    sent = [{"seq": n} for n in range(300)]
    async with listener.subscribe("orders") as events:
        await asyncio.gather(*(publisher.publish("orders", event) for event in sent))
        assert await take(events, len(sent)) == sent


async def test_events_published_at_once_go_out_on_one_connection(private_redis):
    """What is published while Redis answers waits and goes out together: a burst of events
    takes one connection from the pool, not one each."""
    async with on_private_redis(private_redis, "burst", buses=1, clients=1) as made:
        (publisher,), (stats_redis,) = made
        await stats_redis.ping()
        before = (await stats_redis.info("stats"))["total_connections_received"]
        await asyncio.gather(*(publisher.publish("a", {"n": n}) for n in range(50)))
        await publisher.publish("a", {"n": 50})
        after = (await stats_redis.info("stats"))["total_connections_received"]
        assert after - before == 1


async def test_publishing_fails_while_redis_is_down_and_works_once_it_is_back(private_redis):
    async with on_private_redis(private_redis, "down", buses=2) as ((listener, publisher), _):
        await asyncio.wait_for(listener.start(), TIMEOUT)
        private_redis.stop()
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(publisher.publish("a", {"n": n}) for n in range(3)), return_exceptions=True
            ),
            TIMEOUT,
        )
        assert all(isinstance(outcome, (RedisError, OSError)) for outcome in outcomes), outcomes
        private_redis.start()
        async with listener.subscribe("a") as events:
            await publisher.publish("a", {"n": 3})
            assert await take(events, 1) == [{"n": 3}]


async def test_stopping_the_bus_ends_the_publishes_it_had_not_sent(private_redis):
    async with on_private_redis(private_redis, "stopping", buses=1, clients=1) as made:
        (publisher,), (busy_redis,) = made
        busy = asyncio.create_task(busy_redis.eval(BUSY_SCRIPT, 0, 400))
        await asyncio.sleep(0.05)  # the script runs
        publishes = [asyncio.create_task(publisher.publish("a", {"n": n})) for n in range(5)]
        await asyncio.sleep(0.05)  # the first is sent, the rest wait for its answer
        await asyncio.wait_for(publisher.stop(), TIMEOUT)
        outcomes = await asyncio.gather(*publishes, return_exceptions=True)
        assert [str(outcome) for outcome in outcomes] == [
            "the event bus stopped before the event was sent"
        ] * 5
        await busy
