"""Resolvers for the audit trail."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from domain import audit_trail
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import principal_of


async def audit_trail_page(
    info: Any,
    actor: str | None,
    operation: str | None,
    since: datetime | None,
    until: datetime | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> ConnectionView:
    page = await audit_trail.trail_page(
        principal_of(info), actor, operation, since, until, page_request(first, after, last, before)
    )
    return to_connection(page)


def input_of(entry: Any) -> str:
    return json.dumps(entry.input, ensure_ascii=False, sort_keys=True)
