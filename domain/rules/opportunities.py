"""What a member can earn now: the rules and tasks that apply to them, with how much, the limits
they have left and the proof a task needs.

Only rules in force now for the member's own tier and tags are shown (a rule of another tier
or tag, or one whose window has not opened, is never revealed); store- and partner-limited
rules are shown with their stores and partners, since where one earns is no secret. Rules the
member can no longer use (a first-purchase bonus after their first purchase, a task past its
lifetime limit) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import orjson
from tortoise.transactions import in_transaction

from db.models import Brand, Member, RuleKind, TaskProof
from domain.rules.config import earning_config
from domain.rules.earning import purchases_counted, tags_of
from domain.rules.engine import Rule, factor_text, money, needed, purchase_count_due, rate_text

# Kinds a member acts on (the others are paid without them: registration, birthdays).
SHOWN = (
    RuleKind.BASE_RATE, RuleKind.CATEGORY_MULTIPLIER, RuleKind.THRESHOLD_BONUS,
    RuleKind.CAMPAIGN, RuleKind.FIRST_PURCHASE_BONUS, RuleKind.REFERRAL_BONUS,
    RuleKind.PURCHASE_COUNT, RuleKind.TASK,
)  # fmt: skip

# Per task code: how often the member did it today (brand's day) and ever; and whether they
# ever purchased.
FACTS_SQL = """
SELECT EXISTS (SELECT 1 FROM purchase WHERE member_id = $1) AS purchased_before,
       COALESCE((SELECT jsonb_object_agg(task_code, jsonb_build_array(today, ever))
                 FROM (SELECT task_code, COUNT(*) FILTER (WHERE local_day = $2) AS today,
                              COUNT(*) AS ever
                       FROM award WHERE member_id = $1 AND kind = 'TASK'
                       GROUP BY task_code) done), '{}'::jsonb) AS tasks
"""


@dataclass(frozen=True, slots=True)
class EarnOpportunity:
    kind: RuleKind
    code: str
    name: str
    description: str
    points: int | None = None
    rate: Decimal | None = None
    multiplier: Decimal | None = None
    category: str | None = None
    threshold: Decimal | None = None
    task_code: str | None = None
    proof: TaskProof | None = None
    ends_at: datetime | None = None
    store_codes: tuple[str, ...] = ()
    partner_codes: tuple[str, ...] = ()
    left_today: int | None = None
    left_ever: int | None = None
    purchases_to_go: int | None = None


def in_force(
    rule: Rule, now: datetime, zone: ZoneInfo, tier_code: str, tags: frozenset[str]
) -> bool:
    """In force now for the member's tier and tags, in any of its stores and for any of its
    partners."""
    store = next(iter(sorted(rule.store_codes)), None)
    partner = next(iter(sorted(rule.partner_codes)), None)
    return rule.applies(now, zone, store, tier_code, partner, tags)


def purchases_to_go(rule: Rule, counted: int, bonuses: int) -> int:
    """How many purchases, this next one included, until a PURCHASE_COUNT rule pays."""
    to_go = 1
    while not purchase_count_due(rule, counted + to_go - 1, bonuses):
        to_go += 1
    return to_go


async def earn_opportunities(brand: Brand, member: Member, now: datetime) -> list[EarnOpportunity]:
    """What the member can earn now, in the order a member reads it: purchases, then tasks."""
    async with in_transaction() as connection:
        config = await earning_config(connection, brand)
        tier = config.tier(member.tier_id)
        zone = ZoneInfo(brand.timezone)
        tags: frozenset[str] = frozenset()
        if any(rule.tag_codes for rule in config.rules):
            tags = await tags_of(connection, member.id)
        rules = [
            rule
            for rule in config.rules
            if rule.kind in SHOWN and in_force(rule, now, zone, tier.code, tags)
        ]
        (facts,) = await connection.execute_query_dict(
            FACTS_SQL, [member.id, now.astimezone(zone).date()]
        )
        counted = await purchases_counted(connection, member.id, tuple(rules))
    purchased_before: bool = facts["purchased_before"]
    tasks = facts["tasks"]  # jsonb: text unless the connection decodes it
    tasks_done: dict[str, list[int]] = orjson.loads(tasks) if isinstance(tasks, str) else tasks
    shown = []
    for rule in sorted(rules, key=lambda rule: (SHOWN.index(rule.kind), -rule.priority, rule.id)):
        opportunity = _opportunity(rule, purchased_before, tasks_done, counted)
        if opportunity is not None:
            shown.append(opportunity)
    base = [o for o in shown if o.kind is RuleKind.BASE_RATE]
    # Base rates do not stack: the member earns the highest-priority one (sorted first).
    return [o for o in shown if o.kind is not RuleKind.BASE_RATE or o is base[0]]


def _opportunity(
    rule: Rule,
    purchased_before: bool,
    tasks_done: dict[str, list[int]],
    counted: dict[int, tuple[int, int]],
) -> EarnOpportunity | None:
    """What the rule offers the member, or None when they can no longer use it; `tasks_done`:
    per task code, [times today, times ever]."""
    shown = EarnOpportunity(
        kind=rule.kind, code=rule.code, name=rule.name, description=rule.name,
        ends_at=rule.ends_at, store_codes=tuple(sorted(rule.store_codes)),
        partner_codes=tuple(sorted(rule.partner_codes)),
    )  # fmt: skip
    if rule.kind is RuleKind.BASE_RATE:
        rate = needed(rule.rate)
        return replace(shown, description=rate_text(rate), rate=rate)
    if rule.kind is RuleKind.CATEGORY_MULTIPLIER:
        multiplier = needed(rule.multiplier)
        text = f"{factor_text(multiplier)} on {rule.category}"
        return replace(shown, description=text, multiplier=multiplier, category=rule.category)
    if rule.kind is RuleKind.THRESHOLD_BONUS:
        threshold = needed(rule.threshold)
        text = f"{rule.points} points for spending {money(threshold)} or more at once"
        return replace(shown, description=text, points=rule.points, threshold=threshold)
    if rule.kind is RuleKind.CAMPAIGN:
        if rule.multiplier is not None:
            text = f"{rule.name}: {factor_text(rule.multiplier)}"
            return replace(shown, description=text, multiplier=rule.multiplier)
        return replace(shown, points=rule.points)
    if rule.kind is RuleKind.FIRST_PURCHASE_BONUS:
        if purchased_before:
            return None
        text = f"{rule.points} points with your first purchase"
        return replace(shown, description=text, points=rule.points)
    if rule.kind is RuleKind.REFERRAL_BONUS:
        text = f"{rule.referrer_points} points when a friend you invite makes a first purchase"
        return replace(shown, description=text, points=rule.referrer_points)
    if rule.kind is RuleKind.PURCHASE_COUNT:
        so_far, bonuses = counted.get(rule.id, (0, 0))
        if not rule.repeats and bonuses:
            return None
        to_go = purchases_to_go(rule, so_far, bonuses)
        text = f"{rule.points} points in {to_go} purchase{'s' if to_go > 1 else ''}"
        return replace(shown, description=text, points=rule.points, purchases_to_go=to_go)
    assert rule.kind is RuleKind.TASK
    task_code = needed(rule.task_code)
    today, ever = tasks_done.get(task_code, [0, 0])
    left_today = None if rule.daily_limit is None else max(rule.daily_limit - today, 0)
    left_ever = None if rule.lifetime_limit is None else max(rule.lifetime_limit - ever, 0)
    if left_ever == 0:
        return None
    return replace(
        shown, description=f"{rule.points} points: {rule.name}", points=rule.points,
        task_code=task_code, proof=rule.proof, left_today=left_today, left_ever=left_ever,
    )  # fmt: skip
