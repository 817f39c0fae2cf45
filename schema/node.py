"""`node(id:)`: resolves any global id the caller may see."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import node as resolve
from schema.permissions import HasBrand
from schema.relay import Node


@strawberry.type
class NodeQueries:
    @strawberry.field(permission_classes=[HasBrand])
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await resolve.node(info, id)
