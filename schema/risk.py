"""Fraud controls: the brand's velocity limits, and the risk flags its admins review."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from domain import records, risk, velocity
from resolvers import risk as resolve
from resolvers.connections import ConnectionView
from resolvers.context import Info
from schema.errors import UserError
from schema.permissions import IsBrandAdmin
from schema.relay import Connection, MemberRef, Node

if TYPE_CHECKING:
    from schema.ledger import LedgerEntry

LedgerEntryRef = Annotated["LedgerEntry", strawberry.lazy("schema.ledger")]

VelocityKind = velocity.VelocityKind
strawberry.enum(
    VelocityKind,
    name="VelocityKind",
    description="What a limit counts: EARNS_PER_MEMBER (recordPurchase, completeTask), "
    "REDEMPTIONS_PER_MEMBER (redeem), PURCHASES_PER_STORE (by storeCode), PURCHASES_PER_ACTOR "
    "(by the staff member or partner recording), REGISTRATIONS_PER_REFERRER (by referral code).",
)
VelocityWindow = velocity.VelocityWindow
strawberry.enum(
    VelocityWindow,
    name="VelocityWindow",
    description="A fixed window in UTC: the clock hour, the day.",
)
VelocityAction = velocity.VelocityAction
strawberry.enum(
    VelocityAction,
    name="VelocityAction",
    description="Past the limit: REFUSE (RATE_LIMITED, retryAfter: the window's end) or FLAG "
    "(the movement goes through with a risk flag for review).",
)
RiskFlagStatus = risk.RiskFlagStatus
strawberry.enum(
    RiskFlagStatus,
    name="RiskFlagStatus",
    description="OPEN until reviewed; then CLEARED, MEMBER_FROZEN or MOVEMENT_REVERSED.",
)
ReviewDecision = risk.ReviewDecision
strawberry.enum(
    ReviewDecision,
    name="ReviewDecision",
    description="CLEAR: nothing wrong. FREEZE_MEMBER: the member FROZEN (setMemberStatus). "
    "REVERSE_MOVEMENT: the flagged movement undone (a purchase reversed whole, a redemption "
    "cancelled, anything else adjusted back).",
)


@strawberry.type
class VelocityLimit:
    kind: VelocityKind
    window: VelocityWindow
    limit: int = strawberry.field(description="Movements allowed in one window.")
    action: VelocityAction


@strawberry.input
class VelocityLimitInput:
    kind: VelocityKind
    window: VelocityWindow
    limit: int = strawberry.field(description="1 to 1,000,000.")
    action: VelocityAction


@strawberry.input(description="The brand's limits, replaced whole: one per kind and window.")
class SetVelocityLimitsInput:
    limits: list[VelocityLimitInput]
    idempotency_key: str


@strawberry.type
class SetVelocityLimitsPayload:
    limits: list[VelocityLimit] | None
    user_errors: list[UserError]


@strawberry.type(
    description="Something about a member's movement for an admin to look at; each new one is "
    "posted to the brand's own webhook endpoints subscribed to RISK_FLAGGED."
)
class RiskFlag(Node):
    reason: str = strawberry.field(
        description="VELOCITY: a limit the brand flags was passed. LARGE_ADJUSTMENT, "
        "QUICK_REDEEM, LARGE_PURCHASE, MANY_PURCHASES: the movement. SHARED_PHONE_PREFIX, "
        "SHARED_DEVICE: the member's registration, one of many within a day."
    )
    status: RiskFlagStatus
    created_at: datetime
    reviewed_by: str | None = strawberry.field(description="ROLE:subject of the reviewer.")
    review_note: str | None
    reviewed_at: datetime | None

    @strawberry.field(
        description="What was passed, as JSON (for VELOCITY: the limit; for SHARED_DEVICE: the "
        "deviceId and how many members registered on it)."
    )
    def details(self, flag: strawberry.Parent[records.RiskFlag]) -> str:
        return resolve.details_of(flag)

    @strawberry.field(graphql_type=MemberRef)
    async def member(
        self, info: Info, flag: strawberry.Parent[records.RiskFlag]
    ) -> records.Member | None:
        return await resolve.member_of(info, flag)

    @strawberry.field(
        description="The movement's entry (null: it made none).", graphql_type=LedgerEntryRef | None
    )
    async def entry(
        self, info: Info, flag: strawberry.Parent[records.RiskFlag]
    ) -> records.LedgerEntry | None:
        return await resolve.entry_of(info, flag)


@strawberry.input
class ReviewRiskFlagInput:
    id: strawberry.ID
    decision: ReviewDecision
    note: str = strawberry.field(default="", description="Up to 500 characters.")
    idempotency_key: str


@strawberry.type
class ReviewRiskFlagPayload:
    flag: RiskFlag | None
    user_errors: list[UserError]


@strawberry.type
class RiskQueries:
    @strawberry.field(permission_classes=[IsBrandAdmin], graphql_type=list[VelocityLimit])
    async def velocity_limits(self, info: Info) -> list[velocity.VelocityLimit]:
        return await resolve.velocity_limits(info)

    @strawberry.field(
        permission_classes=[IsBrandAdmin],
        description="Newest first.",
        graphql_type=Connection[RiskFlag],
    )
    async def risk_flags(
        self,
        info: Info,
        status: RiskFlagStatus | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> ConnectionView[records.RiskFlag]:
        return await resolve.risk_flags(info, status, first, after, last, before)


@strawberry.type
class RiskMutations:
    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=SetVelocityLimitsPayload)
    async def set_velocity_limits(
        self, info: Info, input: SetVelocityLimitsInput
    ) -> resolve.SetVelocityLimitsPayloadView:
        return await resolve.set_velocity_limits(info, input)

    @strawberry.mutation(
        permission_classes=[IsBrandAdmin],
        description="Decide an OPEN flag; a flag reviewed already is CONFLICT.",
        graphql_type=ReviewRiskFlagPayload,
    )
    async def review_risk_flag(
        self, info: Info, input: ReviewRiskFlagInput
    ) -> resolve.ReviewRiskFlagPayloadView:
        return await resolve.review_risk_flag(info, input)
