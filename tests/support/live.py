"""Live servers: real uvicorn processes on the test's backends, and talking to them as clients
do (GraphQL over HTTP, subscriptions over WebSocket)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from server.cli import WEBSOCKETS
from server.settings import Settings
from tests.support.factories import Staff

PROTOCOL = "graphql-transport-ws"
TIMEOUT = 15  # for any one expected message
QUIET = 0.5  # how long silence must last to show nothing more comes


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
    """The environment a server process started by the tests reads its settings from; its
    temporary files (the metrics' directory, which a killed server cannot remove) go under
    the session's data directory, which pytest removes."""
    temporary = Path(settings.data_dir) / "tmp"
    temporary.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "TMPDIR": str(temporary),
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


@asynccontextmanager
async def api(server: Any) -> AsyncIterator[Any]:
    """A `gql` function (as the conftest's) that posts to a live server over real HTTP."""
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:

        async def run(query: str, variables: dict | None = None, *, token: str) -> dict:
            response = await http.post(
                "/graphql",
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200, response.text
            return response.json()

        yield run


@asynccontextmanager
async def admin_of(server: Any, brand: Any, make_token: Any) -> AsyncIterator[Staff]:
    async with api(server) as gql:
        yield Staff(gql, make_token(brand, "ADMIN", "admin-1"))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def connected(server: Any, init: dict) -> AsyncIterator[ClientConnection]:
    """A socket past connection_init / connection_ack."""
    async with connect(server.ws_url, subprotocols=[PROTOCOL], open_timeout=TIMEOUT) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": init}))
        ack = await receive(socket)
        assert ack["type"] == "connection_ack", ack
        yield socket


def message_in(frame: str | bytes) -> dict:
    """A graphql-transport-ws message, from a text frame only: browsers' and Node's clients
    (graphql-ws) close the connection on a binary one."""
    assert isinstance(frame, str), f"a binary frame, which graphql-ws clients refuse: {frame!r}"
    return json.loads(frame)


async def receive(socket: ClientConnection, within: float = TIMEOUT) -> dict:
    """The next message that is not a ping (which is answered)."""
    while True:
        message = message_in(await asyncio.wait_for(socket.recv(), within))
        if message["type"] == "ping":
            await socket.send(json.dumps({"type": "pong"}))
            continue
        return message


async def nothing_more(socket: ClientConnection) -> None:
    try:
        message = await receive(socket, QUIET)
    except TimeoutError:
        return
    pytest.fail(f"unexpected message after the last change: {message}")


def codes(errors: list[dict]) -> set[str]:
    return {error["extensions"]["code"] for error in errors}
