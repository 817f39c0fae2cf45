"""GraphQL over WebSocket (graphql-transport-ws) as browsers and Node clients speak it: every
message in a text frame, and every operation authorized as an HTTP request would be at that
moment: a socket is no way around an expired token, a revoked key or a partner's rate."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from json import JSONDecodeError
from typing import Any

import orjson
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter

from db.redis import cancel_and_wait
from domain.principal import Principal
from schema.context import Context
from schema.documents import DocumentRefused
from schema.strawberry_internals import (
    BaseGraphQLTransportWSHandler,
    ConnectionInitMessage,
    NonJsonMessageReceived,
    NonTextMessageReceived,
    ResultStreamHook,
    SubscribeMessage,
    WebSocketDisconnected,
)
from server.auth import AuthenticationFailed, Authenticator, RateLimited
from server.shared_streams import Subscriber, shared_results, stream_key

MESSAGE_TOO_BIG = 1009
log = logging.getLogger(__name__)

CREDENTIALS_EXPIRED = 4401  # graphql-transport-ws's Unauthorized: the client signs in again
RECHECK_SECONDS = 30.0  # how soon a revoked API key closes an idle socket, at the latest
RETRY_SECONDS = 1.0  # after a check that failed for want of the database or Redis


class TextFrameWebSocketAdapter(ASGIWebSocketAdapter):
    """Sends every message in a text frame, as graphql-transport-ws requires: browsers' and
    Node's graphql-ws clients close on a binary one. (strawberry sends the bytes that our
    `encode_json` returns, to keep HTTP responses fast, as binary frames.) A message larger
    than the view's `max_message_bytes` closes the socket (1009) undecoded, as a body over the
    limit is a 413."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        """strawberry's, with the size limit."""
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if len(text.encode()) > self.view.max_message_bytes:
                    await self.ws.close(MESSAGE_TOO_BIG, "The message is too large.")
                    return
                try:
                    yield self.view.decode_json(text)
                except JSONDecodeError as error:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from error
        except KeyError as error:  # a binary frame: Starlette's message has no "text"
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            pass

    async def send_json(self, message: Mapping[str, object]) -> None:
        encoded = self.view.encode_json(message)
        await self.send_text(encoded.decode() if isinstance(encoded, bytes) else encoded)

    async def send_text(self, text: str) -> None:
        """A message encoded already."""
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as disconnect:
            raise WebSocketDisconnected from disconnect


async def authenticate_connection(context: Context) -> Principal | None:
    """The caller that a connection_init payload's credentials name, now."""
    params = context.connection_params if isinstance(context.connection_params, dict) else {}

    def header(name: str) -> str | None:
        value = params.get(name) or params.get(name.lower())
        return value if isinstance(value, str) else None

    authenticator: Authenticator = context.request.state.authenticator
    return await authenticator.authenticate(
        header("Authorization"), header("X-Brand"), header("X-Api-Key")
    )


class AuthorizedTransportWSHandler(ResultStreamHook, BaseGraphQLTransportWSHandler[Context, Any]):
    """Checks the connection's credentials again before every operation it runs, charges a
    partner's key for it, and closes the socket (4401) once they no longer hold, at the token's
    expiry or a recheck, whether or not operations are being sent. A subscription whose
    subscribers all get the same messages joins the process's shared stream of it
    (server/shared_streams.py)."""

    # The next check of the credentials waits as a timer, not as a task per socket (a task and
    # its frame cost about 1.5 KB, at 5,000 idle sockets 7 MB); a task runs only the check.
    recheck: asyncio.TimerHandle | None = None
    watchdog: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self.recheck is None:
            # strawberry's wait for connection_init sleeps its whole timeout even once it came.
            if self.connection_init_timeout_task is not None:
                self.connection_init_timeout_task.cancel()
                self.connection_init_timeout_task = None
            self._recheck_later()

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged:
            try:
                principal = await self._still_authenticated()
                await self.context.request.state.authenticator.charge(principal, 1)
            except AuthenticationFailed as failure:
                await self.websocket.close(CREDENTIALS_EXPIRED, str(failure)[:100])
                return
            except RateLimited as limited:
                await self.send_message(rate_limited_message(message["id"], limited))
                return
            payload = message["payload"]
            try:  # the document by text, persisted-query hash or trusted id, as over HTTP
                query = self.schema.documents.resolve(
                    payload.get("query"), payload.get("extensions"), payload.get("documentId")
                )
            except DocumentRefused as refused:
                error = {"message": refused.message, "extensions": {"code": refused.code}}
                await self.send_message({"id": message["id"], "type": "error", "payload": [error]})
                return
            if query is not None and query is not payload.get("query"):
                message = {**message, "payload": {**payload, "query": query}}
        await super().handle_subscribe(message)

    def results_of(self, operation: Any, results: AsyncIterator[Any]) -> AsyncIterator[Any]:
        if not self.schema.documents.shares_events(operation.query, operation.operation_name):
            return results
        stream = self.view.shared_streams.stream_of(
            stream_key(operation.query, operation.operation_name, operation.variables)
        )
        subscriber = Subscriber(
            orjson.dumps(operation.id).decode(),
            self.websocket.send_text,
            lambda: operation.completed,
        )
        return shared_results(stream, subscriber, results, self.view.shared_payload)

    async def shutdown(self) -> None:
        try:
            if self.recheck is not None:
                self.recheck.cancel()
            if self.watchdog is not None:
                await cancel_and_wait(self.watchdog)
        finally:
            await super().shutdown()  # the operations' tasks end whatever the watchdog did

    async def _still_authenticated(self) -> Principal:
        """The connection's caller, authenticated again (a token past its expiry, a revoked
        key or a brand's new key raise AuthenticationFailed)."""
        principal = await authenticate_connection(self.context)
        if principal is None:
            raise AuthenticationFailed("The connection has no credentials.")
        self.context.principal = principal
        return principal

    def _recheck_later(self, wait: float = RECHECK_SECONDS) -> None:
        expires_at = self.context.principal.expires_at if self.context.principal else None
        if expires_at is not None:
            wait = min(wait, max(expires_at - time.time(), 0.0))
        self.recheck = asyncio.get_running_loop().call_later(wait, self._start_check)

    def _start_check(self) -> None:
        self.watchdog = asyncio.create_task(self._close_unless_authenticated())

    async def _close_unless_authenticated(self) -> None:
        try:
            await self._still_authenticated()
        except AuthenticationFailed as failure:
            await self.websocket.close(CREDENTIALS_EXPIRED, str(failure)[:100])
            return
        except Exception:
            # The database or Redis failing for a moment: the check is tried again soon,
            # so expiry and revocation still close the socket once it answers.
            log.warning("a socket's credentials could not be checked", exc_info=True)
            self._recheck_later(RETRY_SECONDS)
            return
        finally:
            self.watchdog = None
        self._recheck_later()


def rate_limited_message(operation_id: str, limited: RateLimited) -> dict[str, Any]:
    """graphql-transport-ws's error message for an operation refused for the key's rate."""
    error = {
        "message": str(limited),
        "extensions": {"code": "RATE_LIMITED", "retryAfter": round(limited.retry_after, 3)},
    }
    return {"id": operation_id, "type": "error", "payload": [error]}
