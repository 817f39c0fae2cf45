"""Resolvers for the audit trail."""

from __future__ import annotations

import json
from datetime import datetime

from domain import audit_trail, records
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import Info, principal_of


async def audit_trail_page(
    info: Info,
    actor: str | None,
    operation: str | None,
    since: datetime | None,
    until: datetime | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> ConnectionView[records.AuditEntry]:
    page = await audit_trail.trail_page(
        principal_of(info), actor, operation, since, until, page_request(first, after, last, before)
    )
    return to_connection(page)


def input_of(entry: records.AuditEntry) -> str:
    return json.dumps(entry.input, ensure_ascii=False, sort_keys=True)
