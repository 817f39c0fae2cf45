"""The `pointsmall` console script as a user runs it: help, token, migrate, seed-demo, serve,
the jobs; on the servers of the environment, or on the embedded backends of a data dir."""

from __future__ import annotations

import re
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import psutil
import pytest

from resolvers.ids import encode_id
from tests.support.backends import create_database, drop_database
from tests.support.commands import pointsmall
from tests.support.live import free_port

COMMANDS = {
    "serve",
    "migrate",
    "seed-demo",
    "token",
    "export-schema",
    "expire",
    "release-pending",
    "audit",
    "birthdays",
    "reconcile",
    "settlement",
    "report",
    "brand-secret",
    "brand",
    "import",
    "export",
    "evaluate-tiers",
    "deliver-webhooks",
    "deliver-notices",
    "remind-expiring",
    "cancel-unpaid",
    "purge-idempotency",
}
BACKENDS = ("DATABASE_URL", "REDIS_URL", "POINTSMALL_DATA_DIR", "POINTSMALL_REDIS_PREFIX")
DATABASE = ("DATABASE_URL", "POINTSMALL_DATA_DIR")
# What each command's --help must name: the environment variables the command reads.
READS = {
    "serve": (*BACKENDS, "POINTSMALL_ENV", "POINTSMALL_JWT_SECRET"),
    "migrate": DATABASE,
    "seed-demo": BACKENDS,
    "token": (*DATABASE, "POINTSMALL_JWT_SECRET", "POINTSMALL_JWT_ISSUER"),
    "brand-secret": (*DATABASE, "POINTSMALL_JWT_SECRET"),
    "brand": (*DATABASE, "POINTSMALL_JWT_SECRET", "POINTSMALL_JWT_ISSUER"),
    "export-schema": (),
    "import": DATABASE,
    "export": DATABASE,
    "expire": BACKENDS,
    "release-pending": BACKENDS,
    "evaluate-tiers": BACKENDS,
    "birthdays": BACKENDS,
    "cancel-unpaid": BACKENDS,
    "deliver-webhooks": (*BACKENDS, "POINTSMALL_WEBHOOKS_ALLOW_PRIVATE"),
    "deliver-notices": (*BACKENDS, "POINTSMALL_WEBHOOKS_ALLOW_PRIVATE"),
    "remind-expiring": BACKENDS,
    "purge-idempotency": (*BACKENDS, "POINTSMALL_IDEMPOTENCY_RETENTION_DAYS"),
    "reconcile": BACKENDS,
    "settlement": DATABASE,
    "report": BACKENDS,
    "audit": DATABASE,
}
NO_SUCH_MEMBER = encode_id("Member", 2**31 - 1)

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


def test_help_lists_every_command_with_its_help():
    result = pointsmall("--help")
    assert result.returncode == 0, result.stderr
    listed = dict(
        re.findall(r"^  (\S+)\s+(\S.*)$", result.stdout.split("Commands:", 1)[1], re.MULTILINE)
    )
    assert set(listed) == COMMANDS, result.stdout
    for command, text in listed.items():
        assert len(text) > 10, (command, text)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_commands_help_names_the_environment_variables_it_reads(command):
    result = pointsmall(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Environment:" in result.stdout, result.stdout
    for name in READS[command]:
        assert name in result.stdout, (command, name)


def backends_of(settings) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "POINTSMALL_REDIS_PREFIX": settings.redis_prefix,
        "POINTSMALL_JWT_SECRET": settings.jwt_secret,
    }


async def test_token_mints_a_token_the_server_accepts(gql, brand, settings, tmp_path):
    result = pointsmall(
        "token",
        "--role",
        "STAFF",
        "--brand",
        brand.code,
        "--sub",
        "s1",
        env=backends_of(settings),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "Signed with POINTSMALL_JWT_SECRET.\n"
    token = result.stdout.strip()
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", token), result.stdout
    body = await gql(BRAND_CODE_QUERY, token=token)
    assert body == {"data": {"brand": {"code": brand.code}}}


async def test_a_token_with_another_secret_is_refused(gql, brand, settings, tmp_path):
    env = {**backends_of(settings), "POINTSMALL_JWT_SECRET": "x" * 48}
    result = pointsmall("token", "--brand", brand.code, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    body = await gql(BRAND_CODE_QUERY, token=result.stdout.strip(), expect_status=401)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_migrate_builds_a_fresh_database_and_is_idempotent(backend_servers):
    name = f"pointsmall_cli_{uuid.uuid4().hex[:10]}"
    url = await create_database(backend_servers.postgres_server_url, name)
    try:
        snapshots = []
        for said in ("Applied ", "No migrations to apply"):
            result = pointsmall("migrate", env={"DATABASE_URL": url})
            assert result.returncode == 0, result.stderr
            assert result.stdout.startswith(said), result.stdout
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


def test_token_without_a_secret_says_where_it_looked_and_makes_none(settings, tmp_path):
    env = {"DATABASE_URL": settings.database_url}
    result = pointsmall("token", "--brand", "demo", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "No development secret in .pointsmall/jwt-secret" in result.stderr
    assert "POINTSMALL_JWT_SECRET" in result.stderr
    assert list(tmp_path.iterdir()) == []


async def test_token_reads_the_secret_of_the_data_dir_it_is_given(gql, brand, settings, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "jwt-secret").write_text(settings.jwt_secret)
    env = {"DATABASE_URL": settings.database_url}
    result = pointsmall("token", "--brand", brand.code, "--data-dir", str(data_dir), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"Signed with the secret in {data_dir / 'jwt-secret'}.\n"
    body = await gql(BRAND_CODE_QUERY, token=result.stdout.strip())
    assert body == {"data": {"brand": {"code": brand.code}}}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("token", "--brand", "no-such-brand"), "No brand 'no-such-brand'."),
        (("token", "--role", "MEMBER", "--sub", NO_SUCH_MEMBER), f"No member {NO_SUCH_MEMBER!r}"),
        (("token", "--role", "MEMBER", "--sub", "42"), "'42' is not a member's global id"),
        (("brand-secret", "--brand", "no-such-brand"), "No brand 'no-such-brand'."),
        (("expire", "--brand", "no-such-brand"), "No brand 'no-such-brand'."),
        (("evaluate-tiers", "--brand", "no-such-brand"), "No brand 'no-such-brand'."),
        (("birthdays", "--brand", "no-such-brand"), "No brand 'no-such-brand'."),
        (
            ("settlement", "--brand", "no-such-brand", "--partner", "p", "--month", "2026-01"),
            "No brand 'no-such-brand'.",
        ),
        (("settlement", "--partner", "no-such-partner", "--month", "2026-01"), "No such partner"),
        (("report", "liability", "--brand", "no-such-brand"), "No brand 'no-such-brand'."),
        (("audit", "--member", NO_SUCH_MEMBER), f"No member {NO_SUCH_MEMBER!r}."),
    ],
    ids=lambda value: value[0] if isinstance(value, tuple) else None,
)
def test_an_unknown_brand_partner_or_member_is_exit_code_2(
    brand, settings, tmp_path, args, message
):
    if args[0] in ("token", "settlement") and "--brand" not in args:
        args = (*args, "--brand", brand.code)
    result = pointsmall(*args, env=backends_of(settings), cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr


async def test_audit_names_a_member_by_global_id(member_with_points, settings, tmp_path):
    member, _ = await member_with_points(100)
    result = pointsmall("audit", "--member", member["id"], env=backends_of(settings), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "The ledger is consistent.\n"


async def test_the_serve_jobs_have_commands(brand, settings, tmp_path):
    """deliver-webhooks, cancel-unpaid and purge-idempotency, as `serve` runs them."""
    connection = await asyncpg.connect(settings.database_url)
    try:
        await connection.execute(
            "INSERT INTO idempotency_record (brand_id, principal, operation, key, request_hash,"
            " outcome, created_at) VALUES ($1, 'cli-test', 'op', 'old', 'h', '{}', "
            "now() - interval '400 days')",
            brand.id,
        )
    finally:
        await connection.close()
    outputs = {}
    for command in ("deliver-webhooks", "cancel-unpaid", "purge-idempotency"):
        result = pointsmall(command, env=backends_of(settings), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        outputs[command] = result.stdout
    assert re.fullmatch(r"Delivered \d+ webhooks\.\n", outputs["deliver-webhooks"])
    assert re.fullmatch(r"Cancelled \d+ unpaid redemptions\.\n", outputs["cancel-unpaid"])
    purged = re.fullmatch(r"Forgot (\d+) idempotency records\.\n", outputs["purge-idempotency"])
    assert purged and int(purged.group(1)) >= 1, outputs


def test_a_job_with_no_serve_running_starts_and_stops_the_embedded_backends(tmp_path):
    """seed-demo on a fresh data dir: it starts PostgreSQL and Redis, migrates, seeds, and stops
    them; the next job finds the data."""
    data_dir = Path(f"/tmp/pms-cli-{uuid.uuid4().hex[:8]}")  # Unix sockets need short paths
    try:
        seeded = pointsmall("seed-demo", "--data-dir", str(data_dir), cwd=tmp_path, timeout=120)
        assert seeded.returncode == 0, seeded.stderr
        assert "Demo brand 'demo' is ready" in seeded.stdout
        assert running_from(data_dir) == []
        expired = pointsmall("expire", "--brand", "demo", "--data-dir", str(data_dir), cwd=tmp_path)
        assert expired.returncode == 0, expired.stderr
        assert running_from(data_dir) == []
        assert list(tmp_path.iterdir()) == []
    finally:
        for process in running_from(data_dir):
            process.kill()
        subprocess.run(["rm", "-rf", str(data_dir)], check=False)


def running_from(data_dir: Path) -> list[psutil.Process]:
    return [
        process
        for process in psutil.process_iter(["cmdline"])
        if str(data_dir) in " ".join(process.info["cmdline"] or ())
    ]


async def test_seed_demo_twice_leaves_one_demo_brand(gql, settings, tmp_path):
    env = backends_of(settings)
    for _ in range(2):
        second_started_at = datetime.now(UTC)
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
        demo = "(SELECT id FROM brand WHERE code = 'demo')"
        assert (
            await connection.fetchval(f"SELECT count(*) FROM catalog_item WHERE brand_id = {demo}")
            == 5
        )
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM api_key k JOIN partner p ON p.id = k.partner_id "
                f"WHERE p.brand_id = {demo} AND k.revoked_at IS NULL"
            )
            == 1
        )
        # The sale planned by the first seed is kept while it is not open, else planned anew.
        assert (
            await connection.fetchval(
                f"SELECT count(*) FROM flash_sale WHERE brand_id = {demo} AND starts_at > $1",
                second_started_at,
            )
            == 1
        )
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


def test_brand_secret_prints_the_key_tokens_of_that_brand_are_signed_with(
    brand, settings, tmp_path
):
    from server.auth import brand_signing_secret

    env = {**backends_of(settings), "POINTSMALL_JWT_SECRET": "d" * 40}
    result = pointsmall("brand-secret", "--brand", brand.code, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == brand_signing_secret("d" * 40, brand.code)
    assert brand_signing_secret("d" * 40, "shop") != brand_signing_secret("d" * 40, "shop2")
