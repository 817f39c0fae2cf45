"""Fixtures: real PostgreSQL and Redis (the machine's when DATABASE_URL / REDIS_URL are set,
else embedded ones), a uniquely named database and Redis prefix per run, the app over ASGI,
a live uvicorn server, and factories for brands and tokens."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from db.database import apply_migrations
from db.models import Brand
from domain.brands import create_brand
from server.app import create_app
from server.auth import Authenticator, brand_signing_secret, mint_token
from server.embedded import EmbeddedPostgres, EmbeddedRedis
from server.settings import Settings
from tests.support.backends import Backends, create_database, drop_database
from tests.support.factories import Staff, unique_code
from tests.support.live import LiveServer, start_live_server, stop_live_server
from tests.support.receiver import Receiver, receiving
from tests.support.session import ISSUER, JWT_SECRET, RUN_ID
from tests.support.statements import record_statements


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`pytest` runs on `-n auto`: a worker a core, at most four. Each worker has its own
    database, Redis prefix and servers; more would crowd a shared PostgreSQL's connections."""
    return min(os.cpu_count() or 1, 4)


@pytest.fixture(scope="session")
def backend_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    """The machine's PostgreSQL and Redis when named, else embedded ones for this session."""
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    # Unix sockets need short paths: keep embedded data under a short temporary directory.
    data_dir = Path(f"/tmp/pm-{RUN_ID}")
    postgres_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    try:
        if not postgres_url:
            postgres = EmbeddedPostgres(data_dir)
            started.append(postgres)
            postgres_url = postgres.start()
        if not redis_url:
            redis = EmbeddedRedis(data_dir)
            started.append(redis)
            redis_url = redis.start()
        yield Backends(postgres_url, redis_url)
    finally:
        for backend in reversed(started):
            backend.stop()
        subprocess.run(["rm", "-rf", str(data_dir)], check=False)


@pytest.fixture(scope="session")
async def database_url(backend_servers: Backends) -> AsyncIterator[str]:
    """A migrated database of this run's own, dropped at the end."""
    name = f"pointsmall_test_{RUN_ID}"
    url = await create_database(backend_servers.postgres_server_url, name)
    await apply_migrations(url)
    yield url
    await drop_database(backend_servers.postgres_server_url, name)


@pytest.fixture(scope="session")
async def redis_prefix(backend_servers: Backends) -> AsyncIterator[str]:
    """This run's Redis prefix; its keys are deleted at the end (never FLUSHALL a shared one)."""
    prefix = f"pmtest-{RUN_ID}"
    yield prefix
    redis = Redis.from_url(backend_servers.redis_url)
    try:
        async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
            await redis.delete(key)
    finally:
        await redis.aclose()


@pytest.fixture(scope="session")
def settings(
    database_url: str, redis_prefix: str, backend_servers: Backends, tmp_path_factory
) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=backend_servers.redis_url,
        redis_prefix=redis_prefix,
        jwt_secret=JWT_SECRET,
        jwt_issuer=ISSUER,
        data_dir=tmp_path_factory.mktemp("data"),
        db_pool_max=5,
        redis_pool_max=20,
        scheduler=False,  # tests run jobs themselves, when they choose
    )


@pytest.fixture(scope="session")
async def running_app(settings: Settings) -> AsyncIterator[tuple[object, object]]:
    """The service with its lifespan running: (the Starlette app, the ASGI app to call)."""
    application = create_app(settings, configure_logs=False)
    async with LifespanManager(application) as manager:
        yield application, manager.app


@pytest.fixture(scope="session")
def app(running_app: tuple[object, object]) -> object:
    """The ASGI app to send requests to (the database and Redis open in this process)."""
    return running_app[1]


@pytest.fixture(scope="session")
def runtime(running_app: tuple[object, object]):
    """The app's backends (Redis, bus, clock), as the domain services take them."""
    return running_app[0].state.backends


@pytest.fixture
def endpoint(running_app: tuple[object, object]):
    """The app's GraphQL endpoint: its documents, their plans and its pre-checks."""
    return running_app[0].state.graphql


@pytest.fixture(scope="session")
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://pointsmall.test") as http:
        yield http


@pytest.fixture
async def brand(app: object) -> Brand:
    """A brand of this test's own: tests never see each other's data."""
    return await create_brand(unique_code(), "Test Brand", timezone="Asia/Shanghai")


@pytest.fixture
async def other_brand(app: object) -> Brand:
    """A second brand, for what must never cross from one brand to another."""
    return await create_brand(unique_code(), "Other Brand")


@pytest.fixture
def other_staff(gql, other_brand, make_token) -> Staff:
    """The other brand's admin."""
    return Staff(gql, make_token(other_brand, "ADMIN", "admin-2"))


@pytest.fixture
def make_token() -> Callable[..., str]:
    def make(brand: Brand | str, role: str = "ADMIN", subject: str = "tester", **overrides) -> str:
        code = brand if isinstance(brand, str) else brand.code
        options = {"secret": brand_signing_secret(JWT_SECRET, code), "issuer": ISSUER, **overrides}
        secret = options.pop("secret")
        return mint_token(secret, role=role, brand=code, subject=subject, **options)

    return make


@pytest.fixture
def member_token(brand, make_token) -> Callable[..., str]:
    """The bearer token of a registered member (of `brand` unless told)."""

    def token(member: dict, of_brand: Brand | None = None) -> str:
        return make_token(of_brand or brand, "MEMBER", subject=member["id"])

    return token


@pytest.fixture
def gql(client: httpx.AsyncClient):
    """POST a GraphQL document; returns the decoded JSON body (asserting HTTP 200)."""

    async def run(
        query: str,
        variables: dict | None = None,
        *,
        token: str | None = None,
        brand: str | None = None,
        expect_status: int = 200,
    ) -> dict:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if brand:
            headers["X-Brand"] = brand
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == expect_status, response.text
        return response.json()

    return run


@pytest.fixture(scope="session")
def live_server(settings: Settings) -> Iterator[LiveServer]:
    server = start_live_server(settings)
    yield server
    stop_live_server(server)


@pytest.fixture
async def redis(backend_servers: Backends) -> AsyncIterator[Redis]:
    client = Redis.from_url(backend_servers.redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A Redis server of this test's own, for tests that destroy or restart Redis."""
    server = EmbeddedRedis(Path(f"/tmp/pmr-{uuid.uuid4().hex[:8]}"))
    server.start()
    yield server
    server.stop()
    subprocess.run(["rm", "-rf", str(server.directory.parent)], check=False)


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement sent through an asyncpg connection (pooled ones too) from now on."""
    return record_statements(monkeypatch)


@pytest.fixture
def authenticator(running_app) -> Authenticator:
    """The running app's Authenticator (the lifespan keeps it on the app's state)."""
    return running_app[0].state.authenticator


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the test's own to the run's database, beside the app's pool."""
    connection = await asyncpg.connect(settings.database_url)
    yield connection
    await connection.close()


@pytest.fixture
def staff(gql, brand, make_token):
    """The brand's admin, calling the API."""
    return Staff(gql, make_token(brand, "ADMIN", "admin-1"))


@pytest.fixture
def member_with_points(staff, make_token, brand):
    """A registered member with `points` points (a purchase at the base rate) and their MEMBER
    token."""

    async def make(points: int = 1000, name: str = "Ada") -> tuple[dict, str]:
        member = await staff.register(name)
        if points:
            await staff.purchase(member["id"], f"{points}.00")
        return member, make_token(brand, "MEMBER", member["id"])

    return make


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP receiver of webhooks and notices, recording what it gets."""
    with receiving() as state:
        yield state


@pytest.fixture
def clock(runtime):
    """The app's clock, which tests move forward (only forward: the session shares it)."""
    return runtime.clock
