"""Resolvers for step-up verification."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from domain import verification
from resolvers.context import Info, principal_of
from resolvers.payloads import PayloadView, reports_user_errors


class RequestVerificationFields(Protocol):
    idempotency_key: str


class SetStepUpVerificationFields(Protocol):
    enabled: bool
    points_above: int | None
    value_above: Decimal | None
    flagged_members: bool
    idempotency_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestVerificationPayloadView(PayloadView):
    sent: bool | None
    code: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepUpVerificationPayloadView(PayloadView):
    step_up: verification.StepUp | None


@reports_user_errors(RequestVerificationPayloadView)
async def request_verification(
    info: Info, input: RequestVerificationFields
) -> RequestVerificationPayloadView:
    code = await verification.request_code(
        info.context.backends, principal_of(info), input.idempotency_key
    )
    return RequestVerificationPayloadView(sent=True, code=code)


@reports_user_errors(StepUpVerificationPayloadView)
async def set_step_up_verification(
    info: Info, input: SetStepUpVerificationFields
) -> StepUpVerificationPayloadView:
    settings: dict[str, Any] | None = None
    if input.enabled:
        settings = {"points": input.points_above, "value": input.value_above,
                    "flagged": input.flagged_members}  # fmt: skip
    brand = await verification.set_step_up(principal_of(info), settings, input.idempotency_key)
    return StepUpVerificationPayloadView(step_up=verification.StepUp.of(brand))


async def step_up_of(info: Info) -> verification.StepUp:
    brand = await info.context.loaders.brand(principal_of(info).brand_id)
    return verification.StepUp.of(brand)
