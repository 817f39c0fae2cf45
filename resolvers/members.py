"""Resolvers for members: registration, look-ups, status, profiles."""

from __future__ import annotations

from typing import Any

from domain import members
from domain.members import NewMember, ProfileChange
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import principal_of
from resolvers.ids import decode_id, parse_id
from resolvers.payloads import Payload, reports_user_errors


@reports_user_errors
async def register_member(info: Any, input: Any) -> Payload:
    new = NewMember(
        display_name=input.display_name,
        phone=input.phone,
        email=input.email,
        birthday=input.birthday,
        referral_code=input.referral_code,
        device_id=input.device_id,
    )
    member = await members.register(
        info.context.backends, principal_of(info), new, input.idempotency_key
    )
    return Payload(member=member)


@reports_user_errors
async def set_member_status(info: Any, input: Any) -> Payload:
    member_id = decode_id(input.member_id, "Member", "memberId")
    member = await members.set_status(
        info.context.backends, principal_of(info), member_id, input.status, input.reason,
        input.idempotency_key,
    )  # fmt: skip
    return Payload(member=member)


@reports_user_errors
async def update_my_profile(info: Any, input: Any) -> Payload:
    change = ProfileChange(
        display_name=input.display_name,
        email=input.email,
        birthday=input.birthday,
        marketing_email=input.marketing_email,
        marketing_sms=input.marketing_sms,
    )
    member = await members.update_profile(
        info.context.backends, principal_of(info), change, input.idempotency_key
    )
    return Payload(member=member)


async def me(info: Any) -> Any:
    return await members.me(principal_of(info))


async def member(info: Any, global_id: str) -> Any:
    parsed = parse_id(global_id)
    if parsed is None or parsed[0] != "Member":
        return None
    return await members.visible_member(principal_of(info), parsed[1])


async def member_by_code(info: Any, code: str) -> Any:
    return await members.find_by_code(principal_of(info), code)


async def search_members(
    info: Any,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    search: str | None,
) -> ConnectionView:
    request = page_request(first, after, last, before)
    return to_connection(await members.search_page(principal_of(info), search, request))


async def brand_of(info: Any, member: Any) -> Any:
    return await info.context.loaders.brand_by_id.load(member.brand_id)


async def tier_of(info: Any, member: Any) -> Any:
    return await info.context.loaders.tier_by_id.load(member.tier_id)
