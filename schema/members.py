"""Members: who they are, their tier and points, and how staff find and manage them."""

from __future__ import annotations

from datetime import date, datetime

import strawberry
from strawberry.permission import PermissionExtension
from strawberry.types import Info

from domain.members import MemberStatus as MemberStatusValues
from domain.partners import Scope
from resolvers import catalog as resolve_catalog
from resolvers import ledger as resolve_ledger
from resolvers import members as resolve
from resolvers import notices as resolve_notices
from resolvers import rules as resolve_rules
from resolvers import segments as resolve_segments
from resolvers import tiers as resolve_tiers
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
from schema.relay import Connection, Node
from schema.rules import EarnOpportunity
from schema.tiers import TierProgress

MemberStatus = strawberry.enum(MemberStatusValues, name="MemberStatus")


def personal() -> list[PermissionExtension]:
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

    @strawberry.field(permission_classes=[NotPartner])
    async def brand(self, info: Info) -> Brand:
        return await resolve.brand_of(info, self)

    @strawberry.field(permission_classes=[NotPartner])
    async def tier(self, info: Info) -> Tier:
        return await resolve.tier_of(info, self)

    @strawberry.field(permission_classes=[NotPartner])
    async def tier_progress(self, info: Info) -> TierProgress:
        return await resolve_tiers.progress_of(info, self)

    @strawberry.field(permission_classes=[NotPartner])
    def points(self, info: Info) -> PointsBalance:  # sync when known: see balance_of
        return resolve_ledger.balance_of(info, self)

    @strawberry.field(
        permission_classes=[ReadsMembers],
        description="The tags the brand's admins gave the member (tagMembers); staff only.",
    )
    async def tags(self, info: Info) -> list[str]:
        return await resolve_segments.tags_of(info, self)

    @strawberry.field(
        permission_classes=[NotPartner],
        description="What the member can earn now: the rules and tasks in force for them.",
    )
    async def earn_opportunities(self, info: Info) -> list[EarnOpportunity]:
        return await resolve_rules.earn_opportunities(info, self)

    @strawberry.field(description="Newest first; a partner's, only the entries it made.")
    async def ledger(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        kind: LedgerEntryKind | None = None,
    ) -> Connection[LedgerEntry]:
        return await resolve_ledger.ledger_of(info, self, first, after, last, before, kind)

    @strawberry.field(description="Newest first.", permission_classes=[NotPartner])
    async def redemptions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Redemption]:
        return await resolve_catalog.redemptions_of_member(info, self, first, after, last, before)

    @strawberry.field(description="Their inbox, newest first.", permission_classes=[NotPartner])
    async def notices(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        unread_only: bool = False,
    ) -> Connection[Notice]:
        return await resolve_notices.notices_of(info, self, unread_only, first, after, last, before)

    @strawberry.field(permission_classes=[NotPartner])
    async def unread_notice_count(self, info: Info) -> int:
        return await resolve_notices.unread_count_of(self)

    @strawberry.field(permission_classes=[NotPartner])
    def notice_preferences(self, info: Info) -> NoticePreferences:
        return resolve_notices.preferences_of(self)

    @strawberry.field(
        description="Items the member can redeem now, ranked by the categories they buy and "
        "redeem, then popularity; each with a reason to show.",
        permission_classes=[NotPartner],
    )
    async def recommendations(self, info: Info, first: int = 5) -> list[Recommendation]:
        return await resolve_catalog.recommendations_of(info, self, first)


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
    )
    async def me(self, info: Info) -> Member | None:
        return await resolve.me(info)

    @strawberry.field(
        permission_classes=[ReadsMembers],
        description="Staff, admins and analysts of the member's brand.",
    )
    async def member(self, info: Info, id: strawberry.ID) -> Member | None:
        return await resolve.member(info, id)

    @strawberry.field(permission_classes=[ReadsMembers])
    async def members(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        search: str | None = None,
    ) -> Connection[Member]:
        return await resolve.search_members(info, first, after, last, before, search)

    @strawberry.field(
        permission_classes=[IsBrandStaff],
        description="The member whose code the cashier scanned.",
    )
    async def member_by_code(self, info: Info, code: str) -> Member | None:
        return await resolve.member_by_code(info, code)


@strawberry.type
class MemberMutations:
    @strawberry.mutation(permission_classes=[staff_or_partner_with(Scope.MEMBERS_REGISTER)])
    async def register_member(
        self, info: Info, input: RegisterMemberInput
    ) -> RegisterMemberPayload:
        return await resolve.register_member(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin])
    async def set_member_status(
        self, info: Info, input: SetMemberStatusInput
    ) -> SetMemberStatusPayload:
        return await resolve.set_member_status(info, input)

    @strawberry.mutation(permission_classes=[IsMember])
    async def update_my_profile(
        self, info: Info, input: UpdateMyProfileInput
    ) -> UpdateMyProfilePayload:
        return await resolve.update_my_profile(info, input)
