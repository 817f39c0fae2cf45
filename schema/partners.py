"""Partner brands and their API keys, managed by the brand's admins."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.types import Info

from resolvers import partners as resolve
from schema.errors import UserError
from schema.permissions import IsBrandAdmin, or_partner_with
from schema.relay import Node


@strawberry.type(description="A partner's API key; its secret is shown once, when issued.")
class ApiKey(Node):
    prefix: str = strawberry.field(description="Names the key in support and in logs.")
    scopes: list[str]
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

    @strawberry.field
    async def api_keys(self, info: Info) -> list[ApiKey]:
        return await resolve.keys_of(info, self)


@strawberry.input
class CreatePartnerInput:
    code: str
    name: str
    point_value: Decimal = Decimal("0")


@strawberry.type
class PartnerPayload:
    partner: Partner | None
    user_errors: list[UserError]


@strawberry.input
class IssueApiKeyInput:
    partner_id: strawberry.ID
    scopes: list[str] = strawberry.field(
        description="offers:write, points:earn, coupons:verify, webhooks:manage, members:register."
    )


@strawberry.input
class ApiKeyInput:
    id: strawberry.ID


@strawberry.type
class ApiKeyPayload:
    api_key: ApiKey | None
    secret: str | None = strawberry.field(
        description="The whole key, to send as X-Api-Key: shown this once, never again."
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


@strawberry.type
class PartnerQueries:
    @strawberry.field(permission_classes=[IsBrandAdmin], description="The brand's partners.")
    async def partners(self, info: Info) -> list[Partner]:
        return await resolve.partners(info)

    @strawberry.field(
        permission_classes=[or_partner_with(IsBrandAdmin, "offers:write")],
        description="A partner's settlement for a month; a partner reads its own.",
    )
    async def settlement(
        self, info: Info, partner_id: strawberry.ID, month: str
    ) -> SettlementPayload:
        return await resolve.settlement(info, partner_id, month)


@strawberry.type
class PartnerMutations:
    @strawberry.mutation(permission_classes=[IsBrandAdmin])
    async def create_partner(self, info: Info, input: CreatePartnerInput) -> PartnerPayload:
        return await resolve.create_partner(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin])
    async def issue_api_key(self, info: Info, input: IssueApiKeyInput) -> ApiKeyPayload:
        return await resolve.issue_api_key(info, input)

    @strawberry.mutation(
        permission_classes=[IsBrandAdmin],
        description="A new key with the same scopes; the old one stops working at once.",
    )
    async def rotate_api_key(self, info: Info, input: ApiKeyInput) -> ApiKeyPayload:
        return await resolve.rotate_api_key(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin])
    async def revoke_api_key(self, info: Info, input: ApiKeyInput) -> ApiKeyPayload:
        return await resolve.revoke_api_key(info, input)
