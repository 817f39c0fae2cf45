"""A brand set up from nothing, as an operator and the brand's admin do it: an empty database
migrated by `pointsmall migrate`, the brand made by `pointsmall brand create`, everything else
over GraphQL with the token it printed, a member earning in the brand's new store. No SQL."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import jwt
import pytest
from redis.asyncio import Redis

from db.models import Brand
from server.auth import brand_signing_secret
from tests.support.backends import create_database, drop_database
from tests.support.commands import pointsmall
from tests.support.factories import key, unique_code
from tests.support.live import api, start_live_server, stop_live_server

TOKEN = re.compile(r"[\w-]+\.[\w-]+\.[\w-]+")

SETTINGS = """
{ brand { code name settings { name timezone currency pointValue expiryPolicy expiryMonths
  clearingMonth clearingDay graceDays earnCapPerPurchase } stores { code } tiers { code } } }
"""
UPDATE_SETTINGS = """
mutation ($input: UpdateBrandSettingsInput!) {
  updateBrandSettings(input: $input) {
    settings { name timezone currency pointValue expiryPolicy clearingMonth clearingDay }
    userErrors { field message code }
  }
}
"""
CREATE_STORE = """
mutation ($input: CreateStoreInput!) {
  createStore(input: $input) { store { id code name archivedAt } userErrors { field code } }
}
"""
REGISTER = """
mutation ($input: RegisterMemberInput!) {
  registerMember(input: $input) { member { id } userErrors { field message code } }
}
"""
PURCHASE = """
mutation ($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    entry { kind points expiresAt store { code name } }
    userErrors { field message code }
  }
}
"""
ME = "{ me { displayName tier { code } points { available } } }"


@pytest.fixture
async def empty_database(backend_servers):
    """A database with nothing in it, not even its tables."""
    name = f"pointsmall_onboard_{uuid.uuid4().hex[:10]}"
    url = await create_database(backend_servers.postgres_server_url, name)
    yield url
    await drop_database(backend_servers.postgres_server_url, name)


@pytest.fixture
async def own_redis_prefix(backend_servers):
    """A prefix of this test's own: its database's ids are those of no other test's."""
    prefix = f"pmonboard-{uuid.uuid4().hex[:10]}"
    yield prefix
    redis = Redis.from_url(backend_servers.redis_url)
    try:
        async for found in redis.scan_iter(match=f"{prefix}:*", count=1000):
            await redis.delete(found)
    finally:
        await redis.aclose()


async def test_a_brand_is_created_and_set_up_from_an_empty_database_without_sql(
    empty_database, own_redis_prefix, settings
):
    env = {"DATABASE_URL": empty_database, "POINTSMALL_JWT_SECRET": settings.jwt_secret,
           "POINTSMALL_JWT_ISSUER": settings.jwt_issuer}  # fmt: skip
    migrated = pointsmall("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr

    created = pointsmall(
        "brand", "create", "lanes-coffee", "--name", "Lane's Coffee",
        "--timezone", "Europe/Paris", "--currency", "eur", env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    admin = created.stdout.strip()
    assert TOKEN.fullmatch(admin), created.stdout
    assert "Created brand 'lanes-coffee'" in created.stderr
    assert "signed with POINTSMALL_JWT_SECRET" in created.stderr

    served = settings.model_copy(
        update={"database_url": empty_database, "redis_prefix": own_redis_prefix}
    )
    server = await asyncio.to_thread(start_live_server, served)
    try:
        async with api(server) as gql:
            body = await gql(SETTINGS, token=admin)
            assert "errors" not in body, body
            assert body["data"]["brand"] == {
                "code": "lanes-coffee",
                "name": "Lane's Coffee",
                "settings": {
                    "name": "Lane's Coffee", "timezone": "Europe/Paris", "currency": "EUR",
                    "pointValue": "0.01", "expiryPolicy": "ROLLING", "expiryMonths": 24,
                    "clearingMonth": 12, "clearingDay": 31, "graceDays": 30,
                    "earnCapPerPurchase": None,
                },
                "stores": [],
                "tiers": [{"code": "BASE"}],
            }  # fmt: skip

            updated = await gql(
                UPDATE_SETTINGS,
                {"input": {"expiryPolicy": "FIXED_DATE", "clearingMonth": 6, "clearingDay": 30,
                           "pointValue": "0.05", "idempotencyKey": key()}},
                token=admin,
            )  # fmt: skip
            assert updated["data"]["updateBrandSettings"] == {
                "settings": {
                    "name": "Lane's Coffee", "timezone": "Europe/Paris", "currency": "EUR",
                    "pointValue": "0.05", "expiryPolicy": "FIXED_DATE", "clearingMonth": 6,
                    "clearingDay": 30,
                },
                "userErrors": [],
            }  # fmt: skip

            store = await gql(
                CREATE_STORE,
                {"input": {"code": "PARIS-1", "name": "Rue Oberkampf", "idempotencyKey": key()}},
                token=admin,
            )
            assert store["data"]["createStore"]["userErrors"] == [], store
            assert store["data"]["createStore"]["store"]["archivedAt"] is None

            registered = await gql(
                REGISTER, {"input": {"displayName": "Camille", "idempotencyKey": key()}},
                token=admin,
            )  # fmt: skip
            assert registered["data"]["registerMember"]["userErrors"] == [], registered
            member_id = registered["data"]["registerMember"]["member"]["id"]

            bought = await gql(
                PURCHASE,
                {"input": {"memberId": member_id, "storeCode": "PARIS-1", "orderRef": "LC-1",
                           "total": "42.00", "idempotencyKey": key()}},
                token=admin,
            )  # fmt: skip
            payload = bought["data"]["recordPurchase"]
            assert payload["userErrors"] == [], payload
            entry = payload["entry"]
            assert (entry["kind"], entry["points"]) == ("EARN", 42)  # 1 point per euro
            assert entry["store"] == {"code": "PARIS-1", "name": "Rue Oberkampf"}
            # Fixed date: points earned this year last through 30 June next year, in Paris.
            paris = ZoneInfo("Europe/Paris")
            expires = datetime.fromisoformat(entry["expiresAt"]).astimezone(paris)
            assert (expires.month, expires.day, expires.hour, expires.minute) == (7, 1, 0, 0)
            assert expires.year == datetime.now(paris).year + 1

            # The member's token, as the brand's identity service would issue it.
            minted = pointsmall(
                "token", "--role", "MEMBER", "--brand", "lanes-coffee", "--sub", member_id,
                env=env,
            )  # fmt: skip
            assert minted.returncode == 0, minted.stderr
            me = await gql(ME, token=minted.stdout.strip())
            assert me == {
                "data": {
                    "me": {
                        "displayName": "Camille",
                        "tier": {"code": "BASE"},
                        "points": {"available": 42},
                    }
                }
            }
    finally:
        await asyncio.to_thread(stop_live_server, server)

    audited = pointsmall("audit", env=env)
    assert audited.returncode == 0, audited.stderr


def cli_env(settings) -> dict[str, str]:
    return {"DATABASE_URL": settings.database_url, "POINTSMALL_JWT_SECRET": settings.jwt_secret}


@pytest.mark.parametrize(
    ("code", "option", "value", "says"),
    [
        ("Bad_Code", None, None, "Invalid value for CODE: 'Bad_Code' is not a brand code"),
        ("-dash", None, None, "is not a brand code"),
        ("x" * 33, None, None, "is not a brand code"),
        (None, "--timezone", "Mars/Olympus_Mons", "'Mars/Olympus_Mons' is not an IANA timezone"),
        (None, "--currency", "RMB", "'RMB' is not an ISO 4217 currency code"),
        (None, "--name", " ", "Invalid value for '--name'"),
    ],
)
async def test_brand_create_refuses_a_bad_value_with_exit_code_2(
    app, settings, code, option, value, says
):
    code = code or unique_code("bad")
    given = {"--name": "Bad", "--timezone": "UTC", "--currency": "USD"}
    if option is not None:
        given[option] = value
    args = [part for pair in given.items() for part in pair]
    result = pointsmall("brand", "create", *args, "--", code, env=cli_env(settings))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert says in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not await Brand.exists(code=code[:32])  # (the column holds 32)


async def test_brand_create_refuses_a_code_taken_with_exit_code_1(settings, brand):
    args = ("--name", "Again", "--timezone", "UTC", "--currency", "USD")
    result = pointsmall("brand", "create", brand.code, *args, env=cli_env(settings))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr == f"Error: A brand with code {brand.code!r} exists.\n"
    assert result.stdout == ""


async def test_brand_create_without_a_secret_creates_nothing(app, settings, tmp_path):
    code = unique_code("nosecret")
    args = ("--name", "N", "--timezone", "UTC", "--currency", "USD", "--data-dir", str(tmp_path))
    result = pointsmall("brand", "create", code, *args, env={"DATABASE_URL": settings.database_url})
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "No development secret" in result.stderr
    assert not await Brand.exists(code=code)


async def test_the_token_brand_create_prints_is_its_admins(settings, gql):
    """Signed with the brand's own derived key (that of no other brand), for its subject."""
    code = unique_code("tok")
    args = ("--name", "Tok", "--timezone", "Asia/Shanghai", "--currency", "CNY", "--sub", "ops-1")
    result = pointsmall("brand", "create", code, *args, env=cli_env(settings))
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    body = await gql("{ brand { code settings { currency timezone } } }", token=token)
    assert body == {"data": {"brand": {"code": code, "settings": {
        "currency": "CNY", "timezone": "Asia/Shanghai"}}}}  # fmt: skip
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["role"], claims["sub"], claims["brand"]) == ("ADMIN", "ops-1", code)
    jwt.decode(token, brand_signing_secret(settings.jwt_secret, code), algorithms=["HS256"],
               issuer=settings.jwt_issuer)  # fmt: skip
    assert 86000 < claims["exp"] - claims["iat"] <= 86400
