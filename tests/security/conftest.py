"""The attack suite runs against the service twice: as the suite's development app (in process),
and as production runs it, in a server process of its own with POINTSMALL_ENV=production. Every
test that speaks through `client` (and so `gql`) runs in both; one marked `development_only`
asserts what only development does (introspection, plain-http webhooks) and runs there alone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from domain.ledger.audit import audit
from server.settings import Settings
from tests.support.live import LiveServer, start_live_server, stop_live_server

MODES = ("development", "production")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Drop the production runs of tests that assert what only development does."""
    items[:] = [
        item
        for item in items
        if not (
            item.get_closest_marker("development_only")
            and getattr(item, "callspec", None) is not None
            and item.callspec.params.get("client") == "production"
        )
    ]


@pytest.fixture(scope="package", autouse=True)
async def books_balanced_after_the_attacks(app: object) -> AsyncIterator[None]:
    """`pointsmall audit` stays clean after the attack suite: every member's balance equals
    their ledger and lots."""
    yield
    assert await audit() == []


@pytest.fixture(scope="session")
def production_server(settings: Settings) -> Iterator[LiveServer]:
    server = start_live_server(settings, env={"POINTSMALL_ENV": "production"})
    yield server
    stop_live_server(server)


@pytest.fixture
async def production_client(production_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=production_server.url, timeout=30) as http:
        yield http


@pytest.fixture(params=MODES)
async def client(
    request: pytest.FixtureRequest, app: object, production_server: LiveServer
) -> AsyncIterator[httpx.AsyncClient]:
    """The suite's client, in each mode (overrides tests/conftest.py's for this package)."""
    if request.param == "production":
        http = httpx.AsyncClient(base_url=production_server.url, timeout=30)
    else:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        http = httpx.AsyncClient(transport=transport, base_url="http://pointsmall.test")
    async with http:
        yield http
