"""The GraphQL endpoint: strawberry's ASGI view with our auth, context and HTTP conventions.

Design: docs/architecture.md, "The request path over HTTP".
"""

from __future__ import annotations

import re
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from math import ceil
from pathlib import Path
from typing import Any, Protocol

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException  # strawberry raises HTTP errors
from graphql import GraphQLError, get_operation_ast
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.types import ExecutionResult

from domain.runtime import request_id_var
from resolvers.context import Context
from resolvers.loaders import Loaders
from schema.documents import PERSISTED_QUERY_NOT_FOUND, DocumentRefused, DocumentRegistry
from schema.observability import OperationMetrics
from schema.safety import GuardedSchema
from schema.strawberry_internals import TextFrameWebSocketAdapter, ViewSteps, parse_content_type
from server.auth import AuthenticationFailed, RateLimited
from server.logs import ACCESS, new_request_id, request_id_of
from server.prechecks import CHARGED, PRINCIPAL, VERDICT, Prechecks
from server.shared_streams import SharedStreams
from server.sockets import AuthorizedTransportWSHandler, authenticate_connection

NOT_AUTHENTICATED = object()  # no pre-check authenticated the request
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
GRAPHQL_RESPONSE_CONTENT_TYPE = GRAPHQL_RESPONSE_JSON + "; charset=utf-8"
GRAPHIQL_PAGE = Path(__file__).parent / "static" / "graphiql" / "index.html"
HTTP_ERROR_CODES = {401: "UNAUTHENTICATED", 403: "FORBIDDEN", 429: "RATE_LIMITED"}
# The members of a request object, when given, as GraphQL-over-HTTP types them.
REQUEST_MEMBERS = {
    "query": (str, "a string"),
    "operationName": (str, "a string"),
    "variables": (dict, "an object"),
    "extensions": (dict, "an object"),
}


def check_request_body(body: object) -> None:
    """A 400 for a JSON body that is not a request object, or a non-empty list of them (a batch),
    with members of their types (strawberry would fail on it with a 500, or pass it on)."""
    if body == []:
        raise HTTPException(400, "A batch must hold at least one request.")
    for item in body if isinstance(body, list) else [body]:
        if not isinstance(item, dict):
            raise HTTPException(
                400, "The request body must be a JSON object, or a list of them for a batch."
            )
        for name, (kind, what) in REQUEST_MEMBERS.items():
            if not isinstance(item.get(name), kind | None):
                raise HTTPException(400, f"The request's `{name}` must be {what} or null.")


def error_response(
    status: int,
    message: str,
    extensions: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An error outside GraphQL execution, still shaped as a GraphQL response."""
    code = HTTP_ERROR_CODES.get(status, "BAD_REQUEST")
    body = {"errors": [{"message": message, "extensions": {"code": code, **(extensions or {})}}]}
    return JSONResponse(body, status_code=status, headers=headers)


def wants_graphql_response_json(accept: str) -> bool:
    """Whether the client asked for the GraphQL-over-HTTP media type before plain JSON."""
    media = [part.split(";")[0].strip() for part in accept.split(",")]
    if GRAPHQL_RESPONSE_JSON not in media:
        return False
    return "application/json" not in media or media.index(GRAPHQL_RESPONSE_JSON) < media.index(
        "application/json"
    )


def response_media_type(accept: str) -> str:
    """The content type of a response to a request with this Accept header."""
    if wants_graphql_response_json(accept):
        return GRAPHQL_RESPONSE_CONTENT_TYPE
    return "application/json"


def is_request_error(result: ExecutionResult) -> bool:
    """A parse or validation failure: nothing was executed, so the response has no data."""
    if result.data is not None or not result.errors:
        return False
    return all(error.path is None for error in result.errors)


def is_persisted_query_not_found(result: ExecutionResult) -> bool:
    """APQ's "send the text" answer, which clients expect with HTTP 200 whatever they accept."""
    return any(
        (error.extensions or {}).get("code") == PERSISTED_QUERY_NOT_FOUND
        for error in result.errors or ()
    )


@dataclass
class NamedDocumentRequest(GraphQLRequestData):
    """A request whose document was named by hash or id: `query` is its text, or `refused`
    says why this server will not run it."""

    refused: DocumentRefused | None = None


class PrecheckAnswers(Protocol):
    """What may answer a request before GraphQL execution (server/prechecks.py)."""

    async def answer(self, request: Request) -> Response | None:
        """The response, or None: the request goes through execution."""
        ...


class GraphQLEndpoint(ViewSteps, GraphQL[Context, None]):
    """Authenticates every request and connection, and speaks GraphQL-over-HTTP.

    Backends and the authenticator come from the lifespan's state, per request. Documents are
    named by text, persisted-query hash or trusted id (schema/documents.py); a field's pre-check
    may answer before execution (server/prechecks.py). Sockets: server/sockets.py.
    """

    websocket_adapter_class = TextFrameWebSocketAdapter
    graphql_transport_ws_handler_class = AuthorizedTransportWSHandler

    def __init__(
        self,
        *args: Any,
        metrics: OperationMetrics | None = None,
        allowed_origin_pattern: str | None = None,
        max_message_bytes: int = 1024 * 1024,
        prechecks: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        schema = self.schema
        if not isinstance(schema, GuardedSchema) or schema.documents is None:
            raise TypeError("the endpoint serves a schema of build_schema's, with its documents")
        self.documents: DocumentRegistry = schema.documents
        self.max_message_bytes = max_message_bytes  # of a WebSocket message (server/sockets.py)
        self.allowed_origin_pattern = (
            re.compile(allowed_origin_pattern) if allowed_origin_pattern else None
        )
        self.prechecks: PrecheckAnswers | None = (
            Prechecks(self.documents, metrics, self.encode_json, response_media_type)
            if prechecks
            else None
        )
        self.shared_streams = SharedStreams()  # of this process's sockets (server/sockets.py)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
        # Not a coroutine itself: a socket's life runs in strawberry's, with no frame of ours.
        if scope["type"] != "http":
            return super().__call__(scope, receive, send)
        return self.serve_http(scope, receive, send)

    async def serve_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        request_id = request_id_of(scope)  # AccessLog's, when installed
        token = request_id_var.set(request_id)
        try:
            try:
                response = None
                if self.prechecks is not None:
                    response = await self.prechecks.answer(request)
                response = response or await self.run(request)
            except AuthenticationFailed as failure:
                response = error_response(401, str(failure), headers={"WWW-Authenticate": "Bearer"})
            except RateLimited as limited:
                wait = round(limited.retry_after, 3)
                response = error_response(
                    429, str(limited), {"retryAfter": wait}, {"Retry-After": str(ceil(wait))}
                )
            except HTTPException as failure:
                response = error_response(failure.status_code, failure.reason)
            response.headers["X-Request-Id"] = request_id
            await response(scope, receive, send)
        finally:
            request_id_var.reset(token)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        backends = request.state.backends
        context = Context(
            request=request,
            response=response,
            backends=backends,
            loaders=Loaders(backends),
            request_id=request_id_var.get() if isinstance(request, Request) else new_request_id(),
            flash_verdict=request.scope.get(VERDICT),
        )
        if isinstance(request, Request):
            assert isinstance(response, Response)  # strawberry's sub-response, for HTTP
            principal = request.scope.get(PRINCIPAL, NOT_AUTHENTICATED)
            if principal is NOT_AUTHENTICATED:  # else a pre-check authenticated it already
                principal = await request.state.authenticator.authenticate(
                    request.headers.get("authorization"),
                    request.headers.get("x-brand"),
                    request.headers.get("x-api-key"),
                )
            context.principal = principal
            note = request.scope.get(ACCESS)
            if note is not None and principal is not None:
                note.brand = principal.brand_code
            if wants_graphql_response_json(request.headers.get("accept", "")):
                response.media_type = GRAPHQL_RESPONSE_JSON
            request.state.sub_response = response
        return context

    def is_websocket_origin_allowed(self, request: WebSocket, origin: str) -> bool:
        """The listed origins, and those of the pattern (in development, this machine's)."""
        pattern = self.allowed_origin_pattern
        return super().is_websocket_origin_allowed(request, origin) or bool(
            pattern and pattern.fullmatch(origin)
        )

    async def on_ws_connect(self, context: Context) -> None:
        """A socket authenticates in its connection_init payload (and again before each of its
        operations: server/sockets.py)."""
        try:
            principal = await authenticate_connection(context)
        except AuthenticationFailed:
            raise ConnectionRejectionError() from None
        if principal is None:
            raise ConnectionRejectionError()
        context.principal = principal

    async def before_operations(
        self,
        request: Request,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
    ) -> ExecutionResult | None:
        """A partner's key pays for every operation of the request (unless a pre-check charged
        it already); a document this server will not run is refused."""
        operations = len(request_data) if isinstance(request_data, list) else 1
        if not request.scope.get(CHARGED):
            await request.state.authenticator.charge(context.principal, operations)
        return self.before_single(request_data)

    def before_single(
        self, request_data: GraphQLRequestData | list[GraphQLRequestData]
    ) -> ExecutionResult | None:
        if isinstance(request_data, NamedDocumentRequest) and request_data.refused is not None:
            return self.refusal(request_data.refused)  # the request, or one of a batch
        return None

    def after_single(self, request: Request, request_data: GraphQLRequestData) -> None:
        note = request.scope.get(ACCESS)
        if note is not None:
            name = self.operation_name(request_data.query, request_data.operation_name)
            if name is not None:  # a batch's names, comma-separated
                note.operation = name if note.operation is None else f"{note.operation},{name}"

    def operation_name(self, query: str | None, given: str | None) -> str | None:
        """An operation's name for the access log: the client's, else its document's."""
        if given or not isinstance(query, str):
            return given
        try:
            operation = get_operation_ast(self.documents.document(query).parsed)
        except GraphQLError:
            return None  # a document that does not parse has no operation
        return operation.name.value if operation is not None and operation.name else None

    def shared_payload(self, result: object) -> str | None:
        """A subscription result's `next` payload, as strawberry writes it, to send every
        subscriber of a shared stream; None for one that is not to be shared (with errors, or
        not a result)."""
        if not isinstance(result, ExecutionResult) or result.errors or result.data is None:
            return None
        payload: dict[str, Any] = {"data": result.data}
        if result.extensions:
            payload["extensions"] = result.extensions
        return self.encode_json(payload).decode()

    def refusal(self, refused: DocumentRefused) -> ExecutionResult:
        """The result of a request whose document this server will not run."""
        errors = [refused.error()]
        self.schema.process_errors(errors)  # counted by code, as every error
        return ExecutionResult(data=None, errors=errors)

    def decoded_json(self, data: str | bytes) -> Any:
        """orjson, which bounds what the json module lets through to a 500 (nesting past 1,024
        levels, a number past a double's range): such a body or parameter is a 400."""
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise HTTPException(400, "Unable to parse request body as JSON") from error

    async def given_fields(self, request: AsyncHTTPRequestAdapter) -> Any:
        """A JSON body, its shape checked (strawberry reads it unchecked; the second decoding,
        by orjson, costs a microsecond), or a GET's parameters."""
        content_type, _ = parse_content_type(request.content_type or "")
        if request.method == "POST" and "application/json" in content_type:
            given = self.decoded_json(await request.get_body())
            check_request_body(given)
            return given
        if request.method == "GET":
            return dict(request.query_params)
        return None

    def parsed_requests(
        self, parsed: GraphQLRequestData | list[GraphQLRequestData], given: Any
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Each request with the text of the document it names."""
        if isinstance(parsed, list):
            return [self.named(data, item) for data, item in zip(parsed, given, strict=True)]
        return self.named(parsed, given if isinstance(given, dict) else {})

    def named(self, data: GraphQLRequestData, given: dict[str, Any]) -> GraphQLRequestData:
        """The request with the text of the document it names (schema/documents.py)."""
        try:
            query = self.documents.resolve(data.query, data.extensions, given.get("documentId"))
        except DocumentRefused as refused:
            return NamedDocumentRequest(**vars(data), refused=refused)
        if query is data.query:
            return data
        return NamedDocumentRequest(**{**vars(data), "query": query})

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        body = process_result(result)
        if is_request_error(result):
            body.pop("data", None)  # GraphQL-over-HTTP: a request error has no data entry
            sub_response = request.state.sub_response
            if sub_response.media_type == GRAPHQL_RESPONSE_JSON and not (
                is_persisted_query_not_found(result)
            ):
                sub_response.status_code = 400
        return body

    def finished_response(self, response: Response, sub_response: Response) -> Response:
        if sub_response.media_type == GRAPHQL_RESPONSE_JSON:
            response.headers["content-type"] = GRAPHQL_RESPONSE_CONTENT_TYPE
        return response

    def may_render_graphql_ide(self, request: Request) -> bool:
        """A GET naming its document by hash or id is a request, not a browser's visit."""
        params = request.query_params
        return params.get("extensions") is None and params.get("documentId") is None

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(GRAPHIQL_PAGE.read_text())

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)
