"""A run's own backends: a migrated database and a Redis key prefix on the machine's
PostgreSQL and Redis (DATABASE_URL, REDIS_URL), both removed at the end."""

from __future__ import annotations

import contextlib
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from redis.asyncio import Redis

from db.database import apply_migrations, close_database, open_database

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def server_database_url() -> str:
    """The PostgreSQL server's maintenance database, where each run's database is made."""
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


@dataclass(frozen=True)
class Backends:
    database_url: str  # this run's own database, migrated
    redis_url: str
    redis_prefix: str  # this run's own key prefix

    def service_env(self, *, scheduler: bool = True) -> dict[str, str]:
        """The environment the service's uvicorn workers read their settings from; without
        the `scheduler`, no periodic job (expiry, ...) runs in the middle of a measure."""
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "POINTSMALL_REDIS_PREFIX": self.redis_prefix,
            "POINTSMALL_ENV": "production",
            "POINTSMALL_JWT_SECRET": secrets.token_urlsafe(48),
            "POINTSMALL_ACCESS_LOG": "false",  # as uvicorn's is off in servers.serve
            "POINTSMALL_SCHEDULER": str(scheduler).lower(),
        }


def _database_named(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def own_backends() -> AsyncIterator[Backends]:
    """A migrated database and a Redis prefix of this run's own, both removed at the end."""
    run_id = uuid.uuid4().hex[:10]
    server_url = server_database_url()
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    name, prefix = f"pointsmall_bench_{run_id}", f"pmbench-{run_id}"
    redis = Redis.from_url(redis_url)
    try:
        await redis.ping()  # before anything is created, so a missing Redis leaves nothing
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
            try:
                database_url = _database_named(server_url, name)
                await apply_migrations(database_url)
                yield Backends(database_url, redis_url, prefix)
            finally:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
            await _delete_keys(redis, prefix)
    finally:
        await redis.aclose()


async def _delete_keys(redis: Redis, prefix: str) -> None:
    """SCAN and DEL the prefix's keys (never FLUSHALL: the Redis may be shared)."""
    batch = []
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) == 1000:
            await redis.delete(*batch)
            batch.clear()
    if batch:
        await redis.delete(*batch)


@contextlib.asynccontextmanager
async def database(database_url: str) -> AsyncIterator[None]:
    """The ORM opened in this process, to seed data with the domain functions."""
    await open_database(database_url, pool_max=2)
    try:
        yield
    finally:
        await close_database()
