"""The Redis client: one `redis.asyncio` connection pool per process."""

from __future__ import annotations

from redis.asyncio import Redis


def open_redis(redis_url: str, *, max_connections: int = 50) -> Redis:
    """A client on a bounded pool; it connects lazily, on first use."""
    return Redis.from_url(redis_url, max_connections=max_connections, decode_responses=True)


async def ping_redis(redis: Redis) -> None:
    """Raise unless Redis answers."""
    await redis.ping()
