"""Behind a load balancer and under a rolling deploy: idle keep-alive connections outlive the
balancer's idle timeout, and SIGTERM drains: open WebSockets are closed with 1012 (service
restart: the client reconnects elsewhere), requests in flight finish with their answer, and one
still running after POINTSMALL_DRAIN_SECONDS is cut off so that the process exits."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest

from tests.support.clients import BALANCE_CHANGED, node_client
from tests.support.factories import ADJUST, with_key
from tests.support.ledger import pk
from tests.support.live import admin_of, bearer
from tests.support.serving import serving

HEALTH_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: pointsmall.test\r\n\r\n"
HEALTH_BODY = b'{"status":"ok"}'
SERVICE_RESTART = 1012
# From a session of its own: a transaction sees one snapshot of the activity.
WAITING_FOR_A_LOCK = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND wait_event_type = 'Lock'"
)


def health_over(connection: socket.socket) -> bytes:
    """GET /healthz on an open connection; its whole response."""
    connection.sendall(HEALTH_REQUEST)
    response = b""
    while not response.endswith(HEALTH_BODY):
        chunk = connection.recv(4096)
        assert chunk, f"the server closed the connection: {response!r}"
        response += chunk
    return response


@pytest.mark.parametrize(
    ("env", "idle_seconds", "kept_open"),
    [
        ({}, 6.0, True),  # past uvicorn's own 5 s
        ({"POINTSMALL_KEEP_ALIVE_SECONDS": "1"}, 2.5, False),
    ],
    ids=["default", "one-second"],
)
def test_an_idle_connection_is_kept_as_long_as_set(settings, env, idle_seconds, kept_open):
    with serving(settings, env=env) as served:
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as connection:
            assert health_over(connection).startswith(b"HTTP/1.1 200 ")
            time.sleep(idle_seconds)
            if kept_open:
                assert health_over(connection).startswith(b"HTTP/1.1 200 ")
            else:
                connection.settimeout(1)  # closed already: no waiting for the end of a longer one
                assert connection.recv(1) == b""


@asynccontextmanager
async def balance_locked(database_url: str, member_id: str) -> AsyncIterator[None]:
    """The member's balance row locked by a transaction of the test's, until it leaves."""
    holder = await asyncpg.connect(database_url)
    try:
        async with holder.transaction():
            await holder.execute(
                "SELECT 1 FROM balance WHERE member_id = $1 FOR UPDATE", pk(member_id)
            )
            yield
    finally:
        await holder.close()


def adjusting(http: httpx.AsyncClient, token: str, member_id: str) -> asyncio.Task:
    """An adjustPoints request of 5 points, under way."""
    document = {"memberId": member_id, "points": 5, "reason": "drain"}
    return asyncio.create_task(
        http.post(
            "/graphql",
            json={"query": ADJUST, "variables": {"input": with_key(ADJUST, document)}},
            headers=bearer(token),
        )
    )


async def until_blocked(url: str) -> None:
    """Until a query of the database waits for a lock (the one the test holds)."""
    watcher = await asyncpg.connect(url)
    try:
        for _ in range(300):
            if await watcher.fetchval(WAITING_FOR_A_LOCK):
                return
            await asyncio.sleep(0.05)
        pytest.fail("the request never reached the locked balance")
    finally:
        await watcher.close()


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_closes_sockets_with_1012_and_finishes_requests(
    settings, brand, make_token, workers
):
    with serving(settings, workers=workers) as served:
        admin_token = make_token(brand, "ADMIN", "admin-1")
        async with admin_of(served, brand, make_token) as staff:
            member = await staff.register()
            adjusted = await staff.adjust(member["id"], 10)
        since = {"sinceVersion": adjusted["entry"]["version"] - 1}
        token = make_token(brand, "MEMBER", subject=member["id"])
        async with (
            node_client(served, token, BALANCE_CHANGED, since) as subscriber,
            httpx.AsyncClient(base_url=served.url, timeout=60) as http,
        ):
            await subscriber.result()  # the socket is open and subscribed
            async with balance_locked(settings.database_url, member["id"]):
                in_flight = adjusting(http, admin_token, member["id"])
                await until_blocked(settings.database_url)
                served.terminate()
                closed = await subscriber.line()
                assert closed["error"]["code"] == SERVICE_RESTART, closed
                await asyncio.sleep(0.5)
                assert not in_flight.done()  # draining, not cancelled
            response = await in_flight
        assert response.status_code == 200, response.text
        payload = response.json()["data"]["adjustPoints"]
        assert payload["userErrors"] == [] and payload["entry"]["points"] == 5, payload
        assert await asyncio.to_thread(served.wait_exit) == 0


DRAIN_SECONDS = 1
LOCK_SECONDS = 10  # how long the test holds the lock the request waits for, at most
EXIT_MARGIN_SECONDS = 5  # for uvicorn's shutdown and the lifespan's, on a busy machine


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_request_past_the_drain_time_is_cut_off(settings, brand, make_token, workers):
    """Without the drain time uvicorn waits for the request as long as it runs."""
    env = {"POINTSMALL_DRAIN_SECONDS": str(DRAIN_SECONDS)}
    with serving(settings, workers=workers, env=env) as served:
        async with admin_of(served, brand, make_token) as staff:
            member = await staff.register()
        admin_token = make_token(brand, "ADMIN", "admin-1")
        async with httpx.AsyncClient(base_url=served.url, timeout=60) as http:
            async with balance_locked(settings.database_url, member["id"]):
                in_flight = adjusting(http, admin_token, member["id"])
                await until_blocked(settings.database_url)
                served.terminate()
                terminated = time.monotonic()
                exit_code = await asyncio.to_thread(served.wait_exit, LOCK_SECONDS)
                exited_after = time.monotonic() - terminated
            response = await in_flight
    assert exited_after < DRAIN_SECONDS + EXIT_MARGIN_SECONDS, served.output
    assert exit_code == 0
    assert response.status_code == 500  # uvicorn's answer to a request it cancelled
    assert "timeout graceful shutdown exceeded" in served.output
