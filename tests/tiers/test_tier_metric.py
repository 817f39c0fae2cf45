"""A brand's tiers may qualify on points (the default), on money spent or on purchases, over its
window: the upgrade comes at once, refunds count at the evaluation, and tierProgress speaks the
brand's metric."""

from __future__ import annotations

import pytest

from domain.tiers import evaluate_tiers
from tests.support.factories import key

SETTINGS = """
mutation ($input: UpdateBrandSettingsInput!) {
  updateBrandSettings(input: $input) { settings { tierMetric } userErrors { field code } }
}
"""
SAVE_TIER = """
mutation ($input: SaveTierInput!) {
  saveTier(input: $input) { tier { code } userErrors { field code } }
}
"""
PROGRESS = """
query ($id: ID!) {
  member(id: $id) {
    tier { code }
    tierProgress { metric qualifying toNext next { code } qualifyingPoints pointsToNext }
  }
}
"""


async def qualify_on(staff, metric: str, gold: int) -> None:
    chosen = await staff.call(SETTINGS, {"tierMetric": metric})
    assert chosen == {"settings": {"tierMetric": metric}, "userErrors": []}
    saved = await staff.call(
        SAVE_TIER, {"code": "GOLD", "name": "Gold", "rank": 1, "qualifyingPoints": gold}
    )
    assert saved["userErrors"] == [], saved


async def standing(staff, member: dict) -> tuple[str, dict]:
    body = await staff.gql(PROGRESS, {"id": member["id"]}, token=staff.token)
    found = body["data"]["member"]
    return found["tier"]["code"], found["tierProgress"]


async def test_tiers_on_spend_upgrade_at_once_and_count_refunds_at_the_evaluation(
    staff, brand, runtime
):
    await qualify_on(staff, "SPEND", 500)
    member = await staff.register()
    await staff.purchase(member["id"], "300.80", orderRef="FIRST")
    tier, progress = await standing(staff, member)
    assert tier == "BASE"
    assert (progress["metric"], progress["qualifying"], progress["toNext"]) == ("SPEND", 300, 200)
    # The deprecated names say the same, for clients that still read them.
    assert (progress["qualifyingPoints"], progress["pointsToNext"]) == (300, 200)

    await staff.purchase(member["id"], "250.00", orderRef="SECOND")
    tier, progress = await standing(staff, member)
    assert (tier, progress["qualifying"], progress["next"]) == ("GOLD", 550, None)

    await staff.reverse(member["id"], "SECOND", "100.00")
    assert (await standing(staff, member))[0] == "GOLD"  # until the evaluation
    assert await evaluate_tiers(runtime, brand_code=brand.code) == 1
    tier, progress = await standing(staff, member)
    assert (tier, progress["qualifying"]) == ("BASE", 450)


async def test_tiers_on_purchases_count_those_not_refunded_in_full(staff, brand, runtime):
    await qualify_on(staff, "PURCHASES", 3)
    member = await staff.register()
    for number in range(3):
        await staff.purchase(member["id"], "1.00", orderRef=f"P{number}")
    tier, progress = await standing(staff, member)
    assert (tier, progress["metric"], progress["qualifying"]) == ("GOLD", "PURCHASES", 3)
    await staff.reverse(member["id"], "P1", "0.50")  # in part: it still counts
    assert await evaluate_tiers(runtime, brand_code=brand.code) == 0
    await staff.reverse(member["id"], "P1")  # in full: it does not
    assert await evaluate_tiers(runtime, brand_code=brand.code) == 1
    assert (await standing(staff, member))[0] == "BASE"


@pytest.mark.parametrize("metric", ["VISITS", None])
async def test_the_metric_is_one_of_the_three(staff, gql, metric):
    body = await gql(
        SETTINGS, {"input": {"tierMetric": metric, "idempotencyKey": key()}}, token=staff.token
    )
    if metric is None:
        refused = body["data"]["updateBrandSettings"]["userErrors"]
        assert refused == [{"field": ["input", "tierMetric"], "code": "INVALID_INPUT"}]
    else:
        assert "errors" in body  # not a value of the enum: the document is invalid
