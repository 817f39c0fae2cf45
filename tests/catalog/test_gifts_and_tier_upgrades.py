"""Gift with redemption (each gift with its own stock: both or neither; a cancel gives both
back) and points for a tier (TIER_UPGRADE: up at once, no evaluation below it before its date;
a cancel takes the floor away)."""

from __future__ import annotations

from datetime import timedelta

from db.models import Member
from domain.ledger.audit import audit
from domain.tiers import evaluate_tiers
from resolvers.ids import parse_id
from tests.support.catalog import CREATE_ITEM, create_catalog_item, error_codes, redeem_item
from tests.support.factories import key

ITEM = """
query ($id: ID!) {
  node(id: $id) {
    ... on CatalogItem {
      stock kind upgradeMonths upgradeTier { code } gifts { quantity item { sku stock } }
    }
  }
}
"""
REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) {
    redemption { id status gifts { quantity item { sku } } coupons { value } }
    userErrors { field code message }
  }
}
"""
CANCEL = """
mutation ($input: CancelRedemptionInput!) {
  cancelRedemption(input: $input) { redemption { status } userErrors { code } }
}
"""
SAVE_TIER = """
mutation ($input: SaveTierInput!) { saveTier(input: $input) { tier { id } userErrors { code } } }
"""
TIER = "query ($id: ID!) { member(id: $id) { tier { code } } }"


async def stock_of(staff, item_id: str) -> int | None:
    body = await staff.gql(ITEM, {"id": item_id}, token=staff.token)
    return body["data"]["node"]["stock"]


async def redeem(gql, token: str, item_id: str, quantity: int = 1) -> dict:
    body = await gql(
        REDEEM,
        {"input": {"itemId": item_id, "quantity": quantity, "idempotencyKey": key()}},
        token=token,
    )
    assert "errors" not in body, body
    return body["data"]["redeem"]


async def test_a_redemption_takes_its_gifts_with_it_or_nothing_and_a_cancel_gives_both_back(
    staff, brand, gql, make_token
):
    voucher = await create_catalog_item(staff, sku="GIFT-VOUCHER", kind="CASH_VOUCHER",
                                        pointsPrice=1, stock=3, couponValue="5.00")  # fmt: skip
    main = await create_catalog_item(
        staff, sku="MAIN", kind="COUPON", pointsPrice=100, stock=10, couponValue="20.00",
        gifts=[{"itemId": voucher["id"], "quantity": 2}],
    )  # fmt: skip
    body = await staff.gql(ITEM, {"id": main["id"]}, token=staff.token)
    assert body["data"]["node"]["gifts"] == [
        {"quantity": 2, "item": {"sku": "GIFT-VOUCHER", "stock": 3}}
    ]
    member = await staff.register()
    await staff.purchase(member["id"], "1000.00")
    token = make_token(brand, "MEMBER", member["id"])

    taken = await redeem(gql, token, main["id"])
    assert taken["userErrors"] == []
    assert taken["redemption"]["gifts"] == [{"quantity": 2, "item": {"sku": "GIFT-VOUCHER"}}]
    assert sorted(c["value"] for c in taken["redemption"]["coupons"]) == ["20.00", "5.00", "5.00"]
    assert (await stock_of(staff, main["id"]), await stock_of(staff, voucher["id"])) == (9, 1)

    # Two more would need four vouchers: one is left, so neither is taken.
    refused = await redeem(gql, token, main["id"], quantity=2)
    assert error_codes(refused) == [("OUT_OF_STOCK", ["itemId"])]
    assert (await stock_of(staff, main["id"]), await stock_of(staff, voucher["id"])) == (9, 1)

    cancelled = await staff.call(
        CANCEL, {"redemptionId": taken["redemption"]["id"], "reason": "changed their mind"}
    )
    assert cancelled["userErrors"] == []
    assert (await stock_of(staff, main["id"]), await stock_of(staff, voucher["id"])) == (10, 3)
    assert await audit(brand_id=brand.id) == []


async def test_gifts_are_checked(staff):
    partner_kind = await create_catalog_item(staff, sku="TIERISH", kind="PHYSICAL", pointsPrice=5,
                                             cashPrice="1.00")  # fmt: skip
    cases = [
        ([{"itemId": partner_kind["id"], "quantity": 1}], "INVALID_INPUT"),  # points + cash
        ([{"itemId": "Q2F0YWxvZ0l0ZW06OTk5OTk5OQ==", "quantity": 1}], "NOT_FOUND"),
        ([{"itemId": partner_kind["id"], "quantity": 11}], "INVALID_INPUT"),
    ]
    for gifts, code in cases:
        payload = await staff.call(
            CREATE_ITEM,
            {"sku": f"G-{key()[:8]}", "name": "With a gift", "kind": "PHYSICAL",
             "category": "general", "pointsPrice": 10, "gifts": gifts},
        )  # fmt: skip
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            (code, ["input", "gifts"])
        ], gifts


async def test_points_buy_a_tier_that_no_evaluation_takes_away_before_its_date(
    staff, brand, gql, make_token, runtime, clock
):
    gold = await staff.call(
        SAVE_TIER, {"code": "GOLD", "name": "Gold", "rank": 1, "qualifyingPoints": 100_000}
    )
    assert gold["userErrors"] == []
    upgrade = await create_catalog_item(
        staff, sku="GOLD-3M", name="Three months of Gold", kind="TIER_UPGRADE",
        pointsPrice=500, upgradeTierId=gold["tier"]["id"], upgradeMonths=3,
    )  # fmt: skip
    body = await staff.gql(ITEM, {"id": upgrade["id"]}, token=staff.token)
    assert body["data"]["node"]["upgradeTier"] == {"code": "GOLD"}
    member = await staff.register()
    await staff.purchase(member["id"], "600.00")
    token = make_token(brand, "MEMBER", member["id"])

    bought = await redeem_item(gql, token, upgrade["id"])
    assert bought["userErrors"] == []

    async def tier() -> str:
        found = await staff.gql(TIER, {"id": member["id"]}, token=staff.token)
        return found["data"]["member"]["tier"]["code"]

    assert await tier() == "GOLD"  # at once
    clock.advance(timedelta(days=45))
    assert await evaluate_tiers(runtime, brand_code=brand.code) == 0
    assert await tier() == "GOLD"
    clock.advance(timedelta(days=60))  # past the three months
    assert await evaluate_tiers(runtime, brand_code=brand.code) == 1
    assert await tier() == "BASE"
    assert await audit(brand_id=brand.id) == []


async def test_cancelling_a_bought_tier_takes_its_floor_away(
    staff, brand, gql, make_token, runtime
):
    gold = await staff.call(
        SAVE_TIER, {"code": "GOLD", "name": "Gold", "rank": 1, "qualifyingPoints": 100_000}
    )
    upgrade = await create_catalog_item(
        staff, sku="GOLD-1M", name="A month of Gold", kind="TIER_UPGRADE", pointsPrice=100,
        upgradeTierId=gold["tier"]["id"], upgradeMonths=1,
    )  # fmt: skip
    member = await staff.register()
    await staff.purchase(member["id"], "200.00")
    token = make_token(brand, "MEMBER", member["id"])
    bought = await redeem_item(gql, token, upgrade["id"])
    cancelled = await staff.call(
        CANCEL, {"redemptionId": bought["redemption"]["id"], "reason": "bought by mistake"}
    )
    assert cancelled["userErrors"] == []
    stored = await Member.get(id=parse_id(member["id"])[1])
    assert (stored.tier_floor_id, stored.tier_floor_until) == (None, None)
    assert await evaluate_tiers(runtime, brand_code=brand.code) == 1  # back to what they earn


async def test_a_tier_upgrade_names_a_tier_and_months_and_is_points_only(staff):
    for fields, field in [
        ({"upgradeMonths": 3}, "upgradeTierId"),
        ({"cashPrice": "10.00", "upgradeTierId": "VGllcjox", "upgradeMonths": 3}, "cashPrice"),
    ]:
        payload = await staff.call(
            CREATE_ITEM,
            {"sku": f"U-{key()[:8]}", "name": "Upgrade", "kind": "TIER_UPGRADE",
             "category": "tiers", "pointsPrice": 10, **fields},
        )  # fmt: skip
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("INVALID_INPUT", ["input", field])
        ], fields
