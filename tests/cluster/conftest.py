"""Fixtures for the tests on a Redis Cluster: three masters started from the machine's
`redis-server` for the session, and the app, its settings and live servers on them.

The root conftest's session fixtures are registered here again (imported), so that their
values for these tests are made and kept apart from the rest of the session's: the same app,
pointed at the cluster's URL. So are the fixtures of the other directories' tests run here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from db.redis import RedisClient, open_redis
from tests.conftest import (  # noqa: F401 (fixtures, registered here for the cluster)
    app,
    client,
    live_server,
    running_app,
    runtime,
    settings,
)
from tests.flash_sales.conftest import pair, rt  # noqa: F401 (fixtures of the tests run here)
from tests.partners.conftest import partner  # noqa: F401 (a fixture of the test run here)
from tests.support.backends import Backends
from tests.support.redis_cluster import redis_cluster
from tests.support.session import RUN_ID


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Three masters on loopback ports for the session, killed at its end."""
    with redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as url:
        yield url


@pytest.fixture(scope="session")
def backend_servers(backend_servers: Backends, redis_cluster_url: str) -> Backends:
    """The session's PostgreSQL, and the cluster for Redis."""
    return Backends(backend_servers.postgres_server_url, redis_cluster_url)


@pytest.fixture(scope="session")
def redis_prefix() -> str:
    """This run's prefix on the cluster, which ends with the session: nothing to delete."""
    return f"pmtest-{RUN_ID}"


@pytest.fixture
async def redis(backend_servers: Backends) -> AsyncIterator[RedisClient]:
    cluster = open_redis(backend_servers.redis_url)
    yield cluster
    await cluster.aclose()
