"""Resolvers for partners and their API keys."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import strawberry

from domain import partners as domain
from domain import records
from domain.partners import Scope
from resolvers.context import Info, now_of, principal_of
from resolvers.ids import ByIdFields, decode_id, encode_id
from resolvers.payloads import PayloadView, reports_user_errors


class CreatePartnerFields(Protocol):
    code: str
    name: str
    point_value: Decimal
    idempotency_key: str


class IssueApiKeyFields(Protocol):
    partner_id: strawberry.ID
    scopes: list[Scope]
    idempotency_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerPayloadView(PayloadView):
    partner: records.Partner | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyPayloadView(PayloadView):
    api_key: records.ApiKey | None
    secret: str | None


async def partners(info: Info) -> list[records.Partner]:
    return await domain.partners_of(principal_of(info))


async def keys_of(partner: records.Partner) -> list[records.ApiKey]:
    return await domain.keys_of(partner.id)


@reports_user_errors(PartnerPayloadView)
async def create_partner(info: Info, input: CreatePartnerFields) -> PartnerPayloadView:
    partner = await domain.create_partner(
        principal_of(info),
        input.code,
        input.name,
        input.point_value,
        now_of(info),
        input.idempotency_key,
    )
    return PartnerPayloadView(partner=partner)


@reports_user_errors(ApiKeyPayloadView)
async def issue_api_key(info: Info, input: IssueApiKeyFields) -> ApiKeyPayloadView:
    partner_id = decode_id(input.partner_id, "Partner", "partnerId")
    issued = await domain.issue_key(
        principal_of(info), partner_id, input.scopes, now_of(info), input.idempotency_key
    )
    return ApiKeyPayloadView(api_key=issued.api_key, secret=issued.secret)


@reports_user_errors(ApiKeyPayloadView)
async def rotate_api_key(info: Info, input: ByIdFields) -> ApiKeyPayloadView:
    key_id = decode_id(input.id, "ApiKey", "id")
    issued = await domain.rotate_key(
        principal_of(info), key_id, now_of(info), input.idempotency_key
    )
    return ApiKeyPayloadView(api_key=issued.api_key, secret=issued.secret)


@reports_user_errors(ApiKeyPayloadView)
async def revoke_api_key(info: Info, input: ByIdFields) -> ApiKeyPayloadView:
    key_id = decode_id(input.id, "ApiKey", "id")
    api_key = await domain.revoke_key(
        principal_of(info), key_id, now_of(info), input.idempotency_key
    )
    return ApiKeyPayloadView(api_key=api_key, secret=None)


@dataclass(frozen=True, slots=True)
class SettlementView:
    partner: records.Partner
    month: str
    points_issued: int
    points_redeemed: int
    movements: int
    point_value: Decimal
    amount_issued: Decimal
    amount_redeemed: Decimal
    net: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class SettlementPayloadView(PayloadView):
    settlement: SettlementView | None


@reports_user_errors(SettlementPayloadView)
async def settlement(info: Info, partner_id: str, month: str) -> SettlementPayloadView:
    figures = await domain.settlement(
        principal_of(info),
        decode_id(partner_id, "Partner", "partnerId"),
        domain.month_of(month),
    )
    view = SettlementView(
        partner=figures.partner,
        month=f"{figures.month:%Y-%m}",
        points_issued=figures.points_issued,
        points_redeemed=figures.points_redeemed,
        movements=figures.movements,
        point_value=figures.partner.point_value,
        amount_issued=figures.amount_issued,
        amount_redeemed=figures.amount_redeemed,
        net=figures.net,
    )
    return SettlementPayloadView(settlement=view)


@dataclass(frozen=True, slots=True)
class MemberMatchView:
    member_id: str
    display_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerMemberLookupPayloadView(PayloadView):
    match: MemberMatchView | None


@reports_user_errors(PartnerMemberLookupPayloadView)
async def partner_member_lookup(
    info: Info, member_code: str | None, phone: str | None
) -> PartnerMemberLookupPayloadView:
    found = await domain.look_up_member(principal_of(info), member_code, phone)
    match = MemberMatchView(encode_id("Member", found.member_id), found.display_name)
    return PartnerMemberLookupPayloadView(match=match)
