"""Resolvers for step-up verification."""

from __future__ import annotations

from typing import Any

from domain import verification
from domain.idempotency import run_once
from resolvers.context import principal_of
from resolvers.payloads import Payload, reports_user_errors


@reports_user_errors
async def request_verification(info: Any, input: Any) -> Payload:
    code = await verification.request_code(info.context.backends, principal_of(info))
    return Payload(sent=True, code=code)


@reports_user_errors
async def set_step_up_verification(info: Any, input: Any) -> Payload:
    principal = principal_of(info)
    settings = None
    if input.enabled:
        settings = {"points": input.points_above, "value": input.value_above,
                    "flagged": input.flagged_members}  # fmt: skip

    async def save(connection: Any) -> dict[str, Any]:
        await verification.set_step_up(principal, settings)
        return {}

    request = {"settings": settings and {**settings, "value": str(settings["value"])}}
    await run_once(principal, "setStepUpVerification", input.idempotency_key, request, save)
    return Payload(step_up=await step_up_of(info))


async def step_up_of(info: Any) -> Any:
    brand = await info.context.loaders.brand_by_id.load(principal_of(info).brand_id)
    return verification.StepUp.of(brand)
