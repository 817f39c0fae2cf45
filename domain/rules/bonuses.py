"""Bonuses paid inside a movement's transaction: the referrer's reward, the welcome bonus, and
the awards that once-only rules and task limits count."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient

from db.models import Award, AwardKind, Brand, LedgerEntry, LedgerKind, MemberStatus, RuleKind
from domain.ledger.book import MemberBook
from domain.ledger.policy import expiry_of
from domain.rules.earning import live_rules, member_facts
from domain.rules.engine import Component, Earn, Rule, evaluate_bonus, lots_of


def bonus_lots(
    brand: Brand, components: tuple[Component, ...], now: datetime
) -> list[tuple[int, datetime]]:
    """The lots of a bonus earned now: the brand's default expiry, or the rule's own."""
    zone = ZoneInfo(brand.timezone)
    return lots_of(components, expiry_of(brand, now), now.astimezone(zone).date(), zone)


async def record_award(
    connection: BaseDBAsyncClient,
    member_id: int,
    kind: AwardKind,
    rule: Rule | None,
    entry: LedgerEntry | None,
    local_day: date,
    now: datetime,
    *,
    once_key: str | None = None,
    points: int | None = None,
) -> Award:
    """Keep an award; `points` is what it earned before any shortfall it paid off (what the
    daily cap counts), by default the entry's points."""
    return await Award.create(
        member_id=member_id,
        kind=kind,
        rule_id=rule.id if rule else None,
        task_code=rule.task_code if rule else None,
        once_key=once_key,
        local_day=local_day,
        points=points if points is not None else (entry.points if entry else 0),
        entry_id=entry.id if entry else None,
        created_at=now,
        using_db=connection,
    )


REFERRALS_IN_MONTH_SQL = """
SELECT COUNT(*) AS given FROM award
WHERE member_id = $1 AND kind = 'REFERRAL_REFERRER' AND local_day >= $2 AND local_day < $3
"""


async def pay_referrer(
    book: MemberBook, brand: Brand, referral: Rule, referee_name: str, day: date
) -> None:
    """Reward the member who invited `book`'s member for their first purchase: once per
    referee, unless the referrer is frozen or closed, or had their month's cap of rewards."""
    connection = book.connection
    referee = book.member
    await record_award(
        connection, referee.id, AwardKind.REFERRAL_REFEREE, referral, None, day, book.now,
        once_key="referee",
    )  # fmt: skip
    referrer_id = referee.referred_by_id
    if not referral.referrer_points or referrer_id is None or referrer_id == referee.id:
        return
    # Balance rows are locked from the higher member id to the lower (book.py): a referrer
    # joined before the members they invited.
    assert referrer_id < referee.id
    referrer_book = await MemberBook.open(
        connection, referrer_id, book.now, book.actor, brand_id=brand.id
    )
    if referrer_book.member.status is not MemberStatus.ACTIVE:
        return
    if referral.referrer_monthly_cap is not None:
        month = day.replace(day=1)
        rows = await connection.execute_query_dict(
            REFERRALS_IN_MONTH_SQL, [referrer_book.member.id, month, _next_month(month)]
        )
        if rows[0]["given"] >= referral.referrer_monthly_cap:
            return
    component = Component(
        referral.code,
        f"{referral.name}: {referee_name} made a first purchase",
        referral.referrer_points,
        referral.expiry_days,
    )
    entry = await referrer_book.credit(
        LedgerKind.EARN,
        bonus_lots(brand, (component,), book.now),
        f"Referral bonus: {referee_name}",
        breakdown=[component.as_breakdown()],
    )
    await record_award(
        connection, referrer_book.member.id, AwardKind.REFERRAL_REFERRER, referral, entry, day,
        book.now, once_key=str(referee.id),
    )  # fmt: skip
    book.companions.append(referrer_book)


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


async def pay_one_off(
    book: MemberBook, brand: Brand, kind: RuleKind, award: AwardKind, once_key: str,
    description: str, extra: tuple[Component, ...] = (),
) -> LedgerEntry | None:  # fmt: skip
    """A once-only bonus (welcome, birthday): the highest-priority rule of `kind` that applies,
    plus `extra` components; nothing when they come to no points."""
    zone = ZoneInfo(brand.timezone)
    day = book.now.astimezone(zone).date()
    facts = await member_facts(book.connection, brand, book.member, day)
    rules = await live_rules(brand, book.connection)
    rule, earn = evaluate_bonus(rules, kind, book.now, facts)
    components = (*extra, *earn.components)
    if sum(component.points for component in components) <= 0:
        return None
    entry = await book.credit(
        LedgerKind.EARN,
        bonus_lots(brand, components, book.now),
        description,
        breakdown=Earn(components).breakdown(),
    )
    await record_award(
        book.connection, book.member.id, award, rule, entry, day, book.now, once_key=once_key
    )
    return entry
