"""Every use of redis-py's internals, in one place, for the versions below.

Our pools and clients wait for a connection in a burst instead of failing, and take a free one
without the blocking pool's lock and timer; each overrides a step redis-py does not document.
`server/dependencies.py` refuses to start on a redis-py outside WRITTEN_FOR.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.sentinel import SentinelConnectionPool

WRITTEN_FOR = "redis>=8.0,<8.3"


class WaitingPool(BlockingConnectionPool):
    """redis-py's BlockingConnectionPool, taking a free connection at once.

    The blocking pool arms a timer and takes its condition's lock for every command, even when
    a connection is free: a fifth of the cost of a short command (a flash-sale entry's script).
    Here only a command that finds every connection busy (or the pool in a failover's
    maintenance) goes that way, to wait its turn.
    """

    # redis-py leaves get_connection and get_available_connection unannotated (hence the
    # ignores below); they return the pool's connections.
    async def get_connection(
        self, command_name: str | None = None, *keys: Any, **options: Any
    ) -> AbstractConnection:
        if self._in_maintenance or self._condition.locked() or not self.can_get_connection():
            waited: AbstractConnection = await super().get_connection()  # type: ignore[no-untyped-call]
            return waited
        # No await since the check: a connection is still free.
        connection: AbstractConnection = self.get_available_connection()  # type: ignore[no-untyped-call]
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection


class WaitingCluster(RedisCluster):
    """redis-py's RedisCluster, where a burst waits for a connection instead of failing.

    RedisCluster raises MaxConnectionsError once a node has max_connections busy. Here at
    most that many commands or pipelines are in flight at once, the rest wait their turn; each
    holds at most one connection per node, so no node runs out.
    """

    def __init__(self, *, max_connections: int, **kwargs: Any) -> None:
        # One more per node: the event bus's pub/sub connection borrows one from its node.
        super().__init__(max_connections=max_connections + 1, **kwargs)
        self.turns = asyncio.Semaphore(max_connections)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.turns:
            return await super().execute_command(*args, **kwargs)

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # which refuses it
        # redis-py's typing protocol declares `_event_dispatcher` without a value, which mypy
        # reads as abstract; redis-py's own pipeline() makes its ClusterPipeline the same way.
        return _WaitingPipeline(self, transaction)  # type: ignore[abstract]


class _WaitingPipeline(ClusterPipeline):
    cluster_client: WaitingCluster

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        async with self.cluster_client.turns:
            return await super().execute(raise_on_error, allow_redirections)


class WaitingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """redis-py's Sentinel pool, following the service's master, on its blocking pool: a burst
    waits for a connection instead of failing."""


class SentinelMaster(Redis):
    """A Sentinel service's master (redis-py's Sentinel.master_for); closing it closes the
    connections to the Sentinels too."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        pool = self.connection_pool
        assert isinstance(pool, SentinelConnectionPool)  # master_for made it with one
        try:
            await super().aclose(close_connection_pool)
        finally:
            await pool.sentinel_manager.aclose()
