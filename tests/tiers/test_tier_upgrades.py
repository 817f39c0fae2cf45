"""Tiers: an earn that crosses a threshold upgrades at once; progress shows the way up."""

from __future__ import annotations

from datetime import timedelta

from db.models import Member, TierChange
from domain.tiers import TierSpec, ensure_tier
from resolvers.ids import parse_id

PROGRESS = """
query ($id: ID!) {
  member(id: $id) {
    tier { code }
    tierProgress { current { code } next { code } qualifyingPoints pointsToNext }
  }
}
"""


async def tiered(brand) -> None:
    await ensure_tier(brand, TierSpec("SILVER", "Silver", 1, qualifying_points=1_000))
    await ensure_tier(brand, TierSpec("GOLD", "Gold", 2, qualifying_points=5_000))


async def progress(staff, member_id: str) -> dict:
    body = await staff.gql(PROGRESS, {"id": member_id}, token=staff.token)
    return body["data"]["member"]


async def test_progress_starts_on_the_base_tier(staff, brand):
    await tiered(brand)
    member = await staff.register()
    assert await progress(staff, member["id"]) == {
        "tier": {"code": "BASE"},
        "tierProgress": {
            "current": {"code": "BASE"},
            "next": {"code": "SILVER"},
            "qualifyingPoints": 0,
            "pointsToNext": 1000,
        },
    }


async def test_an_earn_crossing_a_threshold_upgrades_at_once(staff, brand):
    await tiered(brand)
    member = await staff.register()
    await staff.purchase(member["id"], "600.00")
    assert (await progress(staff, member["id"]))["tierProgress"]["pointsToNext"] == 400
    await staff.purchase(member["id"], "450.00")
    shown = await progress(staff, member["id"])
    assert shown["tier"] == {"code": "SILVER"}
    assert shown["tierProgress"] == {
        "current": {"code": "SILVER"},
        "next": {"code": "GOLD"},
        "qualifyingPoints": 1050,
        "pointsToNext": 3950,
    }
    (change,) = await TierChange.filter(member_id=parse_id(member["id"])[1])
    assert change.qualifying_points == 1050


async def test_one_large_earn_reaches_the_highest_tier_it_qualifies_for(staff, brand):
    await tiered(brand)
    member = await staff.register()
    await staff.purchase(member["id"], "6000.00")
    shown = await progress(staff, member["id"])
    assert shown["tierProgress"]["current"] == {"code": "GOLD"}
    assert shown["tierProgress"]["next"] is None and shown["tierProgress"]["pointsToNext"] is None


async def test_adjustments_do_not_qualify_and_refunds_do_not_downgrade(staff, brand):
    await tiered(brand)
    member = await staff.register()
    await staff.adjust(member["id"], 2000)
    assert (await progress(staff, member["id"]))["tier"] == {"code": "BASE"}
    await staff.purchase(member["id"], "1000.00", orderRef="BIG")
    await staff.reverse(member["id"], "BIG")
    shown = await progress(staff, member["id"])
    assert shown["tier"] == {"code": "SILVER"}  # a downgrade waits for the evaluation
    assert shown["tierProgress"]["qualifyingPoints"] == 0


async def test_only_the_window_counts(staff, brand, clock):
    await tiered(brand)
    member = await staff.register()
    await staff.purchase(member["id"], "800.00")
    clock.advance(timedelta(days=370))  # the brand's window is 12 months
    await staff.purchase(member["id"], "300.00")
    shown = await progress(staff, member["id"])
    assert shown["tier"] == {"code": "BASE"}
    assert shown["tierProgress"]["qualifyingPoints"] == 300
    assert await Member.filter(id=parse_id(member["id"])[1], tier__code="BASE").exists()


async def test_the_tiers_earn_multiplier_applies_on_top_of_the_base_rate(staff, brand):
    from decimal import Decimal

    await ensure_tier(
        brand, TierSpec("GOLD", "Gold", 1, qualifying_points=100, earn_multiplier=Decimal("1.5"))
    )
    member = await staff.register()
    first = await staff.purchase(member["id"], "150.00")  # on the base tier, crossing to Gold
    assert first["entry"]["points"] == 150
    assert [part["rule"] for part in first["entry"]["breakdown"]] == ["BASE"]
    second = await staff.purchase(member["id"], "101.00")  # as a Gold member
    assert second["entry"]["points"] == 151
    assert second["entry"]["breakdown"] == [
        {"rule": "BASE", "description": "1 point per 1 spent on 101.00", "points": 101},
        {"rule": "tier", "description": "Gold tier: x1.5", "points": 50},
    ]
