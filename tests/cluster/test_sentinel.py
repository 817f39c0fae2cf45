"""REDIS_URL naming a Sentinel service: the app's client asks the Sentinel for the master and
works on it, in the database the URL names, its event bus included."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from db.keys import RedisKeys
from db.redis import open_redis
from subscriptions.bus import EventBus
from tests.support.redis_cluster import blocked_commands_take_turns, redis_sentinel

SERVICE = "pointsmall-primary"


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """(the `redis+sentinel://` URL of SERVICE, its master's port)."""
    with redis_sentinel(tmp_path_factory.mktemp("redis-sentinel"), SERVICE) as started:
        yield started


async def test_the_client_reaches_the_master_through_the_sentinel(sentinel):
    url, master_port = sentinel
    key = f"sentinel-test:{uuid.uuid4().hex}"
    client = open_redis(f"{url}/2")
    master = Redis(host="127.0.0.1", port=master_port, db=2, decode_responses=True)
    try:
        await client.set(key, "through the sentinel")
        assert await master.get(key) == "through the sentinel"
        assert int((await client.client_info())["db"]) == 2
    finally:
        await client.aclose()
        await master.aclose()


async def test_the_event_bus_works_on_the_sentinels_master(sentinel):
    url, _ = sentinel
    publisher_redis, listener_redis = open_redis(url), open_redis(url)
    keys = RedisKeys(f"sentinel-{uuid.uuid4().hex[:8]}")
    publisher, listener = EventBus(publisher_redis, keys), EventBus(listener_redis, keys)
    try:
        await asyncio.wait_for(asyncio.gather(publisher.start(), listener.start()), 10)
        async with listener.subscribe("a") as events:
            await publisher.publish("a", {"n": 1})
            assert await asyncio.wait_for(anext(events), 5) == {"n": 1}
    finally:
        for bus in (publisher, listener):
            await bus.stop()
        for redis in (publisher_redis, listener_redis):
            await redis.aclose()


async def test_a_burst_beyond_the_connections_waits_its_turn(sentinel):
    url, _ = sentinel
    redis = open_redis(url, max_connections=3)
    empty = f"sentinel-test:{uuid.uuid4().hex}"  # a list nobody pushes to
    try:
        await blocked_commands_take_turns(redis, empty, connections=3)
    finally:
        await redis.aclose()
