"""Purchases earned by the brand's rules, end to end over GraphQL: base rates per tier and the
tier's multiplier on top, category multipliers, threshold bonuses, campaign windows (evaluated
at the purchase's occurredAt), per-rule and brand caps, points of a rule that expire on their
own, the oldest purchase a brand accepts; and previewEarn, which moves nothing and shows
exactly what the recordPurchase that follows it earns."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.brands import ensure_store
from domain.ledger.audit import audit
from tests.support.factories import Staff
from tests.support.ledger import iso, lots, parse, rolling_expiry, snapshot
from tests.support.rules import RULES, UPDATE_RULE, create_rule, earned, parts, save_tier

SAVE_SETTINGS = """
mutation ($input: EarnSettingsInput!) {
  saveEarnSettings(input: $input) {
    brand { earnCapPerPurchase earnCapPerDay purchaseMaxAgeDays }
    userErrors { field message code }
  }
}
"""


PREVIEW = """
query ($input: PreviewEarnInput!) {
  previewEarn(input: $input) {
    preview { points breakdown { rule description points } expiresAt }
    userErrors { field message code }
  }
}
"""

MEMBER = """
query ($id: ID!) {
  member(id: $id) {
    tier { code }
    points {
      available version lifetimeEarned
      expiring(withinDays: 60) { points expiresAt }
    }
  }
}
"""

ZONE = ZoneInfo("Asia/Shanghai")  # the `brand` fixture's timezone


# Set-up through the API, as the brand's admin would --------------------------------------


async def update_base_rule(staff: Staff, **fields: Any) -> dict:
    body = await staff.gql(RULES, token=staff.token)
    (base,) = [rule for rule in body["data"]["earningRules"] if rule["code"] == "BASE"]
    payload = await staff.call(
        UPDATE_RULE,
        {"id": base["id"], "code": "BASE", "name": "Base rate", "kind": "BASE_RATE", **fields},
    )
    assert payload["userErrors"] == [], payload
    return payload["rule"]


async def save_settings(staff: Staff, **fields: Any) -> dict:
    payload = await staff.call(SAVE_SETTINGS, fields)
    assert payload["userErrors"] == [], payload
    return payload["brand"]


async def preview(staff: Staff, member_id: str | None, total: str, **fields: Any) -> dict:
    """previewEarn's payload; the member is left out when None (a member's own token)."""
    input = {"total": total, **fields}
    if member_id is not None:
        input["memberId"] = member_id
    return await staff.call(PREVIEW, input)


async def shown(staff: Staff, member_id: str) -> dict:
    body = await staff.gql(MEMBER, {"id": member_id}, token=staff.token)
    assert "errors" not in body, body
    return body["data"]["member"]


def moment(value: str | None) -> datetime | None:
    return None if value is None else parse(value)


def local_midnight(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZONE)


# Base rates per tier, and the tier's multiplier on top -----------------------------------


async def test_three_per_hundred_for_everyone_and_five_for_gold_on_the_same_purchase(staff):
    await create_rule(staff, "STANDARD", "BASE_RATE", name="3 per 100", priority=1, rate="0.03")
    await save_tier(staff, "GOLD", "Gold", 1, 100)
    gold_rule = await create_rule(
        staff,
        "GOLD_RATE",
        "BASE_RATE",
        name="5 per 100",
        priority=10,
        rate="0.05",
        tierCodes=["gold"],
    )
    assert gold_rule["tierCodes"] == ["GOLD"]
    regular = await staff.register("Lin")
    gold = await staff.register("Mei")

    # A big purchase at 3 per 100 (120 points) qualifies for Gold (100) at once.
    big = await earned(staff, gold["id"], "4000.00")
    assert parts(big["breakdown"]) == [("STANDARD", 120)]
    assert (await shown(staff, gold["id"]))["tier"] == {"code": "GOLD"}
    assert (await shown(staff, regular["id"]))["tier"] == {"code": "BASE"}

    base_entry = await earned(staff, regular["id"], "268.00")
    assert base_entry["points"] == 8  # 268 x 0.03 = 8.04
    assert base_entry["breakdown"] == [
        {"rule": "STANDARD", "description": "3 points per 100 spent on 268.00", "points": 8}
    ]
    gold_entry = await earned(staff, gold["id"], "268.00")
    assert gold_entry["points"] == 13  # 268 x 0.05 = 13.4: the highest-priority rate only
    assert gold_entry["breakdown"] == [
        {"rule": "GOLD_RATE", "description": "5 points per 100 spent on 268.00", "points": 13}
    ]
    assert (await shown(staff, gold["id"]))["points"]["available"] == 133

    # Gold's x1.5 on top of the rules: floor(13 x 1.5) = 19, the 6 shown as the tier's.
    tier = await save_tier(staff, "GOLD", "Gold", 1, 100, earnMultiplier="1.50")
    assert tier["benefits"]["earnMultiplier"] == "1.50"
    boosted = await earned(staff, gold["id"], "268.00")
    assert boosted["points"] == 19
    assert boosted["breakdown"] == [
        {"rule": "GOLD_RATE", "description": "5 points per 100 spent on 268.00", "points": 13},
        {"rule": "tier", "description": "Gold tier: x1.5", "points": 6},
    ]
    unchanged = await earned(staff, regular["id"], "268.00")
    assert parts(unchanged["breakdown"]) == [("STANDARD", 8)]
    shown_preview = await preview(staff, gold["id"], "268.00")
    assert shown_preview["preview"]["points"] == 19
    assert shown_preview["preview"]["breakdown"] == boosted["breakdown"]


async def test_a_changed_base_rule_and_its_rounding_apply_to_the_next_purchase(staff):
    member = await staff.register()
    assert parts((await earned(staff, member["id"], "10.99"))["breakdown"]) == [("BASE", 10)]
    await update_base_rule(staff, rate="0.5", rounding="NEAREST")
    entry = await earned(staff, member["id"], "10.99")
    assert entry["breakdown"] == [
        {"rule": "BASE", "description": "50 points per 100 spent on 10.99", "points": 5}
    ]  # 5.495 rounds to 5
    assert (await earned(staff, member["id"], "11.00"))["points"] == 6  # 5.5 rounds up
    await update_base_rule(staff, rate="0.5", rounding="UP")
    assert (await earned(staff, member["id"], "10.01"))["points"] == 6  # 5.005 rounded up


# Category multipliers, threshold bonuses -------------------------------------------------


async def test_a_category_multiplier_adds_the_base_rate_again_on_its_lines(staff):
    await create_rule(staff, "BEANS_X3", "CATEGORY_MULTIPLIER", category="beans", multiplier="3")
    member = await staff.register()
    lines = [
        {"sku": "B-1", "category": "beans", "quantity": 2, "unitPrice": "15.50"},
        {"sku": "B-2", "category": "BEANS", "quantity": 1, "unitPrice": "4.00"},
        {"sku": "C-1", "category": "cups", "quantity": 1, "unitPrice": "65.00"},
    ]
    entry = await earned(staff, member["id"], "100.00", lines=lines)
    assert entry["points"] == 170  # 100 + 35 x 1 x (3 - 1)
    assert entry["breakdown"] == [
        {"rule": "BASE", "description": "1 point per 1 spent on 100.00", "points": 100},
        {"rule": "BEANS_X3", "description": "x3 on beans (35.00 spent)", "points": 70},
    ]
    # A discounted total: the lines' 100.00 of beans count for no more than the 20.00 paid.
    discounted = await earned(
        staff,
        member["id"],
        "20.00",
        lines=[{"sku": "B-1", "category": "beans", "quantity": 4, "unitPrice": "25.00"}],
    )
    assert parts(discounted["breakdown"]) == [("BASE", 20), ("BEANS_X3", 40)]
    # No line of the category: nothing extra, and no empty component.
    plain = await earned(
        staff,
        member["id"],
        "30.00",
        lines=[{"sku": "T-1", "category": "tea", "quantity": 1, "unitPrice": "30.00"}],
    )
    assert parts(plain["breakdown"]) == [("BASE", 30)]


async def test_the_highest_threshold_reached_gives_its_bonus(staff):
    await create_rule(staff, "SPEND_200", "THRESHOLD_BONUS", threshold="200", points=20)
    await create_rule(staff, "SPEND_500", "THRESHOLD_BONUS", threshold="500.00", points=80)
    member = await staff.register()
    assert parts((await earned(staff, member["id"], "199.99"))["breakdown"]) == [("BASE", 199)]
    at_200 = await earned(staff, member["id"], "200.00")
    assert at_200["breakdown"] == [
        {"rule": "BASE", "description": "1 point per 1 spent on 200.00", "points": 200},
        {
            "rule": "SPEND_200",
            "description": "Spend 200.00 or more in one purchase",
            "points": 20,
        },
    ]
    big = await earned(staff, member["id"], "750.00")
    assert parts(big["breakdown"]) == [("BASE", 750), ("SPEND_500", 80)]
    assert big["points"] == 830


async def test_a_campaign_multiplies_the_base_and_category_points_only(staff, clock):
    """The engine's rule 4: a campaign multiplies the spend points of rules 1 and 2; the
    threshold bonus (rule 3) is added as it is."""
    now = clock.now()
    await create_rule(staff, "BEANS_X2", "CATEGORY_MULTIPLIER", category="beans", multiplier="2")
    await create_rule(staff, "SPEND_100", "THRESHOLD_BONUS", threshold="100", points=50)
    await create_rule(
        staff,
        "DOUBLE",
        "CAMPAIGN",
        name="Double week",
        multiplier="2",
        startsAt=iso(now - timedelta(days=1)),
        endsAt=iso(now + timedelta(days=7)),
    )
    member = await staff.register()
    lines = [{"sku": "B-1", "category": "beans", "quantity": 1, "unitPrice": "40.00"}]
    entry = await earned(staff, member["id"], "120.00", lines=lines)
    assert entry["breakdown"] == [
        {"rule": "BASE", "description": "1 point per 1 spent on 120.00", "points": 120},
        {"rule": "BEANS_X2", "description": "x2 on beans (40.00 spent)", "points": 40},
        {"rule": "SPEND_100", "description": "Spend 100.00 or more in one purchase", "points": 50},
        {"rule": "DOUBLE", "description": "Double week: x2", "points": 160},
    ]
    assert entry["points"] == 370


# Campaign windows, evaluated at occurredAt -----------------------------------------------


async def test_a_campaign_starting_later_gives_nothing_now_and_applies_in_its_window(staff, clock):
    now = clock.now()
    await create_rule(
        staff,
        "DOUBLE_DAYS",
        "CAMPAIGN",
        name="Double days",
        multiplier="2",
        startsAt=iso(now + timedelta(days=2)),
        endsAt=iso(now + timedelta(days=5)),
    )
    member = await staff.register()
    before = await preview(staff, member["id"], "100.00")
    assert parts(before["preview"]["breakdown"]) == [("BASE", 100)]
    assert parts((await earned(staff, member["id"], "100.00"))["breakdown"]) == [("BASE", 100)]

    clock.advance(timedelta(days=3))
    inside = await preview(staff, member["id"], "100.00")
    assert inside["preview"]["points"] == 200
    entry = await earned(staff, member["id"], "100.00")
    assert entry["breakdown"] == [
        {"rule": "BASE", "description": "1 point per 1 spent on 100.00", "points": 100},
        {"rule": "DOUBLE_DAYS", "description": "Double days: x2", "points": 100},
    ]
    assert entry["breakdown"] == inside["preview"]["breakdown"]
    assert (await shown(staff, member["id"]))["points"]["available"] == 300


async def test_rules_are_evaluated_when_the_purchase_occurred_not_when_it_is_recorded(staff, clock):
    now = clock.now().replace(microsecond=0)
    starts, ends = now - timedelta(days=10), now - timedelta(days=5)
    await create_rule(
        staff,
        "SPRING_FAIR",
        "CAMPAIGN",
        name="Spring fair",
        points=40,
        startsAt=iso(starts),
        endsAt=iso(ends),
    )
    member = await staff.register()
    during = await earned(staff, member["id"], "100.00", occurredAt=iso(now - timedelta(days=7)))
    assert during["breakdown"] == [
        {"rule": "BASE", "description": "1 point per 1 spent on 100.00", "points": 100},
        {"rule": "SPRING_FAIR", "description": "Spring fair", "points": 40},
    ]
    at_start = await earned(staff, member["id"], "10.00", occurredAt=iso(starts))
    assert parts(at_start["breakdown"]) == [("BASE", 10), ("SPRING_FAIR", 40)]
    at_end = await earned(staff, member["id"], "10.00", occurredAt=iso(ends))  # ends exclusive
    assert parts(at_end["breakdown"]) == [("BASE", 10)]
    just_before = await earned(
        staff, member["id"], "10.00", occurredAt=iso(starts - timedelta(seconds=1))
    )
    assert parts(just_before["breakdown"]) == [("BASE", 10)]
    after = await earned(staff, member["id"], "100.00", occurredAt=iso(now - timedelta(days=3)))
    assert parts(after["breakdown"]) == [("BASE", 100)]
    assert parts((await earned(staff, member["id"], "100.00"))["breakdown"]) == [("BASE", 100)]
    # previewEarn evaluates at occurredAt too.
    back_then = await preview(
        staff, member["id"], "100.00", occurredAt=iso(now - timedelta(days=6))
    )
    assert parts(back_then["preview"]["breakdown"]) == [("BASE", 100), ("SPRING_FAIR", 40)]


async def test_a_store_limited_campaign_applies_only_in_its_stores(staff, brand, clock):
    await ensure_store(brand, "SH-01", "Shanghai One")
    await ensure_store(brand, "BJ-01", "Beijing One")
    now = clock.now()
    await create_rule(
        staff,
        "SH_BONUS",
        "CAMPAIGN",
        name="Shanghai opening",
        points=15,
        storeCodes=["SH-01"],
        startsAt=iso(now - timedelta(days=1)),
        endsAt=iso(now + timedelta(days=30)),
    )
    member = await staff.register()
    here = await earned(staff, member["id"], "10.00", storeCode="SH-01")
    assert parts(here["breakdown"]) == [("BASE", 10), ("SH_BONUS", 15)]
    there = await earned(staff, member["id"], "10.00", storeCode="BJ-01")
    assert parts(there["breakdown"]) == [("BASE", 10)]
    nowhere = await earned(staff, member["id"], "10.00")
    assert parts(nowhere["breakdown"]) == [("BASE", 10)]


# Caps -----------------------------------------------------------------------------------


async def test_a_rules_own_cap_cuts_only_its_points(staff):
    await create_rule(
        staff, "BEANS_X5", "CATEGORY_MULTIPLIER", category="beans", multiplier="5", capPoints=50
    )
    member = await staff.register()
    lines = [{"sku": "B-1", "category": "beans", "quantity": 1, "unitPrice": "100.00"}]
    entry = await earned(staff, member["id"], "100.00", lines=lines)
    assert entry["breakdown"] == [
        {"rule": "BASE", "description": "1 point per 1 spent on 100.00", "points": 100},
        {
            "rule": "BEANS_X5",
            "description": "x5 on beans (100.00 spent) (capped at 50)",
            "points": 50,
        },
    ]
    assert entry["points"] == 150
    under = await earned(
        staff,
        member["id"],
        "10.00",
        lines=[{"sku": "B-1", "category": "beans", "quantity": 1, "unitPrice": "10.00"}],
    )
    assert parts(under["breakdown"]) == [("BASE", 10), ("BEANS_X5", 40)]


async def test_the_brands_cap_per_purchase_is_a_negative_component(staff):
    settings_ = await save_settings(staff, earnCapPerPurchase=300)
    assert settings_ == {"earnCapPerPurchase": 300, "earnCapPerDay": None, "purchaseMaxAgeDays": 30}
    member = await staff.register()
    entry = await earned(staff, member["id"], "500.00")
    assert entry["breakdown"] == [
        {"rule": "BASE", "description": "1 point per 1 spent on 500.00", "points": 500},
        {
            "rule": "cap:purchase",
            "description": "Capped at 300 points per purchase",
            "points": -200,
        },
    ]
    assert (entry["points"], entry["balanceAfter"]) == (300, 300)
    assert parts((await earned(staff, member["id"], "300.00"))["breakdown"]) == [("BASE", 300)]
    assert (await shown(staff, member["id"]))["points"]["available"] == 600


async def test_the_brands_cap_per_day_cuts_the_second_purchase_of_the_day(staff, brand, clock):
    await save_settings(staff, earnCapPerDay=250)
    member = await staff.register()
    at = iso(clock.now() - timedelta(minutes=1))
    first = await earned(staff, member["id"], "200.00", occurredAt=at)
    assert parts(first["breakdown"]) == [("BASE", 200)]
    second = await earned(staff, member["id"], "120.00", occurredAt=at)
    assert second["breakdown"] == [
        {"rule": "BASE", "description": "1 point per 1 spent on 120.00", "points": 120},
        {"rule": "cap:day", "description": "Capped at 250 points per day", "points": -70},
    ]
    assert (second["points"], second["balanceAfter"]) == (50, 250)
    third = await earned(staff, member["id"], "30.00", occurredAt=at)
    assert parts(third["breakdown"]) == [("BASE", 30), ("cap:day", -30)]
    assert (third["points"], third["expiresAt"]) == (0, None)
    # The day is the brand's day of the purchase: one from the day before has its own cap.
    yesterday = await earned(
        staff, member["id"], "300.00", occurredAt=iso(clock.now() - timedelta(days=1, minutes=1))
    )
    assert parts(yesterday["breakdown"]) == [("BASE", 300), ("cap:day", -50)]
    assert (await shown(staff, member["id"]))["points"]["available"] == 500
    assert await audit(brand_id=brand.id) == []


async def test_both_brand_caps_and_a_preview_of_what_is_left_today(staff, clock):
    await save_settings(staff, earnCapPerPurchase=150, earnCapPerDay=200)
    member = await staff.register()
    at = iso(clock.now() - timedelta(minutes=1))
    first = await earned(staff, member["id"], "180.00", occurredAt=at)
    assert parts(first["breakdown"]) == [("BASE", 180), ("cap:purchase", -30)]
    shown_preview = (await preview(staff, member["id"], "180.00", occurredAt=at))["preview"]
    assert parts(shown_preview["breakdown"]) == [
        ("BASE", 180),
        ("cap:purchase", -30),
        ("cap:day", -100),
    ]
    assert shown_preview["points"] == 50
    second = await earned(staff, member["id"], "180.00", occurredAt=at)
    assert second["breakdown"] == shown_preview["breakdown"]
    assert second["points"] == 50


# Points of a rule that expire on their own ------------------------------------------------


async def test_a_rules_own_expiry_puts_its_points_in_a_lot_that_expires_first(staff, clock):
    await create_rule(
        staff, "FIRST", "FIRST_PURCHASE_BONUS", name="First purchase", points=30, expiryDays=3
    )
    member = await staff.register()
    occurred = clock.now() - timedelta(minutes=1)
    earn_day = occurred.astimezone(ZONE).date()
    short_expiry = local_midnight(earn_day + timedelta(days=4))  # the end of the third day after
    default_expiry = rolling_expiry(occurred, 24, "Asia/Shanghai")

    previewed = (await preview(staff, member["id"], "100.00", occurredAt=iso(occurred)))["preview"]
    entry = await earned(staff, member["id"], "100.00", occurredAt=iso(occurred))
    assert entry["breakdown"] == [
        {"rule": "BASE", "description": "1 point per 1 spent on 100.00", "points": 100},
        {"rule": "FIRST", "description": "First purchase", "points": 30},
    ]
    assert entry["points"] == 130
    assert parse(entry["expiresAt"]) == short_expiry
    assert moment(previewed["expiresAt"]) == short_expiry
    assert sorted((lot.expires_at, lot.points) for lot in await lots(member["id"])) == [
        (short_expiry, 30),
        (default_expiry, 100),
    ]
    before = (await shown(staff, member["id"]))["points"]
    assert before["available"] == 130
    assert [(row["points"], parse(row["expiresAt"])) for row in before["expiring"]] == [
        (30, short_expiry)
    ]
    # The second purchase gets no first-purchase bonus, and so no short-lived lot.
    second = await earned(staff, member["id"], "10.00")
    assert parts(second["breakdown"]) == [("BASE", 10)]

    clock.advance(short_expiry - clock.now() - timedelta(minutes=1))
    assert (await shown(staff, member["id"]))["points"]["available"] == 140
    clock.advance(timedelta(minutes=2))
    after = (await shown(staff, member["id"]))["points"]
    assert after["available"] == 110  # exactly the bonus's 30 gone
    assert after["lifetimeEarned"] == 140
    assert after["expiring"] == []


async def test_a_cut_is_taken_from_the_points_that_expire_first(staff, clock):
    await create_rule(
        staff, "FIRST", "FIRST_PURCHASE_BONUS", name="First purchase", points=30, expiryDays=2
    )
    await save_settings(staff, earnCapPerPurchase=110)
    member = await staff.register()
    occurred = clock.now() - timedelta(minutes=1)
    short_expiry = local_midnight(occurred.astimezone(ZONE).date() + timedelta(days=3))
    entry = await earned(staff, member["id"], "100.00", occurredAt=iso(occurred))
    assert parts(entry["breakdown"]) == [("BASE", 100), ("FIRST", 30), ("cap:purchase", -20)]
    assert entry["points"] == 110
    assert parse(entry["expiresAt"]) == short_expiry
    assert sorted(lot.points for lot in await lots(member["id"])) == [10, 100]
    clock.advance(short_expiry - clock.now() + timedelta(minutes=1))
    assert (await shown(staff, member["id"]))["points"]["available"] == 100


# The oldest purchase a brand accepts ------------------------------------------------------


async def test_a_purchase_older_than_the_brands_max_age_is_refused(staff, clock):
    assert (await save_settings(staff, purchaseMaxAgeDays=7))["purchaseMaxAgeDays"] == 7
    member = await staff.register()
    before = await snapshot(member["id"])
    too_old = iso(clock.now() - timedelta(days=8))
    refused = await staff.purchase(member["id"], "10.00", occurredAt=too_old)
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("INVALID_INPUT", ["occurredAt"])
    ]
    assert "7 days" in refused["userErrors"][0]["message"]
    assert refused["entry"] is None
    assert await snapshot(member["id"]) == before
    not_shown = await preview(staff, member["id"], "10.00", occurredAt=too_old)
    assert not_shown["preview"] is None
    assert [(e["code"], e["field"]) for e in not_shown["userErrors"]] == [
        ("INVALID_INPUT", ["occurredAt"])
    ]
    accepted = await earned(
        staff, member["id"], "10.00", occurredAt=iso(clock.now() - timedelta(days=6))
    )
    assert accepted["points"] == 10


# previewEarn -----------------------------------------------------------------------------


async def test_a_preview_moves_nothing_and_equals_the_purchase_that_follows(staff, brand, clock):
    await ensure_store(brand, "SH-01", "Shanghai One")
    await create_rule(staff, "BEANS_X2", "CATEGORY_MULTIPLIER", category="beans", multiplier="2")
    await create_rule(staff, "SPEND_50", "THRESHOLD_BONUS", threshold="50", points=5)
    await create_rule(
        staff, "FIRST", "FIRST_PURCHASE_BONUS", name="Welcome order", points=25, expiryDays=10
    )
    member = await staff.register()
    await staff.adjust(member["id"], 7)
    before = await snapshot(member["id"])
    version = (await shown(staff, member["id"]))["points"]["version"]
    purchase = {
        "total": "80.00",
        "storeCode": "SH-01",
        "occurredAt": iso(clock.now() - timedelta(minutes=5)),
        "lines": [{"sku": "B-1", "category": "beans", "quantity": 3, "unitPrice": "12.00"}],
    }
    first_look = (await preview(staff, member["id"], **purchase))["preview"]
    second_look = (await preview(staff, member["id"], **purchase))["preview"]
    assert first_look == second_look  # the first preview did not spend the first-purchase bonus
    assert await snapshot(member["id"]) == before
    assert (await shown(staff, member["id"]))["points"]["version"] == version
    assert first_look["breakdown"] == [
        {"rule": "BASE", "description": "1 point per 1 spent on 80.00", "points": 80},
        {"rule": "BEANS_X2", "description": "x2 on beans (36.00 spent)", "points": 36},
        {"rule": "SPEND_50", "description": "Spend 50.00 or more in one purchase", "points": 5},
        {"rule": "FIRST", "description": "Welcome order", "points": 25},
    ]
    assert first_look["points"] == 146

    entry = await earned(staff, member["id"], **purchase)
    assert entry["points"] == first_look["points"]
    assert entry["breakdown"] == first_look["breakdown"]
    assert parse(entry["expiresAt"]) == parse(first_look["expiresAt"])
    assert (entry["balanceAfter"], entry["version"]) == (153, version + 1)
    again = (await preview(staff, member["id"], **purchase))["preview"]
    assert parts(again["breakdown"]) == [("BASE", 80), ("BEANS_X2", 36), ("SPEND_50", 5)]


async def test_a_member_previews_for_themselves_but_not_for_another(staff, brand, gql, make_token):
    await create_rule(staff, "SPEND_100", "THRESHOLD_BONUS", threshold="100", points=10)
    member = await staff.register("Ada")
    other = await staff.register("Bob")
    await staff.purchase(other["id"], "10.00")
    as_member = Staff(gql, make_token(brand, "MEMBER", member["id"]))
    mine = await preview(as_member, None, "120.00")
    assert mine["userErrors"] == []
    assert parts(mine["preview"]["breakdown"]) == [("BASE", 120), ("SPEND_100", 10)]
    assert mine["preview"]["points"] == 130
    named = await preview(as_member, member["id"], "120.00")
    assert named == mine

    before = await snapshot(other["id"])
    body = await gql(
        PREVIEW,
        {"input": {"memberId": other["id"], "total": "120.00"}},
        token=as_member.token,
    )
    assert body["data"] is None
    assert [error["extensions"]["code"] for error in body["errors"]] == ["FORBIDDEN"]
    assert await snapshot(other["id"]) == before

    # Staff name the member; without one there is no one to preview for.
    body = await gql(PREVIEW, {"input": {"total": "120.00"}}, token=staff.token)
    assert [error["extensions"]["code"] for error in body["errors"]] == ["FORBIDDEN"]
    body = await gql(
        PREVIEW,
        {"input": {"memberId": member["id"], "total": "120.00"}},
        token=make_token(brand, "ANALYST", "analyst-1"),
    )
    assert [error["extensions"]["code"] for error in body["errors"]] == ["FORBIDDEN"]


@pytest.mark.parametrize("total", ["0", "0.00", "-1.00", "1000000000.01"])
async def test_a_preview_of_a_bad_total_is_a_user_error(staff, total):
    member = await staff.register()
    refused = await preview(staff, member["id"], total)
    assert refused["preview"] is None
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("INVALID_INPUT", ["total"])
    ]


async def test_a_preview_of_an_unknown_store_is_a_user_error(staff):
    member = await staff.register()
    refused = await preview(staff, member["id"], "10.00", storeCode="NOPE")
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("NOT_FOUND", ["storeCode"])
    ]


@pytest.mark.parametrize("status", ["FROZEN", "CLOSED"])
async def test_a_frozen_or_closed_member_gets_no_preview_as_they_would_earn_nothing(staff, status):
    member = await staff.register()
    await staff.set_status(member["id"], status)
    refused = await preview(staff, member["id"], "100.00")
    assert refused["preview"] is None
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("MEMBER_FROZEN", ["memberId"])
    ]


async def test_a_preview_shows_the_expiry_of_the_points_left_after_a_shortfall(staff, clock):
    """A refund of spent points leaves a shortfall; the next earn pays it off from the points
    that expire first. The preview's expiresAt must be the entry's."""
    await create_rule(staff, "SPEND_50", "THRESHOLD_BONUS", threshold="50", points=5, expiryDays=3)
    member = await staff.register()
    await earned(staff, member["id"], "40.00", orderRef="SPENT")
    await staff.adjust(member["id"], -40)
    reversed_ = await staff.reverse(member["id"], "SPENT")
    assert reversed_["entry"]["shortfall"] == 40
    occurred = iso(clock.now() - timedelta(minutes=1))
    shown_preview = (await preview(staff, member["id"], "60.00", occurredAt=occurred))["preview"]
    entry = await earned(staff, member["id"], "60.00", occurredAt=occurred)
    assert parts(entry["breakdown"]) == [("BASE", 60), ("SPEND_50", 5), ("shortfall", -40)]
    assert entry["points"] == shown_preview["points"] == 25
    assert entry["breakdown"] == shown_preview["breakdown"]
    # The shortfall took the 5 short-lived points first: the 25 left all have the default expiry.
    assert parse(entry["expiresAt"]) == rolling_expiry(parse(occurred), 24, "Asia/Shanghai")
    assert moment(shown_preview["expiresAt"]) == parse(entry["expiresAt"])


# Preview and earn agree, whatever the purchase -------------------------------------------

CATEGORIES = ("beans", "cups", "tea")
STORES = ("SH-01", "BJ-01", "ONLINE")  # the campaign's store first: Hypothesis favours it
CAP_PER_PURCHASE = 1000
CAP_PER_DAY = 1500

money_ = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("2000"), places=2)
lines_ = st.lists(
    st.tuples(
        st.sampled_from(CATEGORIES),
        st.integers(min_value=1, max_value=3),
        st.decimals(min_value=Decimal("0"), max_value=Decimal("400"), places=2),
    ),
    max_size=4,
)
purchases_ = st.lists(
    st.tuples(money_, lines_, st.sampled_from((*STORES, None))), min_size=1, max_size=3
)

HYPOTHESIS_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.timeout(600)
async def test_preview_and_earn_agree_for_any_purchase(staff, brand, clock):
    now = clock.now()
    for code in STORES:
        await ensure_store(brand, code, f"Store {code}")
    await update_base_rule(staff, rate="0.5", rounding="NEAREST")
    await save_tier(staff, "BASE", "Member", 0, 0, earnMultiplier="1.25")
    await create_rule(
        staff, "BEANS_X3", "CATEGORY_MULTIPLIER", category="beans", multiplier="3", capPoints=400
    )
    await create_rule(staff, "SPEND_300", "THRESHOLD_BONUS", threshold="300", points=25)
    await create_rule(
        staff, "SPEND_800", "THRESHOLD_BONUS", threshold="800", points=90, expiryDays=14
    )
    await create_rule(
        staff,
        "SH_DOUBLE",
        "CAMPAIGN",
        name="Shanghai double",
        multiplier="2",
        capPoints=200,
        storeCodes=["SH-01"],
        startsAt=iso(now - timedelta(days=1)),
        endsAt=iso(now + timedelta(days=30)),
    )
    await create_rule(
        staff, "FIRST", "FIRST_PURCHASE_BONUS", name="First order", points=30, expiryDays=5
    )
    await save_settings(staff, earnCapPerPurchase=CAP_PER_PURCHASE, earnCapPerDay=CAP_PER_DAY)
    loop = asyncio.get_running_loop()

    def run(coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(60)

    async def example(purchases) -> None:
        """Preview, then record, each purchase for a new member."""
        member = await staff.register()
        at = iso(clock.now() - timedelta(minutes=1))  # one brand day for every purchase
        earned_today = 0
        for number, (total, lines, store) in enumerate(purchases):
            purchase = {
                "total": f"{total:.2f}",
                "storeCode": store,
                "occurredAt": at,
                "lines": [
                    {"sku": f"S-{i}", "category": c, "quantity": q, "unitPrice": f"{p:.2f}"}
                    for i, (c, q, p) in enumerate(lines)
                ],
            }
            before = await snapshot(member["id"])
            previewed = await preview(staff, member["id"], **purchase)
            assert previewed["userErrors"] == [], previewed
            assert await snapshot(member["id"]) == before
            entry = await earned(staff, member["id"], **purchase)
            shown_preview = previewed["preview"]
            assert entry["points"] == shown_preview["points"]
            assert entry["breakdown"] == shown_preview["breakdown"]
            assert moment(entry["expiresAt"]) == moment(shown_preview["expiresAt"])
            rules = [part["rule"] for part in entry["breakdown"]]
            assert ("FIRST" in rules) == (number == 0)
            assert ("SH_DOUBLE" in rules) <= (store == "SH-01")
            assert 0 <= entry["points"] <= CAP_PER_PURCHASE
            earned_today += entry["points"]
            assert earned_today <= CAP_PER_DAY
        assert (await shown(staff, member["id"]))["points"]["available"] == earned_today

    @HYPOTHESIS_SETTINGS
    @given(purchases=purchases_)
    def agree(purchases) -> None:
        run(example(purchases))

    await asyncio.to_thread(agree)
    assert await audit(brand_id=brand.id) == []
