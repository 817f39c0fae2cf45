"""reversePurchase: a refund claws the purchase's points back in proportion, never more than
were earned; from that purchase's lot first, then FIFO; and what the member already spent is
owed as a shortfall that their next earns pay off first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.models import Purchase
from domain.ledger.audit import audit
from resolvers.ids import encode_id
from tests.support.factories import REVERSE_PURCHASE, key
from tests.support.ledger import iso, lot_of_entry, lots, pk, purchase, snapshot, taken_by

LEDGER_WITH_SHORTFALL = """
query ($id: ID!) {
  member(id: $id) {
    points { available }
    ledger(first: 100) { edges { node { kind points shortfall breakdown { rule points } } } }
  }
}
"""


def codes(payload: dict) -> list[tuple[str, list[str] | None]]:
    return [(error["code"], error["field"]) for error in payload["userErrors"]]


async def test_a_full_refund_of_an_unspent_purchase_takes_all_its_points_back(staff, brand):
    member = await staff.register()
    await staff.purchase(member["id"], "80.00")
    earned = await staff.purchase(member["id"], "120.00", orderRef="FULL")
    reversed_ = await staff.reverse(member["id"], "FULL")
    assert codes(reversed_) == []
    entry = reversed_["entry"]
    assert (entry["kind"], entry["points"], entry["balanceAfter"], entry["shortfall"]) == (
        "REVERSAL",
        -120,
        80,
        0,
    )
    assert reversed_["member"]["points"] == {"available": 80, "version": 3}
    lot = await lot_of_entry(earned["entry"]["id"])
    assert lot.remaining == 0
    recorded = await purchase(brand, "FULL")
    assert (recorded.refunded_amount, recorded.points_reversed) == (recorded.total, 120)
    assert await audit(brand_id=brand.id) == []


async def test_partial_refunds_claw_back_in_proportion_and_exactly_what_was_earned(staff, brand):
    member = await staff.register()
    await staff.purchase(member["id"], "99.99", orderRef="P")  # 99 points
    clawed = []
    for amount in ("30.00", "30.00", None):  # 30%, 30%, then whatever is left (39.99)
        reversed_ = await staff.reverse(member["id"], "P", amount)
        assert codes(reversed_) == []
        clawed.append(-reversed_["entry"]["points"])
    # floor(99 x 30/99.99) = 29, floor(99 x 60/99.99) = 59: each refund takes its share of
    # what is left, so the roundings never add up to more (or less) than was earned.
    assert clawed == [29, 30, 40]
    assert sum(clawed) == 99
    assert (await staff.balance(member["id"]))["available"] == 0
    recorded = await purchase(brand, "P")
    assert (str(recorded.refunded_amount), recorded.points_reversed) == ("99.99", 99)
    assert await audit(brand_id=brand.id) == []


async def test_a_refund_too_small_for_a_point_is_kept_and_counted_later(staff, brand):
    member = await staff.register()
    await staff.purchase(member["id"], "100.00", orderRef="SMALL")
    tiny = await staff.reverse(member["id"], "SMALL", "0.50")
    assert codes(tiny) == []
    assert tiny["entry"] is None  # half a point: nothing moves yet
    rest = await staff.reverse(member["id"], "SMALL", "0.50")
    assert rest["entry"]["points"] == -1  # the two halves make one point
    assert (await purchase(brand, "SMALL")).points_reversed == 1
    assert await audit(brand_id=brand.id) == []


@pytest.mark.parametrize("amount", ["0.01", None, "50.00"])
async def test_refunding_more_than_is_left_is_refused_with_nothing_written(staff, amount):
    member = await staff.register()
    await staff.purchase(member["id"], "100.00", orderRef="DONE")
    await staff.reverse(member["id"], "DONE")
    before = await snapshot(member["id"])
    refused = await staff.reverse(member["id"], "DONE", amount)
    assert codes(refused) == [("INVALID_INPUT", ["amount"])]
    assert refused["entry"] is None
    assert await snapshot(member["id"]) == before


async def test_a_refund_above_the_purchase_total_is_refused_with_nothing_written(staff):
    member = await staff.register()
    await staff.purchase(member["id"], "100.00", orderRef="BIG")
    before = await snapshot(member["id"])
    refused = await staff.reverse(member["id"], "BIG", "100.01")
    assert codes(refused) == [("INVALID_INPUT", ["amount"])]
    assert await snapshot(member["id"]) == before


@pytest.mark.parametrize("amount", ["0", "-10.00"])
async def test_a_refund_of_nothing_or_less_is_refused(staff, amount):
    member = await staff.register()
    await staff.purchase(member["id"], "100.00", orderRef="Z")
    before = await snapshot(member["id"])
    refused = await staff.reverse(member["id"], "Z", amount)
    assert codes(refused) == [("INVALID_INPUT", ["amount"])]
    assert await snapshot(member["id"]) == before


async def test_unspent_points_come_back_from_the_purchases_own_lot_first(staff, brand, clock):
    member = await staff.register()
    # The older purchase's lot expires first, so FIFO alone would take from it.
    older = await staff.purchase(
        member["id"], "50.00", occurredAt=iso(clock.now() - timedelta(days=20))
    )
    refunded = await staff.purchase(member["id"], "100.00", orderRef="OWN")
    older_lot = await lot_of_entry(older["entry"]["id"])
    own_lot = await lot_of_entry(refunded["entry"]["id"])
    assert older_lot.expires_at < own_lot.expires_at
    reversed_ = await staff.reverse(member["id"], "OWN", "40.00")
    assert await taken_by(reversed_["entry"]["id"]) == [(own_lot.id, 40)]
    assert [(lot.id, lot.remaining) for lot in await lots(member["id"])] == [
        (older_lot.id, 50),
        (own_lot.id, 60),
    ]
    assert await audit(brand_id=brand.id) == []


async def test_what_the_purchases_lot_lacks_comes_from_the_soonest_expiring_lots(
    staff, brand, clock
):
    member = await staff.register()
    refunded = await staff.purchase(
        member["id"], "100.00", orderRef="FIFO", occurredAt=iso(clock.now() - timedelta(days=29))
    )
    late = await staff.adjust(member["id"], 100)  # expires latest, though recorded before `soon`
    soon = await staff.purchase(
        member["id"], "100.00", occurredAt=iso(clock.now() - timedelta(days=10))
    )
    spent = await staff.adjust(member["id"], -60)  # FIFO: from the refunded purchase's lot
    refunded_lot = await lot_of_entry(refunded["entry"]["id"])
    assert await taken_by(spent["entry"]["id"]) == [(refunded_lot.id, 60)]
    soon_lot = await lot_of_entry(soon["entry"]["id"])
    late_lot = await lot_of_entry(late["entry"]["id"])
    assert refunded_lot.expires_at < soon_lot.expires_at < late_lot.expires_at
    reversed_ = await staff.reverse(member["id"], "FIFO")
    assert reversed_["entry"]["points"] == -100
    assert await taken_by(reversed_["entry"]["id"]) == [(refunded_lot.id, 40), (soon_lot.id, 60)]
    remaining = {lot.id: lot.remaining for lot in await lots(member["id"])}
    assert remaining == {refunded_lot.id: 0, soon_lot.id: 40, late_lot.id: 100}
    assert reversed_["member"]["points"]["available"] == 140
    assert await audit(brand_id=brand.id) == []


async def test_points_already_spent_are_owed_and_paid_off_first_from_the_next_earns(staff, brand):
    member = await staff.register()
    await staff.purchase(member["id"], "100.00", orderRef="SPENT")
    await staff.adjust(member["id"], -70)
    reversed_ = await staff.reverse(member["id"], "SPENT")
    assert codes(reversed_) == []
    entry = reversed_["entry"]
    # Only 30 were left: the balance stops at zero and the other 70 are owed.
    assert (entry["points"], entry["balanceAfter"], entry["shortfall"]) == (-30, 0, 70)
    assert reversed_["member"]["points"]["available"] == 0
    assert (await purchase(brand, "SPENT")).points_reversed == 100

    first = await staff.purchase(member["id"], "50.00")
    assert first["entry"]["points"] == 0
    assert [(c["rule"], c["points"]) for c in first["entry"]["breakdown"]] == [
        ("BASE", 50),
        ("shortfall", -50),
    ]
    assert first["member"]["points"]["available"] == 0
    second = await staff.purchase(member["id"], "100.00")
    components = second["entry"]["breakdown"]
    assert [(c["rule"], c["points"]) for c in components] == [("BASE", 100), ("shortfall", -20)]
    assert sum(c["points"] for c in components) == second["entry"]["points"] == 80
    assert (await lot_of_entry(second["entry"]["id"])).points == 80
    third = await staff.purchase(member["id"], "10.00")
    assert [(c["rule"], c["points"]) for c in third["entry"]["breakdown"]] == [("BASE", 10)]
    assert third["member"]["points"]["available"] == 90

    body = await staff.gql(LEDGER_WITH_SHORTFALL, {"id": member["id"]}, token=staff.token)
    shortfalls = [
        (edge["node"]["kind"], edge["node"]["shortfall"])
        for edge in body["data"]["member"]["ledger"]["edges"]
    ]
    assert ("REVERSAL", 70) in shortfalls
    assert await audit(brand_id=brand.id) == []


async def test_an_unknown_order_or_another_members_order_is_not_found(staff, brand):
    member = await staff.register()
    other = await staff.register("Bea")
    await staff.purchase(other["id"], "100.00", orderRef="HERS")
    before = await snapshot(member["id"])
    for order_ref in ("NO-SUCH-ORDER", "HERS"):
        refused = await staff.reverse(member["id"], order_ref)
        assert codes(refused) == [("NOT_FOUND", ["orderRef"])]
    assert await snapshot(member["id"]) == before
    assert (await Purchase.get(brand_id=brand.id, order_ref="HERS")).points_reversed == 0


async def test_another_brands_member_and_purchase_are_not_found(staff, make_brand, caller):
    other = caller(await make_brand())
    stranger = await other.register()
    await other.purchase(stranger["id"], "100.00", orderRef="THEIRS")
    before = await snapshot(stranger["id"])
    refused = await staff.reverse(stranger["id"], "THEIRS")
    assert codes(refused) == [("NOT_FOUND", ["memberId"])]
    assert await snapshot(stranger["id"]) == before


async def test_an_unknown_or_malformed_member_id_is_refused(staff, brand):
    member = await staff.register()
    await staff.purchase(member["id"], "100.00", orderRef="KNOWN")
    before = await snapshot(member["id"])
    unknown = await staff.reverse(encode_id("Member", 2_000_000_000), "KNOWN")
    assert codes(unknown) == [("NOT_FOUND", ["memberId"])]
    for malformed in ("not-an-id", encode_id("Purchase", pk(member["id"]))):
        assert codes(await staff.reverse(malformed, "KNOWN")) == [("INVALID_INPUT", ["memberId"])]
    assert await snapshot(member["id"]) == before


async def test_a_frozen_members_purchase_can_still_be_reversed(staff, brand):
    member = await staff.register()
    await staff.purchase(member["id"], "100.00", orderRef="BEFORE-FREEZE")
    frozen = await staff.set_status(member["id"], "FROZEN")
    assert frozen["userErrors"] == []
    reversed_ = await staff.reverse(member["id"], "BEFORE-FREEZE", "50.00")
    assert codes(reversed_) == []
    assert reversed_["member"]["points"]["available"] == 50
    assert await audit(brand_id=brand.id) == []


async def test_a_member_token_may_not_reverse_purchases(staff, gql, make_token, brand):
    member = await staff.register()
    await staff.purchase(member["id"], "100.00", orderRef="MINE")
    before = await snapshot(member["id"])
    body = await gql(
        REVERSE_PURCHASE,
        {"input": {"memberId": member["id"], "orderRef": "MINE", "idempotencyKey": key()}},
        token=make_token(brand, "MEMBER", member["id"]),
    )
    assert body["data"] is None
    assert [error["extensions"]["code"] for error in body["errors"]] == ["FORBIDDEN"]
    assert await snapshot(member["id"]) == before


async def test_points_that_expired_are_not_taken_back_again(make_brand, make_token, gql, clock):
    """A refund after the purchase's points expired claws back only what was spent of them."""
    from tests.support.factories import Staff

    short_lived = await make_brand(expiry_months=1)
    admin = Staff(gql, make_token(short_lived, "ADMIN", "admin-1"))
    member = await admin.register()
    await admin.purchase(member["id"], "100.00", orderRef="GONE")
    await admin.purchase(member["id"], "80.00", orderRef="HALF")
    await admin.adjust(member["id"], -130)  # spends GONE's 100, then 30 of HALF
    clock.advance(timedelta(days=40))  # both lots expire: GONE had 0 left, HALF 50
    await admin.adjust(member["id"], 500)  # expires the due lots; a fresh lot to claw from
    gone = await admin.reverse(member["id"], "GONE")
    assert gone["entry"]["points"] == -100  # all of it had been spent: owed back in full
    half = await admin.reverse(member["id"], "HALF")
    assert half["entry"]["points"] == -30  # the 50 that expired are not taken a second time
    assert half["member"]["points"]["available"] == 500 - 100 - 30
    assert (await purchase(short_lived, "HALF")).points_reversed == 30
    assert await audit(brand_id=short_lived.id) == []
