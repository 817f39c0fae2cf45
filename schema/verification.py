"""Step-up verification: one-time codes for redemptions above the brand's thresholds."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from domain import verification
from resolvers import verification as resolve
from resolvers.context import Info
from schema.errors import UserError
from schema.permissions import IsBrandAdmin, IsMember


@strawberry.type(description="When a redemption needs a one-time code.")
class StepUpVerification:
    enabled: bool
    points_above: int | None
    value_above: Decimal | None = strawberry.field(description="In the brand's currency.")
    flagged_members: bool = strawberry.field(
        description="Every redemption of a member with an open risk flag."
    )


@strawberry.input
class RequestVerificationInput:
    idempotency_key: str


@strawberry.type
class RequestVerificationPayload:
    sent: bool | None = strawberry.field(
        description="A code went to the member through the brand's gateways."
    )
    code: str | None = strawberry.field(
        description="The code itself, in development only (production: null)."
    )
    user_errors: list[UserError]


@strawberry.input(description="enabled false: no redemption needs a code.")
class SetStepUpVerificationInput:
    enabled: bool
    points_above: int | None = None
    value_above: Decimal | None = None
    flagged_members: bool = False
    idempotency_key: str


@strawberry.type
class StepUpVerificationPayload:
    step_up: StepUpVerification | None
    user_errors: list[UserError]


@strawberry.type
class VerificationQueries:
    @strawberry.field(permission_classes=[IsBrandAdmin], graphql_type=StepUpVerification)
    async def step_up_verification(self, info: Info) -> verification.StepUp:
        return await resolve.step_up_of(info)


@strawberry.type
class VerificationMutations:
    @strawberry.mutation(
        permission_classes=[IsMember],
        description="Send the calling member a one-time code (valid 5 minutes, single-use, 5 "
        "tries), for a redemption that answered VERIFICATION_REQUIRED; once every 30 s.",
        graphql_type=RequestVerificationPayload,
    )
    async def request_verification(
        self, info: Info, input: RequestVerificationInput
    ) -> resolve.RequestVerificationPayloadView:
        return await resolve.request_verification(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=StepUpVerificationPayload)
    async def set_step_up_verification(
        self, info: Info, input: SetStepUpVerificationInput
    ) -> resolve.StepUpVerificationPayloadView:
        return await resolve.set_step_up_verification(info, input)
