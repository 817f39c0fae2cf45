"""Segments: tags the brand's admins give members, by ids or by a filter, and saved filters."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from resolvers import segments as resolve
from schema.errors import UserError
from schema.permissions import IsBrandAdmin


@strawberry.input(description="Which of the brand's members: every part given must hold.")
class MemberFilterInput:
    tier_codes: list[str] | None = strawberry.field(default=None, description="In any of these.")
    segments: list[str] | None = strawberry.field(
        default=None, description="In any of these RFM segments (as last scored, hourly)."
    )
    joined_from: datetime | None = None
    joined_to: datetime | None = strawberry.field(default=None, description="Joined before it.")
    tags: list[str] | None = strawberry.field(default=None, description="With any of these.")
    search: str | None = strawberry.field(
        default=None, description="As `members(search:)`: name, phone, email or a code."
    )


@strawberry.type(description="A filter of the brand's members, saved by code.")
class MemberFilter:
    code: str
    name: str
    updated_at: datetime

    @strawberry.field
    def tier_codes(self) -> list[str]:
        return resolve.spec_of(self).tier_codes

    @strawberry.field
    def segments(self) -> list[str]:
        return resolve.spec_of(self).segments

    @strawberry.field
    def joined_from(self) -> datetime | None:
        return resolve.spec_of(self).joined_from

    @strawberry.field
    def joined_to(self) -> datetime | None:
        return resolve.spec_of(self).joined_to

    @strawberry.field
    def tags(self) -> list[str]:
        return resolve.spec_of(self).tags

    @strawberry.field
    def search(self) -> str | None:
        return resolve.spec_of(self).search


@strawberry.input(
    description="Tag (or untag, with remove) members named by memberIds (up to 1,000), by a "
    "filter, or by a saved filter's code: exactly one of the three."
)
class TagMembersInput:
    tag: str = strawberry.field(description="1 to 40 of A-Z, 0-9, _ and - (upper-cased).")
    member_ids: list[strawberry.ID] | None = None
    filter: MemberFilterInput | None = None
    filter_code: str | None = None
    remove: bool = False
    idempotency_key: str


@strawberry.type
class TagMembersPayload:
    changed: int | None = strawberry.field(
        description="Members tagged (or untagged) by this call; those who were already are not "
        "counted."
    )
    user_errors: list[UserError]


@strawberry.input
class SaveMemberFilterInput:
    code: str = strawberry.field(
        description="1 to 40 of A-Z, 0-9, _ and -; saving it again replaces it."
    )
    name: str
    filter: MemberFilterInput
    idempotency_key: str


@strawberry.type
class SaveMemberFilterPayload:
    member_filter: MemberFilter | None
    user_errors: list[UserError]


@strawberry.type
class SegmentQueries:
    @strawberry.field(permission_classes=[IsBrandAdmin], description="By code.")
    async def member_filters(self, info: Info) -> list[MemberFilter]:
        return await resolve.member_filters(info)


@strawberry.type
class SegmentMutations:
    @strawberry.mutation(permission_classes=[IsBrandAdmin])
    async def tag_members(self, info: Info, input: TagMembersInput) -> TagMembersPayload:
        return await resolve.tag_members(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin])
    async def save_member_filter(
        self, info: Info, input: SaveMemberFilterInput
    ) -> SaveMemberFilterPayload:
        return await resolve.save_member_filter(info, input)
