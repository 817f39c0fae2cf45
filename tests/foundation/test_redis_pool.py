"""The Redis pool (db/redis.py): bounded, and a burst beyond its connections waits its turn."""

from __future__ import annotations

import asyncio
import uuid

from db.redis import cancel_and_wait, open_redis


async def test_a_burst_beyond_the_pool_waits_and_never_opens_more_connections(
    backend_servers, redis_prefix
):
    redis = open_redis(backend_servers.redis_url, max_connections=3)
    empty = f"{redis_prefix}:pool-test:{uuid.uuid4().hex}"  # a list nobody pushes to
    try:
        # Each BLPOP holds its connection for 0.2 s: 12 of them queue for 3 connections.
        answers = await asyncio.wait_for(
            asyncio.gather(*(redis.blpop([empty], timeout=0.2) for _ in range(12))), 10
        )
        assert answers == [None] * 12
        pool = redis.connection_pool
        assert len(pool._available_connections) + len(pool._in_use_connections) <= 3
        # Free connections are taken at once, and commands still answer after the burst.
        assert await asyncio.gather(*(redis.ping() for _ in range(30))) == [True] * 30
        assert len(pool._available_connections) + len(pool._in_use_connections) <= 3
    finally:
        await redis.aclose()


async def test_a_task_that_swallowed_its_cancellation_is_cancelled_until_it_ends():
    """As a redis-py command under asyncio.wait_for may on Python 3.11: the first cancellation
    is lost, and the task goes on to wait for something that never comes."""
    never = asyncio.Event()

    async def swallows_one_cancellation() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass
        await never.wait()

    task = asyncio.create_task(swallows_one_cancellation())
    await asyncio.sleep(0)
    stopping = asyncio.create_task(cancel_and_wait(task))
    done, _ = await asyncio.wait([stopping], timeout=5)
    assert stopping in done and task.cancelled()
