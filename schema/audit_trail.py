"""The audit trail of staff, admins and partners, for the brand's admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from domain import records
from resolvers import audit_trail as resolve
from resolvers.connections import ConnectionView
from resolvers.context import Info
from schema.permissions import IsBrandAdmin
from schema.relay import Connection, Node


@strawberry.type(
    description="A state-changing operation by the brand's staff, admins or partners, written "
    "with it (an operation that failed changed nothing and is not here)."
)
class AuditEntry(Node):
    actor: str = strawberry.field(description="ROLE:subject, e.g. STAFF:cashier-7.")
    operation: str = strawberry.field(description="The mutation, e.g. recordPurchase.")
    targets: list[strawberry.ID] = strawberry.field(
        description="Global ids of the records it named or made."
    )
    request_id: str = strawberry.field(description="As the response's X-Request-Id said.")
    created_at: datetime

    @strawberry.field(description="What it was asked, as JSON, secrets left out.")
    def input(self, entry: strawberry.Parent[records.AuditEntry]) -> str:
        return resolve.input_of(entry)


@strawberry.type
class AuditTrailQueries:
    @strawberry.field(
        permission_classes=[IsBrandAdmin],
        description="Newest first; kept for POINTSMALL_AUDIT_RETENTION_DAYS.",
        graphql_type=Connection[AuditEntry],
    )
    async def audit_trail(
        self,
        info: Info,
        actor: str | None = None,
        operation: str | None = None,
        from_: Annotated[
            datetime | None, strawberry.argument(name="from", description="Included.")
        ] = None,
        to: Annotated[datetime | None, strawberry.argument(description="Excluded.")] = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> ConnectionView[records.AuditEntry]:
        return await resolve.audit_trail_page(
            info, actor, operation, from_, to, first, after, last, before
        )
