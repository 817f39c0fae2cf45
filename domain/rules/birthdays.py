"""Birthday bonuses: once per member per year, on (or within a week after) the birthday in
the brand's timezone, so a day the job did not run is made good on its next run."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from db.models import Award, AwardKind, Brand, MemberStatus, NoticeKind, RuleKind, Tier
from domain.ledger.book import MemberBook
from domain.ledger.movements import close_books, publish_books
from domain.rules.bonuses import pay_one_off
from domain.rules.engine import Component
from domain.runtime import Backends

CATCH_UP_DAYS = 7
# A birthday given fewer than the brand's birthday_min_age_days ago is not celebrated: a
# member cannot set theirs to today and be paid at once.
DUE_MEMBERS_SQL = """
SELECT id, to_char(birthday, 'MM-DD') AS birthday FROM member
WHERE brand_id = $1 AND status = 'ACTIVE' AND to_char(birthday, 'MM-DD') = ANY($2::text[])
  AND (birthday_set_at IS NULL OR birthday_set_at <= $3)
ORDER BY id
"""
ACTOR = "system:birthdays"


def birthdays_due(today: date) -> dict[str, int]:
    """Birthdays ('MM-DD') celebrated from CATCH_UP_DAYS ago through today, with their year;
    29 February is celebrated on 28 February in other years."""
    due: dict[str, int] = {}
    for back in range(CATCH_UP_DAYS):
        day = today - timedelta(days=back)
        due[f"{day:%m-%d}"] = day.year
        if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
            due["02-29"] = day.year
    return due


async def give_birthday_bonus(rt: Backends, brand: Brand, member_id: int, year: int) -> bool:
    """The member's birthday bonus of `year`: their tier's benefit plus the brand's birthday
    rule, if any; False when there is nothing to give or it was given already."""
    now = rt.clock.now()
    try:
        async with in_transaction() as connection:
            book = await MemberBook.open(connection, member_id, now, ACTOR, brand_id=brand.id)
            member = book.member
            given_at = member.birthday_set_at
            settled = now - timedelta(days=brand.birthday_min_age_days)
            if member.status is not MemberStatus.ACTIVE or (given_at and given_at > settled):
                return False
            tier = await Tier.get(id=book.member.tier_id, using_db=connection)
            extra: tuple[Component, ...] = ()
            if tier.birthday_bonus_points:
                description = f"{tier.name} tier birthday bonus"
                extra = (Component("tier", description, tier.birthday_bonus_points),)
            book.earn_notice = NoticeKind.BIRTHDAY_GIFT
            entry = await pay_one_off(
                book, brand, RuleKind.BIRTHDAY_BONUS, AwardKind.BIRTHDAY, str(year),
                "Happy birthday", extra,
            )  # fmt: skip
            books = await close_books(book)
    except IntegrityError:
        return False  # another run gave it first
    if entry is None:
        return False
    await publish_books(rt, books)
    return True


async def give_birthday_bonuses(
    rt: Backends,
    *,
    brand_code: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Give every member whose birthday is due their bonus; returns how many got one."""
    brands = Brand.all() if brand_code is None else Brand.filter(code=brand_code)
    due_members: list[tuple[Brand, int, int]] = []
    for brand in await brands.order_by("id"):
        due = birthdays_due(rt.clock.now().astimezone(ZoneInfo(brand.timezone)).date())
        settled = rt.clock.now() - timedelta(days=brand.birthday_min_age_days)
        rows = await get_connection("default").execute_query_dict(
            DUE_MEMBERS_SQL, [brand.id, list(due), settled]
        )
        due_members.extend((brand, row["id"], due[row["birthday"]]) for row in rows)
    given_already = set(
        await Award.filter(
            kind=AwardKind.BIRTHDAY, member_id__in=[member_id for _, member_id, _ in due_members]
        ).values_list("member_id", "once_key")
    )
    given = 0
    for done, (brand, member_id, year) in enumerate(due_members, start=1):
        if (member_id, str(year)) not in given_already:
            given += await give_birthday_bonus(rt, brand, member_id, year)
        if progress is not None:
            progress(done, len(due_members))
    return given
