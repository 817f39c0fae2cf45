"""The tier evaluation: members whose qualifying points fell go down one tier at a time."""

from __future__ import annotations

from datetime import timedelta

from db.models import Member, TierChange
from domain.tiers import TierSpec, ensure_tier, evaluate_member, evaluate_tiers
from resolvers.ids import parse_id


async def three_tiers(brand) -> None:
    await ensure_tier(brand, TierSpec("SILVER", "Silver", 1, qualifying_points=1_000))
    await ensure_tier(brand, TierSpec("GOLD", "Gold", 2, qualifying_points=5_000))


async def tier_of(member: dict) -> str:
    row = await Member.get(id=parse_id(member["id"])[1]).prefetch_related("tier")
    return row.tier.code


async def test_a_member_below_their_tier_goes_down_one_tier_per_evaluation(
    staff, brand, clock, runtime
):
    await three_tiers(brand)
    member = await staff.register()
    await staff.purchase(member["id"], "6000.00")
    assert await tier_of(member) == "GOLD"
    clock.advance(timedelta(days=370))  # the purchase left the 12-month window
    assert await evaluate_tiers(runtime, brand_code=brand.code) == 1
    assert await tier_of(member) == "SILVER"
    assert await evaluate_tiers(runtime, brand_code=brand.code) == 1
    assert await tier_of(member) == "BASE"
    assert await evaluate_tiers(runtime, brand_code=brand.code) == 0
    history = await TierChange.filter(member_id=parse_id(member["id"])[1]).order_by("id")
    assert [(change.qualifying_points) for change in history] == [6000, 0, 0]


async def test_a_member_who_still_qualifies_keeps_their_tier(staff, brand, runtime):
    await three_tiers(brand)
    member = await staff.register()
    await staff.purchase(member["id"], "1200.00")
    assert await evaluate_member(runtime, parse_id(member["id"])[1]) is None
    assert await tier_of(member) == "SILVER"
