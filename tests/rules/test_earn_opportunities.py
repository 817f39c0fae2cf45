"""me.earnOpportunities: what a member can earn now, with the limits they have left, never
revealing a rule of another tier or one whose window has not opened."""

from __future__ import annotations

from datetime import timedelta

from domain.brands import ensure_store

CREATE_RULE = """
mutation ($input: EarningRuleInput!) {
  createEarningRule(input: $input) { rule { id } userErrors { field message code } }
}
"""
SAVE_TIER = """
mutation ($input: SaveTierInput!) {
  saveTier(input: $input) { tier { code } userErrors { field message code } }
}
"""
COMPLETE_TASK = """
mutation ($input: CompleteTaskInput!) {
  completeTask(input: $input) { entry { points } userErrors { code } }
}
"""
OPPORTUNITIES = """
{
  me {
    earnOpportunities {
      kind code description points rate multiplier category threshold taskCode proof
      storeCodes leftToday leftEver purchasesToGo
    }
  }
}
"""


async def rule(staff, code: str, kind: str, **fields) -> None:
    payload = await staff.call(CREATE_RULE, {"code": code, "name": code.title(), "kind": kind,
                                             **fields})  # fmt: skip
    assert payload["userErrors"] == [], payload


async def seen(gql, token: str) -> dict[str, dict]:
    body = await gql(OPPORTUNITIES, token=token)
    assert "errors" not in body, body
    return {o["code"]: o for o in body["data"]["me"]["earnOpportunities"]}


async def test_a_member_sees_what_they_can_earn_now_and_nothing_of_other_tiers(
    staff, brand, gql, make_token, clock
):
    payload = await staff.call(
        SAVE_TIER, {"code": "GOLD", "name": "Gold", "rank": 1, "qualifyingPoints": 1000}
    )
    assert payload["userErrors"] == [], payload
    await ensure_store(brand, "SH-01", "Shanghai One")
    now = clock.now()
    await rule(staff, "GOLD_RATE", "BASE_RATE", rate="3", priority=10, tierCodes=["GOLD"])
    await rule(staff, "COFFEE", "CATEGORY_MULTIPLIER", category="coffee", multiplier="2")
    await rule(staff, "BIG_SPEND", "THRESHOLD_BONUS", threshold="500", points=80)
    await rule(staff, "LATER", "CAMPAIGN", points=40,
               startsAt=(now + timedelta(days=2)).isoformat(),
               endsAt=(now + timedelta(days=9)).isoformat())  # fmt: skip
    await rule(staff, "SHOP_WEEK", "CAMPAIGN", multiplier="1.5", storeCodes=["SH-01"],
               startsAt=(now - timedelta(days=1)).isoformat(),
               endsAt=(now + timedelta(days=6)).isoformat())  # fmt: skip
    await rule(staff, "WELCOME_BUY", "FIRST_PURCHASE_BONUS", points=100)
    await rule(staff, "THIRD", "PURCHASE_COUNT", nthPurchase=3, points=30)
    await rule(staff, "SIGN_IN", "TASK", taskCode="SIGN_IN", points=5, dailyLimit=1,
               lifetimeLimit=3)  # fmt: skip
    await rule(staff, "REVIEW", "TASK", taskCode="REVIEW", points=20, proof="SIGNED",
               lifetimeLimit=1)  # fmt: skip
    member = await staff.register()
    token = make_token(brand, "MEMBER", member["id"])

    shown = await seen(gql, token)
    assert "GOLD_RATE" not in shown and "LATER" not in shown
    base = [o for o in shown.values() if o["kind"] == "BASE_RATE"]
    assert [(o["rate"], o["description"]) for o in base] == [("1.00", "1 point per 1 spent")]
    assert shown["COFFEE"]["multiplier"] == "2.00" and shown["COFFEE"]["category"] == "coffee"
    assert (shown["BIG_SPEND"]["threshold"], shown["BIG_SPEND"]["points"]) == ("500.00", 80)
    assert shown["SHOP_WEEK"]["storeCodes"] == ["SH-01"]
    assert shown["WELCOME_BUY"]["points"] == 100
    assert (shown["THIRD"]["purchasesToGo"], shown["THIRD"]["description"]) == (
        3,
        "30 points in 3 purchases",
    )
    assert (shown["SIGN_IN"]["leftToday"], shown["SIGN_IN"]["leftEver"]) == (1, 3)
    assert (shown["REVIEW"]["proof"], shown["REVIEW"]["leftEver"]) == ("SIGNED", 1)

    await staff.purchase(member["id"], "10.00")
    done = await staff.call(COMPLETE_TASK, {"taskCode": "SIGN_IN", "memberId": member["id"]})
    assert done["userErrors"] == [], done
    shown = await seen(gql, token)
    assert "WELCOME_BUY" not in shown  # their first purchase is behind them
    assert shown["THIRD"]["purchasesToGo"] == 2
    assert (shown["SIGN_IN"]["leftToday"], shown["SIGN_IN"]["leftEver"]) == (0, 2)

    await staff.purchase(member["id"], "1000.00")  # Gold at once
    shown = await seen(gql, token)
    base = [o["code"] for o in shown.values() if o["kind"] == "BASE_RATE"]
    assert base == ["GOLD_RATE"]  # base rates do not stack: only the one they earn by
    assert shown["THIRD"]["purchasesToGo"] == 1


async def test_staff_see_a_members_opportunities(staff, gql):
    member = await staff.register()
    body = await gql(
        "query ($id: ID!) { member(id: $id) { earnOpportunities { kind } } }",
        {"id": member["id"]},
        token=staff.token,
    )
    assert [o["kind"] for o in body["data"]["member"]["earnOpportunities"]] == ["BASE_RATE"]
