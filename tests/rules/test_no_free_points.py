"""No free points: a referral bonus goes back when the first purchase it rewarded is refunded
in full, and a birthday given recently is not celebrated (nor twice a year)."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from domain.rules.birthdays import give_birthday_bonuses
from tests.support.factories import key

CREATE_RULE = """
mutation ($input: EarningRuleInput!) {
  createEarningRule(input: $input) { rule { code } userErrors { code field message } }
}
"""
SAVE_TIER = """
mutation ($input: SaveTierInput!) { saveTier(input: $input) { userErrors { code field } } }
"""
PROFILE = """
mutation ($input: UpdateMyProfileInput!) {
  updateMyProfile(input: $input) { member { birthday } userErrors { code field } }
}
"""
LEDGER = """
query ($id: ID!) { member(id: $id) { points { available }
  ledger(first: 10) { edges { node { kind points description shortfall } } } } }
"""


async def referral(staff) -> None:
    payload = await staff.call(
        CREATE_RULE,
        {"code": "REFER", "kind": "REFERRAL_BONUS", "name": "Invite a friend", "points": 30,
         "referrerPoints": 70},
    )  # fmt: skip
    assert payload["userErrors"] == [], payload


async def ledger_of(gql, staff, member: dict) -> dict:
    body = await gql(LEDGER, {"id": member["id"]}, token=staff.token)
    assert "errors" not in body, body
    return body["data"]["member"]


async def test_a_refunded_first_purchase_takes_the_referrers_bonus_back(staff, gql):
    await referral(staff)
    ada = await staff.register("Ada")
    bea = await staff.register("Bea", referralCode=ada["referralCode"])
    first = await staff.purchase(bea["id"], "20.00", orderRef="first")
    assert first["userErrors"] == []
    assert (await ledger_of(gql, staff, ada))["points"]["available"] == 70

    await staff.reverse(bea["id"], "first", "10.00")  # half: the purchase still stands
    assert (await ledger_of(gql, staff, ada))["points"]["available"] == 70

    await staff.reverse(bea["id"], "first")  # the rest: the first purchase is undone
    referrer = await ledger_of(gql, staff, ada)
    assert referrer["points"]["available"] == 0
    latest = referrer["ledger"]["edges"][0]["node"]
    assert (latest["kind"], latest["points"]) == ("REVERSAL", -70)
    assert "Bea's first purchase was refunded" in latest["description"]

    second = await staff.purchase(bea["id"], "20.00", orderRef="second")  # not a first one
    assert second["userErrors"] == []
    await staff.reverse(bea["id"], "second")
    assert (await ledger_of(gql, staff, ada))["points"]["available"] == 0


async def test_a_referrer_who_spent_the_bonus_owes_it(staff, gql):
    await referral(staff)
    ada = await staff.register("Ada")
    bea = await staff.register("Bea", referralCode=ada["referralCode"])
    await staff.purchase(bea["id"], "20.00", orderRef="first")
    await staff.adjust(ada["id"], -50, "spent most of it")
    await staff.reverse(bea["id"], "first")
    referrer = await ledger_of(gql, staff, ada)
    reversal = referrer["ledger"]["edges"][0]["node"]
    assert (reversal["kind"], reversal["points"], reversal["shortfall"]) == ("REVERSAL", -20, 50)
    assert referrer["points"]["available"] == 0
    await staff.purchase(ada["id"], "80.00")  # pays what is owed first
    assert (await ledger_of(gql, staff, ada))["points"]["available"] == 30


def local_today(brand, clock) -> date:
    return clock.now().astimezone(ZoneInfo(brand.timezone)).date()


def born_on(day: date) -> str:
    return date(2000, day.month, day.day).isoformat()


async def test_a_birthday_set_to_today_pays_nothing_until_a_year_on(
    staff, gql, brand, clock, runtime, make_token
):
    await staff.call(SAVE_TIER, {"code": "BASE", "name": "Member", "rank": 0,
                                 "qualifyingPoints": 0, "birthdayBonusPoints": 200})  # fmt: skip
    member = await staff.register("Ada")
    token = make_token(brand, "MEMBER", member["id"])
    today = local_today(brand, clock)
    changed = await gql(
        PROFILE, {"input": {"birthday": born_on(today), "idempotencyKey": key()}}, token=token
    )
    assert changed["data"]["updateMyProfile"]["userErrors"] == []
    assert await give_birthday_bonuses(runtime, brand_code=brand.code) == 0

    registered = await staff.register("Bea", birthday=born_on(today))  # given at registration
    assert await give_birthday_bonuses(runtime, brand_code=brand.code) == 0
    assert (await ledger_of(gql, staff, registered))["points"]["available"] == 0

    clock.advance(timedelta(days=365))
    if (local_today(brand, clock).month, local_today(brand, clock).day) != (today.month, today.day):
        clock.advance(timedelta(days=1))  # a 29 February between: the same day next year
    assert await give_birthday_bonuses(runtime, brand_code=brand.code) == 2
    assert await give_birthday_bonuses(runtime, brand_code=brand.code) == 0  # once a year
    assert (await ledger_of(gql, staff, member))["points"]["available"] == 200
