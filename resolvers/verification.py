"""Resolvers for step-up verification."""

from __future__ import annotations

from typing import Any

from domain import verification
from resolvers.context import principal_of
from resolvers.payloads import Payload, reports_user_errors


@reports_user_errors
async def request_verification(info: Any, input: Any) -> Payload:
    code = await verification.request_code(
        info.context.backends, principal_of(info), input.idempotency_key
    )
    return Payload(sent=True, code=code)


@reports_user_errors
async def set_step_up_verification(info: Any, input: Any) -> Payload:
    settings = None
    if input.enabled:
        settings = {"points": input.points_above, "value": input.value_above,
                    "flagged": input.flagged_members}  # fmt: skip
    brand = await verification.set_step_up(principal_of(info), settings, input.idempotency_key)
    return Payload(step_up=verification.StepUp.of(brand))


async def step_up_of(info: Any) -> Any:
    brand = await info.context.loaders.brand_by_id.load(principal_of(info).brand_id)
    return verification.StepUp.of(brand)
