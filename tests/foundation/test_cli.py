"""The `pointsmall` console script as a user runs it: help, token, migrate, seed-demo, serve."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import create_database, drop_database, free_port

POINTSMALL = Path(sys.executable).parent / "pointsmall"
COMMANDS = {
    "serve",
    "migrate",
    "seed-demo",
    "token",
    "export-schema",
    "expire",
    "audit",
    "birthdays",
    "reconcile",
    "settlement",
    "brand-secret",
    "evaluate-tiers",
}
BACKEND_VARIABLES = ("DATABASE_URL", "REDIS_URL", "POINTSMALL_DATABASE_URL", "POINTSMALL_REDIS_URL")

BRAND_CODE_QUERY = "{ brand { code } }"
DEMO_QUERY = "{ brand { code name stores { code } } tiers { code } }"
SCHEMA_SNAPSHOT = """
SELECT
  (SELECT array_agg(tablename::text ORDER BY tablename) FROM pg_tables
   WHERE schemaname = 'public'),
  (SELECT array_agg(conname::text ORDER BY conname) FROM pg_constraint
   WHERE connamespace = 'public'::regnamespace),
  (SELECT array_agg(indexname::text ORDER BY indexname) FROM pg_indexes
   WHERE schemaname = 'public')
"""


def pointsmall(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the console script with a clean environment: no backends, no POINTSMALL_* settings."""
    base = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("POINTSMALL_") and name not in BACKEND_VARIABLES
    }
    return subprocess.run(
        [str(POINTSMALL), *args],
        env={**base, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_help_lists_every_command_with_its_help():
    result = pointsmall("--help")
    assert result.returncode == 0, result.stderr
    listed = dict(
        re.findall(r"^  (\S+)\s+(\S.*)$", result.stdout.split("Commands:", 1)[1], re.MULTILINE)
    )
    assert set(listed) == COMMANDS, result.stdout
    for command, text in listed.items():
        assert len(text) > 10, (command, text)


async def test_token_mints_a_token_the_server_accepts(gql, brand, settings, tmp_path):
    result = pointsmall(
        "token",
        "--role",
        "STAFF",
        "--brand",
        brand.code,
        "--sub",
        "s1",
        env={"POINTSMALL_JWT_SECRET": settings.jwt_secret},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", token), result.stdout
    body = await gql(BRAND_CODE_QUERY, token=token)
    assert body == {"data": {"brand": {"code": brand.code}}}


async def test_a_token_with_another_secret_is_refused(gql, brand, tmp_path):
    result = pointsmall(
        "token", "--brand", brand.code, env={"POINTSMALL_JWT_SECRET": "x" * 48}, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    body = await gql(BRAND_CODE_QUERY, token=result.stdout.strip(), expect_status=401)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_migrate_builds_a_fresh_database_and_is_idempotent(backend_servers):
    name = f"pointsmall_cli_{uuid.uuid4().hex[:10]}"
    url = await create_database(backend_servers.postgres_server_url, name)
    try:
        snapshots = []
        for _ in range(2):
            result = pointsmall("migrate", env={"DATABASE_URL": url})
            assert result.returncode == 0, result.stderr
            assert "Migrations applied." in result.stdout
            connection = await asyncpg.connect(url)
            try:
                snapshots.append(tuple(await connection.fetchrow(SCHEMA_SNAPSHOT)))
            finally:
                await connection.close()
        tables = snapshots[0][0]
        assert {"brand", "store", "tier", "idempotency_record"} <= set(tables)
        assert snapshots[0] == snapshots[1]
    finally:
        await drop_database(backend_servers.postgres_server_url, name)


def test_migrate_without_a_database_says_what_to_set(tmp_path):
    result = pointsmall("migrate", cwd=tmp_path)
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


async def test_seed_demo_twice_leaves_one_demo_brand(gql, settings, tmp_path):
    env = {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "POINTSMALL_REDIS_PREFIX": settings.redis_prefix,
    }
    for _ in range(2):
        result = pointsmall("seed-demo", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "'demo'" in result.stdout
        # As the clean-up job would after 30 days: the next seed must not rely on the keys.
        connection = await asyncpg.connect(settings.database_url)
        try:
            await connection.execute(
                "DELETE FROM idempotency_record WHERE brand_id = "
                "(SELECT id FROM brand WHERE code = 'demo')"
            )
        finally:
            await connection.close()
    body = await gql(DEMO_QUERY, brand="demo")
    assert "errors" not in body, body
    assert body["data"]["brand"]["name"] == "Demo Coffee"
    stores = [store["code"] for store in body["data"]["brand"]["stores"]]
    tiers = [tier["code"] for tier in body["data"]["tiers"]]
    assert sorted(stores) == ["BJ-001", "ONLINE", "SH-001"]
    assert sorted(tiers) == ["BASE", "GOLD", "PLATINUM", "SILVER"]
    connection = await asyncpg.connect(settings.database_url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM brand WHERE code = 'demo'") == 1
        members = await connection.fetch(
            "SELECT b.available FROM member m JOIN balance b ON b.member_id = m.id "
            "JOIN brand ON brand.id = m.brand_id WHERE brand.code = 'demo' ORDER BY m.id"
        )
        assert [row["available"] for row in members] == [89, 136, 5200]  # seeded once
    finally:
        await connection.close()


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({}, ["DATABASE_URL", "REDIS_URL", "POINTSMALL_JWT_SECRET"]),
        (
            {"DATABASE_URL": "postgresql://db/x", "REDIS_URL": "redis://r"},
            ["POINTSMALL_JWT_SECRET"],
        ),
        ({"POINTSMALL_JWT_SECRET": "s" * 48}, ["DATABASE_URL", "REDIS_URL"]),
    ],
)
def test_production_refuses_to_serve_without_its_settings(tmp_path, given, missing):
    data_dir = tmp_path / "data"
    port = free_port()
    result = pointsmall(
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        env={"POINTSMALL_ENV": "production", **given},
        cwd=tmp_path,
        timeout=30,
    )
    assert result.returncode != 0
    for name in missing:
        assert name in result.stderr, result.stderr
    for name in {"DATABASE_URL", "REDIS_URL", "POINTSMALL_JWT_SECRET"} - set(missing):
        assert name not in result.stderr, result.stderr
    assert "Uvicorn running" not in result.stdout + result.stderr
    assert not data_dir.exists()
    assert list(tmp_path.iterdir()) == []


async def test_serve_refuses_an_unmigrated_database(backend_servers, settings, tmp_path):
    name = f"pointsmall_unmigrated_{uuid.uuid4().hex[:8]}"
    url = await create_database(backend_servers.postgres_server_url, name)
    try:
        result = pointsmall(
            "serve",
            "--port",
            str(free_port()),
            "--data-dir",
            str(tmp_path),
            env={
                "DATABASE_URL": url,
                "REDIS_URL": settings.redis_url,
                "POINTSMALL_JWT_SECRET": settings.jwt_secret,
            },
        )
        assert result.returncode != 0
        assert "pointsmall migrate" in result.stderr
        assert "Uvicorn running" not in result.stderr + result.stdout
    finally:
        await drop_database(backend_servers.postgres_server_url, name)


def test_brand_secret_prints_the_key_tokens_of_that_brand_are_signed_with():
    from server.auth import brand_signing_secret

    result = pointsmall("brand-secret", "--brand", "shop", env={"POINTSMALL_JWT_SECRET": "d" * 40})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == brand_signing_secret("d" * 40, "shop")
    assert brand_signing_secret("d" * 40, "shop") != brand_signing_secret("d" * 40, "shop2")
