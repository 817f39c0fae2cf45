"""Limits on what a request may make a worker hold before anything reads it: its headers and its
body. A 5 MB Authorization header or a 300 MB body is refused at the door, before the view
decodes, authenticates or caches anything of it."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.graphql_view import error_response
from server.logs import request_id_of

MAX_HEADER_BYTES = 8 * 1024  # any one header: a JWT is well under 2 KB
MAX_HEADERS_BYTES = 32 * 1024  # all of them


class RequestTooLarge(Exception):
    """The body went past the limit while it was being read."""


def headers_too_large(scope: Scope) -> bool:
    """Whether a header, or all of them, is past what any request may carry."""
    sizes = [len(name) + len(value) for name, value in scope["headers"]]
    return bool(sizes) and (max(sizes) > MAX_HEADER_BYTES or sum(sizes) > MAX_HEADERS_BYTES)


class RequestLimits:
    """ASGI middleware: 431 for oversized headers (a WebSocket handshake with them is refused
    before it is accepted, which the server answers 403), 413 for a body over
    `max_body_bytes`, whether it declares its length or streams."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if headers_too_large(scope):
            await self._refuse(scope, receive, send, 431, "Request headers are too large.")
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (
                not value.isdigit() or int(value) > self.max_body_bytes
            ):
                await self._refuse(scope, receive, send, 413, self._too_large)
                return
        try:
            body_messages = await self._read_body(receive)
        except RequestTooLarge:
            await self._refuse(scope, receive, send, 413, self._too_large)
            return
        await self.app(scope, _replay(body_messages, receive), send)

    @property
    def _too_large(self) -> str:
        return f"The request body is larger than {self.max_body_bytes} bytes."

    async def _read_body(self, receive: Receive) -> list[Message]:
        """The body's messages, read to their end; RequestTooLarge past the limit."""
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                raise RequestTooLarge
            if not message.get("more_body", False):
                return messages

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, message: str
    ) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1009})
            return
        response = error_response(status, message, headers={"X-Request-Id": request_id_of(scope)})
        await response(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that hands out the messages already read, then the connection's own."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
