"""One-off bonuses and tasks, driven by the earning rules admins create: the welcome bonus at
registration, the first-purchase and referral bonuses, tasks within their limits and the brand's
daily cap, and birthday bonuses (once a year, caught up within a week)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from db.models import Award, AwardKind, Brand, IdempotencyRecord, LedgerEntry, Member
from domain.rules.birthdays import birthdays_due, give_birthday_bonuses
from resolvers.ids import parse_id
from server.scheduler import standard_jobs
from tests.support.commands import POINTSMALL
from tests.support.factories import REGISTER, key
from tests.support.rules import create_rule, parts

SAVE_TIER = """
mutation ($input: SaveTierInput!) {
  saveTier(input: $input) {
    tier { code rank benefits { birthdayBonusPoints } }
    userErrors { field code }
  }
}
"""


SAVE_EARN_SETTINGS = """
mutation ($input: EarnSettingsInput!) {
  saveEarnSettings(input: $input) {
    brand { earnCapPerDay }
    userErrors { field code }
  }
}
"""

COMPLETE_TASK = """
mutation ($input: CompleteTaskInput!) {
  completeTask(input: $input) {
    entry { id kind points balanceAfter version description breakdown { rule description points } }
    member { id points { available version } }
    userErrors { field message code }
  }
}
"""

LEDGER = """
query ($id: ID!) {
  member(id: $id) {
    points { available version }
    ledger(first: 20) {
      edges { node { kind points balanceAfter version description
                     breakdown { rule description points } } }
    }
  }
}
"""


# Helpers.


def pk(member: dict) -> int:
    return parse_id(member["id"])[1]


def user_errors(payload: dict) -> list[tuple[str, list[str] | None]]:
    return [(error["code"], error["field"]) for error in payload["userErrors"]]


async def save_tier(staff, code: str, rank: int, qualifying: int, **fields) -> None:
    tier = {"code": code, "name": code.title(), "rank": rank, "qualifyingPoints": qualifying}
    payload = await staff.call(SAVE_TIER, {**tier, **fields})
    assert payload["userErrors"] == [], payload


async def set_status(staff, member: dict, status: str) -> None:
    payload = await staff.set_status(member["id"], status)
    assert payload["member"]["status"] == status, payload


async def ledger_of(staff, member: dict) -> tuple[dict, list[dict]]:
    """The member's balance and their entries, newest first."""
    body = await staff.gql(LEDGER, {"id": member["id"]}, token=staff.token)
    assert "errors" not in body, body
    found = body["data"]["member"]
    return found["points"], [edge["node"] for edge in found["ledger"]["edges"]]


async def complete(gql, token: str, task_code: str, member: dict | None = None, **fields) -> dict:
    """completeTask's whole answer (top-level errors included)."""
    task = {"taskCode": task_code, "idempotencyKey": fields.pop("idempotencyKey", key())}
    if member is not None:
        task["memberId"] = member["id"]
    return await gql(COMPLETE_TASK, {"input": {**task, **fields}}, token=token)


def task_payload(body: dict) -> dict:
    assert "errors" not in body, body
    return body["data"]["completeTask"]


async def written_for(member: dict) -> tuple[int, int]:
    """(ledger entries, awards) stored for the member."""
    return (
        await LedgerEntry.filter(member_id=pk(member)).count(),
        await Award.filter(member_id=pk(member)).count(),
    )


def local_today(brand, clock) -> date:
    return clock.now().astimezone(ZoneInfo(brand.timezone)).date()


@pytest.fixture(autouse=True)
async def birthdays_celebrated_however_new(brand) -> None:
    """These tests are about the day a birthday falls on: the brand celebrates a birthday
    however recently it was given (that wait is tested in tests/rules/test_no_free_points.py)."""
    await Brand.filter(id=brand.id).update(birthday_min_age_days=0)


def born_on(day: date) -> str:
    """A birthday on that day's month and day (2000 is a leap year: 29 February exists)."""
    return date(2000, day.month, day.day).isoformat()


async def test_the_brands_days_are_not_utc_days(brand):
    """Dates below are the brand's own (8 hours ahead of UTC), as the rules count days."""
    assert brand.timezone == "Asia/Shanghai"
    assert ZoneInfo(brand.timezone).utcoffset(datetime(2025, 1, 1)) == timedelta(hours=8)


# REGISTRATION_BONUS.


async def test_a_new_member_starts_with_the_welcome_bonus_naming_its_rule(staff):
    await create_rule(staff, "WELCOME", "REGISTRATION_BONUS", name="Welcome gift", points=50)
    member = await staff.register()
    points, entries = await ledger_of(staff, member)
    assert points == {"available": 50, "version": 1}
    assert entries == [
        {
            "kind": "EARN",
            "points": 50,
            "balanceAfter": 50,
            "version": 1,
            "description": "Welcome bonus",
            "breakdown": [{"rule": "WELCOME", "description": "Welcome gift", "points": 50}],
        }
    ]


async def test_without_a_welcome_rule_a_member_starts_at_zero(staff):
    member = await staff.register()
    points, entries = await ledger_of(staff, member)
    assert points == {"available": 0, "version": 0}
    assert entries == []
    assert await written_for(member) == (0, 0)


async def test_a_replayed_registration_pays_the_welcome_bonus_once(staff, brand):
    await create_rule(staff, "WELCOME", "REGISTRATION_BONUS", points=50)
    registration = {"displayName": "Ada", "idempotencyKey": key()}
    first = await staff.call(REGISTER, registration)
    again = await staff.call(REGISTER, registration)
    assert first["userErrors"] == again["userErrors"] == []
    assert again["member"]["id"] == first["member"]["id"]
    assert await Member.filter(brand_id=brand.id).count() == 1
    assert await staff.balance(first["member"]["id"]) == {
        "available": 50,
        "version": 1,
        "lifetimeEarned": 50,
        "lifetimeRedeemed": 0,
    }
    assert await written_for(first["member"]) == (1, 1)


# FIRST_PURCHASE_BONUS.


async def test_the_first_purchase_bonus_is_paid_on_the_first_purchase_only(staff):
    await create_rule(staff, "FIRST", "FIRST_PURCHASE_BONUS", name="First order", points=100)
    member = await staff.register()
    first = await staff.purchase(member["id"], "20.00")
    assert first["userErrors"] == []
    assert first["entry"]["points"] == 120
    assert parts(first["entry"]["breakdown"]) == [("BASE", 20), ("FIRST", 100)]
    assert first["entry"]["breakdown"][1]["description"] == "First order"
    second = await staff.purchase(member["id"], "20.00")
    assert second["entry"]["points"] == 20
    assert parts(second["entry"]["breakdown"]) == [("BASE", 20)]
    assert second["member"]["points"] == {"available": 140, "version": 2, "lifetimeEarned": 140}


# REFERRAL_BONUS.


async def referral_rule(staff, **fields) -> dict:
    return await create_rule(
        staff, "REFER", "REFERRAL_BONUS", name="Invite a friend", points=30, referrerPoints=70,
        **fields,
    )  # fmt: skip


async def referred_by(staff, referrer: dict, name: str) -> dict:
    return await staff.register(name, referralCode=referrer["referralCode"])


async def test_a_referees_first_purchase_rewards_both_members_once(staff):
    await referral_rule(staff)
    ada = await staff.register("Ada")
    bea = await referred_by(staff, ada, "Bea")

    first = await staff.purchase(bea["id"], "20.00")
    assert first["userErrors"] == []
    assert first["entry"]["points"] == 50
    assert parts(first["entry"]["breakdown"]) == [("BASE", 20), ("REFER", 30)]
    points, entries = await ledger_of(staff, ada)
    assert points == {"available": 70, "version": 1}
    assert [(e["kind"], e["points"], e["balanceAfter"], e["version"]) for e in entries] == [
        ("EARN", 70, 70, 1)
    ]
    assert entries[0]["description"] == "Referral bonus: Bea"
    assert entries[0]["breakdown"] == [
        {"rule": "REFER", "description": "Invite a friend: Bea made a first purchase", "points": 70}
    ]

    second = await staff.purchase(bea["id"], "20.00")
    assert parts(second["entry"]["breakdown"]) == [("BASE", 20)]
    assert second["member"]["points"]["available"] == 70
    assert (await ledger_of(staff, ada))[0] == {"available": 70, "version": 1}


async def test_a_member_nobody_referred_gets_no_referral_bonus(staff):
    await referral_rule(staff)
    member = await staff.register()
    first = await staff.purchase(member["id"], "20.00")
    assert parts(first["entry"]["breakdown"]) == [("BASE", 20)]


async def test_the_referrers_monthly_cap_stops_their_reward_but_not_the_referees(staff, clock):
    await referral_rule(staff, referrerMonthlyCap=1)
    ada = await staff.register("Ada")
    bea = await referred_by(staff, ada, "Bea")
    cat = await referred_by(staff, ada, "Cat")

    await staff.purchase(bea["id"], "20.00")
    capped = await staff.purchase(cat["id"], "20.00")
    assert capped["userErrors"] == []
    assert parts(capped["entry"]["breakdown"]) == [("BASE", 20), ("REFER", 30)]
    points, entries = await ledger_of(staff, ada)
    assert points == {"available": 70, "version": 1}
    assert [entry["description"] for entry in entries] == ["Referral bonus: Bea"]

    clock.advance(timedelta(days=32))  # another month: the cap counts afresh
    dan = await referred_by(staff, ada, "Dan")
    await staff.purchase(dan["id"], "20.00")
    points, entries = await ledger_of(staff, ada)
    assert points == {"available": 140, "version": 2}
    assert entries[0]["description"] == "Referral bonus: Dan"


async def test_a_frozen_referrer_gets_nothing_while_the_referee_gets_theirs(staff):
    await referral_rule(staff)
    ada = await staff.register("Ada")
    bea = await referred_by(staff, ada, "Bea")
    await set_status(staff, ada, "FROZEN")

    first = await staff.purchase(bea["id"], "20.00")
    assert first["userErrors"] == []
    assert parts(first["entry"]["breakdown"]) == [("BASE", 20), ("REFER", 30)]
    assert await ledger_of(staff, ada) == ({"available": 0, "version": 0}, [])

    await set_status(staff, ada, "ACTIVE")  # reopened: the referee's first purchase is past
    await staff.purchase(bea["id"], "20.00")
    assert await ledger_of(staff, ada) == ({"available": 0, "version": 0}, [])


# Tasks.


async def task_rule(staff, code: str = "CHECKIN", **fields) -> dict:
    return await create_rule(
        staff, code, "TASK", name=fields.pop("name", "Daily check-in"),
        taskCode=fields.pop("taskCode", "CHECK_IN"), points=fields.pop("points", 5), **fields,
    )  # fmt: skip


async def test_a_member_completes_their_own_task_and_staff_complete_one_for_them(
    staff, gql, member_token
):
    await task_rule(staff)
    member = await staff.register()
    own = task_payload(await complete(gql, member_token(member), "CHECK_IN"))
    assert own["userErrors"] == []
    assert own["entry"] == {
        "id": own["entry"]["id"],
        "kind": "EARN",
        "points": 5,
        "balanceAfter": 5,
        "version": 1,
        "description": "Task: Daily check-in",
        "breakdown": [{"rule": "CHECKIN", "description": "Daily check-in", "points": 5}],
    }
    assert own["member"] == {"id": member["id"], "points": {"available": 5, "version": 1}}

    by_staff = task_payload(await complete(gql, staff.token, "check_in", member))
    assert by_staff["userErrors"] == []
    assert (by_staff["entry"]["points"], by_staff["entry"]["version"]) == (5, 2)
    assert by_staff["member"]["points"] == {"available": 10, "version": 2}


async def test_a_task_past_its_daily_limit_waits_for_the_next_day(staff, gql, clock, brand):
    await task_rule(staff, dailyLimit=1)
    member = await staff.register()
    assert task_payload(await complete(gql, staff.token, "CHECK_IN", member))["userErrors"] == []

    refused_key = key()
    refused = task_payload(
        await complete(gql, staff.token, "CHECK_IN", member, idempotencyKey=refused_key)
    )
    assert user_errors(refused) == [("LIMIT_REACHED", ["taskCode"])]
    assert refused["entry"] is None
    assert await staff.balance(member["id"]) == {
        "available": 5,
        "version": 1,
        "lifetimeEarned": 5,
        "lifetimeRedeemed": 0,
    }
    assert await written_for(member) == (1, 1)
    assert not await IdempotencyRecord.filter(brand_id=brand.id, key=refused_key).exists()

    clock.advance(timedelta(days=1))
    next_day = task_payload(await complete(gql, staff.token, "CHECK_IN", member))
    assert next_day["userErrors"] == []
    assert next_day["member"]["points"] == {"available": 10, "version": 2}


async def test_a_task_past_its_lifetime_limit_pays_no_more(staff, gql, clock):
    await task_rule(staff, "REVIEW", taskCode="REVIEW", name="Write a review", lifetimeLimit=2)
    member = await staff.register()
    for _ in range(2):
        done = task_payload(await complete(gql, staff.token, "REVIEW", member))
        assert done["userErrors"] == []
    refused = task_payload(await complete(gql, staff.token, "REVIEW", member))
    assert user_errors(refused) == [("LIMIT_REACHED", ["taskCode"])]
    clock.advance(timedelta(days=1))
    still = task_payload(await complete(gql, staff.token, "REVIEW", member))
    assert user_errors(still) == [("LIMIT_REACHED", ["taskCode"])]
    assert (await staff.balance(member["id"]))["available"] == 10
    assert await written_for(member) == (2, 2)


async def test_an_unknown_task_is_not_found(staff, gql):
    await task_rule(staff)
    member = await staff.register()
    refused = task_payload(await complete(gql, staff.token, "NO_SUCH_TASK", member))
    assert user_errors(refused) == [("NOT_FOUND", ["taskCode"])]
    assert refused["entry"] is None
    assert await written_for(member) == (0, 0)


async def test_a_repeated_key_replays_the_first_answer_without_paying_twice(
    staff, gql, member_token
):
    await task_rule(staff, dailyLimit=1)
    member = await staff.register()
    token = member_token(member)
    same_key = key()
    first = task_payload(await complete(gql, token, "CHECK_IN", idempotencyKey=same_key))
    again = task_payload(await complete(gql, token, "CHECK_IN", idempotencyKey=same_key))
    assert first["userErrors"] == again["userErrors"] == []
    assert again["entry"] == first["entry"]
    assert again["member"]["points"] == {"available": 5, "version": 1}
    assert await written_for(member) == (1, 1)


async def test_a_member_cannot_complete_a_task_for_another_member(staff, gql, member_token):
    await task_rule(staff)
    member = await staff.register("Ada")
    other = await staff.register("Bea")
    body = await complete(gql, member_token(member), "CHECK_IN", other)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    assert await written_for(other) == (0, 0)
    assert await written_for(member) == (0, 0)


async def test_a_frozen_member_completes_no_task(staff, gql, member_token):
    await task_rule(staff)
    member = await staff.register()
    await set_status(staff, member, "FROZEN")
    for body in (
        await complete(gql, member_token(member), "CHECK_IN"),
        await complete(gql, staff.token, "CHECK_IN", member),
    ):
        refused = task_payload(body)
        assert user_errors(refused) == [("MEMBER_FROZEN", ["memberId"])]
        assert refused["entry"] is None
    assert await written_for(member) == (0, 0)


async def test_a_task_for_gold_members_is_not_found_for_a_base_member(staff, gql):
    await save_tier(staff, "GOLD", 1, 5_000)
    await task_rule(staff, "VIP", taskCode="VIP_SURVEY", name="VIP survey", tierCodes=["GOLD"])
    base = await staff.register("Ada")
    refused = task_payload(await complete(gql, staff.token, "VIP_SURVEY", base))
    assert user_errors(refused) == [("NOT_FOUND", ["taskCode"])]
    assert await written_for(base) == (0, 0)

    gold = await staff.register("Bea")
    await staff.purchase(gold["id"], "6000.00")  # qualifies for GOLD at once
    done = task_payload(await complete(gql, staff.token, "VIP_SURVEY", gold))
    assert done["userErrors"] == []
    assert parts(done["entry"]["breakdown"]) == [("VIP", 5)]


async def test_the_brands_daily_cap_cuts_task_points(staff, gql, clock):
    settings = await staff.call(SAVE_EARN_SETTINGS, {"earnCapPerDay": 30})
    assert settings == {"brand": {"earnCapPerDay": 30}, "userErrors": []}
    await task_rule(staff, "SHARE", taskCode="SHARE", name="Share a post", points=25)
    member = await staff.register()
    await staff.purchase(member["id"], "20.00")
    capped = task_payload(await complete(gql, staff.token, "SHARE", member))
    assert capped["userErrors"] == []
    assert capped["entry"]["points"] == 10
    assert capped["entry"]["breakdown"] == [
        {"rule": "SHARE", "description": "Share a post", "points": 25},
        {"rule": "cap:day", "description": "Capped at 30 points per day", "points": -15},
    ]
    assert capped["member"]["points"] == {"available": 30, "version": 2}
    over = task_payload(await complete(gql, staff.token, "SHARE", member))
    assert over["userErrors"] == []
    assert parts(over["entry"]["breakdown"]) == [("SHARE", 25), ("cap:day", -25)]
    assert over["member"]["points"]["available"] == 30

    clock.advance(timedelta(days=1))  # the brand's next day: the cap counts afresh
    next_day = task_payload(await complete(gql, staff.token, "SHARE", member))
    assert parts(next_day["entry"]["breakdown"]) == [("SHARE", 25)]
    assert next_day["member"]["points"]["available"] == 55


async def test_task_points_that_pay_off_a_shortfall_count_toward_the_daily_cap(staff, gql, clock):
    """As a purchase's do: the cap counts what was earned, whatever paid off what was owed."""
    await task_rule(staff, "SHARE", taskCode="SHARE", name="Share a post", points=25)
    member = await staff.register()
    bought = await staff.purchase(member["id"], "25.00", orderRef="R-1")
    assert bought["entry"]["points"] == 25
    await staff.adjust(member["id"], -25, "spent at the counter")
    refunded = await staff.reverse(member["id"], "R-1")
    assert refunded["entry"]["shortfall"] == 25  # the member owes 25 points
    assert (await staff.call(SAVE_EARN_SETTINGS, {"earnCapPerDay": 30}))["userErrors"] == []

    clock.advance(timedelta(days=1))
    paid_off = task_payload(await complete(gql, staff.token, "SHARE", member))
    assert parts(paid_off["entry"]["breakdown"]) == [("SHARE", 25), ("shortfall", -25)]
    assert paid_off["entry"]["points"] == 0
    # 25 of the day's 30 are earned: a purchase of 20.00 earns the 5 left.
    after = await staff.purchase(member["id"], "20.00")
    assert parts(after["entry"]["breakdown"]) == [("BASE", 20), ("cap:day", -15)]
    assert after["member"]["points"]["available"] == 5


async def test_purchase_points_that_pay_off_a_shortfall_count_toward_the_daily_cap(
    staff, gql, clock
):
    await task_rule(staff, "SHARE", taskCode="SHARE", name="Share a post", points=25)
    member = await staff.register()
    await staff.purchase(member["id"], "25.00", orderRef="R-1")
    await staff.adjust(member["id"], -25, "spent at the counter")
    assert (await staff.reverse(member["id"], "R-1"))["entry"]["shortfall"] == 25
    assert (await staff.call(SAVE_EARN_SETTINGS, {"earnCapPerDay": 30}))["userErrors"] == []

    clock.advance(timedelta(days=1))
    paid_off = await staff.purchase(member["id"], "25.00")
    assert parts(paid_off["entry"]["breakdown"]) == [("BASE", 25), ("shortfall", -25)]
    after = task_payload(await complete(gql, staff.token, "SHARE", member))
    assert parts(after["entry"]["breakdown"]) == [("SHARE", 25), ("cap:day", -20)]
    assert after["member"]["points"]["available"] == 5


# Birthdays.


async def birthday_bonuses(staff, tier_points: int = 200, rule_points: int | None = 100) -> None:
    """The base tier's birthday benefit, and a BIRTHDAY_BONUS rule."""
    await save_tier(staff, "BASE", 0, 0, name="Member", birthdayBonusPoints=tier_points)
    if rule_points is not None:
        await create_rule(staff, "BDAY", "BIRTHDAY_BONUS", name="Birthday gift", points=rule_points)


async def test_a_member_whose_birthday_is_today_gets_both_bonuses_in_one_entry(
    staff, brand, clock, runtime
):
    await birthday_bonuses(staff)
    member = await staff.register(birthday=born_on(local_today(brand, clock)))
    assert await give_birthday_bonuses(runtime, brand_code=brand.code) == 1
    points, entries = await ledger_of(staff, member)
    assert points == {"available": 300, "version": 1}
    assert entries == [
        {
            "kind": "EARN",
            "points": 300,
            "balanceAfter": 300,
            "version": 1,
            "description": "Happy birthday",
            "breakdown": [
                {"rule": "tier", "description": "Member tier birthday bonus", "points": 200},
                {"rule": "BDAY", "description": "Birthday gift", "points": 100},
            ],
        }
    ]
    assert await give_birthday_bonuses(runtime, brand_code=brand.code) == 0
    assert (await ledger_of(staff, member))[0] == {"available": 300, "version": 1}


async def test_the_job_for_every_brand_gives_the_bonus_once(staff, brand, clock, runtime):
    await birthday_bonuses(staff)
    member = await staff.register(birthday=born_on(local_today(brand, clock)))
    await give_birthday_bonuses(runtime)
    await give_birthday_bonuses(runtime)
    assert (await ledger_of(staff, member))[0] == {"available": 300, "version": 1}


async def test_a_birthday_in_the_brands_timezone_is_not_the_utc_date(staff, brand, clock, runtime):
    """On the brand's day, whatever the UTC date: 08:00 in Shanghai is midnight UTC."""
    await birthday_bonuses(staff)
    local = clock.now().astimezone(ZoneInfo(brand.timezone))
    if local.date() == clock.now().astimezone(UTC).date():
        # Move to the hours (00:00-08:00 in Shanghai) when the two dates differ.
        next_midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time())
        wait = next_midnight.replace(tzinfo=local.tzinfo) - local + timedelta(minutes=30)
        clock.advance(wait)
    today = local_today(brand, clock)
    utc_today = clock.now().astimezone(UTC).date()
    assert today == utc_today + timedelta(days=1)
    # 7 days before the brand's day, 6 before the UTC date: past the week of catching up.
    member = await staff.register(birthday=born_on(today - timedelta(days=7)))
    assert await give_birthday_bonuses(runtime, brand_code=brand.code) == 0
    due = await staff.register(birthday=born_on(today))
    assert await give_birthday_bonuses(runtime, brand_code=brand.code) == 1
    assert (await ledger_of(staff, due))[0]["available"] == 300
    assert (await ledger_of(staff, member))[0]["available"] == 0


async def test_a_birthday_missed_three_days_ago_is_caught_up_but_not_ten_days_ago(
    staff, brand, clock, runtime
):
    await birthday_bonuses(staff)
    today = local_today(brand, clock)
    recent = await staff.register("Ada", birthday=born_on(today - timedelta(days=3)))
    old = await staff.register("Bea", birthday=born_on(today - timedelta(days=10)))
    assert await give_birthday_bonuses(runtime, brand_code=brand.code) == 1
    assert (await ledger_of(staff, recent))[0] == {"available": 300, "version": 1}
    assert await ledger_of(staff, old) == ({"available": 0, "version": 0}, [])


async def test_members_without_a_birthday_or_frozen_get_nothing(staff, brand, clock, runtime):
    await birthday_bonuses(staff)
    today = born_on(local_today(brand, clock))
    nobody = await staff.register("Ada")
    frozen = await staff.register("Bea", birthday=today)
    await set_status(staff, frozen, "FROZEN")
    active = await staff.register("Cat", birthday=today)
    assert await give_birthday_bonuses(runtime, brand_code=brand.code) == 1
    assert (await ledger_of(staff, active))[0]["available"] == 300
    for member in (nobody, frozen):
        assert await ledger_of(staff, member) == ({"available": 0, "version": 0}, [])
        assert await written_for(member) == (0, 0)


async def test_a_tier_benefit_alone_is_paid_and_no_bonus_at_all_is_not(
    staff, brand, clock, runtime
):
    await birthday_bonuses(staff, tier_points=0, rule_points=None)
    member = await staff.register(birthday=born_on(local_today(brand, clock)))
    assert await give_birthday_bonuses(runtime, brand_code=brand.code) == 0
    assert await written_for(member) == (0, 0)
    await birthday_bonuses(staff, tier_points=40, rule_points=None)
    assert await give_birthday_bonuses(runtime, brand_code=brand.code) == 1
    points, entries = await ledger_of(staff, member)
    assert points == {"available": 40, "version": 1}
    assert parts(entries[0]["breakdown"]) == [("tier", 40)]


async def test_two_runs_at_once_pay_a_birthday_once(staff, brand, clock, runtime):
    await birthday_bonuses(staff)
    member = await staff.register(birthday=born_on(local_today(brand, clock)))
    given = await asyncio.gather(
        give_birthday_bonuses(runtime, brand_code=brand.code),
        give_birthday_bonuses(runtime, brand_code=brand.code),
    )
    assert sorted(given) == [0, 1]
    assert (await ledger_of(staff, member))[0] == {"available": 300, "version": 1}
    assert await written_for(member) == (1, 1)
    award = await Award.get(member_id=pk(member))
    assert (award.kind, award.once_key, award.points) == (
        AwardKind.BIRTHDAY,
        str(local_today(brand, clock).year),
        300,
    )


def test_birthdays_due_cover_the_last_week_with_their_year():
    assert birthdays_due(date(2025, 3, 15)) == {f"03-{day:02d}": 2025 for day in range(9, 16)}
    across_new_year = birthdays_due(date(2025, 1, 2))
    assert across_new_year["01-02"] == 2025
    assert across_new_year["12-31"] == across_new_year["12-27"] == 2024
    assert "12-26" not in across_new_year
    assert len(across_new_year) == 7


@pytest.mark.parametrize(
    ("today", "due"),
    [
        (date(2025, 2, 27), None),  # not yet
        (date(2025, 2, 28), 2025),  # no 29 February in 2025: celebrated on the 28th
        (date(2025, 3, 1), 2025),  # and caught up after it
        (date(2025, 3, 6), 2025),
        (date(2025, 3, 7), None),  # more than a week ago
        (date(2024, 2, 28), None),  # a leap year: the 29th comes tomorrow
        (date(2024, 2, 29), 2024),
        (date(2024, 3, 2), 2024),
    ],
)
def test_29_february_is_celebrated_on_28_february_in_other_years(today, due):
    assert birthdays_due(today).get("02-29") == due


def test_the_scheduler_gives_birthday_bonuses_hourly():
    jobs = {job.name: job for job in standard_jobs(3600, 30)}
    assert "birthdays" in jobs
    assert jobs["birthdays"].run is give_birthday_bonuses
    assert jobs["birthdays"].interval == 3600


async def test_the_birthdays_command_gives_the_bonuses_due(staff, brand, settings, tmp_path):
    """The command runs on its own clock: real time, not the tests' advanced one."""
    await birthday_bonuses(staff)
    member = await staff.register()
    real_today = datetime.now(UTC).astimezone(ZoneInfo(brand.timezone)).date()
    await Member.filter(id=pk(member)).update(birthday=date.fromisoformat(born_on(real_today)))
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("POINTSMALL")},
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "POINTSMALL_REDIS_PREFIX": settings.redis_prefix,
        "POINTSMALL_DATA_DIR": str(tmp_path),
    }
    for expected in (1, 0):
        result = await asyncio.to_thread(
            subprocess.run,
            [str(POINTSMALL), "birthdays", "--brand", brand.code],
            env=environment,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert re.search(rf"\b{expected} members got their birthday bonus", result.stdout), (
            result.stdout
        )
    # Read on the tests' clock, which may be past the expiry of points earned in real time.
    entries = (await ledger_of(staff, member))[1]
    assert [(entry["kind"], entry["points"], entry["version"]) for entry in entries] == [
        ("EARN", 300, 1)
    ]
    assert parts(entries[0]["breakdown"]) == [("tier", 200), ("BDAY", 100)]
