"""The app's Redis client on a cluster (db/redis.py): a burst beyond its connections waits
its turn instead of failing, as on one server."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio.cluster import RedisCluster

from db.redis import open_redis
from tests.support.redis_cluster import blocked_commands_take_turns


async def test_the_app_and_live_servers_of_these_tests_use_the_cluster(
    runtime, settings, redis_cluster_url
):
    assert settings.redis_url == redis_cluster_url  # which the live servers are given
    assert isinstance(runtime.redis, RedisCluster)


async def read_all(redis, keys: list[str]) -> list[str | None]:
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.get(key)
        return await pipe.execute()


async def test_a_burst_beyond_the_connections_waits_its_turn(backend_servers, redis_prefix):
    redis = open_redis(backend_servers.redis_url, max_connections=3)
    empty = f"{redis_prefix}:pool-test:{uuid.uuid4().hex}"  # a list nobody pushes to
    try:
        # On the list's node, where redis-py's RedisCluster alone raises MaxConnectionsError.
        await blocked_commands_take_turns(redis, empty, connections=3)
        # Pipelines take a connection on every node they send to: they wait their turn too.
        keys = [f"{empty}:{number}" for number in range(30)]  # spread over the three nodes
        reads = await asyncio.wait_for(
            asyncio.gather(*(read_all(redis, keys) for _ in range(12))), 10
        )
        assert reads == [[None] * 30] * 12
    finally:
        await redis.aclose()
