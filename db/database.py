"""Opening, migrating and checking the PostgreSQL database through Tortoise."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.connection import get_connection
from tortoise.migrations.api import migrate as tortoise_migrate

from db.tortoise_internals import init_with_global_fallback, migrations_to_apply

APP_LABEL = "models"
# The key of the PostgreSQL advisory lock `apply_migrations` holds (any constant nothing else
# takes; advisory locks are per database).
MIGRATION_LOCK_KEY = 0x706F696E74736D6C  # "pointsml"
# The schema that every migration replayed from nothing builds, with the migrations recorded as
# applied (written by `python -m db.migration_tools`; tests/foundation/test_migrations.py
# compares it with a replay).
SCHEMA_SNAPSHOT = Path(__file__).with_name("schema.sql")
# Tortoise's record of the applied migrations (tortoise.migrations.recorder).
MIGRATIONS_TABLE = "tortoise_migrations"
# What a database URL may tell Tortoise's pool, and asyncpg.connect does not take.
TORTOISE_OPTIONS = ("minsize", "maxsize", "schema", "application_name", "fetch_inserted")


def tortoise_url(database_url: str) -> str:
    """Tortoise spells PostgreSQL as `asyncpg://`; accept the usual `postgres(ql)://` too."""
    parts = urlsplit(database_url)
    if parts.scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        parts = parts._replace(scheme="asyncpg")
    return urlunsplit(parts)


def with_pool(database_url: str, minsize: int, maxsize: int) -> str:
    """The URL with asyncpg pool bounds set, unless the URL sets them itself."""
    parts = urlsplit(database_url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("minsize", str(minsize))
    query.setdefault("maxsize", str(maxsize))
    return urlunsplit(parts._replace(query=urlencode(query)))


async def keep_session(connection: asyncpg.Connection) -> None:
    """Hand a connection back to the pool as it is.

    asyncpg's default reset costs a round trip (UNLISTEN, RESET ALL, …) every time Tortoise
    returns a connection, that is after every query outside a transaction. We set no session
    state, LISTEN or advisory locks; open transactions are still rolled back by the pool.
    """


def tortoise_config(database_url: str, *, pool_max: int = 10) -> dict[str, Any]:
    """The Tortoise configuration for one PostgreSQL database and our models and migrations."""
    connection = expand_db_url(with_pool(tortoise_url(database_url), minsize=1, maxsize=pool_max))
    connection["credentials"]["reset"] = keep_session
    # Every query here is a short OLTP read or write. Left to itself, PostgreSQL may give a
    # prepared statement a generic plan with parallel workers (a member with a million lots
    # made the balance read start two worker processes each time: 7 ms instead of 0.15 ms).
    connection["credentials"]["server_settings"] = {"max_parallel_workers_per_gather": "0"}
    return {
        "connections": {"default": connection},
        "apps": {
            APP_LABEL: {
                "models": ["db.models"],
                "default_connection": "default",
                "migrations": "db.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def open_database(database_url: str, *, pool_max: int = 10) -> None:
    """Open the connection pool; models are usable from every task once this returns."""
    # The lifespan runs in its own task; requests run in others, so the context is global.
    await init_with_global_fallback(tortoise_config(database_url, pool_max=pool_max))


async def close_database() -> None:
    await Tortoise.close_connections()


def session_arguments(database_url: str) -> dict[str, Any]:
    """asyncpg.connect's arguments for one session of the database, as Tortoise's pool opens
    them (the URL's pool and Tortoise options left out)."""
    credentials = dict(expand_db_url(tortoise_url(database_url))["credentials"])
    for tortoise_option in TORTOISE_OPTIONS:
        credentials.pop(tortoise_option, None)
    return credentials


async def apply_migrations(
    database_url: str, on_wait: Callable[[], object] | None = None, *, replay: bool = False
) -> list[str]:
    """Apply every migration not yet applied (Tortoise's own migration executor); returns the
    names of those it applied.

    A database with none applied is given `db/schema.sql` first, in one transaction: Tortoise
    rebuilds its models' state for every operation it replays, about 15 s of CPU from nothing,
    where the snapshot takes a fraction of a second. Tortoise then applies whatever the snapshot
    does not hold yet. `replay` replays every migration instead (how the snapshot is made).

    Under a PostgreSQL advisory lock: two hosts rolling out at once migrate one after the other,
    and the second finds nothing left to do. `on_wait` is called when another holds the lock.
    """
    lock = await asyncpg.connect(**session_arguments(database_url))
    applied: list[str] = []

    def record(connection_name: str, plan: list[Any], fake: bool, dry_run: bool) -> None:
        applied.extend(
            f"{step.migration.app_label}.{step.migration.name}"
            for step in plan
            if not step.backward
        )

    try:
        if not await lock.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY):
            if on_wait is not None:
                on_wait()
            await lock.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        if not replay and not await _any_migration_applied(lock):
            applied.extend(await _load_snapshot(lock))
        try:
            await tortoise_migrate(
                config=tortoise_config(database_url, pool_max=2), reporter=record
            )
        finally:
            await Tortoise.close_connections()
    finally:
        await lock.close()  # the session's end releases the lock
    return applied


async def _any_migration_applied(connection: asyncpg.Connection) -> bool:
    if await connection.fetchval("SELECT to_regclass($1)", MIGRATIONS_TABLE) is None:
        return False
    return bool(await connection.fetchval(f"SELECT EXISTS (SELECT FROM {MIGRATIONS_TABLE})"))


async def _load_snapshot(connection: asyncpg.Connection) -> list[str]:
    """Build the schema from the snapshot; the names of the migrations it records."""
    async with connection.transaction():
        # Tortoise creates its (empty) record before it applies the first migration.
        await connection.execute(f"DROP TABLE IF EXISTS {MIGRATIONS_TABLE}")
        await connection.execute(SCHEMA_SNAPSHOT.read_text())
        names = await connection.fetch(
            f"SELECT app || '.' || name FROM public.{MIGRATIONS_TABLE} ORDER BY id"
        )
    return [name for (name,) in names]


async def pending_migrations() -> list[str]:
    """Names of the migrations the open database has not applied yet."""
    config = tortoise_config("asyncpg://unused/unused")
    return await migrations_to_apply(get_connection("default"), config["apps"])


async def ping_database() -> None:
    """Raise unless PostgreSQL answers."""
    await get_connection("default").execute_query("SELECT 1")
