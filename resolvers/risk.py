"""Resolvers for the fraud controls: velocity limits and risk flags."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import strawberry

from domain import records, risk, velocity
from domain.brands import brands_by_ids
from domain.ledger import reads
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import Info, principal_of
from resolvers.ids import decode_id
from resolvers.payloads import PayloadView, reports_user_errors


class VelocityLimitFields(Protocol):
    kind: velocity.VelocityKind
    window: velocity.VelocityWindow
    limit: int
    action: velocity.VelocityAction


class SetVelocityLimitsFields(Protocol):
    idempotency_key: str

    @property
    def limits(self) -> Sequence[VelocityLimitFields]: ...


class ReviewRiskFlagFields(Protocol):
    id: strawberry.ID
    decision: risk.ReviewDecision
    note: str
    idempotency_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetVelocityLimitsPayloadView(PayloadView):
    limits: list[velocity.VelocityLimit] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewRiskFlagPayloadView(PayloadView):
    flag: records.RiskFlag | None


async def velocity_limits(info: Info) -> list[velocity.VelocityLimit]:
    brand_id = principal_of(info).brand_id
    return velocity.limits_of((await brands_by_ids([brand_id]))[brand_id])


@reports_user_errors(SetVelocityLimitsPayloadView)
async def set_velocity_limits(
    info: Info, input: SetVelocityLimitsFields
) -> SetVelocityLimitsPayloadView:
    limits = [
        velocity.VelocityLimit(item.kind, item.window, item.limit, item.action)
        for item in input.limits
    ]
    saved = await velocity.set_limits(principal_of(info), limits, input.idempotency_key)
    return SetVelocityLimitsPayloadView(limits=saved)


async def risk_flags(
    info: Info,
    status: risk.RiskFlagStatus | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> ConnectionView[records.RiskFlag]:
    page = await risk.flags_page(
        principal_of(info), status, page_request(first, after, last, before)
    )
    return to_connection(page)


@reports_user_errors(ReviewRiskFlagPayloadView)
async def review_risk_flag(info: Info, input: ReviewRiskFlagFields) -> ReviewRiskFlagPayloadView:
    flag_id = decode_id(input.id, "RiskFlag", "id")
    flag = await risk.review(
        info.context.backends, principal_of(info), flag_id, input.decision, input.note,
        input.idempotency_key,
    )  # fmt: skip
    return ReviewRiskFlagPayloadView(flag=flag)


def details_of(flag: records.RiskFlag) -> str:
    return json.dumps(flag.details, ensure_ascii=False, sort_keys=True)


async def member_of(info: Info, flag: records.RiskFlag) -> records.Member | None:
    return await info.context.loaders.member_by_id.load(flag.member_id)


async def entry_of(info: Info, flag: records.RiskFlag) -> records.LedgerEntry | None:
    if flag.entry_id is None:
        return None
    return await reads.visible_entry(principal_of(info), flag.entry_id)
