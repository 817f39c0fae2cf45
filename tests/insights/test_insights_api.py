"""The brand's insights over GraphQL: who may read them, and figures that follow the ledger."""

from __future__ import annotations

from datetime import timedelta

from domain.insights.reports import refresh_segments
from domain.insights.rollups import roll_up

INSIGHTS = """
query ($from: Date!, $to: Date!) {
  insights {
    currency pointValue rolledUpAt
    liability { asOf points amount byExpiryMonth { month points amount } }
    expiringForecast(months: 3) { month points }
    breakage(from: $from, to: $to) { earned expired rate }
    earnBurn(from: $from, to: $to, groupBy: DAY) { key earned redeemed expired adjusted reversed }
    byRule: earnBurn(from: $from, to: $to, groupBy: RULE) { key label earned }
    members(from: $from, to: $to) { active new tiers { tierCode members } }
    redemptions(from: $from, to: $to) { items { sku units points } categories { category units } }
    segments { segments { segment members } }
    highValueMembers(first: 5) { edges { node { spend purchases segment member { id } } } }
  }
}
"""


async def test_analysts_and_admins_read_the_figures_others_may_not(
    gql, staff, brand, make_token, member_with_points, runtime, clock
):
    member, _token = await member_with_points(300)
    await staff.adjust(member["id"], -50)
    await roll_up(runtime)
    await refresh_segments(runtime)
    today = clock.now().astimezone(__import__("zoneinfo").ZoneInfo(brand.timezone)).date()
    period = {"from": str(today - timedelta(days=1)), "to": str(today)}
    for role in ("ANALYST", "ADMIN"):
        body = await gql(INSIGHTS, period, token=make_token(brand, role, "reader"))
        assert "errors" not in body, body
        insights = body["data"]["insights"]
        assert insights["liability"]["points"] == 250
        assert sum(m["points"] for m in insights["liability"]["byExpiryMonth"]) == 250
        assert sum(row["earned"] for row in insights["earnBurn"]) == 300
        assert sum(row["adjusted"] for row in insights["earnBurn"]) == -50
        assert insights["breakage"] == {"earned": 300, "expired": 0, "rate": 0.0}
        assert insights["members"]["active"] == 1 and insights["members"]["new"] == 1
        assert insights["byRule"] and sum(r["earned"] for r in insights["byRule"]) == 300
        (scored,) = insights["highValueMembers"]["edges"]
        assert scored["node"]["member"]["id"] == member["id"]
    for role in ("STAFF", "MEMBER"):
        subject = member["id"] if role == "MEMBER" else "clerk"
        body = await gql(INSIGHTS, period, token=make_token(brand, role, subject))
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
