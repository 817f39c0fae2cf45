"""The subscription handshake over a real socket: who gets a connection_ack, who is refused."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.live import message_in, start_live_server, stop_live_server

PROTOCOL = "graphql-transport-ws"
FORBIDDEN = 4403
SUBPROTOCOL_NOT_ACCEPTABLE = 4406
TIMEOUT = 10


async def handshake(
    url: str,
    payload: dict | None = None,
    *,
    subprotocols: tuple[str, ...] = (PROTOCOL,),
    origin: str | None = None,
) -> dict | int:
    """Open a socket, send connection_init: the first message back, or the close code."""
    async with connect(
        url, subprotocols=list(subprotocols), origin=origin, open_timeout=TIMEOUT
    ) as socket:
        init: dict = {"type": "connection_init"}
        if payload is not None:
            init["payload"] = payload
        try:
            await socket.send(json.dumps(init))
            message = message_in(await asyncio.wait_for(socket.recv(), TIMEOUT))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame from the server"
            return closed.rcvd.code
        if message.get("type") == "connection_ack":
            await socket.send(json.dumps({"type": "ping"}))
            pong = message_in(await asyncio.wait_for(socket.recv(), TIMEOUT))
            assert pong["type"] == "pong", pong
        return message


def assert_acknowledged(outcome: dict | int) -> None:
    assert isinstance(outcome, dict) and outcome["type"] == "connection_ack", outcome


async def test_no_credentials_is_refused(live_server):
    assert await handshake(live_server.ws_url) == FORBIDDEN
    assert await handshake(live_server.ws_url, {}) == FORBIDDEN


@pytest.mark.parametrize(
    "authorization",
    ["Bearer garbage", "Basic dXNlcjpwYXNz", "Bearer "],
)
async def test_a_bad_authorization_is_refused(live_server, authorization):
    assert await handshake(live_server.ws_url, {"Authorization": authorization}) == FORBIDDEN


async def test_an_expired_token_is_refused(live_server, brand, make_token):
    token = make_token(brand, ttl_seconds=-10)
    assert await handshake(live_server.ws_url, {"Authorization": f"Bearer {token}"}) == FORBIDDEN


async def test_a_token_signed_with_another_secret_is_refused(live_server, brand, make_token):
    token = make_token(brand, secret="not-the-deployment-secret-" * 2)
    assert await handshake(live_server.ws_url, {"Authorization": f"Bearer {token}"}) == FORBIDDEN


async def test_an_unknown_or_mismatched_brand_is_refused(live_server, brand, make_token):
    assert await handshake(live_server.ws_url, {"X-Brand": f"{brand.code}-nope"}) == FORBIDDEN
    mismatched = {"Authorization": f"Bearer {make_token(brand)}", "X-Brand": "someone-else"}
    assert await handshake(live_server.ws_url, mismatched) == FORBIDDEN


async def test_a_valid_admin_token_is_acknowledged(live_server, brand, make_token):
    payload = {"Authorization": f"Bearer {make_token(brand)}"}
    assert_acknowledged(await handshake(live_server.ws_url, payload))


async def test_lowercase_parameter_names_are_accepted(live_server, brand, make_token):
    payload = {"authorization": f"Bearer {make_token(brand, 'STAFF')}"}
    assert_acknowledged(await handshake(live_server.ws_url, payload))


async def test_a_visitor_naming_the_brand_is_acknowledged(live_server, brand):
    assert_acknowledged(await handshake(live_server.ws_url, {"X-Brand": brand.code}))


async def test_only_graphql_transport_ws_is_spoken(live_server, brand):
    """The legacy graphql-ws protocol gets no subprotocol and is closed with 4406."""
    for offered in (("graphql-ws",), ("chat",)):
        outcome = await handshake(live_server.ws_url, {"X-Brand": brand.code}, subprotocols=offered)
        assert outcome == SUBPROTOCOL_NOT_ACCEPTABLE, offered


async def refused_status(url: str, payload: dict, origin: str) -> int:
    """The HTTP status that refuses the handshake from a page on `origin`."""
    with pytest.raises(InvalidStatus) as refused:
        await handshake(url, payload, origin=origin)
    return refused.value.response.status_code


async def test_development_accepts_pages_of_this_machine_only(live_server, brand, make_token):
    """A front-end's dev server (say Vite's, on localhost:5173) may subscribe in development."""
    payload = {"Authorization": f"Bearer {make_token(brand)}"}
    for origin in ("http://localhost:5173", "http://127.0.0.1:3000"):
        assert_acknowledged(await handshake(live_server.ws_url, payload, origin=origin))
    for origin in ("https://evil.example", "http://localhost.evil.example:5173"):
        assert await refused_status(live_server.ws_url, payload, origin) == 403


async def test_production_accepts_only_the_listed_origins(settings, brand, make_token):
    server = await asyncio.to_thread(
        start_live_server,
        settings,
        env={
            "POINTSMALL_ENV": "production",
            "POINTSMALL_ALLOWED_ORIGINS": '["https://shop.example"]',
        },
    )
    try:
        payload = {"Authorization": f"Bearer {make_token(brand)}"}
        assert await refused_status(server.ws_url, payload, "https://evil.example") == 403
        assert await refused_status(server.ws_url, payload, "http://localhost:5173") == 403
        assert_acknowledged(await handshake(server.ws_url, payload, origin="https://shop.example"))
    finally:
        await asyncio.to_thread(stop_live_server, server)
