"""Expiry: when points stop counting (rolling or fixed-date, in the brand's timezone), that no
read or movement counts them after, and that the job expires each lot once, however often and
from however many processes it runs."""

from __future__ import annotations

import asyncio
import re
import subprocess
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from db.models import Balance, Brand, ExpiryPolicy, LedgerEntry, LedgerKind, Lot
from domain.ledger.audit import audit
from domain.ledger.expiry import expire_member, run_expiry
from domain.ledger.policy import add_months, expiry_of
from tests.support.commands import pointsmall_process
from tests.support.ledger import (
    advance_past,
    entries,
    iso,
    local_midnight,
    lot_of_entry,
    lots,
    parse,
    pk,
    rolling_expiry,
    snapshot,
    taken_by,
)

POINTS = """
query ($id: ID!, $days: Int!) {
  member(id: $id) {
    points { available version expiring(withinDays: $days) { points expiresAt } }
  }
}
"""


async def points_of(staff, member_id: str, within_days: int = 3650) -> dict:
    body = await staff.gql(POINTS, {"id": member_id, "days": within_days}, token=staff.token)
    assert "errors" not in body, body
    return body["data"]["member"]["points"]


# When points expire: the policy, worked out by hand.

SHANGHAI = "Asia/Shanghai"


def brand_with(**fields) -> Brand:
    return Brand(
        **{
            "timezone": SHANGHAI,
            "expiry_policy": ExpiryPolicy.ROLLING,
            "expiry_months": 12,
            "clearing_month": 12,
            "clearing_day": 31,
            **fields,
        }
    )


@pytest.mark.parametrize(
    ("earned_at", "months", "expires_at"),
    [
        # 2026-03-15 10:00 in Shanghai: lasts through 2026-09-15, local time.
        ("2026-03-15T02:00:00+00:00", 6, "2026-09-16T00:00:00+08:00"),
        # 23:59 local on the 15th, but still the 15th in UTC: the local day counts.
        ("2026-03-15T15:59:00+00:00", 6, "2026-09-16T00:00:00+08:00"),
        # 00:00 local on the 16th, while UTC is still on the 15th.
        ("2026-03-15T16:00:00+00:00", 6, "2026-09-17T00:00:00+08:00"),
        # The 31st, into a 30-day month, and into February (leap and not).
        ("2026-01-31T04:00:00+00:00", 3, "2026-05-01T00:00:00+08:00"),
        ("2026-08-31T04:00:00+00:00", 6, "2027-03-01T00:00:00+08:00"),
        ("2027-08-31T04:00:00+00:00", 6, "2028-03-01T00:00:00+08:00"),
        ("2027-08-30T04:00:00+00:00", 6, "2028-03-01T00:00:00+08:00"),
        ("2026-11-30T04:00:00+00:00", 24, "2028-12-01T00:00:00+08:00"),
    ],
)
def test_rolling_points_last_through_the_same_local_day_months_later(earned_at, months, expires_at):
    brand = brand_with(expiry_months=months)
    assert expiry_of(brand, parse(earned_at)) == parse(expires_at)


@pytest.mark.parametrize(
    ("earned_at", "clearing", "expires_at"),
    [
        # Earned in 2026: they last through 31 December 2027, local time.
        ("2026-03-15T02:00:00+00:00", (12, 31), "2028-01-01T00:00:00+08:00"),
        # New Year's Eve 23:30 in Shanghai is still 2025 there.
        ("2025-12-31T15:30:00+00:00", (12, 31), "2027-01-01T00:00:00+08:00"),
        # Half past midnight in Shanghai is 2026 already, though UTC is still in 2025.
        ("2025-12-31T16:30:00+00:00", (12, 31), "2028-01-01T00:00:00+08:00"),
        # A clearing day of 30 June; and 29 February in a year that lacks it.
        ("2026-07-01T02:00:00+00:00", (6, 30), "2027-07-01T00:00:00+08:00"),
        ("2026-05-01T02:00:00+00:00", (2, 29), "2027-03-01T00:00:00+08:00"),
        ("2027-05-01T02:00:00+00:00", (2, 29), "2028-03-01T00:00:00+08:00"),
    ],
)
def test_fixed_date_points_of_one_year_last_through_the_clearing_day_of_the_next(
    earned_at, clearing, expires_at
):
    month, day = clearing
    brand = brand_with(
        expiry_policy=ExpiryPolicy.FIXED_DATE, clearing_month=month, clearing_day=day
    )
    assert expiry_of(brand, parse(earned_at)) == parse(expires_at)


def test_months_are_added_with_the_day_clamped_to_the_month():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)
    assert add_months(date(2026, 11, 30), 25) == date(2028, 12, 30)


# The same, through the API.


async def test_a_purchases_lot_expires_by_the_rolling_policy_of_its_local_day(
    make_brand, caller, clock
):
    brand = await make_brand(timezone=SHANGHAI, expiry_months=1)
    staff = caller(brand)
    member = await staff.register()
    day = clock.now().astimezone(ZoneInfo(SHANGHAI)).date() - timedelta(days=10)
    # The last second of a local day (the same day in UTC), and the first of the next (still
    # the previous day in UTC).
    last_moment = local_midnight(day + timedelta(days=1), SHANGHAI) - timedelta(seconds=1)
    next_morning = local_midnight(day + timedelta(days=1), SHANGHAI)
    late = await staff.purchase(member["id"], "10.00", occurredAt=iso(last_moment))
    early = await staff.purchase(member["id"], "10.00", occurredAt=iso(next_morning))
    assert parse(late["entry"]["expiresAt"]) == rolling_expiry(last_moment, 1, SHANGHAI)
    assert parse(early["entry"]["expiresAt"]) == rolling_expiry(next_morning, 1, SHANGHAI)
    assert (await lot_of_entry(late["entry"]["id"])).expires_at == parse(late["entry"]["expiresAt"])


async def test_a_purchases_lot_expires_after_the_clearing_day_of_the_next_year(
    make_brand, caller, clock
):
    brand = await make_brand(
        timezone=SHANGHAI, expiry_policy=ExpiryPolicy.FIXED_DATE, clearing_month=6, clearing_day=30
    )
    staff = caller(brand)
    member = await staff.register()
    occurred_at = clock.now() - timedelta(days=1)
    earned = await staff.purchase(member["id"], "10.00", occurredAt=iso(occurred_at))
    year = occurred_at.astimezone(ZoneInfo(SHANGHAI)).year
    assert parse(earned["entry"]["expiresAt"]) == local_midnight(date(year + 1, 7, 1), SHANGHAI)
    adjusted = await staff.adjust(member["id"], 5)
    this_year = clock.now().astimezone(ZoneInfo(SHANGHAI)).year
    assert (await lot_of_entry(adjusted["entry"]["id"])).expires_at == local_midnight(
        date(this_year + 1, 7, 1), SHANGHAI
    )


# Reads and movements after the moment passes.


async def soon_and_later(staff, clock) -> tuple[dict, dict]:
    """A member with 70 points expiring within days (a purchase of 25 days ago on a one-month
    brand: even a 28-day month leaves it a few days) and 30 that last a month."""
    member = await staff.register()
    soon = await staff.purchase(
        member["id"], "70.00", occurredAt=iso(clock.now() - timedelta(days=25))
    )
    later = await staff.adjust(member["id"], 30)
    return member, {"soon": soon["entry"], "later": later["entry"]}


async def test_reads_leave_a_due_lot_out_before_the_job_runs(make_brand, caller, clock):
    brand = await make_brand(expiry_months=1)
    staff = caller(brand)
    member, earned = await soon_and_later(staff, clock)
    shown = await points_of(staff, member["id"])
    assert (shown["available"], shown["version"]) == (100, 2)
    assert [group["points"] for group in shown["expiring"]] == [70, 30]

    advance_past(clock, parse(earned["soon"]["expiresAt"]))
    shown = await points_of(staff, member["id"])
    assert shown["available"] == 30
    assert shown["version"] == 2  # nothing written yet: the job has not run
    later_lot = await lot_of_entry(earned["later"]["id"])
    assert [(group["points"], parse(group["expiresAt"])) for group in shown["expiring"]] == [
        (30, later_lot.expires_at)
    ]
    assert (await Balance.get(member_id=pk(member["id"]))).available == 100
    assert await audit(brand_id=brand.id) == []


async def test_expired_points_can_never_be_spent(make_brand, caller, clock):
    brand = await make_brand(expiry_months=1)
    staff = caller(brand)
    member, earned = await soon_and_later(staff, clock)
    advance_past(clock, parse(earned["soon"]["expiresAt"]))
    before = await snapshot(member["id"])
    refused = await staff.adjust(member["id"], -31)
    assert [error["code"] for error in refused["userErrors"]] == ["INSUFFICIENT_POINTS"]
    assert await snapshot(member["id"]) == before  # the expiry it began rolled back with it

    spent = await staff.adjust(member["id"], -30)
    assert spent["userErrors"] == []
    # The movement expired the due lot first, in an entry of its own.
    recorded = await entries(member["id"])
    assert [(e.version, e.kind, e.points, e.balance_after) for e in recorded[2:]] == [
        (3, LedgerKind.EXPIRE, -70, 30),
        (4, LedgerKind.ADJUST, -30, 0),
    ]
    later_lot = await lot_of_entry(earned["later"]["id"])
    assert await taken_by(spent["entry"]["id"]) == [(later_lot.id, 30)]
    soon_lot = await lot_of_entry(earned["soon"]["id"])
    assert (soon_lot.remaining, soon_lot.expired_at is not None) == (0, True)
    assert await audit(brand_id=brand.id) == []


async def test_an_earn_after_the_moment_writes_the_expiry_first(make_brand, caller, clock):
    brand = await make_brand(expiry_months=1)
    staff = caller(brand)
    member, earned = await soon_and_later(staff, clock)
    advance_past(clock, parse(earned["soon"]["expiresAt"]))
    again = await staff.purchase(member["id"], "5.00")
    assert (again["entry"]["version"], again["entry"]["balanceAfter"]) == (4, 35)
    recorded = await entries(member["id"])
    assert (recorded[2].kind, recorded[2].points) == (LedgerKind.EXPIRE, -70)
    assert again["member"]["points"]["available"] == 35
    assert await audit(brand_id=brand.id) == []


async def test_the_job_writes_one_expire_entry_per_member_and_expires_each_lot_once(
    make_brand, caller, clock, runtime
):
    brand = await make_brand(expiry_months=1)
    staff = caller(brand)
    member = await staff.register()
    for days_ago in (25, 24):
        await staff.purchase(
            member["id"], "20.00", occurredAt=iso(clock.now() - timedelta(days=days_ago))
        )
    kept = await staff.adjust(member["id"], 15)
    untouched = await staff.register("Bea")
    await staff.adjust(untouched["id"], 10)
    due = [lot for lot in await lots(member["id"]) if lot.entry_id != pk(kept["entry"]["id"])]
    advance_past(clock, max(lot.expires_at for lot in due))

    assert await run_expiry(runtime, brand_code=brand.code) == (1, 40)
    expired = await LedgerEntry.filter(member_id=pk(member["id"]), kind=LedgerKind.EXPIRE)
    assert [(e.points, e.balance_after, e.version) for e in expired] == [(-40, 15, 4)]
    first_expiry = {lot.id: lot.expired_at for lot in await lots(member["id"])}
    assert [first_expiry[lot.id] is not None for lot in due] == [True, True]

    assert await run_expiry(runtime, brand_code=brand.code) == (0, 0)
    assert await expire_member(runtime, pk(member["id"]), clock.now()) == 0
    assert {lot.id: lot.expired_at for lot in await lots(member["id"])} == first_expiry
    assert await LedgerEntry.filter(member_id=pk(member["id"]), kind=LedgerKind.EXPIRE).count() == 1
    assert (await points_of(staff, member["id"]))["available"] == 15
    assert (await points_of(staff, untouched["id"]))["version"] == 1
    assert await audit(brand_id=brand.id) == []


async def test_expiring_one_member_from_many_tasks_at_once_expires_once(
    make_brand, caller, clock, runtime
):
    brand = await make_brand(expiry_months=1)
    staff = caller(brand)
    member, earned = await soon_and_later(staff, clock)
    advance_past(clock, parse(earned["soon"]["expiresAt"]))
    now = clock.now()
    expired = await asyncio.gather(
        *(expire_member(runtime, pk(member["id"]), now) for _ in range(8))
    )
    assert sorted(expired) == [0] * 7 + [70]
    kinds = [e.kind for e in await entries(member["id"])]
    assert kinds.count(LedgerKind.EXPIRE) == 1
    assert await audit(brand_id=brand.id) == []


async def test_expiring_groups_points_by_moment_soonest_first(make_brand, caller, clock):
    brand = await make_brand(expiry_months=1)
    staff = caller(brand)
    member = await staff.register()
    expires = []
    for days_ago, total in ((20, "10.00"), (20, "5.00"), (5, "7.00"), (12, "3.00")):
        earned = await staff.purchase(
            member["id"], total, occurredAt=iso(clock.now() - timedelta(days=days_ago))
        )
        expires.append((parse(earned["entry"]["expiresAt"]), earned["entry"]["points"]))
    bonus = await staff.adjust(member["id"], 4)  # a month from now
    expires.append(((await lot_of_entry(bonus["entry"]["id"])).expires_at, 4))
    await staff.adjust(member["id"], -2)  # taken from the soonest lot

    grouped: dict[datetime, int] = {}
    for moment, points in expires:
        grouped[moment] = grouped.get(moment, 0) + points
    soonest = min(grouped)
    grouped[soonest] -= 2
    now = clock.now()
    for within_days in (0, 14, 20, 40):
        horizon = now + timedelta(days=within_days)
        shown = (await points_of(staff, member["id"], within_days))["expiring"]
        assert [(parse(group["expiresAt"]), group["points"]) for group in shown] == sorted(
            (moment, points) for moment, points in grouped.items() if moment <= horizon
        )
    everything = (await points_of(staff, member["id"], 40))["expiring"]
    assert [group["points"] for group in everything] == [13, 3, 7, 4]


@pytest.mark.parametrize("within_days", [-5, 0, 2_147_483_647])
async def test_expiring_takes_any_number_of_days(staff, within_days):
    member = await staff.register()
    await staff.purchase(member["id"], "10.00")
    shown = (await points_of(staff, member["id"], within_days))["expiring"]
    assert [group["points"] for group in shown] == ([10] if within_days > 0 else [])


# The `pointsmall expire` and the scheduled job, as processes.


def expire_command(settings, brand_code: str) -> subprocess.Popen:
    return pointsmall_process(settings, "expire", "--brand", brand_code)


def expired_by(process: subprocess.Popen) -> tuple[int, int]:
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    found = re.search(r"Expired (\d+) points of (\d+) members", stdout)
    assert found, stdout
    return int(found[1]), int(found[2])


async def members_with_lots_due_in_real_time(staff, count: int) -> list[dict]:
    """Members with two lots each, made due by real time (the command runs on its own clock)."""
    members = []
    for number in range(count):
        member = await staff.register(f"Member {number}")
        await staff.purchase(member["id"], "10.00")
        await staff.adjust(member["id"], 5)
        members.append(member)
    past = datetime.now(UTC) - timedelta(minutes=1)
    await Lot.filter(member_id__in=[pk(m["id"]) for m in members]).update(expires_at=past)
    return members


async def test_the_expire_command_from_two_processes_at_once_expires_each_lot_once(
    make_brand, caller, settings
):
    brand = await make_brand()
    staff = caller(brand)
    members = await members_with_lots_due_in_real_time(staff, 12)
    first, second = expire_command(settings, brand.code), expire_command(settings, brand.code)
    outcomes = [expired_by(first), expired_by(second)]
    assert sum(points for points, _ in outcomes) == 12 * 15
    for member in members:
        recorded = await entries(member["id"])
        assert [(e.kind, e.points, e.balance_after) for e in recorded[2:]] == [
            (LedgerKind.EXPIRE, -15, 0)
        ]
        assert all(lot.expired_at is not None for lot in await lots(member["id"]))
    assert await audit(brand_id=brand.id) == []

    assert expired_by(expire_command(settings, brand.code)) == (0, 0)
    assert await LedgerEntry.filter(brand_id=brand.id, kind=LedgerKind.EXPIRE).count() == 12


def test_the_expire_command_refuses_an_unknown_brand(settings):
    process = expire_command(settings, "no-such-brand")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "no-such-brand" in stderr
