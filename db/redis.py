"""The Redis client: one `redis.asyncio` connection pool per process."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

POOL_WAIT_SECONDS = 10
CANCEL_AGAIN_SECONDS = 0.1


class WaitingPool(BlockingConnectionPool):
    """redis-py's BlockingConnectionPool, taking a free connection at once.

    The blocking pool arms a timer and takes its condition's lock for every command, even when
    a connection is free: a fifth of the cost of a short command (a flash-sale entry's script).
    Here only a command that finds every connection busy (or the pool in a failover's
    maintenance) goes that way, to wait its turn.
    """

    async def get_connection(self, command_name=None, *keys, **options):  # type: ignore[override]
        if self._in_maintenance or self._condition.locked() or not self.can_get_connection():
            return await super().get_connection()
        connection = self.get_available_connection()  # no await since the check: still free
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection


def open_redis(redis_url: str, *, max_connections: int = 50) -> Redis:
    """A client on a bounded pool; it connects lazily, on first use. A burst of more commands
    than connections waits for one to come free (up to POOL_WAIT_SECONDS), not fails.

    A command that meets a dropped connection (Redis restarted, a failover) is retried on a new
    one a few times before it fails: our scripts are safe to repeat, each keyed by its caller.
    """
    pool = WaitingPool.from_url(
        redis_url,
        max_connections=max_connections,
        timeout=POOL_WAIT_SECONDS,
        decode_responses=True,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), retries=3),
        retry_on_error=[ConnectionError, TimeoutError],
        health_check_interval=30,
    )
    return Redis.from_pool(pool)  # the client owns the pool: closing it closes the connections


async def ping_redis(redis: Redis) -> None:
    """Raise unless Redis answers."""
    await redis.ping()


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel a task that talks to Redis (or awaits another library's timeouts), and wait
    until it has ended.

    redis-py sends commands under asyncio.wait_for, which on Python 3.11 drops a cancellation
    that arrives as the command completes: the task goes on, into its next wait. So it is
    cancelled again until it ends.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=CANCEL_AGAIN_SECONDS)
    with contextlib.suppress(asyncio.CancelledError):
        await task
