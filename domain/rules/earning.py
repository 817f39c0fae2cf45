"""What members earn, as the rules say: the facts the engine needs, read inside the movement's
transaction, and the checks a purchase passes before it earns.

`assess_purchase` is the one path from a purchase to its earn: recordPurchase writes what it
returns and previewEarn (`preview_earn`) shows it, so a preview and the real earn never differ.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from db.models import Award, AwardKind, Balance, Brand, Member, RuleKind
from db.sql import Sql
from domain.errors import DomainError, ErrorCode
from domain.ledger.book import check_active, lots_after_paying, shortfall_component
from domain.ledger.policy import expiry_of
from domain.principal import Principal
from domain.risk import MANY_PURCHASES_WITHIN, purchase_flags
from domain.rules.config import earning_config
from domain.rules.engine import (
    Earn,
    MemberFacts,
    PurchaseRecord,
    Rule,
    evaluate_purchase,
    lots_of,
)
from domain.runtime import Backends

MAX_TOTAL = Decimal("1000000000")
CLOCK_SKEW = timedelta(minutes=5)
MAX_LINES = 500


async def live_rules(brand: Brand, connection: BaseDBAsyncClient) -> tuple[Rule, ...]:
    """The brand's rules that are not archived (the engine checks windows, stores and tiers)."""
    return (await earning_config(connection, brand)).rules


# Whether the member bought before, and what purchases and tasks earned them on the (brand's)
# day: the daily cap counts it; and their usual purchase (the average of the last ones) and how
# many they made since $3, for the risk flags. One statement, as every earn reads it.
FACTS_SQL = """
SELECT EXISTS (SELECT 1 FROM purchase WHERE member_id = $1) AS purchased_before,
       COALESCE((SELECT SUM(points_earned) FROM purchase
                 WHERE member_id = $1 AND earn_day = $2), 0)
     + COALESCE((SELECT SUM(points) FROM award
                 WHERE member_id = $1 AND kind = 'TASK' AND local_day = $2), 0) AS earned_that_day,
       (SELECT avg(total) FROM (SELECT total FROM purchase WHERE member_id = $1
                                ORDER BY occurred_at DESC LIMIT 20) recent) AS usual_total,
       (SELECT COUNT(*) FROM (SELECT 1 FROM purchase WHERE member_id = $1
                              ORDER BY occurred_at DESC LIMIT 20) recent) AS recent_purchases,
       (SELECT COUNT(*) FROM purchase WHERE member_id = $1 AND occurred_at > $3)
           AS purchases_lately
"""


# PURCHASE_COUNT rules: per rule, the member's purchases in its window not refunded in full,
# and how many of those earned its bonus (their EARN entry's breakdown names the rule).
PURCHASES_COUNTED_SQL = """
SELECT w.rule_id, COUNT(p.id) AS purchases,
       COUNT(p.id) FILTER (
           WHERE e.breakdown @> jsonb_build_array(jsonb_build_object('rule', w.code))
       ) AS bonuses
FROM unnest($2::int[], $3::text[], $4::timestamptz[], $5::timestamptz[])
     AS w (rule_id, code, since, until)
LEFT JOIN purchase p
  ON p.member_id = $1 AND p.refunded_amount < p.total
 AND (w.since IS NULL OR p.occurred_at >= w.since) AND (w.until IS NULL OR p.occurred_at < w.until)
LEFT JOIN ledger_entry e ON e.id = p.earn_entry_id
GROUP BY w.rule_id
"""


async def purchases_counted(
    connection: BaseDBAsyncClient, member_id: int, rules: tuple[Rule, ...]
) -> dict[int, tuple[int, int]]:
    """Per PURCHASE_COUNT rule, (purchases it counts so far, bonuses it paid on them): one
    statement, only when the brand has such a rule."""
    counting = [rule for rule in rules if rule.kind is RuleKind.PURCHASE_COUNT]
    if not counting:
        return {}
    rows = await Sql(connection).fetch(
        PURCHASES_COUNTED_SQL,
        member_id,
        [rule.id for rule in counting],
        [rule.code for rule in counting],
        [rule.starts_at for rule in counting],
        [rule.ends_at for rule in counting],
    )
    return {row["rule_id"]: (int(row["purchases"]), int(row["bonuses"])) for row in rows}


TAGS_SQL = "SELECT tag FROM member_tag WHERE member_id = $1"


async def tags_of(connection: BaseDBAsyncClient, member_id: int) -> frozenset[str]:
    """The member's tags (domain/segments.py), for rules limited to tags."""
    rows = await connection.execute_query_dict(TAGS_SQL, [member_id])
    return frozenset(row["tag"] for row in rows)


async def member_facts(
    connection: BaseDBAsyncClient,
    brand: Brand,
    member: Member,
    day: date,
    *,
    purchase: bool = False,
    now: datetime | None = None,
) -> MemberFacts:
    """What the engine knows of the member on `day`; for a `purchase`, whether it is their
    first, and whether it is the first of a referred member whose referral was not yet paid.
    Their tags are read only when a live rule is limited to tags."""
    config = await earning_config(connection, brand)
    tier = config.tier(member.tier_id)
    lately_since = (now or datetime.max.replace(tzinfo=UTC)) - MANY_PURCHASES_WITHIN
    row = await Sql(connection).fetchrow(FACTS_SQL, member.id, day, lately_since)
    assert row is not None  # a row of aggregates: always one
    first_purchase = purchase and not row["purchased_before"]
    referred = (
        first_purchase
        and member.referred_by_id is not None
        and not await Award.filter(member_id=member.id, kind=AwardKind.REFERRAL_REFEREE)
        .using_db(connection)
        .exists()
    )
    tags: frozenset[str] = frozenset()
    if any(rule.tag_codes for rule in config.rules):
        tags = await tags_of(connection, member.id)
    return MemberFacts(
        tags=tags,
        zone=ZoneInfo(brand.timezone),
        tier_code=tier.code,
        tier_name=tier.name,
        tier_multiplier=tier.earn_multiplier,
        first_purchase=first_purchase,
        referred=referred,
        earned_that_day=int(row["earned_that_day"]),
        cap_per_purchase=brand.earn_cap_per_purchase,
        cap_per_day=brand.earn_cap_per_day,
        usual_total=row["usual_total"],
        recent_purchases=int(row["recent_purchases"]),
        purchases_lately=int(row["purchases_lately"]),
    )


def check_purchase(purchase: PurchaseRecord, now: datetime, max_age_days: int) -> None:
    """What any purchase must be, whatever the member and the rules."""
    if not 0 < purchase.total <= MAX_TOTAL:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"Total must be above 0 and at most {MAX_TOTAL}.", ["total"]
        )
    if not 1 <= len(purchase.order_ref.strip()) <= 64:
        raise DomainError(ErrorCode.INVALID_INPUT, "orderRef: 1 to 64 characters.", ["orderRef"])
    if purchase.occurred_at is not None and not (
        now - timedelta(days=max_age_days) <= purchase.occurred_at <= now + CLOCK_SKEW
    ):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"occurredAt must be within the last {max_age_days} days, not in the future.",
            ["occurredAt"],
        )
    if len(purchase.lines) > MAX_LINES:
        raise DomainError(ErrorCode.INVALID_INPUT, f"At most {MAX_LINES} lines.", ["lines"])
    for index, line in enumerate(purchase.lines):
        if not 1 <= line.quantity <= 1_000_000 or not 0 <= line.unit_price <= MAX_TOTAL:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "A line needs a quantity from 1 and a unit price from 0.",
                ["lines", str(index)],
            )
        if not 1 <= len(line.category.strip()) <= 64 or not 1 <= len(line.sku.strip()) <= 64:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "A line's sku and category: 1 to 64 characters each.",
                ["lines", str(index)],
            )


STORE_SQL = "SELECT id, archived_at FROM store WHERE brand_id = $1 AND code = $2"


@dataclass(frozen=True, slots=True)
class PurchaseEarn:
    """What a purchase earns, and where it goes: its lots, its store, its day."""

    earn: Earn
    lots: list[tuple[int, datetime]]
    store_id: int | None
    occurred_at: datetime
    earn_day: date
    shortfall_paid: int
    flags: list[tuple[str, dict[str, Any]]]  # risk flags the purchase raises (domain/risk.py)

    @property
    def points(self) -> int:
        """What the EARN entry will show: the earn, less a shortfall it pays off."""
        return self.earn.points - self.shortfall_paid

    def breakdown(self) -> list[dict[str, Any]]:
        """The EARN entry's breakdown (the book adds the shortfall line itself)."""
        return self.earn.breakdown()

    def shown_breakdown(self) -> list[dict[str, Any]]:
        """The breakdown as the entry will show it, shortfall included."""
        paid = [shortfall_component(self.shortfall_paid)] if self.shortfall_paid else []
        return [*self.breakdown(), *paid]

    @property
    def expires_at(self) -> datetime | None:
        kept = lots_after_paying(self.lots, self.shortfall_paid)
        return kept[0][1] if kept else None


async def assess_purchase(
    connection: BaseDBAsyncClient,
    brand: Brand,
    member: Member,
    purchase: PurchaseRecord,
    now: datetime,
    shortfall: int,
    partner_code: str | None = None,
) -> PurchaseEarn:
    """Check a purchase and work out what it earns the member (who owes `shortfall` points),
    without writing anything."""
    check_purchase(purchase, now, brand.purchase_max_age_days)
    store_id = None
    if purchase.store_code:
        store = await Sql(connection).fetchrow(STORE_SQL, brand.id, purchase.store_code)
        if store is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such store.", ["storeCode"])
        occurred_at = purchase.occurred_at or now
        # A purchase made before its store was archived may still be recorded (a late upload).
        if store["archived_at"] is not None and occurred_at >= store["archived_at"]:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"Store {purchase.store_code} is archived: it takes no purchases made since.",
                ["storeCode"],
            )
        store_id = store["id"]
    occurred_at = purchase.occurred_at or now
    zone = ZoneInfo(brand.timezone)
    earn_day = occurred_at.astimezone(zone).date()
    default_expiry = expiry_of(brand, occurred_at)
    if default_expiry <= now:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "The points of a purchase this old would have expired already.",
            ["occurredAt"],
        )
    facts = await member_facts(connection, brand, member, earn_day, purchase=True, now=now)
    rules = await live_rules(brand, connection)
    if counted := await purchases_counted(connection, member.id, rules):
        facts = replace(facts, purchases_counted=counted)
    earn = evaluate_purchase(
        purchase.total, purchase.lines, purchase.store_code, occurred_at, facts, rules,
        partner_code,
    )  # fmt: skip
    lots = lots_of(earn.components, default_expiry, earn_day, zone)
    return PurchaseEarn(
        earn=earn,
        lots=lots,
        store_id=store_id,
        occurred_at=occurred_at,
        earn_day=earn_day,
        shortfall_paid=min(shortfall, max(earn.points, 0)),
        flags=purchase_flags(purchase.total, facts),
    )


async def preview_earn(
    rt: Backends, principal: Principal, member_id: int, purchase: PurchaseRecord
) -> PurchaseEarn:
    """What recordPurchase would earn the member for this purchase now, moving nothing."""
    brand = await Brand.get(id=principal.brand_id)
    async with in_transaction() as connection:
        member = await Member.get_or_none(id=member_id, brand_id=brand.id, using_db=connection)
        if member is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such member.", ["memberId"])
        check_active(member)
        balance = await Balance.get(member_id=member.id, using_db=connection)
        return await assess_purchase(
            connection, brand, member, purchase, rt.clock.now(), balance.shortfall
        )
