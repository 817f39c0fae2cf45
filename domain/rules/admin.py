"""Earning rules as the brand's admins edit them: created, replaced, archived, listed; each
checked field by field for its kind before it can change what anyone earns."""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from decimal import Decimal

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from db.models import Brand, EarningRule, Partner, Rounding, RuleKind, Store, TaskProof, Tier
from domain.catalog.cache import catalog_changed
from domain.errors import DomainError, ErrorCode, refused_as_duplicate
from domain.idempotency import change_once
from domain.principal import Principal
from domain.rules.config import earning_changed
from domain.runtime import Backends

RULE_CODE = re.compile(r"^[A-Z0-9_-]{1,40}$")
TASK_CODE = re.compile(r"^[A-Z0-9_]{1,40}$")
TAG = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,39}$")  # a member's tag (domain/segments.py)
MAX_POINTS = 1_000_000
DUPLICATE_CODE = "Another rule has this code."

# Per kind: the fields it needs, and the further fields it may have.
PURCHASE_SCOPE = {"store_codes", "partner_codes"}
NEEDS: dict[RuleKind, set[str]] = {
    RuleKind.BASE_RATE: {"rate"},
    RuleKind.CATEGORY_MULTIPLIER: {"category", "multiplier"},
    RuleKind.THRESHOLD_BONUS: {"threshold", "points"},
    RuleKind.CAMPAIGN: {"starts_at", "ends_at"},
    RuleKind.REGISTRATION_BONUS: {"points"},
    RuleKind.FIRST_PURCHASE_BONUS: {"points"},
    RuleKind.REFERRAL_BONUS: {"points", "referrer_points"},
    RuleKind.BIRTHDAY_BONUS: {"points"},
    RuleKind.TASK: {"task_code", "points"},
    RuleKind.PURCHASE_COUNT: {"nth_purchase", "points"},
}
MAY_HAVE: dict[RuleKind, set[str]] = {
    RuleKind.BASE_RATE: {"rounding"} | PURCHASE_SCOPE,
    RuleKind.CATEGORY_MULTIPLIER: PURCHASE_SCOPE,
    RuleKind.THRESHOLD_BONUS: PURCHASE_SCOPE,
    RuleKind.CAMPAIGN: {"multiplier", "points", "rounding"} | PURCHASE_SCOPE,
    RuleKind.REGISTRATION_BONUS: set(),
    RuleKind.FIRST_PURCHASE_BONUS: PURCHASE_SCOPE,
    RuleKind.REFERRAL_BONUS: {"referrer_monthly_cap"} | PURCHASE_SCOPE,
    RuleKind.BIRTHDAY_BONUS: set(),
    RuleKind.TASK: {"proof", "daily_limit", "lifetime_limit"},
    RuleKind.PURCHASE_COUNT: {"repeats"} | PURCHASE_SCOPE,
}
ANY_KIND = {
    "priority", "starts_at", "ends_at", "weekdays", "tier_codes", "tag_codes", "cap_points",
    "expiry_days",
}  # fmt: skip
KIND_FIELDS = {
    "rate", "rounding", "multiplier", "category", "threshold", "points", "referrer_points",
    "referrer_monthly_cap", "task_code", "proof", "daily_limit", "lifetime_limit",
    "store_codes", "partner_codes", "nth_purchase", "repeats",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A rule as an admin writes it; None (or empty) is 'not set'."""

    code: str
    name: str
    kind: RuleKind
    priority: int = 0
    rate: Decimal | None = None
    rounding: Rounding | None = None
    multiplier: Decimal | None = None
    category: str | None = None
    threshold: Decimal | None = None
    points: int | None = None
    referrer_points: int | None = None
    referrer_monthly_cap: int | None = None
    task_code: str | None = None
    # What shows the task was done; None is SELF. Reviews should be SIGNED: only the brand's
    # own system knows a review was written.
    proof: TaskProof | None = None
    daily_limit: int | None = None
    lifetime_limit: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    weekdays: tuple[int, ...] = ()
    store_codes: tuple[str, ...] = ()
    partner_codes: tuple[str, ...] = ()
    tier_codes: tuple[str, ...] = ()
    cap_points: int | None = None
    expiry_days: int | None = None
    nth_purchase: int | None = None
    repeats: bool | None = None  # None: True
    tag_codes: tuple[str, ...] = ()  # members with any of these tags (domain/segments.py)

    def is_set(self, name: str) -> bool:
        value = getattr(self, name)
        return value is not None and value != ()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def refuse(field: str, message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, ["input", camel(field)])


def check_rule(spec: RuleSpec) -> None:
    """Field by field: what the rule's kind needs and allows, and what each value may be."""
    if not RULE_CODE.match(spec.code):
        raise refuse("code", "Code: 1 to 40 of A-Z, 0-9, _ and -.")
    if not 1 <= len(spec.name.strip()) <= 120:
        raise refuse("name", "Name: 1 to 120 characters.")
    for name in sorted(NEEDS[spec.kind]):
        if not spec.is_set(name):
            raise refuse(name, f"A {spec.kind.value} rule needs {camel(name)}.")
    allowed = NEEDS[spec.kind] | MAY_HAVE[spec.kind] | ANY_KIND
    for name in sorted(KIND_FIELDS - allowed):
        if spec.is_set(name):
            raise refuse(name, f"{camel(name)} does not apply to a {spec.kind.value} rule.")
    if spec.kind is RuleKind.CAMPAIGN and spec.is_set("multiplier") == spec.is_set("points"):
        raise refuse("multiplier", "A campaign has either a multiplier or points, not both.")
    checks = (
        ("priority", -1000 <= spec.priority <= 1000, "From -1000 to 1000."),
        ("rate", spec.rate is None or 0 <= spec.rate <= 1000, "From 0 to 1000 points per unit."),
        # At least 1: a multiplier adds points, so no rule can make an earn negative.
        ("multiplier", spec.multiplier is None or 1 <= spec.multiplier <= 100,
         "From 1 to 100."),
        ("category", spec.category is None or 1 <= len(spec.category.strip()) <= 64,
         "1 to 64 characters."),
        ("threshold", spec.threshold is None or 0 < spec.threshold <= Decimal("1000000000"),
         "Above 0."),
        ("points", spec.points is None or 1 <= spec.points <= MAX_POINTS,
         f"From 1 to {MAX_POINTS}."),
        ("referrer_points", spec.referrer_points is None
         or 0 <= spec.referrer_points <= MAX_POINTS, f"From 0 to {MAX_POINTS}."),
        ("referrer_monthly_cap", spec.referrer_monthly_cap is None
         or 0 <= spec.referrer_monthly_cap <= 10_000, "From 0 to 10000 referrals."),
        ("task_code", spec.task_code is None or bool(TASK_CODE.match(spec.task_code)),
         "1 to 40 of A-Z, 0-9 and _."),
        ("daily_limit", spec.daily_limit is None or 1 <= spec.daily_limit <= 1000,
         "From 1 to 1000."),
        ("lifetime_limit", spec.lifetime_limit is None or 1 <= spec.lifetime_limit <= 1_000_000,
         "From 1."),
        ("ends_at", spec.starts_at is None or spec.ends_at is None
         or spec.starts_at < spec.ends_at, "The window must end after it starts."),
        ("weekdays", all(1 <= day <= 7 for day in spec.weekdays),
         "Days of the week: 1 (Monday) to 7 (Sunday)."),
        ("cap_points", spec.cap_points is None or 0 <= spec.cap_points <= MAX_POINTS,
         f"From 0 to {MAX_POINTS}."),
        ("expiry_days", spec.expiry_days is None or 1 <= spec.expiry_days <= 3650,
         "From 1 to 3650 days."),
        ("nth_purchase", spec.nth_purchase is None or 2 <= spec.nth_purchase <= 1000,
         "From 2 to 1000 purchases."),
        ("tag_codes", all(TAG.match(tag) for tag in spec.tag_codes),
         "Tags: 1 to 40 of A-Z, 0-9, _ and - each."),
    )  # fmt: skip
    for field, holds, message in checks:
        if not holds:
            raise refuse(field, message)


async def _check_references(spec: RuleSpec, brand_id: int) -> None:
    """Stores and tiers a rule names must be the brand's."""
    for model, codes, field, what in (
        (Store, spec.store_codes, "storeCodes", "store"),
        (Partner, spec.partner_codes, "partnerCodes", "partner"),
        (Tier, spec.tier_codes, "tierCodes", "tier"),
    ):
        if not codes:
            continue
        known = await model.filter(brand_id=brand_id, code__in=codes).values_list("code", flat=True)
        unknown = sorted(set(codes) - set(known))
        if unknown:
            message = f"No such {what}: {', '.join(unknown)}."
            raise DomainError(ErrorCode.NOT_FOUND, message, ["input", field])


def _values(spec: RuleSpec) -> dict[str, object]:
    values = {field.name: getattr(spec, field.name) for field in fields(spec)}
    values["name"] = spec.name.strip()
    values["category"] = spec.category.strip() if spec.category else None
    values["rounding"] = spec.rounding or Rounding.DOWN
    values["proof"] = spec.proof or TaskProof.SELF
    values["weekdays"] = sorted(set(spec.weekdays))
    values["store_codes"] = sorted(set(spec.store_codes))
    values["partner_codes"] = sorted(set(spec.partner_codes))
    values["tier_codes"] = sorted(set(spec.tier_codes))
    values["repeats"] = spec.repeats is not False
    values["tag_codes"] = sorted(set(spec.tag_codes))
    return values


async def create_rule(
    principal: Principal, spec: RuleSpec, now: datetime, key: str | None = None
) -> EarningRule:
    """A new rule of the brand, once per idempotency key."""
    check_rule(spec)

    async def create(connection: BaseDBAsyncClient) -> EarningRule:
        await _check_references(spec, principal.brand_id)
        await earning_changed(connection, principal.brand_id)
        with refused_as_duplicate(DUPLICATE_CODE, ["input", "code"]):
            return await EarningRule.create(
                brand_id=principal.brand_id,
                created_at=now,
                updated_at=now,
                using_db=connection,
                **_values(spec),
            )

    request = asdict(spec)
    return await change_once(principal, "createEarningRule", key, request, EarningRule, create)


async def ensure_rule(brand_id: int, spec: RuleSpec, now: datetime) -> EarningRule:
    """The brand's rule of this code, created or brought in line with the spec (for seeding)."""
    check_rule(spec)
    await _check_references(spec, brand_id)
    values = _values(spec)
    async with in_transaction() as connection:
        await earning_changed(connection, brand_id)
        rule = await EarningRule.get_or_none(brand_id=brand_id, code=spec.code, using_db=connection)
        if rule is None:
            return await EarningRule.create(
                brand_id=brand_id, created_at=now, updated_at=now, using_db=connection, **values
            )
        await rule.update_from_dict({**values, "archived_at": None, "updated_at": now}).save(
            using_db=connection
        )
    return rule


async def _rule_of_brand(
    principal: Principal, rule_id: int, connection: BaseDBAsyncClient | None = None
) -> EarningRule:
    query = EarningRule.filter(id=rule_id, brand_id=principal.brand_id)
    if connection is not None:
        query = query.select_for_update().using_db(connection)
    rule = await query.first()
    if rule is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such rule.", ["input", "id"])
    return rule


async def update_rule(
    principal: Principal, rule_id: int, spec: RuleSpec, now: datetime, key: str | None = None
) -> EarningRule:
    """Replace a rule's settings; its kind stays, and an archived rule stays archived; once
    per idempotency key."""
    check_rule(spec)

    async def update(connection: BaseDBAsyncClient) -> EarningRule:
        await _check_references(spec, principal.brand_id)
        rule = await _rule_of_brand(principal, rule_id, connection)
        if rule.kind is not spec.kind:
            raise refuse("kind", "A rule's kind cannot change: archive it and create another.")
        if rule.archived_at is not None:
            message = "An archived rule cannot change."
            raise DomainError(ErrorCode.CONFLICT, message, ["input", "id"])
        with refused_as_duplicate(DUPLICATE_CODE, ["input", "code"]):
            await rule.update_from_dict({**_values(spec), "updated_at": now}).save(
                using_db=connection
            )
        await earning_changed(connection, principal.brand_id)
        return rule

    request = {"id": rule_id, **asdict(spec)}
    return await change_once(principal, "updateEarningRule", key, request, EarningRule, update)


async def archive_rule(
    principal: Principal, rule_id: int, now: datetime, key: str | None = None
) -> EarningRule:
    """Stop a rule for good; it stays listed (with includeArchived) for the record; once per
    idempotency key."""

    async def archive(connection: BaseDBAsyncClient) -> EarningRule:
        rule = await _rule_of_brand(principal, rule_id, connection)
        if rule.archived_at is None:
            rule.archived_at = now
            rule.updated_at = now
            await rule.save(using_db=connection, update_fields=["archived_at", "updated_at"])
            await earning_changed(connection, principal.brand_id)
        return rule

    request = {"id": rule_id}
    return await change_once(principal, "archiveEarningRule", key, request, EarningRule, archive)


async def list_rules(
    principal: Principal,
    *,
    kind: RuleKind | None = None,
    include_archived: bool = False,
    active_at: datetime | None = None,
) -> list[EarningRule]:
    """The brand's rules, highest priority first; `active_at` keeps those whose window holds."""
    query = EarningRule.filter(brand_id=principal.brand_id)
    if kind is not None:
        query = query.filter(kind=kind)
    if not include_archived:
        query = query.filter(archived_at=None)
    rules = await query.order_by("kind", "-priority", "id")
    if active_at is not None:
        rules = [
            rule
            for rule in rules
            if (rule.starts_at is None or rule.starts_at <= active_at)
            and (rule.ends_at is None or active_at < rule.ends_at)
        ]
    return rules


async def visible_rule(principal: Principal, rule_id: int) -> EarningRule | None:
    """A rule of the caller's brand, for its staff, admins and analysts; None for others."""
    if not principal.reads_members:
        return None
    return await EarningRule.get_or_none(id=rule_id, brand_id=principal.brand_id)


@dataclass(frozen=True, slots=True)
class EarnSettings:
    cap_per_purchase: int | None
    cap_per_day: int | None
    purchase_max_age_days: int


async def save_earn_settings(
    rt: Backends, principal: Principal, settings: EarnSettings, key: str | None = None
) -> Brand:
    """The brand's caps on earning and how old a purchase may be when it is recorded; once per
    idempotency key. The brand's copies (domain/catalog/cache.py) are read again after."""
    for field, value in (
        ("earnCapPerPurchase", settings.cap_per_purchase),
        ("earnCapPerDay", settings.cap_per_day),
    ):
        if value is not None and not 0 <= value <= 100 * MAX_POINTS:
            message = "From 0, or null for none."
            raise DomainError(ErrorCode.INVALID_INPUT, message, ["input", field])
    if not 1 <= settings.purchase_max_age_days <= 365:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "From 1 to 365 days.", ["input", "purchaseMaxAgeDays"]
        )

    async def save(connection: BaseDBAsyncClient) -> Brand:
        brand = await Brand.get(id=principal.brand_id, using_db=connection)
        brand.earn_cap_per_purchase = settings.cap_per_purchase
        brand.earn_cap_per_day = settings.cap_per_day
        brand.purchase_max_age_days = settings.purchase_max_age_days
        await brand.save(
            using_db=connection,
            update_fields=["earn_cap_per_purchase", "earn_cap_per_day", "purchase_max_age_days"],
        )
        return brand

    request = asdict(settings)
    return await change_once(
        principal, "saveEarnSettings", key, request, Brand, save,
        after=lambda _: catalog_changed(rt, principal.brand_id),
    )  # fmt: skip


async def issue_task_secret(principal: Principal, key: str) -> tuple[Brand, str | None]:
    """A new key for the brand's own systems to sign task proofs with (SIGNED tasks), replacing
    the previous one, so proofs signed with that no longer hold. Shown once, here: a repeat of
    the idempotency key answers without it (None)."""
    shown: list[str] = []

    async def issue(connection: BaseDBAsyncClient) -> Brand:
        brand = await Brand.get(id=principal.brand_id, using_db=connection)
        brand.task_secret = "tsk_" + secrets.token_urlsafe(32)
        await brand.save(using_db=connection, update_fields=["task_secret"])
        shown.append(brand.task_secret)
        return brand

    brand = await change_once(principal, "issueTaskSigningSecret", key, {}, Brand, issue)
    return brand, shown[0] if shown else None
