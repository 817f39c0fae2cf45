"""The Redis client: one `redis.asyncio` connection pool per process, on one server, a
Sentinel service's master or a Redis Cluster, as REDIS_URL names it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

from db.redis_internals import SentinelMaster, WaitingCluster, WaitingPool, WaitingSentinelPool

POOL_WAIT_SECONDS = 10
CANCEL_AGAIN_SECONDS = 0.1
CLUSTER_SCHEME = "redis+cluster"
SENTINEL_SCHEME = "redis+sentinel"

RedisClient = Redis | RedisCluster


def _nodes(netloc: str) -> list[tuple[str, int]]:
    """`host:port[,host:port...]` (after any credentials) as (host, port) pairs."""
    hosts = netloc.rpartition("@")[2]
    return [
        (host.strip("[]"), int(port or 6379))
        for host, _, port in (node.rpartition(":") for node in hosts.split(","))
    ]


def _credentials(netloc: str) -> dict[str, str | None]:
    userinfo = netloc.rpartition("@")[0]
    username, _, password = userinfo.partition(":")
    return {"username": unquote(username) or None, "password": unquote(password) or None}


def open_redis(redis_url: str, *, max_connections: int = 50) -> RedisClient:
    """A client on a bounded pool; it connects lazily, on first use. A burst of more commands
    than connections waits for one to come free (up to POOL_WAIT_SECONDS), not fails.

    A command that meets a dropped connection (Redis restarted, a failover) is retried on a new
    one a few times before it fails: our scripts are safe to repeat, each keyed by its caller.

    Besides redis-py's own URLs (`redis://`, `rediss://`, `unix://`):
    `redis+cluster://[user:password@]host:port[,host:port...]/`: a Redis Cluster, found from
    those nodes; `redis+sentinel://[user:password@]host:port[,host:port...]/service[/db]`: the
    master of a Sentinel service, which redis-py asks the Sentinels for on each new connection
    (the credentials are the master's; Sentinels that require a password are not supported).
    """
    options: dict[str, Any] = {
        "decode_responses": True,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.02), retries=3),
        "retry_on_error": [ConnectionError, TimeoutError],
        "health_check_interval": 30,
    }
    parts = urlsplit(redis_url)
    if parts.scheme == CLUSTER_SCHEME:
        return WaitingCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in _nodes(parts.netloc)],
            max_connections=max_connections,
            **_credentials(parts.netloc),
            **options,
        )
    if parts.scheme == SENTINEL_SCHEME:
        service, _, db = parts.path.strip("/").partition("/")
        sentinel = Sentinel(_nodes(parts.netloc))
        master: SentinelMaster = sentinel.master_for(
            service,
            redis_class=SentinelMaster,
            connection_pool_class=WaitingSentinelPool,
            db=int(db or 0),
            max_connections=max_connections,
            timeout=POOL_WAIT_SECONDS,
            **_credentials(parts.netloc),
            **options,
        )
        return master
    pool = WaitingPool.from_url(
        redis_url, max_connections=max_connections, timeout=POOL_WAIT_SECONDS, **options
    )
    return Redis.from_pool(pool)  # the client owns the pool: closing it closes the connections


async def ping_redis(redis: RedisClient) -> None:
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
