"""The GraphQL endpoint: strawberry's ASGI view with our auth, context and HTTP conventions."""

from __future__ import annotations

import itertools
import secrets
from math import ceil
from pathlib import Path
from typing import Any

import orjson
from cross_web import HTTPException  # strawberry raises its HTTP errors as this
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.types import ExecutionResult

from resolvers.loaders import Loaders
from schema.context import Context
from schema.observability import OperationMetrics
from server.auth import AuthenticationFailed, Authenticator, RateLimited
from server.hot_path import HotPath
from server.logs import request_id_var

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
GRAPHQL_RESPONSE_CONTENT_TYPE = GRAPHQL_RESPONSE_JSON + "; charset=utf-8"
GRAPHIQL_PAGE = Path(__file__).parent / "static" / "graphiql" / "index.html"
HTTP_ERROR_CODES = {401: "UNAUTHENTICATED", 403: "FORBIDDEN", 429: "RATE_LIMITED"}


# Request ids: this process's random tag, then a count (32 hex digits, as a uuid's). Cheaper
# than a uuid4, which reads the system's random source for every request.
_PROCESS_TAG = secrets.token_hex(8)
_request_numbers = itertools.count()


def new_request_id() -> str:
    return f"{_PROCESS_TAG}{next(_request_numbers):016x}"


def error_response(
    status: int, message: str, extensions: dict[str, Any] | None = None, **headers: str
) -> JSONResponse:
    """An error outside GraphQL execution, still shaped as a GraphQL response."""
    code = HTTP_ERROR_CODES.get(status, "BAD_REQUEST")
    body = {"errors": [{"message": message, "extensions": {"code": code, **(extensions or {})}}]}
    return JSONResponse(body, status_code=status, headers=headers or None)


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
    return (
        result.data is None and bool(result.errors) and all(e.path is None for e in result.errors)
    )


class GraphQLEndpoint(GraphQL):
    """Authenticates every request and connection, and speaks GraphQL-over-HTTP.

    Backends and the authenticator come from the lifespan's state, per request. Refused flash
    sale entries take a short way (server/hot_path.py).
    """

    def __init__(self, *args: Any, metrics: OperationMetrics | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hot_path = HotPath(metrics, self.encode_json, response_media_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        request_id = request.headers.get("x-request-id") or new_request_id()
        token = request_id_var.set(request_id)
        try:
            try:
                response = await self.hot_path.answer(request) or await self.run(request)
            except AuthenticationFailed as failure:
                response = error_response(401, str(failure), **{"WWW-Authenticate": "Bearer"})
            except RateLimited as limited:
                wait = round(limited.retry_after, 3)
                response = error_response(
                    429, str(limited), {"retryAfter": wait}, **{"Retry-After": str(ceil(wait))}
                )
            except HTTPException as failure:
                response = error_response(failure.status_code, failure.reason)
            response.headers["X-Request-Id"] = request_id
            await response(scope, receive, send)
        finally:
            request_id_var.reset(token)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        backends = request.state.backends
        context = Context(
            request=request,
            response=response,
            backends=backends,
            loaders=Loaders(backends),
            request_id=request_id_var.get() if isinstance(request, Request) else new_request_id(),
            flash_verdict=getattr(request.state, "flash_verdict", None),
        )
        if isinstance(request, Request):
            context.principal = await request.state.authenticator.authenticate(
                request.headers.get("authorization"),
                request.headers.get("x-brand"),
                request.headers.get("x-api-key"),
            )
            if wants_graphql_response_json(request.headers.get("accept", "")):
                response.media_type = GRAPHQL_RESPONSE_JSON
            request.state.sub_response = response
        return context

    async def on_ws_connect(self, context: Context) -> None:
        """A subscription connection authenticates once, in its connection_init payload."""
        params = context.connection_params or {}
        authorization = params.get("Authorization") or params.get("authorization")
        brand = params.get("X-Brand") or params.get("x-brand")
        api_key = params.get("X-Api-Key") or params.get("x-api-key")
        authenticator: Authenticator = context.request.state.authenticator
        try:
            principal = await authenticator.authenticate(
                authorization if isinstance(authorization, str) else None,
                brand if isinstance(brand, str) else None,
                api_key if isinstance(api_key, str) else None,
            )
        except (AuthenticationFailed, RateLimited):
            raise ConnectionRejectionError() from None
        if principal is None:
            raise ConnectionRejectionError()
        context.principal = principal

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        body = process_result(result)
        if is_request_error(result):
            body.pop("data", None)  # GraphQL-over-HTTP: a request error has no data entry
            sub_response = request.state.sub_response
            if sub_response.media_type == GRAPHQL_RESPONSE_JSON:
                sub_response.status_code = 400
        else:
            await self.hot_path.executed(request)
        return body

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        if sub_response.media_type == GRAPHQL_RESPONSE_JSON:
            response.headers["content-type"] = GRAPHQL_RESPONSE_CONTENT_TYPE
        return response

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(GRAPHIQL_PAGE.read_text())

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)
