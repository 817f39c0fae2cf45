"""Resolvers for members: registration, look-ups, status, profiles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date
from types import SimpleNamespace
from typing import Any, Protocol

import strawberry

from domain import members, records
from domain.catalog.cache import brand_catalog
from domain.ledger import reads as ledger_reads
from domain.members import NewMember, ProfileChange
from domain.principal import Principal
from domain.runtime import Backends
from resolvers.answers import answer_of
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import Info, principal_of
from resolvers.ids import decode_id, parse_id
from resolvers.payloads import PayloadView, reports_user_errors


class RegisterMemberFields(Protocol):
    display_name: str
    phone: str | None
    email: str | None
    birthday: date | None
    referral_code: str | None
    device_id: str | None
    idempotency_key: str


class SetMemberStatusFields(Protocol):
    member_id: strawberry.ID
    status: records.MemberStatus
    reason: str
    idempotency_key: str


class UpdateMyProfileFields(Protocol):
    display_name: str | None
    email: str | None
    birthday: date | None
    marketing_email: bool | None
    marketing_sms: bool | None
    idempotency_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberPayloadView(PayloadView):
    """registerMember's, setMemberStatus's and updateMyProfile's payload."""

    member: records.Member | None


@reports_user_errors(MemberPayloadView)
async def register_member(info: Info, input: RegisterMemberFields) -> MemberPayloadView:
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
    return MemberPayloadView(member=member)


@reports_user_errors(MemberPayloadView)
async def set_member_status(info: Info, input: SetMemberStatusFields) -> MemberPayloadView:
    member_id = decode_id(input.member_id, "Member", "memberId")
    member = await members.set_status(
        info.context.backends, principal_of(info), member_id, input.status, input.reason,
        input.idempotency_key,
    )  # fmt: skip
    return MemberPayloadView(member=member)


@reports_user_errors(MemberPayloadView)
async def update_my_profile(info: Info, input: UpdateMyProfileFields) -> MemberPayloadView:
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
    return MemberPayloadView(member=member)


async def me(info: Info) -> records.Member | None:
    return await members.me(principal_of(info))


async def member(info: Info, global_id: str) -> records.Member | None:
    parsed = parse_id(global_id)
    if parsed is None or parsed[0] != "Member":
        return None
    return await members.visible_member(principal_of(info), parsed[1])


async def member_by_code(info: Info, code: str) -> records.Member | None:
    return await members.find_by_code(principal_of(info), code)


async def search_members(
    info: Info,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    search: str | None,
) -> ConnectionView[records.Member]:
    request = page_request(first, after, last, before)
    return to_connection(await members.search_page(principal_of(info), search, request))


async def brand_of(info: Info, member: records.Member) -> records.Brand | None:
    return await info.context.loaders.brand_by_id.load(member.brand_id)


async def tier_of(info: Info, member: records.Member) -> records.Tier | None:
    return await info.context.loaders.tier_by_id.load(member.tier_id)


BALANCE_NAMES = tuple(field.name for field in fields(ledger_reads.BalanceView))


async def answer_me(
    backends: Backends,
    principal: Principal,
    selected: Mapping[str, Mapping[str, Any]],
    reads: Mapping[str, frozenset[str] | None],
) -> SimpleNamespace | None:
    """`me` for a planned document (schema/prechecks.py): the member with the PLANNED fields
    it selects (`points`, `points.expiring`, `tier`, `ledger`), read in one statement with
    the entries' columns the page shows, the tier from the brand's copy."""
    if principal.member_id is None:
        return None
    expiring = selected.get("points.expiring")
    ledger = selected.get("ledger")
    page = await ledger_reads.member_page(
        principal.brand_id,
        principal.member_id,
        backends.clock.now(),
        expiring_within=expiring["within_days"] if expiring is not None else None,
        ledger=None
        if ledger is None
        else ledger_reads.LedgerRequest(
            page_request(ledger["first"], ledger["after"], ledger["last"], ledger["before"]),
            ledger["kind"],
            reads.get("ledger.edges.node", frozenset()),
        ),
    )
    if page is None:
        return None
    planned: dict[str, Any] = {}
    if "points" in selected:
        balance = page.balance
        planned["points"] = SimpleNamespace(
            expiring=page.expiring, **{name: getattr(balance, name) for name in BALANCE_NAMES}
        )
    if "tier" in selected:
        catalog = await brand_catalog(backends, principal.brand_id, page.earning_version)
        planned["tier"] = catalog.tiers.get(page.member.tier_id)
    if page.ledger is not None:
        planned["ledger"] = to_connection(page.ledger)
    return answer_of(page.member, **planned)
