"""Partner brands and their API keys, managed by the brand's admins; what partners call."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from domain import records
from domain.partners import Scope
from resolvers import partners as resolve
from resolvers.context import Info
from schema.errors import UserError
from schema.permissions import IsBrandAdmin, or_partner_with, staff_or_partner_with
from schema.relay import Node

ApiKeyScope = Scope
strawberry.enum(
    ApiKeyScope,
    name="ApiKeyScope",
    description="What a partner's API key may do. OFFERS_WRITE: publish offers, upload their "
    "codes, see their redemptions and the partner's settlement. POINTS_EARN: record and "
    "reverse purchases. COUPONS_VERIFY: check and use codes of the partner's offers. "
    "WEBHOOKS_MANAGE: webhook endpoints and deliveries. MEMBERS_REGISTER: register members. "
    "MEMBERS_LOOKUP: find a member's id and display name by member code or phone.",
)


@strawberry.type(description="A partner's API key; its secret is shown once, when issued.")
class ApiKey(Node):
    prefix: str = strawberry.field(description="Names the key in support and in logs.")
    scopes: list[ApiKeyScope]
    created_at: datetime
    revoked_at: datetime | None


@strawberry.type(description="Another brand running cross-promotions with this one.")
class Partner(Node):
    code: str
    name: str
    point_value: Decimal = strawberry.field(
        description="What one point is worth in money between the brand and the partner."
    )
    created_at: datetime

    @strawberry.field(graphql_type=list[ApiKey])
    async def api_keys(self, partner: strawberry.Parent[records.Partner]) -> list[records.ApiKey]:
        return await resolve.keys_of(partner)


@strawberry.input
class CreatePartnerInput:
    code: str
    name: str
    point_value: Decimal = Decimal("0")
    idempotency_key: str


@strawberry.type
class PartnerPayload:
    partner: Partner | None
    user_errors: list[UserError]


@strawberry.input
class IssueApiKeyInput:
    partner_id: strawberry.ID
    scopes: list[ApiKeyScope]
    idempotency_key: str


@strawberry.input
class ApiKeyInput:
    id: strawberry.ID
    idempotency_key: str


@strawberry.type
class ApiKeyPayload:
    api_key: ApiKey | None
    secret: str | None = strawberry.field(
        description="The whole key, to send as X-Api-Key: shown this once, never again; null "
        "when a repeated idempotencyKey answers the first call (lost it? rotate the key)."
    )
    user_errors: list[UserError]


@strawberry.type(
    description="A partner's month: points issued through it (its purchases' earns less their "
    "reversals) and redeemed on its offers (less refunds), valued at the agreed point value."
)
class Settlement:
    partner: Partner
    month: str = strawberry.field(description="YYYY-MM, in the brand's timezone.")
    points_issued: int
    points_redeemed: int
    movements: int = strawberry.field(description="Ledger entries summed.")
    point_value: Decimal
    amount_issued: Decimal
    amount_redeemed: Decimal
    net: Decimal = strawberry.field(
        description="What the partner owes the brand; negative: what the brand owes."
    )


@strawberry.type
class SettlementPayload:
    settlement: Settlement | None
    user_errors: list[UserError]


@strawberry.type(
    description="A member a partner looked up: whom to record a purchase for, and a name to "
    "confirm with the customer. Nothing else of the member."
)
class PartnerMemberMatch:
    member_id: strawberry.ID = strawberry.field(description="The member's global id.")
    display_name: str


@strawberry.type
class PartnerMemberLookupPayload:
    match: PartnerMemberMatch | None
    user_errors: list[UserError]


@strawberry.type
class PartnerQueries:
    @strawberry.field(
        permission_classes=[IsBrandAdmin],
        description="The brand's partners.",
        graphql_type=list[Partner],
    )
    async def partners(self, info: Info) -> list[records.Partner]:
        return await resolve.partners(info)

    @strawberry.field(
        permission_classes=[or_partner_with(IsBrandAdmin, Scope.OFFERS_WRITE)],
        description="A partner's settlement for a month; a partner reads its own.",
        graphql_type=SettlementPayload,
    )
    async def settlement(
        self, info: Info, partner_id: strawberry.ID, month: str
    ) -> resolve.SettlementPayloadView:
        return await resolve.settlement(info, partner_id, month)

    @strawberry.field(
        permission_classes=[staff_or_partner_with(Scope.MEMBERS_LOOKUP)],
        description="The brand's member with this member code (the card they show) or this "
        "phone: give exactly one. NOT_FOUND when the brand has no such member.",
        graphql_type=PartnerMemberLookupPayload,
    )
    async def partner_member_lookup(
        self, info: Info, member_code: str | None = None, phone: str | None = None
    ) -> resolve.PartnerMemberLookupPayloadView:
        return await resolve.partner_member_lookup(info, member_code, phone)


@strawberry.type
class PartnerMutations:
    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=PartnerPayload)
    async def create_partner(
        self, info: Info, input: CreatePartnerInput
    ) -> resolve.PartnerPayloadView:
        return await resolve.create_partner(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=ApiKeyPayload)
    async def issue_api_key(self, info: Info, input: IssueApiKeyInput) -> resolve.ApiKeyPayloadView:
        return await resolve.issue_api_key(info, input)

    @strawberry.mutation(
        permission_classes=[IsBrandAdmin],
        description="A new key with the same scopes; the old one stops working at once.",
        graphql_type=ApiKeyPayload,
    )
    async def rotate_api_key(self, info: Info, input: ApiKeyInput) -> resolve.ApiKeyPayloadView:
        return await resolve.rotate_api_key(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=ApiKeyPayload)
    async def revoke_api_key(self, info: Info, input: ApiKeyInput) -> resolve.ApiKeyPayloadView:
        return await resolve.revoke_api_key(info, input)
