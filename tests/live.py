"""Talking to a live server as clients do: GraphQL over HTTP, subscriptions over WebSocket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.factories import Staff

PROTOCOL = "graphql-transport-ws"
TIMEOUT = 15  # for any one expected message
QUIET = 0.5  # how long silence must last to show nothing more comes


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
