"""The context every field sees as `info.context`, the `Info` every resolver takes, and
reading the caller and the clock out of them.

Design: docs/architecture.md, "Where types are checked".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeAlias

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from domain.flash_sales.entry import Verdict
from domain.principal import Principal
from domain.runtime import Backends
from resolvers.loaders import Loaders


@dataclass
class Context:
    """One request's (or one WebSocket's) context."""

    request: Request | WebSocket
    response: Response | WebSocket  # strawberry's sub-response, or the socket itself
    backends: Backends
    loaders: Loaders
    request_id: str
    principal: Principal | None = None
    # connection_init's payload: whatever JSON object the client sent.
    connection_params: dict[str, Any] | None = None
    # The entry script's verdict on this request's enterFlashSale, when its pre-check
    # (schema/prechecks.py) asked it already and found no refusal to give.
    flash_verdict: Verdict | None = None


Info: TypeAlias = strawberry.Info[Context, None]


class StreamTakeover(Protocol):
    """A socket that renders a subscription's later events itself (server/planned_streams.py)."""

    def after_first(
        self, values: AsyncIterator[Any], value_of: Callable[[Any], Any], info: Any
    ) -> AsyncIterator[Any]:
        """What the subscription's resolver returns instead of the field's values, `value_of`
        each of `values` (its `info` with it)."""
        ...


# Set by a socket's operation while strawberry starts it, when the socket can render its
# subscription's events: the field's resolver hands its stream over (`after_first`).
stream_takeover: ContextVar[StreamTakeover | None] = ContextVar("stream_takeover", default=None)


def principal_of(info: Info) -> Principal:
    """The caller; fields that call this are guarded by a permission that ensures one."""
    principal = info.context.principal
    if principal is None:
        raise RuntimeError("guard this field with a permission class")
    return principal


def now_of(info: Info) -> datetime:
    return info.context.backends.clock.now()
