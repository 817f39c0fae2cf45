"""A partner sees of a member what its own operations need: the id, the display name and the
ledger entries it made. Another partner's purchases, and their order numbers, stay hidden:
descriptions never name an order (staff read `orderRef`)."""

from __future__ import annotations

import importlib

from tortoise.connection import get_connection

from db.models import LedgerEntry
from resolvers.ids import parse_id
from tests.support.factories import Staff, key
from tests.support.partners import create_partner, issue, partner_gql, publish, review

SECRET_ORDER = "A-SECRET-77"
LEDGER = "ledger(first: 50) { edges { node { kind points description orderRef } } }"
RECORD = """
mutation ($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) { entry { points } member { id displayName %s } }
}
"""
REVERSE = """
mutation ($input: ReversePurchaseInput!) {
  reversePurchase(input: $input) { entry { points } userErrors { code } }
}
"""
REDEEM = """
mutation ($input: RedeemInput!) { redeem(input: $input) { redemption { id } userErrors { code } } }
"""
REDEMPTIONS = f"""
{{ redemptions(first: 10) {{ edges {{ node {{ member {{ id displayName {LEDGER} }} }} }} }} }}
"""
MEMBER_LEDGER = f"query ($id: ID!) {{ member(id: $id) {{ {LEDGER} }} }}"
MY_LEDGER = f"{{ me {{ {LEDGER} }} }}"
REFUSED_MEMBER_FIELDS = [
    "referralCode", "status", "joinedAt", "memberCode", "marketingEmail", "marketingSms",
    "brand { code }", "tier { code }", "tierProgress { qualifyingPoints }",
    "points { available }", "redemptions { totalCount }", "recommendations { reason }",
]  # fmt: skip


async def partner_with_key(staff: Staff) -> str:
    partner = await create_partner(staff)
    return (await issue(staff, partner["id"], ["POINTS_EARN", "OFFERS_WRITE"]))["secret"]


async def purchase(client, secret: str, member_id: str, selection: str = "", **fields) -> dict:
    """A partner's recordPurchase, its payload's member read with `selection`; the body."""
    order = {"memberId": member_id, "orderRef": key(), "total": "100.00",
             "idempotencyKey": key(), **fields}  # fmt: skip
    return await partner_gql(client, secret, RECORD % selection, {"input": order})


async def a_member_partner_a_sold_to(client, staff: Staff) -> dict:
    """A member partner A sold to (order SECRET_ORDER) and refunded in part."""
    member = await staff.register()
    partner_a = await partner_with_key(staff)
    bought = await purchase(client, partner_a, member["id"], orderRef=SECRET_ORDER)
    assert "errors" not in bought, bought
    refund = {"memberId": member["id"], "orderRef": SECRET_ORDER, "amount": "20.00",
              "idempotencyKey": key()}  # fmt: skip
    refunded = await partner_gql(client, partner_a, REVERSE, {"input": refund})
    assert refunded["data"]["reversePurchase"]["userErrors"] == [], refunded
    return member


async def test_a_partner_reads_only_its_own_entries_of_a_members_ledger(client, staff):
    member = await a_member_partner_a_sold_to(client, staff)
    partner_b = await partner_with_key(staff)
    body = await purchase(client, partner_b, member["id"], LEDGER)
    assert "errors" not in body, body
    assert SECRET_ORDER not in str(body)
    seen = body["data"]["recordPurchase"]["member"]
    assert seen["displayName"] == "Ada"
    assert [edge["node"] for edge in seen["ledger"]["edges"]] == [
        {"kind": "EARN", "points": 100, "description": "Purchase", "orderRef": None}
    ]


async def test_a_partner_reads_only_its_own_entries_through_its_redemptions(
    client, gql, staff, make_token, brand
):
    member = await a_member_partner_a_sold_to(client, staff)
    partner_b = await partner_with_key(staff)
    offer = (await publish(client, partner_b, sku=f"B-{key()[:8]}", pointsPrice=30))["item"]
    await review(staff, offer["id"], approve=True)
    token = make_token(brand, "MEMBER", member["id"])
    redeemed = await gql(REDEEM, {"input": {"itemId": offer["id"], "idempotencyKey": key()}},
                         token=token)  # fmt: skip
    assert redeemed["data"]["redeem"]["userErrors"] == [], redeemed
    body = await partner_gql(client, partner_b, REDEMPTIONS)
    assert "errors" not in body, body
    assert SECRET_ORDER not in str(body)
    (edge,) = body["data"]["redemptions"]["edges"]
    entries = [entry["node"] for entry in edge["node"]["member"]["ledger"]["edges"]]
    assert [(entry["kind"], entry["points"]) for entry in entries] == [("REDEEM", -30)]


async def test_a_partner_is_refused_every_other_field_of_a_member(client, staff):
    member = await staff.register()
    partner = await partner_with_key(staff)
    answers = {}
    for field in REFUSED_MEMBER_FIELDS:
        body = await purchase(client, partner, member["id"], field)
        answers[field] = [
            (error["extensions"]["code"], error["path"][-1]) for error in body.get("errors", ())
        ]
    assert answers == {
        field: [("FORBIDDEN", field.split(" ")[0])] for field in REFUSED_MEMBER_FIELDS
    }
    body = await partner_gql(
        client, partner, RECORD.replace("entry { points }", "entry { points balanceAfter }") % "",
        {"input": {"memberId": member["id"], "orderRef": key(), "total": "10.00",
                   "idempotencyKey": key()}},
    )  # fmt: skip
    assert [(error["extensions"]["code"], error["path"]) for error in body["errors"]] == [
        ("FORBIDDEN", ["recordPurchase", "entry", "balanceAfter"])
    ]


async def test_descriptions_never_name_the_order_but_staff_read_it(gql, staff, make_token, brand):
    member = await staff.register()
    await staff.purchase(member["id"], "100.00", orderRef="ORD-123")
    await staff.reverse(member["id"], "ORD-123", "12.00")
    token = make_token(brand, "MEMBER", member["id"])
    mine = (await gql(MY_LEDGER, token=token))["data"]["me"]["ledger"]["edges"]
    assert [(edge["node"]["description"], edge["node"]["orderRef"]) for edge in mine] == [
        ("Refund of 12.00 on a purchase", None),
        ("Purchase", None),
    ]
    body = await gql(MEMBER_LEDGER, {"id": member["id"]}, token=staff.token)
    assert [edge["node"]["orderRef"] for edge in body["data"]["member"]["ledger"]["edges"]] == [
        "ORD-123",
        "ORD-123",
    ]


async def test_the_migration_rewrites_the_older_descriptions(staff):
    """Entries written before 0015 named the order; the migration's statements rewrite them."""
    member = await staff.register()
    await staff.purchase(member["id"], "100.00", orderRef="OLD-9")
    await staff.reverse(member["id"], "OLD-9", "12.00")
    entries = LedgerEntry.filter(member_id=parse_id(member["id"])[1])
    await entries.filter(kind="EARN").update(description="Purchase OLD-9")
    await entries.filter(kind="REVERSAL").update(description="Refund of 12.00 on purchase OLD-9")
    migration = importlib.import_module("db.migrations.0015_partner_privacy")
    for statement in (migration.UNNAMED_PURCHASES_SQL, migration.UNNAMED_REFUNDS_SQL):
        await get_connection("default").execute_script(statement)
    assert sorted(await entries.values_list("description", flat=True)) == [
        "Purchase",
        "Refund of 12.00 on a purchase",
    ]
