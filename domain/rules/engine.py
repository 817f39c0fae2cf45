"""Rule evaluation: a pure function from a purchase (or a task), the member and the brand's
rules to the components of what they earn. No database, no clock: everything it needs is passed
in, so preview and earn cannot differ and every case is tested in memory.

How rules combine on a purchase, in order:
1. base rate: the applicable BASE_RATE rule of highest priority (they do not stack);
2. category multipliers: each adds (multiplier - 1) x the base rate on its category's lines;
3. threshold bonus: the highest threshold the total reaches gives its bonus (campaigns do not
   multiply it);
4. campaigns: each multiplies the spend points (1 + 2) or adds a flat bonus;
5. the tier's earn multiplier on top of 1-4;
6. one-off bonuses: first purchase, the referral bonus on a referred member's first one, and
   purchase counts (the Nth purchase, or every Nth);
7. caps: each rule's own cap, then the brand's per-purchase and per-day caps, each cut shown
   as a negative component so the components always add up to the points earned.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import TypeVar
from zoneinfo import ZoneInfo

from db.models import Rounding, RuleKind, TaskProof

T = TypeVar("T")

ROUNDINGS = {
    Rounding.DOWN: ROUND_FLOOR,
    Rounding.NEAREST: ROUND_HALF_UP,
    Rounding.UP: ROUND_CEILING,
}


@dataclass(frozen=True, slots=True)
class Rule:
    """One earning rule as the engine sees it (a copy of the stored rule).

    Every stored rule has the fields its kind needs (`check_rule`, domain/rules/admin.py): the
    engine reads them through `needed`."""

    id: int
    code: str
    name: str
    kind: RuleKind
    priority: int = 0
    rate: Decimal | None = None
    rounding: Rounding = Rounding.DOWN
    multiplier: Decimal | None = None
    category: str | None = None
    threshold: Decimal | None = None
    points: int | None = None
    referrer_points: int | None = None
    referrer_monthly_cap: int | None = None
    task_code: str | None = None
    proof: TaskProof = TaskProof.SELF  # what shows a TASK rule's task was done
    daily_limit: int | None = None
    lifetime_limit: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    weekdays: frozenset[int] = frozenset()  # ISO: 1 Monday … 7 Sunday, in the brand's timezone
    store_codes: frozenset[str] = frozenset()
    partner_codes: frozenset[str] = frozenset()  # empty: purchases of the brand and partners
    tier_codes: frozenset[str] = frozenset()
    cap_points: int | None = None
    expiry_days: int | None = None
    nth_purchase: int | None = None
    repeats: bool = True
    tag_codes: frozenset[str] = frozenset()  # members with any of these tags only

    def applies(
        self,
        at: datetime,
        zone: ZoneInfo,
        store_code: str | None,
        tier: str,
        partner_code: str | None = None,
        tags: frozenset[str] = frozenset(),
    ) -> bool:
        """Whether the rule is in force at `at`, in that store, for that tier, a member with
        those tags and (for a partner's purchase) that partner."""
        if self.starts_at is not None and at < self.starts_at:
            return False
        if self.ends_at is not None and at >= self.ends_at:
            return False
        if self.weekdays and at.astimezone(zone).isoweekday() not in self.weekdays:
            return False
        if self.store_codes and store_code not in self.store_codes:
            return False
        if self.partner_codes and partner_code not in self.partner_codes:
            return False
        if self.tag_codes and not self.tag_codes & tags:
            return False
        return not self.tier_codes or tier in self.tier_codes


def needed(value: T | None) -> T:
    """A field the rule's kind needs, which every stored rule of that kind has."""
    assert value is not None, "a rule lacks a field its kind needs"
    return value


@dataclass(frozen=True, slots=True)
class PurchaseLine:
    sku: str
    category: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class PurchaseRecord:
    """A purchase as the selling system reports it; (brand, order_ref) names it once."""

    order_ref: str
    total: Decimal
    store_code: str | None = None
    lines: tuple[PurchaseLine, ...] = ()
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Component:
    """One reason for points; `expiry_days` set when the rule's points expire on their own."""

    rule: str
    description: str
    points: int
    expiry_days: int | None = None

    def as_breakdown(self) -> dict[str, object]:
        return {"rule": self.rule, "description": self.description, "points": self.points}


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """What the rules need of the member and the brand at the moment of the earn."""

    zone: ZoneInfo
    tier_code: str
    tier_name: str
    tier_multiplier: Decimal = Decimal(1)
    first_purchase: bool = False
    referred: bool = False  # has a referrer still owed their referral bonus
    earned_that_day: int = 0
    cap_per_purchase: int | None = None
    cap_per_day: int | None = None
    # For the risk flags: the member's usual purchase, how many recent ones it is of, and how
    # many they made in the last minutes.
    usual_total: Decimal | None = None
    recent_purchases: int = 0
    purchases_lately: int = 0
    # PURCHASE_COUNT rules: per rule id, the member's purchases in its window before this one
    # (those refunded in full left out), and how many of them earned its bonus.
    purchases_counted: dict[int, tuple[int, int]] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()  # read only when a live rule is limited to tags


@dataclass(frozen=True, slots=True)
class Earn:
    components: tuple[Component, ...] = ()
    referral: Rule | None = None  # the referral rule that paid the new member, if one did

    @property
    def points(self) -> int:
        return sum(component.points for component in self.components)

    def breakdown(self) -> list[dict[str, object]]:
        return [component.as_breakdown() for component in self.components]


@dataclass(slots=True)
class _Tally:
    components: list[Component] = field(default_factory=list)

    def add(self, rule: Rule, description: str, points: int) -> int:
        """Add a rule's points, cut to its own cap; returns what was added."""
        if rule.cap_points is not None and points > rule.cap_points:
            points = rule.cap_points
            description = f"{description} (capped at {rule.cap_points})"
        if points:
            self.components.append(Component(rule.code, description, points, rule.expiry_days))
        return points

    def cap(self, code: str, description: str, limit: int) -> None:
        total = sum(component.points for component in self.components)
        if total > limit:
            self.components.append(Component(code, description, limit - total))


def spend_by_category(lines: Iterable[PurchaseLine]) -> dict[str, Decimal]:
    """What the lines spent per category (case folded)."""
    spent: dict[str, Decimal] = {}
    for line in lines:
        category = line.category.strip().casefold()
        spent[category] = spent.get(category, Decimal(0)) + line.unit_price * line.quantity
    return spent


def rounded(value: Decimal, rounding: Rounding) -> int:
    return int(value.to_integral_value(rounding=ROUNDINGS[rounding]))


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def rate_text(rate: Decimal) -> str:
    """'3 points per 100 spent' reads better than '0.03 points per 1 spent'."""
    per, amount = (100, (rate * 100).normalize()) if rate < 1 else (1, rate.normalize())
    return f"{amount:f} point{'s' if amount != 1 else ''} per {per} spent"


def factor_text(multiplier: Decimal) -> str:
    return f"x{multiplier.normalize():f}"


def _chosen(rules: Iterable[Rule]) -> Rule | None:
    """Of rules that do not stack, the one of highest priority (the oldest among equals)."""
    return min(rules, key=lambda rule: (-rule.priority, rule.id), default=None)


def _in_order(rules: Iterable[Rule]) -> list[Rule]:
    return sorted(rules, key=lambda rule: (-rule.priority, rule.id))


def evaluate_purchase(
    total: Decimal,
    lines: tuple[PurchaseLine, ...],
    store_code: str | None,
    at: datetime,
    member: MemberFacts,
    rules: Iterable[Rule],
    partner_code: str | None = None,
) -> Earn:
    """What a purchase of `total` at `at` (recorded by a partner, if `partner_code`) earns the
    member, component by component."""
    live = [
        rule
        for rule in rules
        if rule.applies(at, member.zone, store_code, member.tier_code, partner_code, member.tags)
    ]
    by_kind: dict[RuleKind, list[Rule]] = {}
    for rule in live:
        by_kind.setdefault(rule.kind, []).append(rule)
    tally = _Tally()

    base = _chosen(by_kind.get(RuleKind.BASE_RATE, ()))
    spend_points = 0
    if base is not None:
        rate = needed(base.rate)
        description = f"{rate_text(rate)} on {money(total)}"
        spend_points += tally.add(base, description, rounded(total * rate, base.rounding))
        spent_by_category = spend_by_category(lines)
        for rule in _in_order(by_kind.get(RuleKind.CATEGORY_MULTIPLIER, ())):
            category, multiplier = needed(rule.category), needed(rule.multiplier)
            spent = spent_by_category.get(category.strip().casefold(), Decimal(0))
            spent = min(spent, total)  # lines may add up to more than a discounted total
            extra = rounded(spent * rate * (multiplier - 1), base.rounding)
            description = f"{factor_text(multiplier)} on {category} ({money(spent)} spent)"
            spend_points += tally.add(rule, description, extra)
    bonus_points = 0
    reached = [
        rule
        for rule in by_kind.get(RuleKind.THRESHOLD_BONUS, ())
        if total >= needed(rule.threshold)
    ]
    if reached:
        top = max(reached, key=lambda rule: (needed(rule.threshold), rule.priority, -rule.id))
        description = f"Spend {money(needed(top.threshold))} or more in one purchase"
        bonus_points = tally.add(top, description, needed(top.points))
    campaign_points = 0
    for rule in _in_order(by_kind.get(RuleKind.CAMPAIGN, ())):
        if rule.multiplier is not None:
            extra = rounded(spend_points * (rule.multiplier - 1), rule.rounding)
            campaign_points += tally.add(
                rule, f"{rule.name}: {factor_text(rule.multiplier)}", extra
            )
        else:
            campaign_points += tally.add(rule, rule.name, needed(rule.points))
    subtotal = spend_points + bonus_points + campaign_points
    tier_bonus = math.floor(subtotal * member.tier_multiplier) - subtotal
    if tier_bonus:
        description = f"{member.tier_name} tier: {factor_text(member.tier_multiplier)}"
        tally.components.append(Component("tier", description, tier_bonus))

    if member.first_purchase:
        bonus = _chosen(by_kind.get(RuleKind.FIRST_PURCHASE_BONUS, ()))
        if bonus is not None:
            tally.add(bonus, bonus.name, needed(bonus.points))
    referral = None
    if member.first_purchase and member.referred:
        referral = _chosen(by_kind.get(RuleKind.REFERRAL_BONUS, ()))
        if referral is not None:
            tally.add(
                referral,
                f"{referral.name}: welcome from the member who invited you",
                needed(referral.points),
            )
    for rule in _in_order(by_kind.get(RuleKind.PURCHASE_COUNT, ())):
        if purchase_count_due(rule, *member.purchases_counted.get(rule.id, (0, 0))):
            number = member.purchases_counted.get(rule.id, (0, 0))[0] + 1
            tally.add(rule, f"{rule.name}: purchase number {number}", needed(rule.points))

    _brand_caps(tally, member)
    return Earn(tuple(tally.components), referral)


def purchase_count_due(rule: Rule, counted: int, bonuses: int) -> bool:
    """Whether a PURCHASE_COUNT rule pays on the member's next purchase, after `counted`
    purchases of which `bonuses` earned it. Bonuses go with their purchase's refund, so a
    refunded purchase neither counts nor leaves a bonus that a later one would pay twice."""
    number, nth = counted + 1, needed(rule.nth_purchase)
    if rule.repeats:
        return number // nth > bonuses
    return number >= nth and bonuses == 0


def evaluate_task(rule: Rule, member: MemberFacts) -> Earn:
    """What completing the task of `rule` earns: its points, within the brand's daily cap."""
    tally = _Tally()
    tally.add(rule, rule.name, needed(rule.points))
    _brand_caps(tally, member, per_purchase=False)
    return Earn(tuple(tally.components))


PROOF_CLOCK_SKEW = timedelta(minutes=5)
PROOF_USED = "This proof was used already: each reference counts once per member and task."


@dataclass(frozen=True, slots=True)
class SignedProof:
    """The brand's own system's word that a member did a SIGNED task: `signature` is the hex
    HMAC-SHA256 under the brand's task secret that `task_signature` makes."""

    reference: str
    signed_at: datetime
    signature: str


def task_signature(
    secret: str, signed_at: datetime, member_global_id: str, task_code: str, reference: str
) -> str:
    """A task proof's signature: hex HMAC-SHA256 under `secret` of
    "<signedAt as Unix seconds>.<member global id>.<TASK_CODE>.<reference>"."""
    message = f"{int(signed_at.timestamp())}.{member_global_id}.{task_code}.{reference}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def proof_refusal(
    proof: SignedProof | None,
    secret: str | None,
    member_global_id: str,
    task_code: str,
    now: datetime,
) -> str | None:
    """Why a SIGNED task's proof does not show the member did it, or None when it does."""
    if proof is None:
        return "This task needs a proof signed by the brand's system."
    if secret is None:
        return "The brand has no task signing secret: no proof can hold."
    if abs(proof.signed_at - now) > PROOF_CLOCK_SKEW:
        return "The proof was signed more than 5 minutes from now."
    expected = task_signature(secret, proof.signed_at, member_global_id, task_code, proof.reference)
    if not hmac.compare_digest(expected.encode(), proof.signature.strip().lower().encode()):
        return "The proof's signature does not match."
    return None


def proof_once_key(task_code: str, reference: str) -> str:
    """What makes a signed proof's reference count once per member and task (Award.once_key)."""
    digest = hashlib.sha256(f"{task_code}.{reference}".encode()).hexdigest()
    return "sig:" + digest[:32]


def evaluate_bonus(
    rules: Iterable[Rule], kind: RuleKind, at: datetime, member: MemberFacts
) -> tuple[Rule | None, Earn]:
    """A one-off bonus (registration, birthday): the applicable rule of highest priority."""
    chosen = _chosen(
        rule
        for rule in rules
        if rule.kind is kind
        and rule.applies(at, member.zone, None, member.tier_code, tags=member.tags)
    )
    tally = _Tally()
    if chosen is not None:
        tally.add(chosen, chosen.name, needed(chosen.points))
    return chosen, Earn(tuple(tally.components))


def _brand_caps(tally: _Tally, member: MemberFacts, *, per_purchase: bool = True) -> None:
    if per_purchase and member.cap_per_purchase is not None:
        limit = member.cap_per_purchase
        tally.cap("cap:purchase", f"Capped at {limit} points per purchase", limit)
    if member.cap_per_day is not None:
        left = max(member.cap_per_day - member.earned_that_day, 0)
        tally.cap("cap:day", f"Capped at {member.cap_per_day} points per day", left)


def lots_of(
    components: Iterable[Component], default_expiry: datetime, local_day: date, zone: ZoneInfo
) -> list[tuple[int, datetime]]:
    """The lots an earn makes, (points, expires at), soonest expiry first.

    A rule with its own expiry puts its points in a lot expiring at the end of the local day
    `expiry_days` after the earn; the rest share the brand's default expiry. Cuts (caps,
    negative components) are taken from the soonest-expiring points first.
    """
    by_expiry: dict[datetime, int] = {}
    cut = 0
    for component in components:
        if component.points < 0:
            cut -= component.points
            continue
        expires_at = default_expiry
        if component.expiry_days is not None:
            last_day = local_day + timedelta(days=component.expiry_days + 1)
            expires_at = datetime.combine(last_day, datetime.min.time(), tzinfo=zone)
        by_expiry[expires_at] = by_expiry.get(expires_at, 0) + component.points
    lots = []
    for expires_at in sorted(by_expiry):
        taken = min(cut, by_expiry[expires_at])
        cut -= taken
        if by_expiry[expires_at] - taken:
            lots.append((by_expiry[expires_at] - taken, expires_at))
    return lots
