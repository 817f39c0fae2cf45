"""Earning rules and tiers set up through the API, as the brand's admin would, and purchases
checked to have earned."""

from __future__ import annotations

from typing import Any

from tests.support.factories import Staff

CREATE_RULE = """
mutation ($input: EarningRuleInput!) {
  createEarningRule(input: $input) {
    rule { id code kind priority rate tierCodes storeCodes capPoints expiryDays }
    userErrors { field message code }
  }
}
"""

UPDATE_RULE = """
mutation ($input: UpdateEarningRuleInput!) {
  updateEarningRule(input: $input) { rule { id code rate } userErrors { field message code } }
}
"""

RULES = """
query { earningRules(kind: BASE_RATE) { id code rate priority } }
"""

SAVE_TIER = """
mutation ($input: SaveTierInput!) {
  saveTier(input: $input) {
    tier { code rank qualifyingPoints benefits { earnMultiplier } }
    userErrors { field message code }
  }
}
"""


async def create_rule(staff: Staff, code: str, kind: str, **fields: Any) -> dict:
    """A rule of `kind` named after its code unless told; the rule as created."""
    payload = await staff.call(
        CREATE_RULE,
        {"code": code, "name": fields.pop("name", code.title()), "kind": kind, **fields},
    )
    assert payload["userErrors"] == [], payload
    return payload["rule"]


async def save_tier(staff: Staff, code: str, name: str, rank: int, qualifying: int, **fields):
    """A tier from `qualifying` points, created or changed; the tier as saved."""
    payload = await staff.call(
        SAVE_TIER,
        {"code": code, "name": name, "rank": rank, "qualifyingPoints": qualifying, **fields},
    )
    assert payload["userErrors"] == [], payload
    return payload["tier"]


async def earned(staff: Staff, member_id: str, total: str, **fields: Any) -> dict:
    """recordPurchase's entry, checked to have been accepted and to add up."""
    payload = await staff.purchase(member_id, total, **fields)
    assert payload["userErrors"] == [], payload
    entry = payload["entry"]
    assert entry["kind"] == "EARN"
    assert sum(part["points"] for part in entry["breakdown"]) == entry["points"], entry
    return entry


def parts(breakdown: list[dict]) -> list[tuple[str, int]]:
    """(rule, points) of each part of an entry's breakdown."""
    return [(part["rule"], part["points"]) for part in breakdown]
