"""Resolvers for earning rules, earn previews and tasks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

import strawberry

from domain import records
from domain.ledger import live
from domain.rules import admin, earning, opportunities, tasks
from domain.rules.engine import SignedProof
from resolvers.context import Info, now_of, principal_of
from resolvers.ids import ByIdFields, decode_id
from resolvers.ledger import (
    EarnComponentView,
    MovementPayloadView,
    PurchaseFields,
    components_of,
    moved,
    purchase_of,
)
from resolvers.payloads import PayloadView, reports_user_errors


class EarningRuleFields(Protocol):
    """createEarningRule's input (updateEarningRule's has an id besides)."""

    code: str
    name: str
    kind: records.RuleKind
    priority: int
    rate: Decimal | None
    rounding: records.Rounding | None
    multiplier: Decimal | None
    category: str | None
    threshold: Decimal | None
    points: int | None
    referrer_points: int | None
    referrer_monthly_cap: int | None
    task_code: str | None
    proof: records.TaskProof | None
    daily_limit: int | None
    lifetime_limit: int | None
    starts_at: datetime | None
    ends_at: datetime | None
    weekdays: list[int] | None
    store_codes: list[str] | None
    partner_codes: list[str] | None
    tier_codes: list[str] | None
    tag_codes: list[str] | None
    cap_points: int | None
    expiry_days: int | None
    nth_purchase: int | None
    repeats: bool | None
    idempotency_key: str


class UpdateEarningRuleFields(EarningRuleFields, Protocol):
    id: strawberry.ID


class EarnSettingsFields(Protocol):
    earn_cap_per_purchase: int | None
    earn_cap_per_day: int | None
    purchase_max_age_days: int
    idempotency_key: str


class PreviewEarnFields(PurchaseFields, Protocol):
    member_id: strawberry.ID | None


class SignedTaskProofFields(Protocol):
    reference: str
    signed_at: datetime
    signature: str


class CompleteTaskFields(Protocol):
    task_code: str
    member_id: strawberry.ID | None
    idempotency_key: str

    @property
    def proof(self) -> SignedTaskProofFields | None: ...


class IssueTaskSigningSecretFields(Protocol):
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class EarnPreviewView:
    points: int
    breakdown: list[EarnComponentView]
    expires_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class EarningRulePayloadView(PayloadView):
    rule: records.EarningRule | None


@dataclass(frozen=True, slots=True, kw_only=True)
class EarnSettingsPayloadView(PayloadView):
    brand: records.Brand | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewEarnPayloadView(PayloadView):
    preview: EarnPreviewView | None


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueTaskSigningSecretPayloadView(PayloadView):
    brand: records.Brand | None
    secret: str | None


def rule_spec(input: EarningRuleFields) -> admin.RuleSpec:
    return admin.RuleSpec(
        code=input.code.strip().upper(),
        name=input.name,
        kind=input.kind,
        priority=input.priority,
        rate=input.rate,
        rounding=input.rounding,
        multiplier=input.multiplier,
        category=input.category,
        threshold=input.threshold,
        points=input.points,
        referrer_points=input.referrer_points,
        referrer_monthly_cap=input.referrer_monthly_cap,
        task_code=input.task_code.strip().upper() if input.task_code else None,
        proof=input.proof,
        daily_limit=input.daily_limit,
        lifetime_limit=input.lifetime_limit,
        starts_at=input.starts_at,
        ends_at=input.ends_at,
        weekdays=tuple(input.weekdays or ()),
        store_codes=tuple(input.store_codes or ()),
        partner_codes=tuple(code.strip().lower() for code in input.partner_codes or ()),
        tier_codes=tuple(code.strip().upper() for code in input.tier_codes or ()),
        cap_points=input.cap_points,
        expiry_days=input.expiry_days,
        nth_purchase=input.nth_purchase,
        repeats=input.repeats,
        tag_codes=tuple(code.strip().upper() for code in input.tag_codes or ()),
    )


async def earning_rules(
    info: Info, kind: records.RuleKind | None, include_archived: bool, active_at: datetime | None
) -> list[records.EarningRule]:
    return await admin.list_rules(
        principal_of(info), kind=kind, include_archived=include_archived, active_at=active_at
    )


@reports_user_errors(EarningRulePayloadView)
async def create_earning_rule(info: Info, input: EarningRuleFields) -> EarningRulePayloadView:
    rule = await admin.create_rule(
        principal_of(info), rule_spec(input), now_of(info), input.idempotency_key
    )
    return EarningRulePayloadView(rule=rule)


@reports_user_errors(EarningRulePayloadView)
async def update_earning_rule(info: Info, input: UpdateEarningRuleFields) -> EarningRulePayloadView:
    rule_id = decode_id(input.id, "EarningRule", "id")
    rule = await admin.update_rule(
        principal_of(info), rule_id, rule_spec(input), now_of(info), input.idempotency_key
    )
    return EarningRulePayloadView(rule=rule)


@reports_user_errors(EarningRulePayloadView)
async def archive_earning_rule(info: Info, input: ByIdFields) -> EarningRulePayloadView:
    rule_id = decode_id(input.id, "EarningRule", "id")
    rule = await admin.archive_rule(
        principal_of(info), rule_id, now_of(info), input.idempotency_key
    )
    return EarningRulePayloadView(rule=rule)


@reports_user_errors(EarnSettingsPayloadView)
async def save_earn_settings(info: Info, input: EarnSettingsFields) -> EarnSettingsPayloadView:
    settings = admin.EarnSettings(
        cap_per_purchase=input.earn_cap_per_purchase,
        cap_per_day=input.earn_cap_per_day,
        purchase_max_age_days=input.purchase_max_age_days,
    )
    brand = await admin.save_earn_settings(
        info.context.backends, principal_of(info), settings, input.idempotency_key
    )
    return EarnSettingsPayloadView(brand=brand)


async def _acting_for(info: Info, member_id: str | None) -> int:
    wanted = decode_id(member_id, "Member", "memberId") if member_id is not None else None
    return (await live.watched_member(principal_of(info), wanted)).id


@reports_user_errors(PreviewEarnPayloadView)
async def preview_earn(info: Info, input: PreviewEarnFields) -> PreviewEarnPayloadView:
    member_id = await _acting_for(info, input.member_id)
    earned = await earning.preview_earn(
        info.context.backends, principal_of(info), member_id, purchase_of(input)
    )
    preview = EarnPreviewView(
        earned.points, components_of(earned.shown_breakdown()), earned.expires_at
    )
    return PreviewEarnPayloadView(preview=preview)


@reports_user_errors(MovementPayloadView)
async def complete_task(info: Info, input: CompleteTaskFields) -> MovementPayloadView:
    member_id = await _acting_for(info, input.member_id)
    given = input.proof
    proof = (
        SignedProof(given.reference, given.signed_at, given.signature)
        if given is not None
        else None
    )
    return moved(
        info,
        await tasks.complete_task(
            info.context.backends,
            principal_of(info),
            member_id,
            input.task_code,
            input.idempotency_key,
            proof,
        ),
    )


@reports_user_errors(IssueTaskSigningSecretPayloadView)
async def issue_task_signing_secret(
    info: Info, input: IssueTaskSigningSecretFields
) -> IssueTaskSigningSecretPayloadView:
    brand, secret = await admin.issue_task_secret(principal_of(info), input.idempotency_key)
    return IssueTaskSigningSecretPayloadView(brand=brand, secret=secret)


async def earn_opportunities(
    info: Info, member: records.Member
) -> list[opportunities.EarnOpportunity]:
    brand = await info.context.loaders.brand(member.brand_id)
    return await opportunities.earn_opportunities(brand, member, now_of(info))
