"""Resolvers for the fraud controls: velocity limits and risk flags."""

from __future__ import annotations

import json
from typing import Any

from domain import risk, velocity
from domain.brands import brands_by_ids
from domain.ledger import reads
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import principal_of
from resolvers.ids import decode_id
from resolvers.payloads import Payload, reports_user_errors


async def velocity_limits(info: Any) -> list[velocity.VelocityLimit]:
    brand_id = principal_of(info).brand_id
    return velocity.limits_of((await brands_by_ids([brand_id]))[brand_id])


@reports_user_errors
async def set_velocity_limits(info: Any, input: Any) -> Payload:
    limits = [
        velocity.VelocityLimit(item.kind, item.window, item.limit, item.action)
        for item in input.limits
    ]
    saved = await velocity.set_limits(principal_of(info), limits, input.idempotency_key)
    return Payload(limits=saved)


async def risk_flags(
    info: Any,
    status: Any,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> ConnectionView:
    page = await risk.flags_page(
        principal_of(info), status, page_request(first, after, last, before)
    )
    return to_connection(page)


@reports_user_errors
async def review_risk_flag(info: Any, input: Any) -> Payload:
    flag_id = decode_id(input.id, "RiskFlag", "id")
    flag = await risk.review(
        info.context.backends, principal_of(info), flag_id, input.decision, input.note,
        input.idempotency_key,
    )  # fmt: skip
    return Payload(flag=flag)


def details_of(flag: Any) -> str:
    return json.dumps(flag.details, ensure_ascii=False, sort_keys=True)


async def member_of(info: Any, flag: Any) -> Any:
    return await info.context.loaders.member_by_id.load(flag.member_id)


async def entry_of(info: Any, flag: Any) -> Any:
    if flag.entry_id is None:
        return None
    return await reads.visible_entry(principal_of(info), flag.entry_id)
