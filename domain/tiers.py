"""Tiers: qualification on the brand's metric in a rolling window, upgrades at once, progress.

A member qualifies on the brand's metric within its window, by default the last 12 months:
the points their purchases earned (less what refunds took back), the money they spent (less
refunds), or their purchases (those not refunded in full). An earn that crosses a tier's
threshold moves the member up at once, in the same transaction, with the change kept; a
member who has fallen below their tier's goes down only at the evaluation
(`pointsmall evaluate-tiers`, and daily in serve), one tier at a time. A tier bought with
points (a TIER_UPGRADE item) is a floor until its date: the member goes up to it at once, and
no evaluation takes them below it before then.

A brand's admins set its tiers with `save_tier`, and seeding with `ensure_tier`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import cast
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

from db.models import Balance, Brand, Member, NoticeKind, Tier, TierChange, TierMetric
from domain.errors import DomainError, ErrorCode
from domain.idempotency import change_once
from domain.insights.rollups import qualifying_since
from domain.ledger.policy import add_months
from domain.member_facts import forget_facts
from domain.notices.outbox import NoticeDraft, publish_notices, record
from domain.principal import Principal
from domain.rules.config import earning_changed, earning_config
from domain.runtime import Backends

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TierProgress:
    current: Tier
    next: Tier | None
    metric: TierMetric
    qualifying: int  # in the metric: points, whole currency units spent, or purchases
    to_next: int | None


def _months_before(moment: datetime, months: int) -> datetime:
    day = add_months(moment.date(), -months)
    return moment.replace(year=day.year, month=day.month, day=day.day)


def floor_of(member: Member, tiers: tuple[Tier, ...], at: datetime) -> Tier | None:
    """The tier the member bought, while it holds at `at`."""
    if member.tier_floor_id is None or member.tier_floor_until is None:
        return None
    if member.tier_floor_until <= at:
        return None
    return next(tier for tier in tiers if tier.id == member.tier_floor_id)


async def qualifying_points(
    member_id: int,
    brand: Brand,
    now: datetime,
    connection: BaseDBAsyncClient | None = None,
    *,
    unwritten: int = 0,
) -> int:
    """What the member qualifies with, in the brand's metric, within its window up to `now`:
    points earned (plus what the running movement earned and has not written to the roll-ups
    yet: `unwritten`), whole currency units spent, or purchases. Purchases are read as the
    running transaction sees them, its own included."""
    since = _months_before(now, brand.tier_window_months)
    connection = connection or get_connection("default")
    if brand.tier_metric is TierMetric.POINTS:
        points = await qualifying_since(connection, member_id, since, ZoneInfo(brand.timezone))
        return max(points + unwritten, 0)
    rows = await connection.execute_query_dict(PURCHASES_SQL, [member_id, since, now])
    spent, purchases = rows[0]["spent"], rows[0]["purchases"]
    return int(spent) if brand.tier_metric is TierMetric.SPEND else int(purchases)


# Spend less refunds, and purchases not refunded in full, in the window (by when they happened).
PURCHASES_SQL = """
SELECT COALESCE(SUM(total - refunded_amount), 0) AS spent,
       COUNT(*) FILTER (WHERE refunded_amount < total) AS purchases
FROM purchase WHERE member_id = $1 AND occurred_at > $2 AND occurred_at <= $3
"""


async def requalify(
    connection: BaseDBAsyncClient,
    member: Member,
    brand: Brand,
    now: datetime,
    *,
    may_go_down: bool,
    notices: list[NoticeDraft],
    unwritten: int = 0,
) -> TierChange | None:
    """Move the member up to the highest tier their qualifying points reach, or (when
    `may_go_down`) one tier down if they no longer reach their own; the change is kept, and
    the member's notice of it added to `notices`."""
    tiers = (await earning_config(connection, brand)).tiers
    current = next(tier for tier in tiers if tier.id == member.tier_id)
    if not may_go_down and current.rank == tiers[-1].rank:
        return None  # at the top already: no window to sum
    points = await qualifying_points(member.id, brand, now, connection, unwritten=unwritten)
    reached = [tier for tier in tiers if tier.qualifying_points <= points][-1]
    floor = floor_of(member, tiers, now)
    if floor is not None and floor.rank > reached.rank:
        reached = floor  # one step down from above it never passes it
    if reached.rank > current.rank:
        target = reached
    elif may_go_down and reached.rank < current.rank:
        target = [tier for tier in tiers if tier.rank < current.rank][-1]  # one step down
    else:
        return None
    member.tier_id = target.id
    await member.save(using_db=connection, update_fields=["tier_id"])
    change = await TierChange.create(
        member_id=member.id,
        previous_id=current.id,
        current_id=target.id,
        qualifying_points=points,
        changed_at=now,
        using_db=connection,
    )
    kind = NoticeKind.TIER_UP if target.rank > current.rank else NoticeKind.TIER_DOWN
    variables = {"tier": target.name, "previousTier": current.name}
    notices.append(NoticeDraft(member.id, kind, f"tier-change:{change.id}", variables))
    return change


LAPSE_WARNING = timedelta(days=30)


async def lapse_warning(
    connection: BaseDBAsyncClient, member: Member, brand: Brand, now: datetime
) -> NoticeDraft | None:
    """The member's warning, a month ahead, that their tier lapses at an evaluation unless
    they earn more: what they earned in the window then, counting only what is in it today,
    falls short of their tier (once per tier and month)."""
    tiers = (await earning_config(connection, brand)).tiers
    current = next(tier for tier in tiers if tier.id == member.tier_id)
    if current.rank == tiers[0].rank:
        return None
    by = now + LAPSE_WARNING
    floor = floor_of(member, tiers, by)
    if floor is not None and floor.rank >= current.rank:
        return None  # bought: it holds past the next month
    kept = await qualifying_points(member.id, brand, by, connection)
    if kept >= current.qualifying_points:
        return None
    return NoticeDraft(
        member.id, NoticeKind.TIER_LAPSING, f"tier:{current.id}:{by:%Y-%m}",
        {"tier": current.name, "pointsNeeded": current.qualifying_points - kept,
         "by": by.isoformat()},
    )  # fmt: skip


async def progress(member: Member, now: datetime) -> TierProgress:
    """The member's tier, the next one up, and how much of the brand's metric is missing."""
    brand = await Brand.get(id=member.brand_id)
    tiers = await Tier.filter(brand_id=brand.id).order_by("rank")
    current = next(tier for tier in tiers if tier.id == member.tier_id)
    above = [tier for tier in tiers if tier.rank > current.rank]
    points = await qualifying_points(member.id, brand, now)
    upcoming = above[0] if above else None
    return TierProgress(
        current=current,
        next=upcoming,
        metric=brand.tier_metric,
        qualifying=points,
        to_next=max(upcoming.qualifying_points - points, 0) if upcoming else None,
    )


async def buy_tier(
    connection: BaseDBAsyncClient,
    member: Member,
    brand: Brand,
    tier_id: int,
    months: int,
    redemption_id: int,
    now: datetime,
    notices: list[NoticeDraft],
) -> TierChange | None:
    """A TIER_UPGRADE redemption: the tier becomes the member's floor for `months` (from the end
    of the same floor still running, else from now), and they go up to it at once."""
    running = member.tier_floor_until if member.tier_floor_id == tier_id else None
    start = max(running, now) if running is not None else now
    member.tier_floor_id = tier_id
    member.tier_floor_until = _months_before(start, -months)
    member.tier_floor_redemption_id = redemption_id
    await member.save(
        using_db=connection,
        update_fields=["tier_floor_id", "tier_floor_until", "tier_floor_redemption_id"],
    )
    return await requalify(connection, member, brand, now, may_go_down=False, notices=notices)


async def drop_bought_tier(
    connection: BaseDBAsyncClient, member: Member, redemption_id: int
) -> None:
    """A cancelled TIER_UPGRADE: the floor it set goes (the tier follows the member's own
    qualification from the next evaluation)."""
    if member.tier_floor_redemption_id != redemption_id:
        return  # bought again since, or never this one's
    member.tier_floor_id = member.tier_floor_until = member.tier_floor_redemption_id = None
    await member.save(
        using_db=connection,
        update_fields=["tier_floor_id", "tier_floor_until", "tier_floor_redemption_id"],
    )


def tier_channel(member_id: int) -> str:
    return f"tier:{member_id}"


async def publish_tier_changes(rt: Backends, member_id: int, change_ids: list[int]) -> None:
    """After commit, best effort (as balance events): a lost one is only a missed notice."""
    for change_id in change_ids:
        try:
            await rt.bus.publish(
                tier_channel(member_id), {"memberId": member_id, "changeId": change_id}
            )
        except Exception:
            log.warning(
                "tier change %s of member %s not published", change_id, member_id, exc_info=True
            )
            return


async def watch_tier_changes(rt: Backends, member: Member) -> AsyncIterator[TierChange]:
    """The member's tier changes from now on."""
    async with rt.bus.subscribe(tier_channel(member.id)) as events:
        async for event in events:
            change = await TierChange.get_or_none(id=event["changeId"], member_id=member.id)
            if change is not None:
                yield change


async def evaluate_member(rt: Backends, member_id: int) -> int | None:
    """Re-qualify one member: up to the tier they reach, or down one tier at most."""
    now = rt.clock.now()
    async with in_transaction() as connection:
        # The balance row first, as movements lock it: no upgrade on an earn races with this.
        await Balance.select_for_update().using_db(connection).get(member_id=member_id)
        member = await Member.select_for_update().using_db(connection).get(id=member_id)
        brand = await Brand.get(id=member.brand_id, using_db=connection)
        drafts: list[NoticeDraft] = []
        change = await requalify(connection, member, brand, now, may_go_down=True, notices=drafts)
        if change is None:
            warning = await lapse_warning(connection, member, brand, now)
            drafts.extend([warning] if warning else [])
        notices = await record(connection, brand, now, drafts)
    await publish_notices(rt, notices)
    if change is None:
        return None
    await forget_facts(rt, member_id)
    change_id: int = change.id
    await publish_tier_changes(rt, member_id, [change_id])
    return change_id


async def evaluate_tiers(
    rt: Backends,
    *,
    brand_code: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Re-qualify every member (of one brand, or all); returns how many changed tier."""
    members = Member.all()
    if brand_code is not None:
        members = members.filter(brand__code=brand_code)
    # A flat values_list gives the column's values (Tortoise types them as rows).
    member_ids = cast(list[int], await members.order_by("id").values_list("id", flat=True))
    changed = 0
    for done, member_id in enumerate(member_ids, start=1):
        changed += await evaluate_member(rt, member_id) is not None
        if progress is not None:
            progress(done, len(member_ids))
    return changed


# ---------------------------------------------------------------- tiers as admins set them


@dataclass(frozen=True, slots=True)
class TierSpec:
    code: str
    name: str
    rank: int
    qualifying_points: int = 0
    earn_multiplier: Decimal = Decimal("1")
    discount_percent: int = 0
    birthday_bonus_points: int = 0
    flash_sale_early_access_minutes: int = 0


TIER_CODE = re.compile(r"^[A-Z0-9_]{1,32}$")


def check_tier(spec: TierSpec) -> None:
    """Field by field: what a tier may be, whatever the others are."""
    checks = (
        (bool(TIER_CODE.match(spec.code)), "code", "Code: 1 to 32 of A-Z, 0-9 and _."),
        (1 <= len(spec.name.strip()) <= 120, "name", "Name: 1 to 120 characters."),
        (0 <= spec.rank <= 100, "rank", "Rank: 0 (the base tier) to 100."),
        (0 <= spec.qualifying_points <= 2**31 - 1, "qualifyingPoints", "Must be 0 or more."),
        (0 <= spec.earn_multiplier <= 10, "earnMultiplier", "From 0 to 10."),
        (0 <= spec.discount_percent <= 100, "discountPercent", "From 0 to 100."),
        (0 <= spec.birthday_bonus_points <= 1_000_000, "birthdayBonusPoints", "From 0."),
        (
            0 <= spec.flash_sale_early_access_minutes <= 7 * 24 * 60,
            "flashSaleEarlyAccessMinutes",
            "From 0 to a week.",
        ),
    )
    for holds, field, message in checks:
        if not holds:
            raise DomainError(ErrorCode.INVALID_INPUT, message, ["input", field])


async def save_tier(principal: Principal, spec: TierSpec, key: str | None = None) -> Tier:
    """Create the brand's tier of this code, or change it; ranks stay unique, the base tier
    (rank 0) needs no points, and a higher rank always needs more qualifying points; once per
    idempotency key."""
    check_tier(spec)
    if (spec.rank == 0) != (spec.qualifying_points == 0):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "The base tier (rank 0), and only it, qualifies with 0 points.",
            ["input", "qualifyingPoints"],
        )

    async def save(connection: BaseDBAsyncClient) -> Tier:
        # One admin's change at a time per brand: the ordering check reads all its tiers.
        await Brand.select_for_update().using_db(connection).get(id=principal.brand_id)
        tiers = await Tier.filter(brand_id=principal.brand_id).using_db(connection)
        existing = next((tier for tier in tiers if tier.code == spec.code), None)
        others = [tier for tier in tiers if tier is not existing]
        if existing is not None and existing.rank == 0 and spec.rank != 0:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "The base tier keeps rank 0.", ["input", "rank"]
            )
        if any(tier.rank == spec.rank for tier in others):
            raise DomainError(
                ErrorCode.DUPLICATE, f"Another tier has rank {spec.rank}.", ["input", "rank"]
            )
        out_of_order = [
            tier.code
            for tier in others
            if (tier.rank < spec.rank) != (tier.qualifying_points < spec.qualifying_points)
        ]
        if out_of_order:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "A higher rank needs more qualifying points than every lower one "
                f"(compare {', '.join(sorted(out_of_order))}).",
                ["input", "qualifyingPoints"],
            )
        values = {
            "name": spec.name.strip(),
            "rank": spec.rank,
            "qualifying_points": spec.qualifying_points,
            "earn_multiplier": spec.earn_multiplier,
            "discount_percent": spec.discount_percent,
            "birthday_bonus_points": spec.birthday_bonus_points,
            "flash_sale_early_access_minutes": spec.flash_sale_early_access_minutes,
        }
        await earning_changed(connection, principal.brand_id)
        if existing is None:
            return await Tier.create(
                brand_id=principal.brand_id, code=spec.code, using_db=connection, **values
            )
        await existing.update_from_dict(values).save(using_db=connection)
        return existing

    return await change_once(principal, "saveTier", key, asdict(spec), Tier, save)


async def ensure_tier(brand: Brand, spec: TierSpec) -> Tier:
    """The brand's tier of that rank, created or brought in line with the spec."""
    values = {
        "code": spec.code,
        "name": spec.name,
        "qualifying_points": spec.qualifying_points,
        "earn_multiplier": spec.earn_multiplier,
        "discount_percent": spec.discount_percent,
        "birthday_bonus_points": spec.birthday_bonus_points,
        "flash_sale_early_access_minutes": spec.flash_sale_early_access_minutes,
    }
    async with in_transaction() as connection:
        await earning_changed(connection, brand.id)
        tier, created = await Tier.get_or_create(
            brand=brand, rank=spec.rank, defaults=values, using_db=connection
        )
        if not created:
            await tier.update_from_dict(values).save(using_db=connection)
    return tier
