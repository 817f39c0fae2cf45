"""Members: who they are, their tier and points, and how staff find and manage them."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date, datetime

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.permission import PermissionExtension

from domain import records, tiers
from domain.catalog import recommendations as recommender
from domain.ledger import reads
from domain.partners import Scope
from domain.rules import opportunities
from resolvers import catalog as resolve_catalog
from resolvers import ledger as resolve_ledger
from resolvers import members as resolve
from resolvers import notices as resolve_notices
from resolvers import rules as resolve_rules
from resolvers import segments as resolve_segments
from resolvers import tiers as resolve_tiers
from resolvers.connections import ConnectionView
from resolvers.context import Info
from schema.brands import Brand, Tier
from schema.catalog import Recommendation, Redemption
from schema.errors import UserError
from schema.ledger import LedgerEntry, LedgerEntryKind, PointsBalance
from schema.notices import Notice, NoticePreferences
from schema.permissions import (
    HasBrand,
    IsBrandAdmin,
    IsBrandStaff,
    IsMember,
    NotPartner,
    ReadsMembers,
    staff_or_partner_with,
)
from schema.prechecks import PLANNED, PRECHECK, Precheck
from schema.relay import Connection, Node
from schema.rules import EarnOpportunity
from schema.tiers import TierProgress

MemberStatus = records.MemberStatus
strawberry.enum(MemberStatus, name="MemberStatus")


def personal() -> list[FieldExtension]:
    """A member's personal data: null for partners."""
    return [PermissionExtension(permissions=[NotPartner()], fail_silently=True)]


@strawberry.type(
    description="A member of the brand. A partner sees only id, displayName and ledger (the "
    "entries it made); the other fields are FORBIDDEN to it, phone, email and birthday null."
)
class Member(Node):
    display_name: str
    phone: str | None = strawberry.field(extensions=personal())
    email: str | None = strawberry.field(extensions=personal())
    birthday: date | None = strawberry.field(extensions=personal())
    referral_code: str = strawberry.field(permission_classes=[NotPartner])
    status: MemberStatus = strawberry.field(permission_classes=[NotPartner])
    joined_at: datetime = strawberry.field(permission_classes=[NotPartner])
    member_code: str = strawberry.field(
        description="Short code for the cashier's scanner.", permission_classes=[NotPartner]
    )
    marketing_email: bool = strawberry.field(permission_classes=[NotPartner])
    marketing_sms: bool = strawberry.field(permission_classes=[NotPartner])

    @strawberry.field(permission_classes=[NotPartner], graphql_type=Brand)
    async def brand(
        self, info: Info, member: strawberry.Parent[records.Member]
    ) -> records.Brand | None:
        return await resolve.brand_of(info, member)

    @strawberry.field(permission_classes=[NotPartner], metadata={PLANNED: True}, graphql_type=Tier)
    async def tier(
        self, info: Info, member: strawberry.Parent[records.Member]
    ) -> records.Tier | None:
        return await resolve.tier_of(info, member)

    @strawberry.field(permission_classes=[NotPartner], graphql_type=TierProgress)
    async def tier_progress(
        self, info: Info, member: strawberry.Parent[records.Member]
    ) -> tiers.TierProgress:
        return await resolve_tiers.progress_of(info, member)

    @strawberry.field(
        permission_classes=[NotPartner], metadata={PLANNED: True}, graphql_type=PointsBalance
    )
    def points(  # sync when known: see balance_of
        self, info: Info, member: strawberry.Parent[records.Member]
    ) -> reads.BalanceView | Awaitable[reads.BalanceView | None] | None:
        return resolve_ledger.balance_of(info, member)

    @strawberry.field(
        permission_classes=[ReadsMembers],
        description="The tags the brand's admins gave the member (tagMembers); staff only.",
    )
    async def tags(self, info: Info, member: strawberry.Parent[records.Member]) -> list[str]:
        return await resolve_segments.tags_of(member)

    @strawberry.field(
        permission_classes=[NotPartner],
        description="What the member can earn now: the rules and tasks in force for them.",
        graphql_type=list[EarnOpportunity],
    )
    async def earn_opportunities(
        self, info: Info, member: strawberry.Parent[records.Member]
    ) -> list[opportunities.EarnOpportunity]:
        return await resolve_rules.earn_opportunities(info, member)

    @strawberry.field(
        description="Newest first; a partner's, only the entries it made.",
        metadata={PLANNED: True},
        graphql_type=Connection[LedgerEntry],
    )
    async def ledger(
        self,
        info: Info,
        member: strawberry.Parent[records.Member],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        kind: LedgerEntryKind | None = None,
    ) -> ConnectionView[records.LedgerEntry]:
        return await resolve_ledger.ledger_of(info, member, first, after, last, before, kind)

    @strawberry.field(
        description="Newest first.",
        permission_classes=[NotPartner],
        graphql_type=Connection[Redemption],
    )
    async def redemptions(
        self,
        info: Info,
        member: strawberry.Parent[records.Member],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> ConnectionView[records.Redemption]:
        return await resolve_catalog.redemptions_of_member(info, member, first, after, last, before)

    @strawberry.field(
        description="Their inbox, newest first.",
        permission_classes=[NotPartner],
        graphql_type=Connection[Notice],
    )
    async def notices(
        self,
        info: Info,
        member: strawberry.Parent[records.Member],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        unread_only: bool = False,
    ) -> ConnectionView[records.Notice]:
        return await resolve_notices.notices_of(member, unread_only, first, after, last, before)

    @strawberry.field(permission_classes=[NotPartner])
    async def unread_notice_count(self, member: strawberry.Parent[records.Member]) -> int:
        return await resolve_notices.unread_count_of(member)

    @strawberry.field(permission_classes=[NotPartner], graphql_type=NoticePreferences)
    def notice_preferences(
        self, member: strawberry.Parent[records.Member]
    ) -> resolve_notices.NoticePreferencesView:
        return resolve_notices.preferences_of(member)

    @strawberry.field(
        description="Items the member can redeem now, ranked by the categories they buy and "
        "redeem, then popularity; each with a reason to show.",
        permission_classes=[NotPartner],
        graphql_type=list[Recommendation],
    )
    async def recommendations(
        self, info: Info, member: strawberry.Parent[records.Member], first: int = 5
    ) -> list[recommender.Recommendation]:
        return await resolve_catalog.recommendations_of(info, member, first)


@strawberry.input
class RegisterMemberInput:
    display_name: str
    phone: str | None = None
    email: str | None = None
    birthday: date | None = None
    referral_code: str | None = strawberry.field(
        default=None, description="Referral code of the member who invited this one."
    )
    device_id: str | None = strawberry.field(
        default=None,
        description="The app's identifier of the device registering (up to 128 characters): "
        "many members registered on one device within a day are flagged for review. Kept for "
        "the brand's risk review, never shown to members.",
    )
    idempotency_key: str


@strawberry.input
class SetMemberStatusInput:
    member_id: strawberry.ID
    status: MemberStatus
    reason: str
    idempotency_key: str


@strawberry.input(description="What a member changes on their own profile; omitted: unchanged.")
class UpdateMyProfileInput:
    display_name: str | None = None
    email: str | None = None
    birthday: date | None = strawberry.field(default=None, description="Can be set once.")
    marketing_email: bool | None = None
    marketing_sms: bool | None = None
    idempotency_key: str


@strawberry.type
class RegisterMemberPayload:
    member: Member | None
    user_errors: list[UserError]


@strawberry.type
class SetMemberStatusPayload:
    member: Member | None
    user_errors: list[UserError]


@strawberry.type
class UpdateMyProfilePayload:
    member: Member | None
    user_errors: list[UserError]


@strawberry.type
class MemberQueries:
    @strawberry.field(
        permission_classes=[HasBrand],
        description="The member the bearer token belongs to (role MEMBER).",
        # A document of this field alone is answered without execution (schema/prechecks.py).
        metadata={
            PRECHECK: Precheck(
                resolve.answer_me, assumes=(HasBrand,), answers=True, selected=True, reads=True
            )
        },
        graphql_type=Member | None,
    )
    async def me(self, info: Info) -> records.Member | None:
        return await resolve.me(info)

    @strawberry.field(
        permission_classes=[ReadsMembers],
        description="Staff, admins and analysts of the member's brand.",
        graphql_type=Member | None,
    )
    async def member(self, info: Info, id: strawberry.ID) -> records.Member | None:
        return await resolve.member(info, id)

    @strawberry.field(permission_classes=[ReadsMembers], graphql_type=Connection[Member])
    async def members(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        search: str | None = None,
    ) -> ConnectionView[records.Member]:
        return await resolve.search_members(info, first, after, last, before, search)

    @strawberry.field(
        permission_classes=[IsBrandStaff],
        description="The member whose code the cashier scanned.",
        graphql_type=Member | None,
    )
    async def member_by_code(self, info: Info, code: str) -> records.Member | None:
        return await resolve.member_by_code(info, code)


@strawberry.type
class MemberMutations:
    @strawberry.mutation(
        permission_classes=[staff_or_partner_with(Scope.MEMBERS_REGISTER)],
        graphql_type=RegisterMemberPayload,
    )
    async def register_member(
        self, info: Info, input: RegisterMemberInput
    ) -> resolve.MemberPayloadView:
        return await resolve.register_member(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=SetMemberStatusPayload)
    async def set_member_status(
        self, info: Info, input: SetMemberStatusInput
    ) -> resolve.MemberPayloadView:
        return await resolve.set_member_status(info, input)

    @strawberry.mutation(permission_classes=[IsMember], graphql_type=UpdateMyProfilePayload)
    async def update_my_profile(
        self, info: Info, input: UpdateMyProfileInput
    ) -> resolve.MemberPayloadView:
        return await resolve.update_my_profile(info, input)
