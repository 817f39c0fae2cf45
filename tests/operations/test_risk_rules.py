"""Movements flagged without being refused: a purchase far above the member's usual, many
purchases within minutes, a large manual adjustment, a redemption minutes after a large earn,
many members registered within a day sharing a phone prefix."""

from __future__ import annotations

from datetime import timedelta

from tests.support.catalog import create_catalog_item, redeem_item

FLAGS = """
{ riskFlags(status: OPEN, first: 20) { edges { node {
    reason details member { id } entry { kind points } } } } }
"""


async def flags(gql, staff, reason: str) -> list[dict]:
    body = await gql(FLAGS, token=staff.token)
    assert "errors" not in body, body
    found = [edge["node"] for edge in body["data"]["riskFlags"]["edges"]]
    return [flag for flag in found if flag["reason"] == reason]


async def test_a_large_adjustment_is_flagged_a_small_one_not(staff, gql):
    member = await staff.register("Ada")
    await staff.adjust(member["id"], 9_999, "goodwill")
    assert await flags(gql, staff, "LARGE_ADJUSTMENT") == []
    await staff.adjust(member["id"], -10_000, "more than there is")  # refused: no flag
    assert await flags(gql, staff, "LARGE_ADJUSTMENT") == []
    await staff.adjust(member["id"], -9_999, "a mistake undone")
    await staff.adjust(member["id"], 10_000, "a large gift")
    (flag,) = await flags(gql, staff, "LARGE_ADJUSTMENT")
    assert flag["member"]["id"] == member["id"]
    assert flag["entry"] == {"kind": "ADJUST", "points": 10_000}
    assert '"points": 10000' in flag["details"]


async def test_spending_a_large_earn_within_minutes_is_flagged(
    staff, gql, member_with_points, clock
):
    item = await create_catalog_item(staff, pointsPrice=100)
    member, token = await member_with_points(999)  # below a large earn
    assert (await redeem_item(gql, token, item["id"]))["userErrors"] == []
    assert await flags(gql, staff, "QUICK_REDEEM") == []

    member, token = await member_with_points(1500, "Bea")
    assert (await redeem_item(gql, token, item["id"]))["userErrors"] == []
    (flag,) = await flags(gql, staff, "QUICK_REDEEM")
    assert flag["member"]["id"] == member["id"] and flag["entry"]["kind"] == "REDEEM"

    clock.advance(timedelta(minutes=11))  # later on, the same earn is no longer news
    assert (await redeem_item(gql, token, item["id"]))["userErrors"] == []
    assert len(await flags(gql, staff, "QUICK_REDEEM")) == 1


async def test_members_sharing_a_phone_prefix_within_a_day_are_flagged(staff, gql, clock):
    prefix = f"139{clock.now().microsecond % 10_000:04d}"
    members = [await staff.register(f"M{n}", phone=f"{prefix}{n:04d}") for n in range(5)]
    (flag,) = await flags(gql, staff, "SHARED_PHONE_PREFIX")  # the fifth
    assert flag["member"]["id"] == members[-1]["id"] and prefix in flag["details"]
    clock.advance(timedelta(days=1, minutes=1))
    await staff.register("Later", phone=f"{prefix}9999")  # the others a day ago
    assert len(await flags(gql, staff, "SHARED_PHONE_PREFIX")) == 1


async def test_a_purchase_far_above_the_members_usual_is_flagged(staff, gql, clock):
    member = await staff.register("Fay")
    for _ in range(3):
        await staff.purchase(member["id"], "20.00")
        clock.advance(timedelta(minutes=11))
    await staff.purchase(member["id"], "100.00")  # five times the usual: not above it
    assert await flags(gql, staff, "LARGE_PURCHASE") == []
    clock.advance(timedelta(minutes=11))
    await staff.purchase(member["id"], "400.00")  # the usual is now 40
    (flag,) = await flags(gql, staff, "LARGE_PURCHASE")
    assert flag["member"]["id"] == member["id"] and flag["entry"]["kind"] == "EARN"
    assert '"usual": "40.00"' in flag["details"]

    newcomer = await staff.register("Gus")  # no usual yet: a first large purchase is not odd
    await staff.purchase(newcomer["id"], "5000.00")
    assert len(await flags(gql, staff, "LARGE_PURCHASE")) == 1


async def test_many_purchases_within_minutes_are_flagged(staff, gql, clock):
    member = await staff.register("Hal")
    for _ in range(4):
        await staff.purchase(member["id"], "5.00")
    assert await flags(gql, staff, "MANY_PURCHASES") == []
    await staff.purchase(member["id"], "5.00")  # the fifth within ten minutes
    (flag,) = await flags(gql, staff, "MANY_PURCHASES")
    assert flag["member"]["id"] == member["id"] and '"purchases": 5' in flag["details"]
    clock.advance(timedelta(minutes=11))
    await staff.purchase(member["id"], "5.00")  # the others are no longer minutes ago
    assert len(await flags(gql, staff, "MANY_PURCHASES")) == 1
