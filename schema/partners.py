"""Partner brands and their API keys, managed by the brand's admins; what partners call."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.types import Info

from domain.partners import Scope
from domain.webhooks import EventType
from resolvers import partners as resolve
from schema.errors import UserError
from schema.permissions import IsBrandAdmin, or_partner_with, staff_or_partner_with
from schema.relay import Connection, Node

ApiKeyScope = strawberry.enum(
    Scope,
    name="ApiKeyScope",
    description="What a partner's API key may do. OFFERS_WRITE: publish offers, upload their "
    "codes, see their redemptions and the partner's settlement. POINTS_EARN: record and "
    "reverse purchases. COUPONS_VERIFY: check and use codes of the partner's offers. "
    "WEBHOOKS_MANAGE: webhook endpoints and deliveries. MEMBERS_REGISTER: register members. "
    "MEMBERS_LOOKUP: find a member's id and display name by member code or phone.",
)
WebhookEventType = strawberry.enum(
    EventType,
    name="WebhookEventType",
    description="An event a webhook endpoint may subscribe to; a delivery's body names it in "
    'its "type" as redemption.created, redemption.cancelled, coupon.consumed, offer.approved '
    "(a partner's endpoints: of its offers) or risk.flagged (the brand's own endpoints only: "
    "a new risk flag, as riskFlags lists it).",
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

    @strawberry.field
    async def api_keys(self, info: Info) -> list[ApiKey]:
        return await resolve.keys_of(info, self)


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
    @strawberry.field(permission_classes=[IsBrandAdmin], description="The brand's partners.")
    async def partners(self, info: Info) -> list[Partner]:
        return await resolve.partners(info)

    @strawberry.field(
        permission_classes=[or_partner_with(IsBrandAdmin, Scope.OFFERS_WRITE)],
        description="A partner's settlement for a month; a partner reads its own.",
    )
    async def settlement(
        self, info: Info, partner_id: strawberry.ID, month: str
    ) -> SettlementPayload:
        return await resolve.settlement(info, partner_id, month)

    @strawberry.field(
        permission_classes=[staff_or_partner_with(Scope.MEMBERS_LOOKUP)],
        description="The brand's member with this member code (the card they show) or this "
        "phone: give exactly one. NOT_FOUND when the brand has no such member.",
    )
    async def partner_member_lookup(
        self, info: Info, member_code: str | None = None, phone: str | None = None
    ) -> PartnerMemberLookupPayload:
        return await resolve.partner_member_lookup(info, member_code, phone)


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


@strawberry.type(
    description="Where a partner's events, or the brand's own, are posted, signed with its secret."
)
class WebhookEndpoint(Node):
    url: str
    events: list[WebhookEventType]
    created_at: datetime


@strawberry.type(description="One event to one endpoint, retried until delivered or dead.")
class WebhookDelivery(Node):
    status: str = strawberry.field(description="PENDING, DELIVERED or DEAD.")
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime

    @strawberry.field(description="The event's stable id, as sent in X-Pointsmall-Event-Id.")
    async def event_id(self, info: Info) -> str:
        return await resolve.event_id_of(self)

    @strawberry.field
    async def event_type(self, info: Info) -> WebhookEventType:
        return await resolve.event_type_of(self)


@strawberry.input
class RegisterWebhookEndpointInput:
    url: str
    events: list[WebhookEventType]
    partner_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Admins name the partner, or none for the brand's own endpoint (RISK_FLAGGED "
        "only); a partner registers its own (never RISK_FLAGGED).",
    )
    idempotency_key: str


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None
    secret: str | None = strawberry.field(
        description="The signing secret, shown this once: verify X-Pointsmall-Signature with "
        "it; null when a repeated idempotencyKey answers the first call (lost it? register the "
        "endpoint again)."
    )
    user_errors: list[UserError]


@strawberry.input
class RedeliverWebhookInput:
    id: strawberry.ID
    idempotency_key: str


@strawberry.type
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None
    user_errors: list[UserError]


ManagesWebhooks = or_partner_with(IsBrandAdmin, Scope.WEBHOOKS_MANAGE)


@strawberry.type
class WebhookQueries:
    @strawberry.field(
        permission_classes=[ManagesWebhooks],
        description="Webhook deliveries, newest first: a partner's (a partner its own; admins "
        "name one), or, for admins naming none, the brand's own endpoints'.",
    )
    async def webhook_deliveries(
        self,
        info: Info,
        partner_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[WebhookDelivery]:
        return await resolve.webhook_deliveries(info, partner_id, first, after, last, before)


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(permission_classes=[ManagesWebhooks])
    async def register_webhook_endpoint(
        self, info: Info, input: RegisterWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        return await resolve.register_webhook_endpoint(info, input)

    @strawberry.mutation(permission_classes=[ManagesWebhooks])
    async def redeliver_webhook(
        self, info: Info, input: RedeliverWebhookInput
    ) -> WebhookDeliveryPayload:
        return await resolve.redeliver_webhook(info, input)
