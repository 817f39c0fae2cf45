"""Fixtures: real PostgreSQL and Redis (the machine's when DATABASE_URL / REDIS_URL are set,
else embedded ones), a uniquely named database and Redis prefix per run, the app over ASGI,
a live uvicorn server, and factories for brands and tokens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from db.database import apply_migrations
from db.models import Brand
from domain.brands import create_brand
from server.app import create_app
from server.auth import brand_signing_secret, mint_token
from server.cli import WEBSOCKETS
from server.embedded import EmbeddedPostgres, EmbeddedRedis
from server.settings import Settings
from tests.support.receiver import Receiver, receiving

RUN_ID = uuid.uuid4().hex[:10]
JWT_SECRET = f"test-secret-{RUN_ID}-{RUN_ID}-{RUN_ID}"
ISSUER = "pointsmall"


@dataclass(frozen=True)
class Backends:
    postgres_server_url: str  # the server; each run makes its own database on it
    redis_url: str


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


def database_url_named(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def on_server(server_url: str, statement: str) -> None:
    """Run one statement on the server's maintenance database (CREATE/DROP DATABASE)."""
    connection = await asyncpg.connect(database_url_named(server_url, "postgres"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def create_database(server_url: str, name: str) -> str:
    await on_server(server_url, f'CREATE DATABASE "{name}"')
    return database_url_named(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    await on_server(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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


@pytest.fixture(scope="session")
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://pointsmall.test") as http:
        yield http


def unique_code(prefix: str = "b") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def brand(app: object) -> Brand:
    """A brand of this test's own: tests never see each other's data."""
    return await create_brand(unique_code(), "Test Brand", timezone="Asia/Shanghai")


@pytest.fixture
def make_token() -> Callable[..., str]:
    def make(brand: Brand | str, role: str = "ADMIN", subject: str = "tester", **overrides) -> str:
        code = brand if isinstance(brand, str) else brand.code
        options = {"secret": brand_signing_secret(JWT_SECRET, code), "issuer": ISSUER, **overrides}
        secret = options.pop("secret")
        return mint_token(secret, role=role, brand=code, subject=subject, **options)

    return make


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    ws_url: str
    process: subprocess.Popen


def service_environment(settings: Settings, env: dict | None = None) -> dict[str, str]:
    """The environment a server process started by the tests reads its settings from."""
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "POINTSMALL_REDIS_PREFIX": settings.redis_prefix,
        "POINTSMALL_JWT_SECRET": settings.jwt_secret,
        "POINTSMALL_JWT_ISSUER": settings.jwt_issuer,
        "POINTSMALL_DATA_DIR": str(settings.data_dir),
        "POINTSMALL_DB_POOL_MAX": "4",
        "POINTSMALL_SCHEDULER": "false",
        **(env or {}),
    }


def start_live_server(
    settings: Settings, *, workers: int = 1, env: dict | None = None
) -> LiveServer:
    """A real uvicorn serving the app on a free port, in its own process(es)."""
    port = free_port()
    environment = service_environment(settings, env)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "server.app:create_app_from_environment",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--ws",
            WEBSOCKETS,
            "--ws-per-message-deflate",
            "false",
        ],
        env=environment,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("live server exited during start-up")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return LiveServer(url, f"ws://127.0.0.1:{port}/graphql", process)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("live server did not become ready")


def stop_live_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


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
def staff(gql, brand, make_token):
    """The brand's admin, calling the API."""
    from tests.factories import Staff

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
