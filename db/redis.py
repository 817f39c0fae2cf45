"""The Redis client: one `redis.asyncio` connection pool per process."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError


def open_redis(redis_url: str, *, max_connections: int = 50) -> Redis:
    """A client on a bounded pool; it connects lazily, on first use.

    A command that meets a dropped connection (Redis restarted, a failover) is retried on a new
    one a few times before it fails: our scripts are safe to repeat, each keyed by its caller.
    """
    return Redis.from_url(
        redis_url,
        max_connections=max_connections,
        decode_responses=True,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), retries=3),
        retry_on_error=[ConnectionError, TimeoutError],
        health_check_interval=30,
    )


async def ping_redis(redis: Redis) -> None:
    """Raise unless Redis answers."""
    await redis.ping()
