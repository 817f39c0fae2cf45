"""The committed migrations match the models, build every named constraint, and are required;
the schema snapshot a fresh database is given is what they build."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

import asyncpg
from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector
from tortoise.models import Model

from db import models
from db.database import SCHEMA_SNAPSHOT, tortoise_config
from tests.support.backends import Backends, create_database, drop_database


def declared_constraints() -> dict[str, str]:
    """Every named constraint the models declare, with its table."""
    return {
        constraint.name: model._meta.db_table
        for model in vars(models).values()
        if isinstance(model, type) and issubclass(model, Model) and model is not Model
        for constraint in getattr(model._meta, "constraints", ())
    }


NAMED_CONSTRAINTS = declared_constraints()

# In its own process: in this one open_backends would re-initialise the app fixture's Tortoise
# context (current in every test) against the fresh database, then close it.
OPEN_BACKENDS = """
import asyncio, sys
from domain.runtime import UnmigratedDatabase, close_backends, open_backends

async def main():
    try:
        backends = await open_backends(*sys.argv[1:4])
    except UnmigratedDatabase as error:
        print(error)
        sys.exit(3)
    await close_backends(backends)

asyncio.run(main())
"""


async def test_models_match_the_committed_migrations():
    config = tortoise_config("asyncpg://unused/unused")
    async with TortoiseContext() as context:
        await context.init(config=config, init_connections=False)
        changes = await MigrationAutodetector(context.apps, config["apps"]).changes()
    operations = [operation.describe() for writer in changes for operation in writer.operations]
    assert not operations, (
        f"models changed without a migration (python -m db.migration_tools NAME): {operations}"
    )


async def test_named_constraints_exist_in_postgresql(database_url):
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT conname, conrelid::regclass::text AS tablename FROM pg_constraint"
            " WHERE conname = ANY($1::text[])",
            list(NAMED_CONSTRAINTS),
        )
    finally:
        await connection.close()
    assert {row["conname"]: row["tablename"] for row in rows} == NAMED_CONSTRAINTS


async def test_a_fresh_database_is_reported_unmigrated(backend_servers: Backends, redis_prefix):
    name = f"pointsmall_fresh_{uuid.uuid4().hex[:10]}"
    url = await create_database(backend_servers.postgres_server_url, name)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", OPEN_BACKENDS, url, backend_servers.redis_url, redis_prefix,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        await drop_database(backend_servers.postgres_server_url, name)
    assert process.returncode == 3, stderr.decode()
    assert "pointsmall migrate" in stdout.decode()


async def test_a_fresh_database_is_given_what_every_migration_replayed_builds(
    backend_servers: Backends,
):
    """db/schema.sql, which a database with no migration applied is given, holds the schema
    that replaying db/migrations from nothing builds, seeds the same rows and records every
    migration as applied; when a migration is added, `python -m db.migration_tools` rewrites it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.snapshot_check", backend_servers.postgres_server_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=240)
    assert process.returncode == 0, stderr.decode()
    compared = json.loads(stdout)
    replay, from_replay, from_file = (
        compared["replay"],
        compared["from_replay"],
        compared["from_file"],
    )
    assert "CREATE TABLE public.ledger_entry" in SCHEMA_SNAPSHOT.read_text()
    assert from_file["schema"] == from_replay["schema"], (
        "stale db/schema.sql: python -m db.migration_tools --snapshot"
    )
    assert from_file["rows"] == from_replay["rows"] == replay["rows"]
    # Made in the migrations' order: an insert two unique indexes refuse reports the first made.
    assert from_file["indexes"] == replay["indexes"]
    applied = [f"models.{name}" for _, name in replay["rows"]["tortoise_migrations"]]
    assert from_file["returned"] == applied
