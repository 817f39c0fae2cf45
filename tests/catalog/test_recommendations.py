"""Member.recommendations: only what the member can redeem now, ranked by the categories they
buy, then those they redeemed from, then popularity, then oldest; each with its reason."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.catalog import create_catalog_item, error_codes, redeem_item
from tests.support.factories import key

RECOMMENDATIONS = """
query ($first: Int!) { me { recommendations(first: $first) { item { sku } reason } } }
"""

RECOMMENDATIONS_BY_DEFAULT = "{ me { recommendations { item { sku } reason } } }"

SAVE_TIER = """
mutation ($input: SaveTierInput!) {
  saveTier(input: $input) { tier { id code } userErrors { field code } }
}
"""

ARCHIVE = """
mutation ($input: ArchiveCatalogItemInput!) {
  archiveCatalogItem(input: $input) { item { status } userErrors { field code } }
}
"""

CANCEL = """
mutation ($input: CancelRedemptionInput!) {
  cancelRedemption(input: $input) { redemption { status } userErrors { field code } }
}
"""

TIER_OF_ME = "{ me { tier { code } points { available } } }"


@pytest.fixture
def member_with(staff, make_token, brand):
    """A registered member, their points from purchases of the given lines (category, amount),
    or from an adjustment when no lines are given; returns (member, MEMBER token)."""

    async def make(
        lines: list[tuple[str, str]] | None = None, points: int = 0, name: str = "Ada"
    ) -> tuple[dict, str]:
        member = await staff.register(name)
        if lines:
            total = sum(float(amount) for _, amount in lines)
            payload = await staff.purchase(
                member["id"],
                f"{total:.2f}",
                lines=[
                    {
                        "sku": f"P-{index}",
                        "category": category,
                        "quantity": 1,
                        "unitPrice": amount,
                    }
                    for index, (category, amount) in enumerate(lines)
                ],
            )
            assert payload["userErrors"] == [], payload
        if points:
            adjusted = await staff.adjust(member["id"], points)
            assert adjusted["userErrors"] == [], adjusted
        return member, make_token(brand, "MEMBER", member["id"])

    return make


async def recommended(gql, token: str, first: int = 50) -> list[tuple[str, str]]:
    body = await gql(RECOMMENDATIONS, {"first": first}, token=token)
    assert "errors" not in body, body
    return [(row["item"]["sku"], row["reason"]) for row in body["data"]["me"]["recommendations"]]


async def skus(gql, token: str, first: int = 50) -> list[str]:
    return [sku for sku, _ in await recommended(gql, token, first)]


async def item(staff, sku: str, category: str = "general", **fields) -> dict:
    return await create_catalog_item(
        staff, **{"sku": sku, "name": sku, "category": category, "kind": "COUPON", **fields}
    )


async def redeem_ok(gql, token: str, item_id: str, quantity: int = 1) -> dict:
    payload = await redeem_item(gql, token, item_id, quantity)
    assert payload["userErrors"] == [], payload
    return payload["redemption"]


async def save_tier(staff, **fields) -> dict:
    payload = await staff.call(SAVE_TIER, fields)
    assert payload["userErrors"] == [], payload
    return payload["tier"]


# ---------------------------------------------------------------------------------------------
# what is a candidate


async def test_only_items_the_member_can_redeem_now_are_recommended(staff, gql, member_with, clock):
    now = clock.now()
    gold = await save_tier(staff, code="GOLD", name="Gold", rank=1, qualifyingPoints=1_000_000)
    body = await gql("{ tiers { id code } }", token=staff.token)
    (base_id,) = [tier["id"] for tier in body["data"]["tiers"] if tier["code"] == "BASE"]

    await item(staff, "FITS", pointsPrice=100)
    await item(staff, "EXACT", pointsPrice=300)  # the member ends with exactly 300
    await item(staff, "DEAR", pointsPrice=301)
    await item(staff, "CASH", pointsPrice=50, cashPrice="5.00")
    await item(staff, "SOLD-OUT", pointsPrice=10, stock=0)
    last_one = await item(staff, "LAST-ONE", pointsPrice=10, stock=1)
    await item(staff, "IN-STOCK", pointsPrice=10, stock=5)
    await item(
        staff, "NOT-YET", pointsPrice=10, availableFrom=(now + timedelta(days=1)).isoformat()
    )
    await item(staff, "OVER", pointsPrice=10, availableUntil=(now - timedelta(hours=1)).isoformat())
    await item(
        staff,
        "IN-WINDOW",
        pointsPrice=10,
        availableFrom=(now - timedelta(days=1)).isoformat(),
        availableUntil=(now + timedelta(days=1)).isoformat(),
    )
    await item(staff, "GOLD-ONLY", pointsPrice=10, minTierId=gold["id"])
    await item(staff, "BASE-UP", pointsPrice=10, minTierId=base_id)
    archived = await item(staff, "ARCHIVED", pointsPrice=10)
    once = await item(staff, "ONCE", pointsPrice=10, perMemberLimit=1)
    twice = await item(staff, "TWICE", pointsPrice=10, perMemberLimit=2)
    given_back = await item(staff, "GIVEN-BACK", pointsPrice=10, perMemberLimit=1)

    payload = await staff.call(ARCHIVE, {"id": archived["id"]})
    assert payload["item"]["status"] == "ARCHIVED"
    _, other_token = await member_with(points=100, name="Bea")
    await redeem_ok(gql, other_token, last_one["id"])  # now out of stock

    _, token = await member_with(points=330)
    await redeem_ok(gql, token, once["id"])
    await redeem_ok(gql, token, twice["id"])
    cancelled = await redeem_ok(gql, token, given_back["id"])
    payload = await staff.call(
        CANCEL, {"redemptionId": cancelled["id"], "reason": "changed mind", "idempotencyKey": key()}
    )
    assert payload["userErrors"] == []
    body = await gql(TIER_OF_ME, token=token)
    assert body["data"]["me"] == {"tier": {"code": "BASE"}, "points": {"available": 310}}
    await redeem_ok(gql, token, twice["id"])  # TWICE at its limit; exactly 300 points left

    got = await skus(gql, token)
    assert sorted(got) == sorted(
        ["FITS", "EXACT", "CASH", "IN-STOCK", "IN-WINDOW", "BASE-UP", "GIVEN-BACK"]
    )
    # Every item recommended can indeed be redeemed by the member now.
    for sku in ("DEAR", "SOLD-OUT", "LAST-ONE", "NOT-YET", "OVER", "GOLD-ONLY", "ARCHIVED"):
        assert sku not in got


async def test_recommendations_follow_the_window_as_time_passes(staff, gql, member_with, clock):
    now = clock.now()
    await item(
        staff, "OPENING", pointsPrice=10, availableFrom=(now + timedelta(hours=1)).isoformat()
    )
    await item(
        staff, "CLOSING", pointsPrice=10, availableUntil=(now + timedelta(hours=1)).isoformat()
    )
    _, token = await member_with(points=100)
    assert await skus(gql, token) == ["CLOSING"]
    clock.advance(timedelta(hours=1, minutes=1))
    assert await skus(gql, token) == ["OPENING"]


async def test_affordability_is_at_the_members_tier_price(staff, gql, member_with):
    await save_tier(
        staff, code="SILVER", name="Silver", rank=1, qualifyingPoints=400, discountPercent=20
    )
    await item(staff, "AT-400", pointsPrice=500)  # 400 at 20% off
    on_the_edge = await item(staff, "AT-400.8", pointsPrice=501)  # 400.8, rounded down: 400
    await item(staff, "AT-401.6", pointsPrice=502)  # 401
    _, token = await member_with([("beauty", "400.00")])
    body = await gql(TIER_OF_ME, token=token)
    assert body["data"]["me"] == {"tier": {"code": "SILVER"}, "points": {"available": 400}}
    assert sorted(await skus(gql, token)) == ["AT-400", "AT-400.8"]
    redeemed = await redeem_item(gql, token, on_the_edge["id"])
    assert redeemed["userErrors"] == []
    assert redeemed["redemption"]["pointsSpent"] == 400


async def test_a_member_at_a_higher_tier_gets_that_tiers_items(staff, gql, member_with):
    gold = await save_tier(staff, code="GOLD", name="Gold", rank=1, qualifyingPoints=100)
    await item(staff, "GOLD-ONLY", pointsPrice=10, minTierId=gold["id"])
    _, base_token = await member_with(points=500, name="Bea")
    assert await skus(gql, base_token) == []
    _, gold_token = await member_with([("general", "100.00")])
    assert await recommended(gql, gold_token) == [("GOLD-ONLY", "You often buy general")]


# ---------------------------------------------------------------------------------------------
# ranking


async def test_items_rank_by_spend_then_redeemed_categories_then_popularity_then_age(
    staff, gql, member_with
):
    # Created in this order: ids (age) run the other way round from the expected ranking
    # wherever a tie has to be broken by something other than age.
    await item(staff, "HOME-OLD", "home", pointsPrice=10)
    toy_less = await item(staff, "TOY-LESS", "toys", pointsPrice=10)
    toy_most = await item(staff, "TOY-MOST", "toys", pointsPrice=10)
    await item(staff, "HOME-NEW", "home", pointsPrice=10)
    travel_other = await item(staff, "TRAVEL-OTHER", "travel", pointsPrice=10)
    travel_mine = await item(staff, "TRAVEL-MINE", "Travel", pointsPrice=10)
    snack = await item(staff, "SNACK", "snacks", pointsPrice=10)
    await item(staff, "BEAUTY-OLD", "Beauty", pointsPrice=10)
    beauty_hot = await item(staff, "BEAUTY-HOT", "beauty", pointsPrice=10)

    _, crowd = await member_with(points=1000, name="Crowd")
    await redeem_ok(gql, crowd, toy_most["id"], 3)
    await redeem_ok(gql, crowd, toy_less["id"], 1)
    await redeem_ok(gql, crowd, beauty_hot["id"], 1)
    await redeem_ok(gql, crowd, snack["id"], 5)  # popular, but spend ranks first
    await redeem_ok(gql, crowd, travel_other["id"], 4)

    _, token = await member_with([("BEAUTY", "250.00"), ("snacks", "100.00"), ("beauty", "50.00")])
    await redeem_ok(gql, token, travel_mine["id"], 2)

    assert await recommended(gql, token) == [
        ("BEAUTY-HOT", "You often buy beauty"),  # 300.00 of beauty; redeemed once by others
        ("BEAUTY-OLD", "You often buy Beauty"),
        ("SNACK", "You often buy snacks"),  # 100.00 of snacks
        ("TRAVEL-OTHER", "You have redeemed travel before"),  # 4 redeemed by others
        ("TRAVEL-MINE", "You have redeemed Travel before"),  # 2, the member's own
        ("TOY-MOST", "Popular with members"),
        ("TOY-LESS", "Popular with members"),
        ("HOME-OLD", "New in the catalog"),
        ("HOME-NEW", "New in the catalog"),
    ]
    assert await skus(gql, token, 3) == ["BEAUTY-HOT", "BEAUTY-OLD", "SNACK"]


async def test_more_redeemed_categories_rank_first_and_cancelled_ones_do_not_count(
    staff, gql, member_with
):
    garden = await item(staff, "GARDEN", "garden", pointsPrice=10)
    books = await item(staff, "BOOKS", "books", pointsPrice=10)
    games = await item(staff, "GAMES", "games", pointsPrice=10)
    _, token = await member_with(points=500)
    await redeem_ok(gql, token, garden["id"], 1)
    await redeem_ok(gql, token, books["id"], 2)
    cancelled = await redeem_ok(gql, token, games["id"], 5)
    payload = await staff.call(
        CANCEL, {"redemptionId": cancelled["id"], "reason": "changed mind", "idempotencyKey": key()}
    )
    assert payload["userErrors"] == []
    assert await recommended(gql, token) == [
        ("BOOKS", "You have redeemed books before"),
        ("GARDEN", "You have redeemed garden before"),
        ("GAMES", "New in the catalog"),  # its one redemption was cancelled: stock back
    ]


async def test_a_member_without_history_gets_popular_items_then_new_ones(staff, gql, member_with):
    await item(staff, "NEW-A", pointsPrice=10)
    quiet = await item(staff, "QUIET", "shoes", pointsPrice=10)
    await item(staff, "NEW-B", pointsPrice=10)
    loud = await item(staff, "LOUD", "bags", pointsPrice=10)
    _, crowd = await member_with(points=500, name="Crowd")
    await redeem_ok(gql, crowd, loud["id"], 3)
    await redeem_ok(gql, crowd, quiet["id"], 1)

    _, token = await member_with(points=100)
    expected = [
        ("LOUD", "Popular with members"),
        ("QUIET", "Popular with members"),
        ("NEW-A", "New in the catalog"),
        ("NEW-B", "New in the catalog"),
    ]
    assert await recommended(gql, token) == expected
    assert await recommended(gql, token) == expected  # the same data, the same list
    body = await gql(RECOMMENDATIONS_BY_DEFAULT, token=token)
    assert [row["item"]["sku"] for row in body["data"]["me"]["recommendations"]] == [
        sku for sku, _ in expected
    ]


async def test_first_limits_the_list_and_zero_gives_none(staff, gql, member_with):
    for n in range(7):
        await item(staff, f"ITEM-{n}", pointsPrice=10)
    _, token = await member_with(points=100)
    assert await skus(gql, token, 0) == []
    assert await skus(gql, token, 2) == ["ITEM-0", "ITEM-1"]
    body = await gql(RECOMMENDATIONS_BY_DEFAULT, token=token)  # 5 unless told
    assert [row["item"]["sku"] for row in body["data"]["me"]["recommendations"]] == [
        f"ITEM-{n}" for n in range(5)
    ]
    assert await skus(gql, token) == [f"ITEM-{n}" for n in range(7)]


async def test_a_member_with_too_few_points_gets_nothing(staff, gql, member_with):
    await item(staff, "A", pointsPrice=100)
    await item(staff, "B", pointsPrice=200, cashPrice="1.00")
    _, token = await member_with(points=99)
    assert await skus(gql, token) == []
    refused = await redeem_item(gql, token, (await item(staff, "C", pointsPrice=100))["id"])
    assert error_codes(refused) == [("INSUFFICIENT_POINTS", ["itemId"])]


async def test_another_brands_items_are_never_recommended(staff, gql, member_with, make_token):
    from domain.brands import create_brand
    from tests.support.factories import Staff, unique_code

    other = await create_brand(unique_code(), "Other Brand")
    await item(Staff(gql, make_token(other, "ADMIN", "admin-2")), "THEIRS", pointsPrice=1)
    await item(staff, "OURS", pointsPrice=1)
    _, token = await member_with(points=10)
    assert await skus(gql, token) == ["OURS"]
