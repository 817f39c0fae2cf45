"""Apps of the service built with other settings, beside the session's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx


@asynccontextmanager
async def client_on_session_backends(
    application: Any, running_app: tuple[Any, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `application`, served with the session's app's backends, as its lifespan
    yields them (a lifespan of its own would close the database they share)."""
    served = running_app[0].state
    state = {"backends": served.backends, "authenticator": served.authenticator}

    async def with_session_state(scope, receive, send) -> None:
        await application({**scope, "state": dict(state)}, receive, send)

    transport = httpx.ASGITransport(app=with_session_state)
    async with httpx.AsyncClient(transport=transport, base_url="http://pointsmall.test") as http:
        yield http
