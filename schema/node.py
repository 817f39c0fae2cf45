"""`node(id:)`: resolves any global id the caller may see."""

from __future__ import annotations

import strawberry

from resolvers import node as resolve
from resolvers.context import Info
from schema.permissions import HasBrand
from schema.relay import Node


@strawberry.type
class NodeQueries:
    @strawberry.field(permission_classes=[HasBrand], graphql_type=Node | None)
    async def node(self, info: Info, id: strawberry.ID) -> object | None:
        return await resolve.node(info, id)
