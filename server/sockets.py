"""GraphQL over WebSocket (graphql-transport-ws) as browsers and Node clients speak it: every
message in a text frame, and every operation authorized as an HTTP request would be at that
moment: a socket is no way around an expired token, a revoked key or a partner's rate."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import time
import weakref
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
from graphql import GraphQLError, GraphQLFormattedError

from db.redis import cancel_and_wait
from domain.principal import Principal
from domain.runtime import request_id_var
from resolvers.context import Context, stream_takeover
from schema.documents import DocumentRefused
from schema.strawberry_internals import (
    BaseGraphQLTransportWSHandler,
    SubscribeMessage,
    TextFrameWebSocketAdapter,
    TransportWSSteps,
    process_errors,
)
from server.auth import AuthenticationFailed, Authenticator, RateLimited
from server.planned_streams import Takeover, WaitsForEvents, aclose
from server.shared_streams import Subscriber, shared_results, stream_key

if TYPE_CHECKING:
    from server.graphql_view import GraphQLEndpoint

log = logging.getLogger(__name__)

CREDENTIALS_EXPIRED = 4401  # graphql-transport-ws's Unauthorized: the client signs in again
RECHECK_SECONDS = 30.0  # how soon a revoked API key closes an idle socket, at the latest
RETRY_SECONDS = 1.0  # after a check that failed for want of the database or Redis
RECHECK_GRAIN = 0.1  # seconds: how much later than due a check may start


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


class AuthorizedTransportWSHandler(TransportWSSteps, BaseGraphQLTransportWSHandler[Context, None]):
    """Checks the connection's credentials again before every operation it runs, charges a
    partner's key for it, and closes the socket (4401) once they no longer hold, at the token's
    expiry or a recheck, whether or not operations are being sent. A subscription whose
    subscribers all get the same messages joins the process's shared stream of it
    (server/shared_streams.py)."""

    # What strawberry hands the endpoint's handlers: the endpoint itself, and its adapter.
    view: GraphQLEndpoint
    websocket: TextFrameWebSocketAdapter
    # The next check of the credentials waits in the process's `Rechecks`, not as a task or a
    # timer per socket (a task and its frame cost about 1.5 KB, a timer 0.5 KB, at 5,000 idle
    # sockets 7.5 and 2.5 MB); a task runs only the check.
    recheck: int | None = None  # its `Rechecks` slot
    watchdog: asyncio.Task[None] | None = None

    def on_acknowledged(self) -> None:
        if self.recheck is None:
            self._recheck_later()

    async def admitted(self, message: SubscribeMessage) -> SubscribeMessage | None:
        """The operation, once its caller is still who they were and has paid for it, with its
        document named by text, persisted-query hash or trusted id, as over HTTP."""
        try:
            principal = await self._still_authenticated()
            await self.context.request.state.authenticator.charge(principal, 1)
        except AuthenticationFailed as failure:
            await self.websocket.close(CREDENTIALS_EXPIRED, str(failure)[:100])
            return None
        except RateLimited as limited:
            error = rate_limited_error(limited)
            await self.send_message({"id": message["id"], "type": "error", "payload": [error]})
            return None
        payload = message["payload"]
        try:
            query = self.view.documents.resolve(
                payload.get("query"), payload.get("extensions"), payload.get("documentId")
            )
        except DocumentRefused as refused:
            error = {"message": refused.message, "extensions": {"code": refused.code}}
            await self.send_message({"id": message["id"], "type": "error", "payload": [error]})
            return None
        if query is not None and query is not payload.get("query"):
            return {**message, "payload": {**payload, "query": query}}
        return message

    def results_of(self, operation: Any, results: AsyncIterator[Any]) -> AsyncIterator[Any]:
        plan = self.view.documents.stream_plan(operation.query, operation.operation_name)
        if plan is not None and plan.admits(self.context):
            # Read by the field's resolver, which strawberry runs in this operation's task.
            stream_takeover.set(Takeover(plan))
            return results
        if not self.view.documents.shares_events(operation.query, operation.operation_name):
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

    def continuation(self, operation: Any) -> Takeover | None:
        takeover = stream_takeover.get()
        if isinstance(takeover, Takeover) and takeover.rest is not None:
            return takeover
        return None

    async def continue_results(self, operation: Any, takeover: Takeover) -> bool:
        """A subscription handed over by its resolver: its later events, rendered here and
        sent as strawberry sends them, until its stream waits for an event (the operation is
        parked until one comes) or ends; a failure of its stream is reported as strawberry's
        pipeline reports one (and ends it)."""
        rest = takeover.rest
        assert rest is not None
        value_of, render, context = takeover.value_of, takeover.plan.render, self.context
        request_id_var.set(context.request_id)  # for its logs: the socket's request
        waits = rest if isinstance(rest, WaitsForEvents) else None  # asked once: it is slow
        parked = False
        try:
            while True:
                if waits is not None and waits.idle():
                    waits.on_event(self.park(operation, takeover))
                    parked = True
                    return True
                # A failure of the stream or its rendering is the stream's; one of sending
                # (the socket gone) is the operation's, as in strawberry's pipeline.
                payload: dict[str, Any]
                try:
                    payload = {"data": render(value_of(await anext(rest)), context)}
                except StopAsyncIteration:
                    return False
                except Exception as failure:
                    payload = {"data": None, "errors": [self._reported(failure).formatted]}
                    await operation.send_operation_message(
                        {"id": operation.id, "type": "next", "payload": payload}
                    )
                    return False
                await operation.send_operation_message(
                    {"id": operation.id, "type": "next", "payload": payload}
                )
        finally:
            if not parked:
                await self.abandoned(takeover)

    async def abandoned(self, takeover: Takeover) -> None:
        rest, takeover.rest = takeover.rest, None
        if rest is not None:
            await aclose(rest)

    def _reported(self, failure: Exception) -> GraphQLError:
        """A failure of a subscription's stream, as strawberry's pipeline reports it."""
        error = (
            failure
            if isinstance(failure, GraphQLError)
            else GraphQLError(str(failure), original_error=failure)
        )
        process_errors(self.schema, [error], self.context)
        return error

    async def on_shutdown(self) -> None:
        if self.recheck is not None:
            Rechecks.of_loop().cancel(self, self.recheck)
            self.recheck = None
        if self.watchdog is not None:
            await cancel_and_wait(self.watchdog)

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
        self.recheck = Rechecks.of_loop().add(self, wait)

    def start_check(self) -> None:
        self.recheck = None
        self.watchdog = asyncio.create_task(self._close_unless_authenticated())

    async def _close_unless_authenticated(self) -> None:
        request_id_var.set(self.context.request_id)  # for its logs: the socket's request
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


class Rechecks:
    """The sockets' next checks of their credentials, in slots of RECHECK_GRAIN seconds: one
    timer for each slot, not one for each socket."""

    _of_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Rechecks] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weakly: held by `_of_loop` under the loop itself, a strong one would keep both.
        self._loop = weakref.ref(loop)
        self.due: dict[int, set[AuthorizedTransportWSHandler]] = {}

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop()
        if loop is None:
            raise RuntimeError("the loop of these rechecks is gone")
        return loop

    @classmethod
    def of_loop(cls) -> Rechecks:
        """The running loop's."""
        loop = asyncio.get_running_loop()
        rechecks = cls._of_loop.get(loop)
        if rechecks is None:
            rechecks = cls._of_loop[loop] = cls(loop)
        return rechecks

    def add(self, handler: AuthorizedTransportWSHandler, wait: float) -> int:
        """Start `handler`'s check in `wait` seconds (at most RECHECK_GRAIN later); its slot."""
        slot = math.ceil((self.loop.time() + wait) / RECHECK_GRAIN)
        handlers = self.due.get(slot)
        if handlers is None:
            handlers = self.due[slot] = set()
            # In a context of its own: each check sets the request id of its socket.
            fresh = contextvars.Context()
            self.loop.call_at(slot * RECHECK_GRAIN, self._start, slot, context=fresh)
        handlers.add(handler)
        return slot

    def cancel(self, handler: AuthorizedTransportWSHandler, slot: int) -> None:
        handlers = self.due.get(slot)
        if handlers is not None:
            handlers.discard(handler)

    def _start(self, slot: int) -> None:
        for handler in self.due.pop(slot, ()):
            handler.start_check()


def rate_limited_error(limited: RateLimited) -> GraphQLFormattedError:
    """The error of an operation refused for the key's rate."""
    return {
        "message": str(limited),
        "extensions": {"code": "RATE_LIMITED", "retryAfter": round(limited.retry_after, 3)},
    }
