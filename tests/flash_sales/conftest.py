"""Fixtures of the flash-sale tests under attack (tests/cluster runs them again on a cluster)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from domain.runtime import Backends
from server.settings import Settings
from tests.support.flash_sales import runtime_on, start_servers, stop_servers
from tests.support.live import LiveServer


@pytest.fixture
async def rt(runtime, settings: Settings) -> AsyncIterator[Backends]:
    """Backends of real time, as the live servers have, on the app's database connection and
    the run's Redis prefix."""
    async with runtime_on(settings.redis_url, settings.redis_prefix) as backends:
        yield backends


@pytest.fixture(scope="module")
def pair(settings: Settings) -> Iterator[list[LiveServer]]:
    """Two server processes on the run's PostgreSQL and Redis."""
    servers = start_servers(settings, 2)
    yield servers
    stop_servers(servers)
