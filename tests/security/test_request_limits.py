"""Headers and bodies are limited before anything reads them."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from server.limits import MAX_HEADER_BYTES

TYPENAME = {"query": "{ __typename }"}


def padded(size: int) -> dict:
    """A request whose body is about `size` bytes."""
    query = "query ($padding: String!) { __type(name: $padding) { name } }"
    return {"query": query, "variables": {"padding": "x" * size}}


@pytest.mark.development_only  # reads the in-process app's cache
async def test_huge_authorization_headers_are_refused_and_never_kept(client, running_app, brand):
    """Twenty distinct 5 MB Authorization headers once kept about 190 MB for good."""
    authenticator = running_app[0].state.authenticator
    for number in range(20):
        response = await client.post(
            "/graphql",
            json=TYPENAME,
            headers={"Authorization": f"Bearer {number}{'a' * 5_000_000}"},
        )
        assert response.status_code == 431
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
        assert response.headers["x-request-id"]
    assert all(len(token) == 32 for token, _ in authenticator._verified)


@pytest.mark.development_only  # reads the in-process app's cache
async def test_the_verified_tokens_are_kept_by_digest(client, running_app, brand, make_token):
    token = make_token(brand, "ADMIN")
    response = await client.post(
        "/graphql", json=TYPENAME, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.json() == {"data": {"__typename": "Query"}}
    kept = running_app[0].state.authenticator._verified
    digest = hashlib.sha256(f"Bearer {token}".encode()).digest()
    assert (digest, None) in kept
    assert all(isinstance(key, bytes) and len(key) == 32 for key, _ in kept)


@pytest.mark.parametrize("header", ["X-Api-Key", "X-Brand", "X-Request-Id", "X-Anything"])
async def test_any_oversized_header_is_refused(client, header):
    response = await client.post("/graphql", json=TYPENAME, headers={header: "k" * 9000})
    assert response.status_code == 431


async def test_a_body_over_the_limit_is_refused_before_it_is_read(live_server, settings):
    limit = settings.max_body_bytes
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        declared = await http.post("/graphql", json=padded(limit + 1))
        assert declared.status_code == 413
        assert "larger than" in declared.json()["errors"][0]["message"]

        async def chunks():
            for _ in range(40):
                yield b"x" * 65_536  # 2.5 MB without a Content-Length

        streamed = await http.post(
            "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        within = await http.post("/graphql", json=padded(limit - 1000))
        assert within.status_code == 200
        assert within.json() == {"data": {"__type": None}}


async def test_a_websocket_handshake_with_huge_headers_is_refused(live_server):
    with pytest.raises(InvalidStatus):
        async with connect(
            live_server.ws_url,
            subprotocols=["graphql-transport-ws"],
            additional_headers={"X-Filler": "f" * (MAX_HEADER_BYTES + 1)},
        ):
            pass


async def test_a_websocket_message_over_the_limit_closes_the_socket(live_server, settings):
    async with connect(live_server.ws_url, subprotocols=["graphql-transport-ws"]) as socket:
        padding = "x" * (settings.max_body_bytes + 1)
        await socket.send(json.dumps({"type": "connection_init", "payload": {"p": padding}}))
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd.code == 1009
