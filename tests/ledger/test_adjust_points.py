"""adjustPoints: an admin's correction, with a reason. Positive adds a lot with the brand's
default expiry; negative spends the lots that expire first and never goes below zero."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.models import LedgerEntry, LedgerKind, Lot
from domain.ledger.audit import audit
from resolvers.ids import encode_id
from tests.support.factories import ADJUST, key
from tests.support.ledger import (
    entries,
    iso,
    lot_of_entry,
    lots,
    rolling_expiry,
    snapshot,
    taken_by,
)


def codes(payload: dict) -> list[tuple[str, list[str] | None]]:
    return [(error["code"], error["field"]) for error in payload["userErrors"]]


async def test_a_positive_adjustment_adds_a_lot_with_the_default_expiry(make_brand, caller, clock):
    brand = await make_brand(timezone="America/New_York", expiry_months=6)
    staff = caller(brand)
    member = await staff.register()
    before = clock.now()
    adjusted = await staff.adjust(member["id"], 250, reason="  welcome gift  ")
    after = clock.now()
    assert codes(adjusted) == []
    entry = adjusted["entry"]
    assert (entry["kind"], entry["points"], entry["balanceAfter"], entry["reason"]) == (
        "ADJUST",
        250,
        250,
        "welcome gift",
    )
    assert adjusted["member"]["points"] == {"available": 250, "version": 1}
    lot = await lot_of_entry(entry["id"])
    assert (lot.points, lot.remaining) == (250, 250)
    assert lot.expires_at in {
        rolling_expiry(before, 6, "America/New_York"),
        rolling_expiry(after, 6, "America/New_York"),
    }
    assert await audit(brand_id=brand.id) == []


async def test_a_negative_adjustment_spends_the_lots_that_expire_first(staff, brand, clock):
    member = await staff.register()
    late = await staff.adjust(member["id"], 100)
    soon = await staff.purchase(
        member["id"], "80.00", occurredAt=iso(clock.now() - timedelta(days=25))
    )
    late_lot = await lot_of_entry(late["entry"]["id"])
    soon_lot = await lot_of_entry(soon["entry"]["id"])
    assert soon_lot.expires_at < late_lot.expires_at  # though recorded after

    spent = await staff.adjust(member["id"], -90, reason="duplicate bonus")
    assert codes(spent) == []
    assert (spent["entry"]["points"], spent["entry"]["balanceAfter"]) == (-90, 90)
    assert await taken_by(spent["entry"]["id"]) == [(soon_lot.id, 80), (late_lot.id, 10)]
    assert {lot.id: lot.remaining for lot in await lots(member["id"])} == {
        soon_lot.id: 0,
        late_lot.id: 90,
    }
    assert await audit(brand_id=brand.id) == []


async def test_lots_expiring_together_are_spent_in_the_order_they_were_earned(staff, brand):
    member = await staff.register()
    first = await staff.adjust(member["id"], 30)
    second = await staff.adjust(member["id"], 30)
    first_lot, second_lot = (
        await lot_of_entry(first["entry"]["id"]),
        await lot_of_entry(second["entry"]["id"]),
    )
    assert first_lot.expires_at == second_lot.expires_at
    spent = await staff.adjust(member["id"], -40)
    assert await taken_by(spent["entry"]["id"]) == [(first_lot.id, 30), (second_lot.id, 10)]


async def test_an_adjustment_cannot_take_the_balance_below_zero(staff, brand):
    member = await staff.register()
    await staff.purchase(member["id"], "50.00")
    before = await snapshot(member["id"])
    refused = await staff.adjust(member["id"], -51)
    assert codes(refused) == [("INSUFFICIENT_POINTS", ["points"])]
    assert refused["entry"] is None
    assert await snapshot(member["id"]) == before
    everything = await staff.adjust(member["id"], -50)
    assert everything["member"]["points"]["available"] == 0
    assert await audit(brand_id=brand.id) == []


@pytest.mark.parametrize(
    ("points", "reason", "field"),
    [
        (10, "", ["reason"]),
        (10, "   ", ["reason"]),
        (10, "x" * 501, ["reason"]),
        (0, "nothing", ["points"]),
        (1_000_000_001, "too much", ["points"]),
        (-1_000_000_001, "too much", ["points"]),
    ],
    ids=["empty-reason", "blank-reason", "long-reason", "zero", "huge", "huge-negative"],
)
async def test_an_adjustment_needs_a_reason_and_a_sensible_amount(staff, points, reason, field):
    member = await staff.register()
    await staff.purchase(member["id"], "10.00")
    before = await snapshot(member["id"])
    refused = await staff.adjust(member["id"], points, reason=reason)
    assert codes(refused) == [("INVALID_INPUT", field)]
    assert await snapshot(member["id"]) == before


@pytest.mark.parametrize("role", ["STAFF", "MEMBER", "ANALYST"])
async def test_only_an_admin_adjusts_points(staff, gql, make_token, brand, role):
    member = await staff.register()
    await staff.purchase(member["id"], "10.00")
    before = await snapshot(member["id"])
    subject = member["id"] if role == "MEMBER" else "someone"
    for points in (5, -5):
        body = await gql(
            ADJUST,
            {
                "input": {
                    "memberId": member["id"],
                    "points": points,
                    "reason": "why not",
                    "idempotencyKey": key(),
                }
            },
            token=make_token(brand, role, subject),
        )
        assert body["data"] is None
        assert [error["extensions"]["code"] for error in body["errors"]] == ["FORBIDDEN"]
    assert await snapshot(member["id"]) == before


async def test_another_brands_member_cannot_be_adjusted(staff, make_brand, caller):
    other = caller(await make_brand())
    stranger = await other.register()
    await other.purchase(stranger["id"], "10.00")
    before = await snapshot(stranger["id"])
    for points in (100, -5):
        refused = await staff.adjust(stranger["id"], points)
        assert codes(refused) == [("NOT_FOUND", ["memberId"])]
    assert await snapshot(stranger["id"]) == before


async def test_an_unknown_or_malformed_member_id_is_refused(staff, brand):
    unknown = await staff.adjust(encode_id("Member", 2_000_000_000), 10)
    assert codes(unknown) == [("NOT_FOUND", ["memberId"])]
    for malformed in ("not-an-id", encode_id("Tier", 1)):
        assert codes(await staff.adjust(malformed, 10)) == [("INVALID_INPUT", ["memberId"])]
    assert not await LedgerEntry.filter(brand_id=brand.id).exists()


@pytest.mark.parametrize("status", ["FROZEN", "CLOSED"])
async def test_a_frozen_or_closed_members_points_are_not_adjusted(staff, status):
    member = await staff.register()
    await staff.purchase(member["id"], "10.00")
    changed = await staff.set_status(member["id"], status, "compliance")
    assert changed["userErrors"] == []
    before = await snapshot(member["id"])
    for points in (5, -5):
        refused = await staff.adjust(member["id"], points)
        assert codes(refused) == [("MEMBER_FROZEN", ["memberId"])]
    assert await snapshot(member["id"]) == before


async def test_each_adjustment_is_one_entry_recording_who_and_why(staff, brand):
    member = await staff.register()
    await staff.adjust(member["id"], 40, reason="apology")
    await staff.adjust(member["id"], -15, reason="correction")
    recorded = await entries(member["id"])
    assert [(e.kind, e.points, e.balance_after, e.version, e.reason) for e in recorded] == [
        (LedgerKind.ADJUST, 40, 40, 1, "apology"),
        (LedgerKind.ADJUST, -15, 25, 2, "correction"),
    ]
    assert {e.actor for e in recorded} == {"ADMIN:admin-1"}
    assert await Lot.filter(member_id=recorded[0].member_id).count() == 1
    assert recorded[0].created_at <= recorded[1].created_at


async def test_a_member_id_no_table_can_hold_is_invalid_input(staff):
    import base64

    member_id = base64.b64encode(b"Member:99999999999").decode()
    payload = await staff.adjust(member_id, 10)
    assert [error["code"] for error in payload["userErrors"]] == ["INVALID_INPUT"]
