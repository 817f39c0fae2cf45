"""Resolvers for segments: member tags and saved filters."""

from __future__ import annotations

from typing import Any

from domain import segments
from resolvers.context import principal_of
from resolvers.ids import decode_id
from resolvers.payloads import Payload, reports_user_errors


def filter_spec(given: Any) -> segments.FilterSpec:
    return segments.FilterSpec(
        tier_codes=tuple(given.tier_codes or ()),
        segments=tuple(given.segments or ()),
        joined_from=given.joined_from,
        joined_to=given.joined_to,
        tags=tuple(given.tags or ()),
        search=given.search,
    )


def spec_of(saved: Any) -> segments.FilterSpec:
    return segments.FilterSpec.of_json(saved.spec)


@reports_user_errors
async def tag_members(info: Any, input: Any) -> Payload:
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
        now=info.context.backends.clock.now(),
        key=input.idempotency_key,
    )
    return Payload(changed=changed)


@reports_user_errors
async def save_member_filter(info: Any, input: Any) -> Payload:
    saved = await segments.save_filter(
        principal_of(info), input.code, input.name, filter_spec(input.filter),
        info.context.backends.clock.now(), input.idempotency_key,
    )  # fmt: skip
    return Payload(member_filter=saved)


async def member_filters(info: Any) -> list[Any]:
    return await segments.member_filters(principal_of(info))


async def tags_of(info: Any, member: Any) -> list[str]:
    return await segments.tags(member.id)
