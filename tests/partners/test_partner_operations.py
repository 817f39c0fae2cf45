"""What a partner does under its key: publishes offers that an admin approves or rejects,
records purchases in its own order-number space, and checks only its own offers' coupons."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.catalog import create_catalog_item
from tests.support.factories import key, with_key
from tests.support.partners import (
    OFFER,
    PUBLISH_OFFER,
    as_partner,
    create_partner,
    issue,
    partner_gql,
    publish,
    review,
)

CATALOG = "{ catalog(first: 50) { edges { node { id } } } }"
RECORD = """
mutation ($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    entry { points } userErrors { code field }
  }
}
"""
REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) { redemption { id coupon { code } } userErrors { code } }
}
"""
VERIFY = "query ($code: String!) { verifyCoupon(code: $code) { state userErrors { code } } }"
CONSUME = """
mutation ($input: ConsumeCouponInput!) {
  consumeCoupon(input: $input) { coupon { usedAt } userErrors { code } }
}
"""
REDEMPTIONS = "{ redemptions(first: 50) { totalCount edges { node { id } } } }"


async def partner_key(staff, *scopes: str) -> str:
    partner = await create_partner(staff)
    return (await issue(staff, partner["id"], list(scopes)))["secret"]


async def catalog_ids(staff) -> set[str]:
    body = await staff.gql(CATALOG, token=staff.token)
    return {edge["node"]["id"] for edge in body["data"]["catalog"]["edges"]}


async def test_a_partners_offer_waits_for_approval_before_members_see_it(client, staff):
    secret = await partner_key(staff, "OFFERS_WRITE")
    published = await publish(client, secret, sku="WAIT-1")
    assert published["userErrors"] == []
    offer = published["item"]
    assert (offer["status"], offer["kind"]) == ("PENDING_APPROVAL", "PARTNER_OFFER")
    assert offer["id"] not in await catalog_ids(staff)

    approved = await review(staff, offer["id"], approve=True)
    assert approved["item"]["status"] == "ACTIVE"
    assert offer["id"] in await catalog_ids(staff)
    again = await review(staff, offer["id"], approve=True)
    assert again["userErrors"] == [{"code": "CONFLICT", "field": ["input", "id"]}]


async def test_a_rejected_offer_says_why_and_never_shows(client, staff):
    secret = await partner_key(staff, "OFFERS_WRITE")
    offer = (await publish(client, secret, sku="NOPE-1"))["item"]
    rejected = await review(staff, offer["id"], approve=False, reason="  Too generous  ")
    assert rejected["item"] == {"id": offer["id"], "status": "REJECTED",
                                "rejectionReason": "Too generous"}  # fmt: skip
    assert offer["id"] not in await catalog_ids(staff)
    blank = await review(staff, offer["id"], approve=False, reason=" ")
    assert blank["userErrors"] == [{"code": "INVALID_INPUT", "field": ["input", "reason"]}]


async def test_a_partner_publishes_partner_offers_only_and_needs_the_scope(client, staff):
    secret = await partner_key(staff, "OFFERS_WRITE")
    coupon = await publish(client, secret, sku="COUPON-1", kind="COUPON")
    assert [(e["code"], e["field"]) for e in coupon["userErrors"]] == [
        ("INVALID_INPUT", ["input", "kind"])
    ]
    without = await partner_key(staff, "POINTS_EARN")
    body = await partner_gql(
        client, without, PUBLISH_OFFER, {"input": with_key(PUBLISH_OFFER, OFFER)}
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert "OFFERS_WRITE" in body["errors"][0]["message"]


async def test_a_partners_order_numbers_are_its_own(client, staff):
    member = await staff.register()
    secret = await partner_key(staff, "POINTS_EARN")
    other = await partner_key(staff, "POINTS_EARN")
    order = {"memberId": member["id"], "orderRef": "ORD-1", "total": "20.00"}

    async def record(secret: str | None) -> dict:
        variables = {"input": {**order, "idempotencyKey": key()}}
        if secret is None:
            return await staff.call(RECORD, variables["input"])
        body = await partner_gql(client, secret, RECORD, variables)
        assert "errors" not in body, body
        return body["data"]["recordPurchase"]

    first, by_other, by_brand = await asyncio.gather(record(secret), record(other), record(None))
    assert [p["userErrors"] for p in (first, by_other, by_brand)] == [[], [], []]
    assert [p["entry"]["points"] for p in (first, by_other, by_brand)] == [20, 20, 20]
    twice = await record(secret)
    assert twice["userErrors"] == [{"code": "DUPLICATE", "field": ["orderRef"]}]


async def test_a_partner_checks_and_uses_only_its_own_offers_codes(
    client, staff, brand, gql, make_token
):
    secret = await partner_key(staff, "OFFERS_WRITE", "COUPONS_VERIFY")
    other = await partner_key(staff, "COUPONS_VERIFY", "OFFERS_WRITE")
    offer = (await publish(client, secret, sku="CODE-1", kind="PARTNER_OFFER"))["item"]
    await review(staff, offer["id"], approve=True)
    brands_own = await create_catalog_item(staff, kind="COUPON", couponValue="5.00")
    member = await staff.register()
    await staff.purchase(member["id"], "500.00")
    member_token = make_token(brand, "MEMBER", member["id"])

    async def redeem(item_id: str) -> dict:
        body = await gql(REDEEM, {"input": {"itemId": item_id, "idempotencyKey": key()}},
                         token=member_token)  # fmt: skip
        assert body["data"]["redeem"]["userErrors"] == [], body
        return body["data"]["redeem"]["redemption"]

    brand_code = (await redeem(brands_own["id"]))["coupon"]["code"]
    await redeem(offer["id"])  # a partner offer issues no code of ours: nothing to check
    for code in (brand_code, "NOSUCHCODE12"):
        body = await partner_gql(client, secret, VERIFY, {"code": code})
        assert body["data"]["verifyCoupon"]["userErrors"] == [{"code": "NOT_FOUND"}]
        used = await partner_gql(
            client, other, CONSUME,
            {"input": {"code": code, "reference": "till-1", "idempotencyKey": key()}},
        )  # fmt: skip
        assert used["data"]["consumeCoupon"]["userErrors"] == [{"code": "NOT_FOUND"}]
    staff_view = await gql(VERIFY, {"code": brand_code}, token=staff.token)
    assert staff_view["data"]["verifyCoupon"]["state"] == "USABLE"


async def test_a_partner_sees_only_its_offers_redemptions(client, staff, brand, gql, make_token):
    secret = await partner_key(staff, "OFFERS_WRITE")
    offer = (await publish(client, secret, sku="SEEN-1"))["item"]
    await review(staff, offer["id"], approve=True)
    brands_own = await create_catalog_item(staff, kind="PARTNER_OFFER")
    member = await staff.register()
    await staff.purchase(member["id"], "500.00")
    token = make_token(brand, "MEMBER", member["id"])
    for item_id in (offer["id"], brands_own["id"]):
        body = await gql(REDEEM, {"input": {"itemId": item_id, "idempotencyKey": key()}},
                         token=token)  # fmt: skip
        assert body["data"]["redeem"]["userErrors"] == [], body
    seen = await partner_gql(client, secret, REDEMPTIONS)
    assert seen["data"]["redemptions"]["totalCount"] == 1
    without = await partner_key(staff, "POINTS_EARN")
    refused = await as_partner(client, without, REDEMPTIONS)
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("scope", ["OFFERS_WRITE", "POINTS_EARN", "COUPONS_VERIFY"])
async def test_a_partner_manages_nothing_of_the_brands(client, staff, scope):
    secret = await partner_key(staff, scope)
    body = await partner_gql(
        client,
        secret,
        'mutation { approveCatalogItem(input: {id: "x", idempotencyKey: "k"}) { item { id } } }',
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


CREATE_RULE = """
mutation ($input: EarningRuleInput!) {
  createEarningRule(input: $input) { rule { partnerCodes } userErrors { code field } }
}
"""


async def test_a_rule_for_a_partner_applies_to_its_purchases_only(client, staff):
    partner = await create_partner(staff)
    secret = (await issue(staff, partner["id"], ["POINTS_EARN"]))["secret"]
    rule = await staff.call(CREATE_RULE, {
        "code": f"R-{key()[:8]}".upper(), "name": "Partner rate", "kind": "BASE_RATE",
        "rate": "0.5", "priority": 10, "partnerCodes": [partner["code"].upper()]})  # fmt: skip
    assert rule == {"rule": {"partnerCodes": [partner["code"]]}, "userErrors": []}
    member = await staff.register()
    order = {"memberId": member["id"], "total": "100.00"}
    by_partner = await partner_gql(client, secret, RECORD, {"input": {
        **order, "orderRef": "PR-1", "idempotencyKey": key()}})  # fmt: skip
    assert by_partner["data"]["recordPurchase"]["entry"]["points"] == 50
    by_brand = await staff.call(RECORD, {**order, "orderRef": "BR-1", "idempotencyKey": key()})
    assert by_brand["entry"]["points"] == 100


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"kind": "BASE_RATE", "rate": "1", "partnerCodes": ["no-such-partner"]},
         [{"code": "NOT_FOUND", "field": ["input", "partnerCodes"]}]),
        ({"kind": "TASK", "taskCode": "SHARE", "points": 5, "partnerCodes": ["x"]},
         [{"code": "INVALID_INPUT", "field": ["input", "partnerCodes"]}]),
    ],
)  # fmt: skip
async def test_a_rule_names_known_partners_and_only_for_purchases(staff, fields, expected):
    payload = await staff.call(
        CREATE_RULE, {"code": f"R-{key()[:8]}".upper(), "name": "Rule", **fields}
    )
    assert payload["userErrors"] == expected


UPLOAD = """
mutation ($input: UploadOfferCodesInput!) {
  uploadOfferCodes(input: $input) { uploaded userErrors { code field } }
}
"""
REDEEM_WITH_CODES = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) { redemption { coupons { code } } userErrors { code } }
}
"""


async def test_a_partners_uploaded_codes_are_given_out_and_used_once(
    client, staff, brand, gql, make_token
):
    secret = await partner_key(staff, "OFFERS_WRITE", "COUPONS_VERIFY")
    other = await partner_key(staff, "OFFERS_WRITE", "COUPONS_VERIFY")
    offer = (await publish(client, secret, sku=f"POOL-{key()[:6]}"))["item"]
    codes = [f"acme-{key()[:10]}" for _ in range(2)]
    upload = {"itemId": offer["id"], "codes": codes}
    by_other = await partner_gql(client, other, UPLOAD, {"input": with_key(UPLOAD, upload)})
    assert by_other["data"]["uploadOfferCodes"]["userErrors"] == [
        {"code": "NOT_FOUND", "field": ["input", "itemId"]}
    ]
    listed_twice = with_key(UPLOAD, {**upload, "codes": codes * 2})
    twice = await partner_gql(client, secret, UPLOAD, {"input": listed_twice})
    assert twice["data"]["uploadOfferCodes"]["userErrors"] == [
        {"code": "DUPLICATE", "field": ["input", "codes"]}
    ]
    body = await partner_gql(client, secret, UPLOAD, {"input": with_key(UPLOAD, upload)})
    assert body["data"]["uploadOfferCodes"] == {"uploaded": 2, "userErrors": []}
    await review(staff, offer["id"], approve=True)
    member = await staff.register()
    await staff.purchase(member["id"], "500.00")
    token = make_token(brand, "MEMBER", member["id"])

    async def redeem() -> dict:
        variables = {"input": {"itemId": offer["id"], "idempotencyKey": key()}}
        return (await gql(REDEEM_WITH_CODES, variables, token=token))["data"]["redeem"]

    given = [(await redeem())["redemption"]["coupons"][0]["code"] for _ in range(2)]
    assert sorted(given) == sorted(codes)
    assert (await redeem())["userErrors"] == [{"code": "OUT_OF_STOCK"}]  # the pool is empty

    unknown = await partner_gql(client, other, VERIFY, {"code": given[0]})
    assert unknown["data"]["verifyCoupon"]["userErrors"] == [{"code": "NOT_FOUND"}]
    tries = await asyncio.gather(*(
        partner_gql(client, secret, CONSUME, {"input": {
            "code": given[0], "reference": f"till-{n}", "idempotencyKey": key()}})
        for n in range(10)
    ))  # fmt: skip
    outcomes = sorted(
        "used" if t["data"]["consumeCoupon"]["coupon"] else
        t["data"]["consumeCoupon"]["userErrors"][0]["code"] for t in tries
    )  # fmt: skip
    assert outcomes == ["CONFLICT"] * 9 + ["used"]
