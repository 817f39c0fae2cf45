"""Reviewing risk flags over GraphQL: an admin clears a flag, freezes its member, or undoes its
movement (a purchase's earn, a redemption); once per idempotency key, a second review is
CONFLICT, and only admins see or review flags."""

from __future__ import annotations

from domain.brands import create_brand
from domain.ledger.audit import audit
from tests.support.factories import key

SET_LIMITS = """
mutation ($input: SetVelocityLimitsInput!) {
  setVelocityLimits(input: $input) { limits { kind } userErrors { code } }
}
"""
FLAGS = """
query ($status: RiskFlagStatus) {
  riskFlags(status: $status, first: 10) { totalCount edges { node {
    id status reason member { id } entry { id kind points } } } }
}
"""
REVIEW = """
mutation ($input: ReviewRiskFlagInput!) {
  reviewRiskFlag(input: $input) {
    flag { id status reviewedBy reviewNote reviewedAt member { id status } }
    userErrors { code field }
  }
}
"""
NODE = "query ($id: ID!) { node(id: $id) { ... on RiskFlag { id status } } }"
CREATE_ITEM = """
mutation ($input: CreateCatalogItemInput!) {
  createCatalogItem(input: $input) { item { id } userErrors { code } }
}
"""
REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) { redemption { id } userErrors { code } }
}
"""
REDEMPTION = "query ($id: ID!) { node(id: $id) { ... on Redemption { status } } }"


async def flag_earns_past(staff, limit: int = 1) -> None:
    payload = await staff.call(
        SET_LIMITS,
        {"limits": [{"kind": "EARNS_PER_MEMBER", "window": "DAY", "limit": limit,
                     "action": "FLAG"}]},
    )  # fmt: skip
    assert payload["userErrors"] == []


async def open_flags(gql, staff, reason: str = "VELOCITY") -> list[dict]:
    """The brand's open flags for `reason` (a large earn redeemed at once is flagged too)."""
    body = await gql(FLAGS, {"status": "OPEN"}, token=staff.token)
    assert "errors" not in body, body
    flags = [edge["node"] for edge in body["data"]["riskFlags"]["edges"]]
    return [flag for flag in flags if flag["reason"] == reason]


async def flagged_purchase(staff, gql, member_with_points) -> tuple[dict, dict]:
    """A member whose second purchase passed a flagging limit, and its flag."""
    await flag_earns_past(staff)
    member, _ = await member_with_points(100)
    flagged = await staff.purchase(member["id"], "50.00")
    assert flagged["userErrors"] == []
    (flag,) = await open_flags(gql, staff)
    assert flag["entry"]["id"] == flagged["entry"]["id"]
    return member, flag


async def review(gql, staff, flag: dict, decision: str, idempotency_key: str, note: str = ""):
    variables = {"input": {"id": flag["id"], "decision": decision, "note": note,
                           "idempotencyKey": idempotency_key}}  # fmt: skip
    body = await gql(REVIEW, variables, token=staff.token)
    assert "errors" not in body, body
    return body["data"]["reviewRiskFlag"]


async def test_clear_once_per_key_then_conflict(staff, gql, member_with_points):
    member, flag = await flagged_purchase(staff, gql, member_with_points)
    cleared = await review(gql, staff, flag, "CLEAR", "review-1", note="a big family")
    assert cleared["userErrors"] == []
    assert cleared["flag"]["status"] == "CLEARED"
    assert cleared["flag"]["reviewedBy"] == "ADMIN:admin-1"
    assert cleared["flag"]["reviewNote"] == "a big family"
    assert cleared["flag"]["reviewedAt"] is not None
    assert await review(gql, staff, flag, "CLEAR", "review-1", note="a big family") == cleared

    again = await review(gql, staff, flag, "FREEZE_MEMBER", "review-2")
    assert again["userErrors"] == [{"code": "CONFLICT", "field": ["id"]}]
    assert again["flag"] is None
    assert await open_flags(gql, staff) == []
    assert cleared["flag"]["member"]["status"] == "ACTIVE"
    assert (await staff.balance(member["id"]))["available"] == 150


async def test_freeze_member_stops_their_earning(staff, gql, member_with_points):
    member, flag = await flagged_purchase(staff, gql, member_with_points)
    frozen = await review(gql, staff, flag, "FREEZE_MEMBER", "review-1")
    assert frozen["userErrors"] == []
    assert frozen["flag"]["status"] == "MEMBER_FROZEN"
    assert frozen["flag"]["member"]["status"] == "FROZEN"
    refused = await staff.purchase(member["id"], "10.00")
    assert [error["code"] for error in refused["userErrors"]] == ["MEMBER_FROZEN"]


async def test_reverse_a_purchase_earn(staff, gql, brand, member_with_points):
    member, flag = await flagged_purchase(staff, gql, member_with_points)
    assert (await staff.balance(member["id"]))["available"] == 150
    reversed_ = await review(gql, staff, flag, "REVERSE_MOVEMENT", "review-1")
    assert reversed_["userErrors"] == []
    assert reversed_["flag"]["status"] == "MOVEMENT_REVERSED"
    assert await review(gql, staff, flag, "REVERSE_MOVEMENT", "review-1") == reversed_
    assert (await staff.balance(member["id"]))["available"] == 100  # reversed once
    assert await audit(brand_id=brand.id) == []


async def test_reverse_a_redemption_cancels_it(staff, gql, brand, member_with_points):
    member, token = await member_with_points(1000)
    created = await staff.call(
        CREATE_ITEM,
        {"sku": f"SKU-{key()[:10]}", "name": "Mug", "kind": "COUPON", "category": "gifts",
         "pointsPrice": 100},
    )  # fmt: skip
    item_id = created["item"]["id"]
    await staff.call(
        SET_LIMITS,
        {"limits": [{"kind": "REDEMPTIONS_PER_MEMBER", "window": "DAY", "limit": 1,
                     "action": "FLAG"}]},
    )  # fmt: skip
    redeemed = []
    for _ in range(2):
        body = await gql(REDEEM, {"input": {"itemId": item_id, "idempotencyKey": key()}},
                         token=token)  # fmt: skip
        assert body["data"]["redeem"]["userErrors"] == [], body
        redeemed.append(body["data"]["redeem"]["redemption"])
    (flag,) = await open_flags(gql, staff)
    assert flag["entry"]["kind"] == "REDEEM"

    reversed_ = await review(gql, staff, flag, "REVERSE_MOVEMENT", "review-1")
    assert reversed_["userErrors"] == []
    assert reversed_["flag"]["status"] == "MOVEMENT_REVERSED"
    statuses = [
        (await gql(REDEMPTION, {"id": redemption["id"]}, token=staff.token))["data"]["node"]
        for redemption in redeemed
    ]
    assert statuses == [{"status": "CONFIRMED"}, {"status": "CANCELLED"}]
    assert (await staff.balance(member["id"]))["available"] == 900
    assert await audit(brand_id=brand.id) == []


async def test_only_admins_see_and_review_flags(staff, gql, brand, make_token, member_with_points):
    _, flag = await flagged_purchase(staff, gql, member_with_points)
    cashier = make_token(brand, "STAFF", "cashier-1")
    listed = await gql(FLAGS, token=cashier)
    assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    variables = {"input": {"id": flag["id"], "decision": "CLEAR", "idempotencyKey": key()}}
    refused = await gql(REVIEW, variables, token=cashier)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await gql(NODE, {"id": flag["id"]}, token=cashier))["data"]["node"] is None
    seen = await gql(NODE, {"id": flag["id"]}, token=staff.token)
    assert seen["data"]["node"] == {"id": flag["id"], "status": "OPEN"}

    other = await create_brand(f"o{key()[:10]}", "Other")
    foreign = await gql(REVIEW, variables, token=make_token(other, "ADMIN", "admin-9"))
    assert foreign["data"]["reviewRiskFlag"]["userErrors"][0]["code"] == "NOT_FOUND"
