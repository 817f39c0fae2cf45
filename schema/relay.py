"""Relay conventions: the Node interface, global ids, connections and their page info.

Domain records are served as they are: a strawberry type here is a view of the record class
of the same name (the `Brand` type shows `db.models.Brand` rows), so `is_type_of` matches by
class name and no field is copied into an intermediate object. A field says so: its Python
annotation is what its resolver returns (`records.Brand`), its `graphql_type` the type shown
(`Brand`), and a resolver of the type's own reads its record as `strawberry.Parent`. Enums
too are the domain's own classes, which `strawberry.enum` marks in place: an area names one by
an alias of its GraphQL name (`ApiKeyScope = Scope`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Generic, Protocol, TypeVar

import strawberry
from graphql import GraphQLResolveInfo

from resolvers.context import Info
from resolvers.ids import encode_id

if TYPE_CHECKING:
    from schema.members import Member

NodeT = TypeVar("NodeT")
# A member, from any module the members' own imports (a lazy reference breaks the cycle).
MemberRef = Annotated["Member", strawberry.lazy("schema.members")]


class Keyed(Protocol):
    """What a node is served from: a record, or a copy of one, with its primary key."""

    @property
    def pk(self) -> int: ...


@strawberry.interface(description="An object with a global id that `node(id:)` resolves.")
class Node:
    @strawberry.field(description='Opaque global id: base64 of "Type:pk".')
    def id(self, info: Info, record: strawberry.Parent[Keyed]) -> strawberry.ID:
        typename = info.path.typename
        assert typename is not None  # a field of an object type
        return strawberry.ID(encode_id(typename, record.pk))

    @classmethod
    def is_type_of(cls, obj: object, info: GraphQLResolveInfo) -> bool:
        return isinstance(obj, cls) or type(obj).__name__ == cls.__name__


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    """A page of a list that can grow; named `<Type>Connection` in the schema."""

    edges: list[Edge[NodeT]]
    page_info: PageInfo
    total_count: int
