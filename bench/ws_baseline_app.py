"""The floor for subscriptions: a plain Starlette WebSocket endpoint, served by uvicorn exactly
like the service, that speaks just enough graphql-transport-ws to be subscribed to.

It acknowledges connection_init, answers each subscribe with one `next` (so a client knows it is
in), answers pings, and holds the socket until the client leaves: what a socket costs a process
before any GraphQL, bus or subscription state (bench/subscriptions.py measures it beside the
service).
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

PROTOCOL = "graphql-transport-ws"


async def graphql_ws(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol=PROTOCOL)
    try:
        while True:
            message = json.loads(await websocket.receive_text())
            kind = message.get("type")
            if kind == "connection_init":
                await websocket.send_text('{"type":"connection_ack"}')
            elif kind == "subscribe":
                reply = {"id": message["id"], "type": "next", "payload": {"data": {"ok": True}}}
                await websocket.send_text(json.dumps(reply))
            elif kind == "ping":
                await websocket.send_text('{"type":"pong"}')
    except WebSocketDisconnect:
        pass


async def readyz(request: Request) -> Response:
    return JSONResponse({"status": "ready"})


def create_app() -> Starlette:
    """The factory uvicorn calls (`bench.ws_baseline_app:create_app`)."""
    return Starlette(routes=[WebSocketRoute("/graphql", graphql_ws), Route("/readyz", readyz)])
