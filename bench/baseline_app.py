"""The floor: a plain Starlette JSON POST endpoint, served by uvicorn exactly like the service."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def echo(request: Request) -> Response:
    """Decode the JSON body and answer a small JSON document, as a GraphQL endpoint would."""
    payload = await request.json()
    return JSONResponse({"data": {"keys": sorted(payload)}})


async def readyz(request: Request) -> Response:
    return JSONResponse({"status": "ready"})


def create_app() -> Starlette:
    """The factory uvicorn calls (`bench.baseline_app:create_app`)."""
    return Starlette(routes=[Route("/echo", echo, methods=["POST"]), Route("/readyz", readyz)])
