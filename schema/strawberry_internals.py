"""Every use of strawberry's internals, in one place, for the versions below.

strawberry's documented surface builds schemas and serves them; what pointsmall does besides
(documents validated and planned once, inputs built without re-resolving annotations, a
socket handler that rechecks credentials, refusals in strawberry's own shapes) reaches into it.
Each such name is imported or reached here, and each undocumented step of strawberry's view
and socket handler that we change is overridden here (ViewSteps, TransportWSSteps,
TextFrameWebSocketAdapter), handing over to a hook named for what it decides: an upgrade is
checked in this one file. `server/dependencies.py` refuses to start on a strawberry outside
WRITTEN_FOR.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing, suppress
from functools import partial
from json import JSONDecodeError
from typing import Any, Protocol, runtime_checkable

import strawberry
from graphql import GraphQLField, GraphQLSchema
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext, validate_document
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.types.arguments import InputContext, convert_arguments
from strawberry.types.base import StrawberryObjectDefinition, StrawberryOptional, StrawberryType
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.graphql import OperationType

WRITTEN_FOR = "strawberry-graphql>=0.341.2,<0.342"
MESSAGE_TOO_BIG = 1009  # WebSocket close code: a message past the size limit

__all__ = [
    "BaseGraphQLTransportWSHandler",
    "CannotGetOperationTypeError",
    "ConnectionInitMessage",
    "InputContext",
    "InvalidOperationTypeError",
    "NonJsonMessageReceived",
    "NonTextMessageReceived",
    "OperationType",
    "StrawberryEnumDefinition",
    "StrawberryGraphQLCoreExecutionContext",
    "StrawberryObjectDefinition",
    "StrawberryOptional",
    "StrawberryType",
    "SubscribeMessage",
    "TextFrameWebSocketAdapter",
    "TransportWSSteps",
    "ViewSteps",
    "WebSocketDisconnected",
    "aliases_rule",
    "convert_arguments",
    "depth_rule",
    "field_definition",
    "graphql_schema_of",
    "parse_content_type",
    "process_errors",
    "release_executor",
    "spans_of",
    "tracer_of",
    "validate_document",
]


@runtime_checkable
class LimitsMessages(Protocol):
    """A view that bounds its WebSocket messages."""

    max_message_bytes: int


class TextFrameWebSocketAdapter(ASGIWebSocketAdapter):
    """Sends every message in a text frame, as graphql-transport-ws requires: browsers' and
    Node's graphql-ws clients close on a binary one. (strawberry sends the bytes that our
    `encode_json` returns, to keep HTTP responses fast, as binary frames.) A message larger
    than the view's `max_message_bytes` closes the socket (1009) undecoded, as a body over the
    limit is a 413."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        """strawberry's, with the size limit."""
        view = self.view
        if not isinstance(view, LimitsMessages):
            raise TypeError("The view must say its max_message_bytes.")
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if len(text.encode()) > view.max_message_bytes:
                    await self.ws.close(MESSAGE_TOO_BIG, "The message is too large.")
                    return
                try:
                    yield view.decode_json(text)
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


class TransportWSSteps:
    """For strawberry's graphql-transport-ws handler: its undocumented steps, each handing over
    to a hook of the handler's, so that they are overridden here only. The results of each
    operation pass through `results_of(operation, results)` on their way to the socket, and
    `after_results(operation)` runs once strawberry's pipeline has sent the last of them,
    before the operation's `complete`.

    An operation that goes on for hours after its pipeline (`continuation(operation)` is not
    None) goes on without it: strawberry's task ends, freeing what it held (its frames, its
    finished stream), and `continue_results(operation, state)` runs in a task that takes the
    operation's place. While it has nothing to do, the operation may `park` with no task at
    all until it is resumed (a task then runs `continue_results` again, in the context of
    whatever resumed it); a `complete` from the client or the socket's close then calls
    `abandoned(state)`. Its end, its `complete` and its failures are those of
    strawberry's `run_operation`."""

    connection_init_timeout_task: asyncio.Task[None] | None  # the handler's
    # Parked operations, by id (see `park`).
    parked: dict[str, _Parked] | None = None
    # The `abandoned` calls under way: never awaited by the socket's reader (they may wait for
    # Redis), awaited at shutdown.
    abandoning: set[asyncio.Task[None]] | None = None

    def on_acknowledged(self) -> None:
        """connection_init was acknowledged."""

    async def admitted(self, message: Any) -> Any:
        """The subscribe message to run, or None for one refused (the hook answered it)."""
        return message

    async def on_shutdown(self) -> None:
        """The socket is closing; the operations' tasks end after this, whatever it does."""

    def results_of(self, operation: Any, results: AsyncIterator[Any]) -> AsyncIterator[Any]:
        return results

    async def after_results(self, operation: Any) -> None:
        """strawberry's pipeline of the operation has ended (not cancelled, not closed)."""

    def continuation(self, operation: Any) -> Any:
        """What the operation goes on with once its pipeline has ended, or None: it ends."""
        return None

    async def continue_results(self, operation: Any, state: Any) -> bool:
        """Go on with a `continuation`; True once parked (`park`), False once it has ended."""
        return False

    async def abandoned(self, state: Any) -> None:
        """A parked operation was completed by the client or its socket closed, or a
        continuation was cancelled before it ran; it may come again for a state already let
        go of, and then does nothing."""

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)  # type: ignore[misc]
        if self.connection_acknowledged:  # type: ignore[attr-defined]
            # strawberry's wait for connection_init sleeps its whole timeout even once it came.
            if self.connection_init_timeout_task is not None:
                self.connection_init_timeout_task.cancel()
                self.connection_init_timeout_task = None
            self.on_acknowledged()

    async def handle_subscribe(self, message: Any) -> None:
        try:
            admitted = message
            if self.connection_acknowledged:  # type: ignore[attr-defined]
                admitted = await self.admitted(message)
                if admitted is None:
                    return
            await super().handle_subscribe(admitted)  # type: ignore[misc]
        finally:
            # strawberry's loop holds the last message it read until the next comes: an idle
            # socket's, its subscribe, whose id, text and variables its operation keeps.
            message.clear()

    async def shutdown(self) -> None:
        try:
            await self.on_shutdown()
        finally:
            await super().shutdown()  # type: ignore[misc]
            await asyncio.sleep(0)  # the cancelled continuations' callbacks run first
            while self.abandoning:
                await asyncio.gather(*self.abandoning, return_exceptions=True)

    async def _send_result_stream(self, operation: Any, result_source: Any) -> None:
        results = self.results_of(operation, result_source)
        async with aclosing(results):  # type: ignore[type-var]
            await super()._send_result_stream(operation, results)  # type: ignore[misc]
        state = self.continuation(operation)
        if state is None:
            await self.after_results(operation)
        elif self.operations.get(operation.id) is operation:  # type: ignore[attr-defined]
            # strawberry reads an operation's text and variables only to start it.
            operation.query, operation.variables = "", None
            self._run_continuation(operation, state)
            raise _OperationStreamClosed  # strawberry's task ends without a complete
        else:  # completed or closed meanwhile: this task, cancelled, ends it
            await self.abandoned(state)

    def park(self, operation: Any, state: Any) -> Callable[[], None]:
        """The operation waits with no task until the callback returned is called: it resumes
        the operation, whose continuation then runs in a task of its own."""
        parked = _Parked(self, operation, state)
        if self.parked is None:
            self.parked = {}
        self.parked[operation.id] = parked
        operation.task = None
        return parked

    def resume(self, parked: _Parked) -> None:
        operation = parked.operation
        if self.parked is None or self.parked.get(operation.id) is not parked:
            return  # completed or closed meanwhile
        del self.parked[operation.id]
        self._run_continuation(operation, parked.state)

    async def cleanup_operation(self, operation_id: str) -> None:
        parked = self.parked.pop(operation_id, None) if self.parked else None
        if parked is None:
            await super().cleanup_operation(operation_id)  # type: ignore[misc]
            return
        del self.operations[operation_id]  # type: ignore[attr-defined]
        self._abandon(parked.state)

    def _abandon(self, state: Any) -> None:
        if self.abandoning is None:
            self.abandoning = set()
        task = asyncio.create_task(self.abandoned(state))
        self.abandoning.add(task)
        task.add_done_callback(self.abandoning.discard)

    def _run_continuation(self, operation: Any, state: Any) -> None:
        operation.task = asyncio.create_task(self._continue_operation(operation, state))
        operation.task.add_done_callback(self._task_done)  # type: ignore[attr-defined]
        operation.task.add_done_callback(partial(self._continuation_done, state))

    def _continuation_done(self, state: Any, task: asyncio.Task[None]) -> None:
        # A continuation cancelled before it ran (a complete or the socket's close in the turn
        # that resumed it) never reached the code that lets its stream go.
        if task.cancelled():
            self._abandon(state)

    async def _continue_operation(self, operation: Any, state: Any) -> None:
        """The operation's continuation and its `complete`, as strawberry's `run_operation`
        ends an operation, failures included."""
        try:
            if await self.continue_results(operation, state):
                return  # parked
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except Exception as error:
            await self.handle_task_exception(error)  # type: ignore[attr-defined]
            with suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)  # type: ignore[attr-defined]
            raise


class _Parked:
    """An operation parked by its handler (`TransportWSSteps.park`), and the callback that
    resumes it: a plain object, as it waits with the operation for hours."""

    __slots__ = ("handler", "operation", "state")

    def __init__(self, handler: TransportWSSteps, operation: Any, state: Any) -> None:
        self.handler = handler
        self.operation = operation
        self.state = state

    def __call__(self) -> None:
        self.handler.resume(self)


class ViewSteps:
    """For strawberry's ASGI view: its undocumented request steps, each handing over to a hook
    of the view's (named for what it decides), so that they are overridden here only."""

    async def before_operations(self, request: Any, request_data: Any, context: Any) -> Any:
        """The result to answer instead of executing the request (one or a batch), or None."""
        return None

    def before_single(self, request_data: Any) -> Any:
        """The result to answer instead of executing one operation of a request, or None."""
        return None

    def after_single(self, request: Any, request_data: Any) -> None:
        """One operation of the request was executed."""

    async def given_fields(self, request: Any) -> Any:
        """The request's own fields (its decoded JSON body, or its query parameters), before
        strawberry reads them."""
        return None

    def parsed_requests(self, parsed: Any, given: Any) -> Any:
        """What strawberry parsed of the request, as the view runs it."""
        return parsed

    def finished_response(self, response: Any, sub_response: Any) -> Any:
        return response

    def decoded_json(self, data: str | bytes) -> Any:
        """A request body's or parameter's JSON."""
        return super().parse_json(data)  # type: ignore[misc]

    def parse_json(self, data: str | bytes) -> Any:
        return self.decoded_json(data)

    def may_render_graphql_ide(self, request: Any) -> bool:
        return True

    async def execute_operation(
        self,
        request: Any,
        request_adapter: Any,
        request_data: Any,
        context: Any,
        root_value: Any,
        sub_response: Any,
    ) -> Any:
        answer = await self.before_operations(request, request_data, context)
        if answer is not None:
            return answer
        return await super().execute_operation(  # type: ignore[misc]
            request, request_adapter, request_data, context, root_value, sub_response
        )

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Any,
        root_value: Any,
        request_data: Any,
    ) -> Any:
        answer = self.before_single(request_data)
        if answer is not None:
            return answer
        result = await super().execute_single(  # type: ignore[misc]
            request, request_adapter, sub_response, context, root_value, request_data
        )
        self.after_single(request, request_data)
        return result

    async def parse_http_body(self, request: Any) -> Any:
        given = await self.given_fields(request)
        return self.parsed_requests(await super().parse_http_body(request), given)  # type: ignore[misc]

    def create_response(self, response_data: Any, sub_response: Any) -> Any:
        response = super().create_response(response_data, sub_response)  # type: ignore[misc]
        return self.finished_response(response, sub_response)

    def should_render_graphql_ide(self, request: Any) -> bool:
        return super().should_render_graphql_ide(request) and self.may_render_graphql_ide(  # type: ignore[misc]
            request
        )


def field_definition(field: GraphQLField) -> Any:
    """The strawberry field a GraphQL field was made from (None for one strawberry did not
    make, such as `__typename`)."""
    return field.extensions.get("strawberry-definition")


def graphql_schema_of(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema strawberry built and executes."""
    return schema._schema


def process_errors(schema: Any, errors: list[Any], context: Any) -> None:
    """What strawberry does to the errors of a result before sending it, for an operation of
    `context` (the schema's `process_errors`, after hiding field suggestions if configured)."""
    schema._process_errors(errors, _ExecutionContextOf(context))


class _ExecutionContextOf:
    """What `process_errors` reads of strawberry's execution context: the operation's context."""

    __slots__ = ("context",)

    def __init__(self, context: Any) -> None:
        self.context = context


def release_executor(info: Any) -> None:
    """Let refcounting free the graphql-core executor that resolved `info`'s field, once it
    executes no more. Its async helpers are its own bound methods: a reference cycle, which
    would wait for a full collection (an executor lives long enough to reach the oldest
    generation) while the memory it holds cannot serve anything else."""
    track = info._raw_info.async_helpers.track
    executor = getattr(track, "__self__", None)
    if executor is not None:
        executor.async_helpers = None


def tracer_of(extension: Any) -> Any:
    """The OpenTelemetry tracer of strawberry's OpenTelemetryExtension."""
    return extension._tracer


def spans_of(extension: Any) -> dict[Any, Any]:
    """strawberry's OpenTelemetryExtension's open spans, by lifecycle step."""
    return extension._span_holder
