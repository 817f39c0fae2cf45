"""saveTier: admins shape their brand's tiers; the ladder stays in order."""

from __future__ import annotations

import pytest

from tests.support.factories import key

SAVE_TIER = """
mutation ($input: SaveTierInput!) {
  saveTier(input: $input) {
    tier { code name rank qualifyingPoints benefits { earnMultiplier discountPercent } }
    userErrors { field code }
  }
}
"""
TIERS = "{ tiers { code rank qualifyingPoints } }"


async def save(gql, token: str, **fields) -> dict:
    tier = {"code": "SILVER", "name": "Silver", "rank": 1, "qualifyingPoints": 1000,
            "idempotencyKey": key(), **fields}  # fmt: skip
    body = await gql(SAVE_TIER, {"input": tier}, token=token)
    assert "errors" not in body, body
    return body["data"]["saveTier"]


async def test_an_admin_creates_then_changes_a_tier(gql, brand, make_token):
    token = make_token(brand, "ADMIN")
    created = await save(gql, token, earnMultiplier="1.25", discountPercent=5)
    assert created == {
        "tier": {
            "code": "SILVER",
            "name": "Silver",
            "rank": 1,
            "qualifyingPoints": 1000,
            "benefits": {"earnMultiplier": "1.25", "discountPercent": 5},
        },
        "userErrors": [],
    }
    changed = await save(gql, token, name="Silver Club", qualifyingPoints=1500)
    assert changed["tier"]["name"] == "Silver Club"
    body = await gql(TIERS, token=token)
    assert body["data"]["tiers"] == [
        {"code": "BASE", "rank": 0, "qualifyingPoints": 0},
        {"code": "SILVER", "rank": 1, "qualifyingPoints": 1500},
    ]


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"code": "silver"}, "code", "INVALID_INPUT"),
        ({"name": " "}, "name", "INVALID_INPUT"),
        ({"rank": -1}, "rank", "INVALID_INPUT"),
        ({"qualifyingPoints": -5}, "qualifyingPoints", "INVALID_INPUT"),
        ({"qualifyingPoints": 0}, "qualifyingPoints", "INVALID_INPUT"),
        ({"earnMultiplier": "-1"}, "earnMultiplier", "INVALID_INPUT"),
        ({"discountPercent": 101}, "discountPercent", "INVALID_INPUT"),
        ({"rank": 0, "code": "BASE", "qualifyingPoints": 0, "name": "B"}, None, None),
        ({"code": "GOLD", "rank": 0, "qualifyingPoints": 0}, "rank", "DUPLICATE"),
    ],
)
async def test_bad_tiers_are_refused_by_field(gql, brand, make_token, fields, field, code):
    payload = await save(gql, make_token(brand, "ADMIN"), **fields)
    if field is None:
        assert payload["userErrors"] == []
    else:
        assert payload["userErrors"] == [{"field": ["input", field], "code": code}]


async def test_a_higher_rank_needs_more_points_than_every_lower_one(gql, brand, make_token):
    token = make_token(brand, "ADMIN")
    assert (await save(gql, token))["userErrors"] == []
    gold = await save(gql, token, code="GOLD", name="Gold", rank=2, qualifyingPoints=900)
    assert gold["userErrors"] == [{"field": ["input", "qualifyingPoints"], "code": "INVALID_INPUT"}]
    moved_base = await save(gql, token, code="BASE", name="Base", rank=3, qualifyingPoints=9000)
    assert moved_base["userErrors"] == [{"field": ["input", "rank"], "code": "INVALID_INPUT"}]


@pytest.mark.parametrize("role", ["STAFF", "ANALYST", "MEMBER"])
async def test_only_admins_save_tiers(gql, brand, make_token, role):
    subject = "TWVtYmVyOjE=" if role == "MEMBER" else "someone"
    tier = {"code": "X", "name": "X", "rank": 5, "qualifyingPoints": 5, "idempotencyKey": key()}
    body = await gql(SAVE_TIER, {"input": tier}, token=make_token(brand, role, subject))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
