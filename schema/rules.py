"""Earning rules: how members earn, edited by the brand's admins; previews; tasks."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from domain import records
from resolvers import rules as resolve
from resolvers.context import Info
from resolvers.ledger import MovementPayloadView
from schema.brands import Brand
from schema.errors import UserError
from schema.ledger import EarnComponent, LedgerEntry, PurchaseLineInput
from schema.permissions import IsBrandAdmin, MemberOrStaff, ReadsMembers
from schema.relay import MemberRef, Node

EarningRuleKind = records.RuleKind
strawberry.enum(
    EarningRuleKind,
    name="EarningRuleKind",
    description="BASE_RATE: points per currency unit (the highest-priority one applies). "
    "CATEGORY_MULTIPLIER: the base rate again, times (multiplier - 1), on one category's lines. "
    "THRESHOLD_BONUS: points when one purchase spends at least the threshold (the highest one "
    "reached). CAMPAIGN: a multiplier of spend points, or flat points, inside a window. "
    "REGISTRATION_BONUS, FIRST_PURCHASE_BONUS, BIRTHDAY_BONUS: once per member (per year for "
    "birthdays). REFERRAL_BONUS: the new member and their referrer, on the first purchase. "
    "TASK: points for a task the member completes, within daily and lifetime limits. "
    "PURCHASE_COUNT: points with the member's nthPurchase (every nthPurchase when it repeats), "
    "counting their purchases in the rule's window that were not refunded in full.",
)
RoundingMode = records.Rounding
strawberry.enum(RoundingMode, name="RoundingMode")
TaskProofKind = records.TaskProof
strawberry.enum(
    TaskProofKind,
    name="TaskProof",
    description="What shows a TASK was done. SELF: the member's word (the member, or staff "
    "naming memberId). STAFF: the brand's staff or admin completes it for the member; the "
    "member's own call is VERIFICATION_REQUIRED. SIGNED: the call carries a proof the brand's "
    "own system signs with its task signing secret (see SignedTaskProofInput); reviews should "
    "be SIGNED.",
)


@strawberry.type(description="A rule by which the brand's members earn points.")
class EarningRule(Node):
    code: str
    name: str
    kind: EarningRuleKind
    priority: int
    rate: Decimal | None = strawberry.field(description="Points per currency unit spent.")
    rounding: RoundingMode
    multiplier: Decimal | None
    category: str | None
    threshold: Decimal | None
    points: int | None
    referrer_points: int | None
    referrer_monthly_cap: int | None
    task_code: str | None
    proof: TaskProofKind = strawberry.field(
        description="For a TASK: what shows it was done (SELF for the other kinds)."
    )
    daily_limit: int | None
    lifetime_limit: int | None
    starts_at: datetime | None
    ends_at: datetime | None
    weekdays: list[int] = strawberry.field(
        description="Days of the week it applies (1 Monday … 7 Sunday, brand's time); empty: all."
    )
    store_codes: list[str] = strawberry.field(description="Stores it applies in; empty: all.")
    partner_codes: list[str] = strawberry.field(
        description="Partners whose purchases it applies to; empty: every purchase."
    )
    tier_codes: list[str] = strawberry.field(description="Tiers it applies to; empty: all.")
    tag_codes: list[str] = strawberry.field(
        description="Members with any of these tags only (tagMembers); empty: every member."
    )
    cap_points: int | None = strawberry.field(description="At most this many points per earn.")
    expiry_days: int | None = strawberry.field(
        description="Its points expire this many days after they are earned, in their own lot; "
        "null: the brand's expiry policy."
    )
    nth_purchase: int | None = strawberry.field(
        description="For a PURCHASE_COUNT: the purchase that earns its points."
    )
    repeats: bool = strawberry.field(
        description="For a PURCHASE_COUNT: every nthPurchase (true) or only the nthPurchase."
    )
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime


@strawberry.type(
    description="A way the member can earn now: a rule in force for their tier (in the stores "
    "and for the partners it names, if any), with what it gives and the limits they have left."
)
class EarnOpportunity:
    kind: EarningRuleKind
    code: str
    name: str
    description: str = strawberry.field(description="For the member to read.")
    points: int | None = strawberry.field(description="Flat points it gives.")
    rate: Decimal | None = strawberry.field(description="Points per currency unit spent.")
    multiplier: Decimal | None
    category: str | None
    threshold: Decimal | None = strawberry.field(description="The spend in one purchase it needs.")
    task_code: str | None = strawberry.field(description="For a TASK: completeTask's taskCode.")
    proof: TaskProofKind | None = strawberry.field(description="For a TASK: the proof it needs.")
    ends_at: datetime | None
    store_codes: list[str] = strawberry.field(description="Only in these stores; empty: all.")
    partner_codes: list[str] = strawberry.field(
        description="Only on these partners' purchases; empty: every purchase."
    )
    left_today: int | None = strawberry.field(description="For a TASK: times left today.")
    left_ever: int | None = strawberry.field(description="For a TASK: times left at all.")
    purchases_to_go: int | None = strawberry.field(
        description="For a PURCHASE_COUNT: purchases, the next included, until it pays."
    )


@strawberry.input(description="An earning rule; which fields a kind needs or allows is checked.")
class EarningRuleInput:
    code: str
    name: str
    kind: EarningRuleKind
    priority: int = 0
    rate: Decimal | None = None
    rounding: RoundingMode | None = None
    multiplier: Decimal | None = None
    category: str | None = None
    threshold: Decimal | None = None
    points: int | None = None
    referrer_points: int | None = None
    referrer_monthly_cap: int | None = None
    task_code: str | None = None
    proof: TaskProofKind | None = strawberry.field(
        default=None, description="A TASK's proof; null: SELF. Not for other kinds."
    )
    daily_limit: int | None = None
    lifetime_limit: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    weekdays: list[int] | None = None
    store_codes: list[str] | None = None
    partner_codes: list[str] | None = None
    tier_codes: list[str] | None = None
    tag_codes: list[str] | None = None
    cap_points: int | None = None
    expiry_days: int | None = None
    nth_purchase: int | None = strawberry.field(
        default=None, description="A PURCHASE_COUNT's N (2 or more)."
    )
    repeats: bool | None = strawberry.field(
        default=None,
        description="A PURCHASE_COUNT: every Nth purchase (null or true) or only the Nth "
        "(false; say, the 3rd purchase inside a campaign's window).",
    )
    idempotency_key: str


@strawberry.input(description="A rule's new settings, replacing all of them; its kind stays.")
class UpdateEarningRuleInput(EarningRuleInput):
    id: strawberry.ID


@strawberry.input
class ArchiveEarningRuleInput:
    id: strawberry.ID
    idempotency_key: str


@strawberry.type
class EarningRulePayload:
    rule: EarningRule | None
    user_errors: list[UserError]


@strawberry.input(description="The brand's limits on earning; null caps mean none.")
class EarnSettingsInput:
    earn_cap_per_purchase: int | None = None
    earn_cap_per_day: int | None = None
    purchase_max_age_days: int = 30
    idempotency_key: str


@strawberry.type
class EarnSettingsPayload:
    brand: Brand | None
    user_errors: list[UserError]


@strawberry.input(description="A purchase as recordPurchase would take it, to see its earn.")
class PreviewEarnInput:
    member_id: strawberry.ID | None = strawberry.field(
        default=None, description="Staff name the member; a member previews for themselves."
    )
    store_code: str | None = None
    order_ref: str = "PREVIEW"
    total: Decimal
    lines: list[PurchaseLineInput] | None = None
    occurred_at: datetime | None = None


@strawberry.type(description="What a purchase would earn now, and why; nothing is moved.")
class EarnPreview:
    points: int
    breakdown: list[EarnComponent]
    expires_at: datetime | None


@strawberry.type
class PreviewEarnPayload:
    preview: EarnPreview | None
    user_errors: list[UserError]


@strawberry.input(
    description="The brand's own system's word that the member did a SIGNED task. signature is "
    "the lowercase hex HMAC-SHA256, under the brand's task signing secret "
    '(issueTaskSigningSecret), of "<signedAt as Unix seconds>.<member global id>.<TASK_CODE>.'
    "<reference>\" (the member's id as Member.id returns it, the task code in capitals). "
    "signedAt must be within 5 minutes of now; a reference counts once per member and task."
)
class SignedTaskProofInput:
    reference: str = strawberry.field(
        description="What the brand's system names the done task by (a review's id, say)."
    )
    signed_at: datetime
    signature: str


@strawberry.input
class CompleteTaskInput:
    task_code: str
    member_id: strawberry.ID | None = strawberry.field(
        default=None, description="Staff name the member; a member completes their own tasks."
    )
    proof: SignedTaskProofInput | None = strawberry.field(
        default=None,
        description="Required by a SIGNED task (VERIFICATION_REQUIRED when missing, wrong or "
        "signed more than 5 minutes from now; DUPLICATE when its reference was used); read "
        "for SIGNED tasks only.",
    )
    idempotency_key: str


@strawberry.type
class CompleteTaskPayload:
    entry: LedgerEntry | None
    member: MemberRef | None
    user_errors: list[UserError]


@strawberry.input
class IssueTaskSigningSecretInput:
    idempotency_key: str


@strawberry.type
class IssueTaskSigningSecretPayload:
    brand: Brand | None
    secret: str | None = strawberry.field(
        description="The task signing secret, shown this once: the brand's own system signs "
        "SIGNED tasks' proofs with it; proofs signed with the previous one no longer hold "
        "(null when a repeated idempotencyKey answers the first call)."
    )
    user_errors: list[UserError]


@strawberry.type
class RuleQueries:
    @strawberry.field(
        permission_classes=[ReadsMembers],
        description="The brand's earning rules, by kind and priority.",
        graphql_type=list[EarningRule],
    )
    async def earning_rules(
        self,
        info: Info,
        kind: EarningRuleKind | None = None,
        include_archived: bool = False,
        active_at: datetime | None = None,
    ) -> list[records.EarningRule]:
        return await resolve.earning_rules(info, kind, include_archived, active_at)

    @strawberry.field(
        permission_classes=[MemberOrStaff],
        description="What a purchase would earn, with its breakdown: the same evaluation as "
        "recordPurchase, without moving points.",
        graphql_type=PreviewEarnPayload,
    )
    async def preview_earn(
        self, info: Info, input: PreviewEarnInput
    ) -> resolve.PreviewEarnPayloadView:
        return await resolve.preview_earn(info, input)


@strawberry.type
class RuleMutations:
    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=EarningRulePayload)
    async def create_earning_rule(
        self, info: Info, input: EarningRuleInput
    ) -> resolve.EarningRulePayloadView:
        return await resolve.create_earning_rule(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=EarningRulePayload)
    async def update_earning_rule(
        self, info: Info, input: UpdateEarningRuleInput
    ) -> resolve.EarningRulePayloadView:
        return await resolve.update_earning_rule(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=EarningRulePayload)
    async def archive_earning_rule(
        self, info: Info, input: ArchiveEarningRuleInput
    ) -> resolve.EarningRulePayloadView:
        return await resolve.archive_earning_rule(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=EarnSettingsPayload)
    async def save_earn_settings(
        self, info: Info, input: EarnSettingsInput
    ) -> resolve.EarnSettingsPayloadView:
        return await resolve.save_earn_settings(info, input)

    @strawberry.mutation(permission_classes=[MemberOrStaff], graphql_type=CompleteTaskPayload)
    async def complete_task(self, info: Info, input: CompleteTaskInput) -> MovementPayloadView:
        return await resolve.complete_task(info, input)

    @strawberry.mutation(
        permission_classes=[IsBrandAdmin],
        description="A new secret for the brand's own system to sign task proofs with, "
        "replacing the previous one.",
        graphql_type=IssueTaskSigningSecretPayload,
    )
    async def issue_task_signing_secret(
        self, info: Info, input: IssueTaskSigningSecretInput
    ) -> resolve.IssueTaskSigningSecretPayloadView:
        return await resolve.issue_task_signing_secret(info, input)
