"""The per-request (or per-WebSocket) context every field sees as `info.context`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.flash_sales.entry import Verdict
from domain.principal import Principal
from domain.runtime import Backends
from resolvers.loaders import Loaders


@dataclass
class Context:
    request: Any
    response: Any
    backends: Backends
    loaders: Loaders
    request_id: str
    principal: Principal | None = None
    connection_params: dict[str, Any] | None = None
    # The entry script's verdict on this request's enterFlashSale, when its pre-check
    # (schema/prechecks.py) asked it already and found no refusal to give.
    flash_verdict: Verdict | None = None
