"""Segments: tags the brand's admins give members, by ids or by a filter, and saved filters."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import records
from resolvers import segments as resolve
from resolvers.context import Info
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
    def tier_codes(self, member_filter: strawberry.Parent[records.MemberFilter]) -> list[str]:
        return list(resolve.spec_of(member_filter).tier_codes)

    @strawberry.field
    def segments(self, member_filter: strawberry.Parent[records.MemberFilter]) -> list[str]:
        return list(resolve.spec_of(member_filter).segments)

    @strawberry.field
    def joined_from(
        self, member_filter: strawberry.Parent[records.MemberFilter]
    ) -> datetime | None:
        return resolve.spec_of(member_filter).joined_from

    @strawberry.field
    def joined_to(self, member_filter: strawberry.Parent[records.MemberFilter]) -> datetime | None:
        return resolve.spec_of(member_filter).joined_to

    @strawberry.field
    def tags(self, member_filter: strawberry.Parent[records.MemberFilter]) -> list[str]:
        return list(resolve.spec_of(member_filter).tags)

    @strawberry.field
    def search(self, member_filter: strawberry.Parent[records.MemberFilter]) -> str | None:
        return resolve.spec_of(member_filter).search


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
    @strawberry.field(
        permission_classes=[IsBrandAdmin], description="By code.", graphql_type=list[MemberFilter]
    )
    async def member_filters(self, info: Info) -> list[records.MemberFilter]:
        return await resolve.member_filters(info)


@strawberry.type
class SegmentMutations:
    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=TagMembersPayload)
    async def tag_members(
        self, info: Info, input: TagMembersInput
    ) -> resolve.TagMembersPayloadView:
        return await resolve.tag_members(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=SaveMemberFilterPayload)
    async def save_member_filter(
        self, info: Info, input: SaveMemberFilterInput
    ) -> resolve.SaveMemberFilterPayloadView:
        return await resolve.save_member_filter(info, input)
