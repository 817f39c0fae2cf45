"""Resolvers for segments: member tags and saved filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import strawberry

from domain import records, segments
from resolvers.context import Info, now_of, principal_of
from resolvers.ids import decode_id
from resolvers.payloads import PayloadView, reports_user_errors


class MemberFilterFields(Protocol):
    tier_codes: list[str] | None
    segments: list[str] | None
    joined_from: datetime | None
    joined_to: datetime | None
    tags: list[str] | None
    search: str | None


class TagMembersFields(Protocol):
    tag: str
    member_ids: list[strawberry.ID] | None
    filter_code: str | None
    remove: bool
    idempotency_key: str

    @property
    def filter(self) -> MemberFilterFields | None: ...


class SaveMemberFilterFields(Protocol):
    code: str
    name: str
    idempotency_key: str

    @property
    def filter(self) -> MemberFilterFields: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TagMembersPayloadView(PayloadView):
    changed: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveMemberFilterPayloadView(PayloadView):
    member_filter: records.MemberFilter | None


def filter_spec(given: MemberFilterFields) -> segments.FilterSpec:
    return segments.FilterSpec(
        tier_codes=tuple(given.tier_codes or ()),
        segments=tuple(given.segments or ()),
        joined_from=given.joined_from,
        joined_to=given.joined_to,
        tags=tuple(given.tags or ()),
        search=given.search,
    )


def spec_of(saved: records.MemberFilter) -> segments.FilterSpec:
    return segments.FilterSpec.of_json(saved.spec)


@reports_user_errors(TagMembersPayloadView)
async def tag_members(info: Info, input: TagMembersFields) -> TagMembersPayloadView:
    member_ids = None
    if input.member_ids is not None:
        member_ids = [decode_id(given, "Member", "memberIds") for given in input.member_ids]
    changed = await segments.tag_members(
        principal_of(info),
        input.tag,
        member_ids=member_ids,
        spec=filter_spec(input.filter) if input.filter is not None else None,
        filter_code=input.filter_code,
        remove=input.remove,
        now=now_of(info),
        key=input.idempotency_key,
    )
    return TagMembersPayloadView(changed=changed)


@reports_user_errors(SaveMemberFilterPayloadView)
async def save_member_filter(
    info: Info, input: SaveMemberFilterFields
) -> SaveMemberFilterPayloadView:
    saved = await segments.save_filter(
        principal_of(info), input.code, input.name, filter_spec(input.filter), now_of(info),
        input.idempotency_key,
    )  # fmt: skip
    return SaveMemberFilterPayloadView(member_filter=saved)


async def member_filters(info: Info) -> list[records.MemberFilter]:
    return await segments.member_filters(principal_of(info))


async def tags_of(member: records.Member) -> list[str]:
    return await segments.tags(member.id)
