"""Resolvers for earning rules, earn previews and tasks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.ledger import live, movements
from domain.rules import admin, opportunities
from domain.rules.engine import SignedProof
from resolvers.context import principal_of
from resolvers.ids import decode_id
from resolvers.ledger import components_of, moved, purchase_of
from resolvers.payloads import Payload, reports_user_errors


@dataclass(frozen=True, slots=True)
class EarnPreviewView:
    points: int
    breakdown: list[Any]
    expires_at: datetime | None


def rule_spec(input: Any) -> admin.RuleSpec:
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


def _now(info: Any) -> datetime:
    return info.context.backends.clock.now()


async def earning_rules(
    info: Any, kind: Any, include_archived: bool, active_at: datetime | None
) -> list[Any]:
    return await admin.list_rules(
        principal_of(info), kind=kind, include_archived=include_archived, active_at=active_at
    )


@reports_user_errors
async def create_earning_rule(info: Any, input: Any) -> Payload:
    rule = await admin.create_rule(
        principal_of(info), rule_spec(input), _now(info), input.idempotency_key
    )
    return Payload(rule=rule)


@reports_user_errors
async def update_earning_rule(info: Any, input: Any) -> Payload:
    rule_id = decode_id(input.id, "EarningRule", "id")
    rule = await admin.update_rule(
        principal_of(info), rule_id, rule_spec(input), _now(info), input.idempotency_key
    )
    return Payload(rule=rule)


@reports_user_errors
async def archive_earning_rule(info: Any, input: Any) -> Payload:
    rule_id = decode_id(input.id, "EarningRule", "id")
    rule = await admin.archive_rule(principal_of(info), rule_id, _now(info), input.idempotency_key)
    return Payload(rule=rule)


@reports_user_errors
async def save_earn_settings(info: Any, input: Any) -> Payload:
    settings = admin.EarnSettings(
        cap_per_purchase=input.earn_cap_per_purchase,
        cap_per_day=input.earn_cap_per_day,
        purchase_max_age_days=input.purchase_max_age_days,
    )
    brand = await admin.save_earn_settings(principal_of(info), settings, input.idempotency_key)
    return Payload(brand=brand)


async def _acting_for(info: Any, member_id: str | None) -> int:
    wanted = decode_id(member_id, "Member", "memberId") if member_id is not None else None
    return (await live.watched_member(principal_of(info), wanted)).id


@reports_user_errors
async def preview_earn(info: Any, input: Any) -> Payload:
    member_id = await _acting_for(info, input.member_id)
    earned = await movements.preview_earn(
        info.context.backends, principal_of(info), member_id, purchase_of(input)
    )
    preview = EarnPreviewView(
        earned.points, components_of(earned.shown_breakdown()), earned.expires_at
    )
    return Payload(preview=preview)


@reports_user_errors
async def complete_task(info: Any, input: Any) -> Payload:
    member_id = await _acting_for(info, input.member_id)
    given = input.proof
    proof = given and SignedProof(given.reference, given.signed_at, given.signature)
    return moved(
        info,
        await movements.complete_task(
            info.context.backends,
            principal_of(info),
            member_id,
            input.task_code,
            input.idempotency_key,
            proof,
        ),
    )


@reports_user_errors
async def issue_task_signing_secret(info: Any, input: Any) -> Payload:
    brand, secret = await admin.issue_task_secret(principal_of(info), input.idempotency_key)
    return Payload(brand=brand, secret=secret)


async def earn_opportunities(info: Any, member: Any) -> list[Any]:
    brand = await info.context.loaders.brand_by_id.load(member.brand_id)
    return await opportunities.earn_opportunities(brand, member, _now(info))
