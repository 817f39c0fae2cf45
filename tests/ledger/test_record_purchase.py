"""recordPurchase: earning at the brand's base rate, in one of its stores, once per order; the
entries it appends and the lot it opens; and every bad input refused with nothing written."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal

import pytest

from db.models import Balance, LedgerEntry, Lot, Purchase
from domain.brands import ensure_store
from domain.ledger.audit import audit
from resolvers.ids import encode_id
from tests.support.factories import RECORD_PURCHASE, key
from tests.support.ledger import entries, iso, lot_of_entry, parse, pk, snapshot

PURCHASE_IN_STORE = """
mutation ($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    entry { id kind points store { code name } }
    userErrors { field code }
  }
}
"""


LEDGER = """
query ($id: ID!) {
  member(id: $id) {
    ledger(first: 100) { edges { node { kind points balanceAfter version expiresAt } } }
  }
}
"""


async def entry_fields(entry_id: str) -> dict:
    return (await LedgerEntry.filter(id=pk(entry_id)).values())[0]


async def test_a_purchase_earns_the_base_rate_rounded_down(make_brand, caller):
    brand = await make_brand(earn_rate=Decimal("1.5"))
    staff = caller(brand)
    member = await staff.register()
    earned = await staff.purchase(member["id"], "10.99", orderRef="R-1")
    assert earned["userErrors"] == []
    entry = earned["entry"]
    assert (entry["kind"], entry["points"], entry["balanceAfter"], entry["version"]) == (
        "EARN",
        16,  # 10.99 x 1.5 = 16.485, rounded down
        16,
        1,
    )
    assert [(part["rule"], part["points"]) for part in entry["breakdown"]] == [("BASE", 16)]
    assert earned["member"]["points"] == {"available": 16, "version": 1, "lifetimeEarned": 16}
    recorded = await Purchase.get(brand_id=brand.id, order_ref="R-1")
    assert (recorded.total, recorded.points_earned) == (Decimal("10.99"), 16)
    assert await audit(brand_id=brand.id) == []


async def test_a_purchase_too_small_for_a_point_earns_nothing_and_opens_no_lot(staff, brand):
    member = await staff.register()
    earned = await staff.purchase(member["id"], "0.99")
    assert earned["userErrors"] == []
    assert earned["entry"]["points"] == 0
    assert earned["member"]["points"]["available"] == 0
    assert not await Lot.filter(member_id=pk(member["id"])).exists()
    assert await audit(brand_id=brand.id) == []


async def test_entries_are_appended_with_the_balance_after_and_a_version_each(staff, brand):
    member = await staff.register()
    first = await staff.purchase(member["id"], "100.00")
    first_row = await entry_fields(first["entry"]["id"])
    await staff.purchase(member["id"], "20.50")
    await staff.adjust(member["id"], -30)
    await staff.purchase(member["id"], "5.00")
    body = await staff.gql(LEDGER, {"id": member["id"]}, token=staff.token)
    ledger = [edge["node"] for edge in body["data"]["member"]["ledger"]["edges"]]
    assert [(e["version"], e["kind"], e["points"], e["balanceAfter"]) for e in ledger] == [
        (4, "EARN", 5, 95),
        (3, "ADJUST", -30, 90),
        (2, "EARN", 20, 120),
        (1, "EARN", 100, 100),
    ]
    # Appending never rewrote an earlier entry.
    assert await entry_fields(first["entry"]["id"]) == first_row
    balance = await Balance.get(member_id=pk(member["id"]))
    assert (balance.available, balance.version) == (95, 4)
    assert await audit(brand_id=brand.id) == []


async def test_each_earn_opens_a_lot_that_expires_when_the_entry_says(staff, brand):
    member = await staff.register()
    earned = await staff.purchase(member["id"], "42.00")
    lot = await lot_of_entry(earned["entry"]["id"])
    assert (lot.points, lot.remaining, lot.expired_at) == (42, 42, None)
    assert lot.expires_at == parse(earned["entry"]["expiresAt"])
    assert lot.purchase_id == (await Purchase.get(earn_entry_id=lot.entry_id)).id


async def test_a_purchase_is_recorded_in_the_store_named_by_its_code(staff, brand):
    await ensure_store(brand, "SH-01", "Shanghai One")
    member = await staff.register()
    body = await staff.gql(
        PURCHASE_IN_STORE,
        {
            "input": {
                "memberId": member["id"],
                "orderRef": "S-1",
                "total": "10.00",
                "storeCode": "SH-01",
                "idempotencyKey": key(),
            }
        },
        token=staff.token,
    )
    payload = body["data"]["recordPurchase"]
    assert payload["userErrors"] == []
    assert payload["entry"]["store"] == {"code": "SH-01", "name": "Shanghai One"}
    recorded = await Purchase.get(brand_id=brand.id, order_ref="S-1")
    assert recorded.store_id is not None
    assert (await LedgerEntry.get(id=pk(payload["entry"]["id"]))).store_id == recorded.store_id


async def test_an_unknown_or_another_brands_store_is_not_found(staff, brand, make_brand):
    other = await make_brand()
    await ensure_store(other, "ELSEWHERE", "Another brand's store")
    member = await staff.register()
    before = await snapshot(member["id"])
    for code in ("NOPE", "ELSEWHERE"):
        refused = await staff.purchase(member["id"], "10.00", storeCode=code)
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
            ("NOT_FOUND", ["storeCode"])
        ]
        assert refused["entry"] is None
    assert await snapshot(member["id"]) == before


async def test_an_order_is_recorded_once_per_brand(staff, brand, make_brand, caller):
    member = await staff.register()
    await staff.purchase(member["id"], "50.00", orderRef="ORDER-7")
    before = await snapshot(member["id"])
    again = await staff.purchase(member["id"], "60.00", orderRef="ORDER-7")
    assert [(e["code"], e["field"]) for e in again["userErrors"]] == [("DUPLICATE", ["orderRef"])]
    # The entry, its lot and the balance were written before the order clashed; all rolled back.
    assert await snapshot(member["id"]) == before
    other_brand = await make_brand()
    other_staff = caller(other_brand)
    elsewhere = await other_staff.register()
    accepted = await other_staff.purchase(elsewhere["id"], "60.00", orderRef="ORDER-7")
    assert accepted["userErrors"] == []
    assert accepted["entry"]["points"] == 60
    assert await audit(brand_id=brand.id) == []


async def test_a_purchase_may_have_occurred_up_to_thirty_days_ago(staff, brand, clock):
    member = await staff.register()
    earned = await staff.purchase(
        member["id"], "10.00", occurredAt=iso(clock.now() - timedelta(days=29))
    )
    assert earned["userErrors"] == []
    assert earned["entry"]["points"] == 10


BAD_TOTALS = [
    ("0", "INVALID_INPUT"),
    ("0.00", "INVALID_INPUT"),
    ("-5.00", "INVALID_INPUT"),
    ("1000000000.01", "INVALID_INPUT"),
    ("99999999999.00", "INVALID_INPUT"),
]


@pytest.mark.parametrize(("total", "code"), BAD_TOTALS)
async def test_a_total_out_of_range_is_refused_with_nothing_written(staff, total, code):
    member = await staff.register()
    before = await snapshot(member["id"])
    refused = await staff.purchase(member["id"], total)
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [(code, ["total"])]
    assert await snapshot(member["id"]) == before
    assert await entries(member["id"]) == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"orderRef": "   "}, ["orderRef"]),
        ({"orderRef": "R" * 65}, ["orderRef"]),
        ({"lines": [{"sku": "A", "category": "c", "quantity": 0, "unitPrice": "1.00"}]}, None),
        ({"lines": [{"sku": "A", "category": "c", "quantity": 1, "unitPrice": "-1.00"}]}, None),
    ],
    ids=["blank-order", "long-order", "zero-quantity", "negative-price"],
)
async def test_a_malformed_order_is_refused_with_nothing_written(staff, fields, field):
    member = await staff.register()
    before = await snapshot(member["id"])
    refused = await staff.purchase(member["id"], "10.00", **fields)
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("INVALID_INPUT", field or ["lines", "0"])
    ]
    assert await snapshot(member["id"]) == before


@pytest.mark.parametrize("total", ["1.234", "12.5e-3", "NaN", "Infinity", "abc"])
async def test_a_total_the_decimal_scalar_refuses_is_a_bad_request(staff, gql, total):
    member = await staff.register()
    before = await snapshot(member["id"])
    body = await gql(
        RECORD_PURCHASE,
        {
            "input": {
                "memberId": member["id"],
                "orderRef": key(),
                "total": total,
                "idempotencyKey": key(),
            }
        },
        token=staff.token,
    )
    assert body.get("data") is None
    assert [error["extensions"]["code"] for error in body["errors"]] == ["BAD_REQUEST"]
    assert await snapshot(member["id"]) == before


@pytest.mark.parametrize(
    ("shift", "field"),
    [(timedelta(hours=1), ["occurredAt"]), (-timedelta(days=31), ["occurredAt"])],
    ids=["future", "older-than-30-days"],
)
async def test_an_occurred_at_in_the_future_or_too_old_is_refused(staff, clock, shift, field):
    member = await staff.register()
    before = await snapshot(member["id"])
    refused = await staff.purchase(member["id"], "10.00", occurredAt=iso(clock.now() + shift))
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("INVALID_INPUT", field)]
    assert await snapshot(member["id"]) == before


async def test_an_unknown_or_malformed_member_id_is_refused(staff, brand):
    unknown = await staff.purchase(encode_id("Member", 2_000_000_000), "10.00")
    assert [(e["code"], e["field"]) for e in unknown["userErrors"]] == [("NOT_FOUND", ["memberId"])]
    for malformed in ("not-an-id", encode_id("Store", 1), encode_id("Member", 0)[:-2]):
        refused = await staff.purchase(malformed, "10.00")
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
            ("INVALID_INPUT", ["memberId"])
        ]
    assert not await LedgerEntry.filter(brand_id=brand.id).exists()
    assert not await Purchase.filter(brand_id=brand.id).exists()


async def test_another_brands_member_is_not_found(staff, make_brand, caller):
    other = caller(await make_brand())
    stranger = await other.register()
    await other.purchase(stranger["id"], "10.00")
    before = await snapshot(stranger["id"])
    refused = await staff.purchase(stranger["id"], "10.00")
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("NOT_FOUND", ["memberId"])]
    assert await snapshot(stranger["id"]) == before


async def test_a_member_token_may_not_record_purchases(staff, gql, make_token, brand):
    member = await staff.register()
    before = await snapshot(member["id"])
    body = await gql(
        RECORD_PURCHASE,
        {
            "input": {
                "memberId": member["id"],
                "orderRef": key(),
                "total": "10.00",
                "idempotencyKey": key(),
            }
        },
        token=make_token(brand, "MEMBER", member["id"]),
    )
    assert body["data"] is None
    assert [error["extensions"]["code"] for error in body["errors"]] == ["FORBIDDEN"]
    assert await snapshot(member["id"]) == before


@pytest.mark.parametrize("status", ["FROZEN", "CLOSED"])
async def test_a_frozen_or_closed_member_earns_nothing(staff, status):
    member = await staff.register()
    changed = await staff.set_status(member["id"], status, "compliance")
    assert changed["userErrors"] == []
    before = await snapshot(member["id"])
    refused = await staff.purchase(member["id"], "10.00")
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("MEMBER_FROZEN", ["memberId"])
    ]
    assert await snapshot(member["id"]) == before


async def test_staff_record_purchases(caller, brand):
    cashier = caller(brand, "STAFF", "cashier-1")
    member = await cashier.register()
    earned = await cashier.purchase(member["id"], "10.00")
    assert earned["userErrors"] == []
    assert earned["member"]["points"]["available"] == 10


async def test_no_balance_grows_past_what_a_graphql_int_can_carry(staff, make_brand, make_token):
    from decimal import Decimal

    from tests.support.factories import Staff

    generous = await make_brand(earn_rate=Decimal("3"))
    admin = Staff(staff.gql, make_token(generous, "ADMIN", "admin-1"))
    member = await admin.register()
    first = await admin.purchase(member["id"], "700000000.00")
    assert first["userErrors"] == [] and first["entry"]["points"] == 2_100_000_000
    second = await admin.purchase(member["id"], "100000000.00")
    assert [error["code"] for error in second["userErrors"]] == ["CAP_EXCEEDED"]
    assert (await admin.balance(member["id"]))["available"] == 2_100_000_000


async def test_a_retry_gets_its_first_answer_even_when_it_could_no_longer_be_recorded(staff, clock):
    """A purchase from 29 days ago, retried two days later with the same key."""
    from datetime import timedelta

    from tests.support.factories import key as new_key
    from tests.support.ledger import iso

    member = await staff.register()
    same_key, occurred_at = new_key(), iso(clock.now() - timedelta(days=29))
    first = await staff.purchase(
        member["id"], "10.00", orderRef="LATE", occurredAt=occurred_at, idempotencyKey=same_key
    )
    assert first["userErrors"] == []
    clock.advance(timedelta(days=2))
    again = await staff.purchase(
        member["id"], "10.00", orderRef="LATE", occurredAt=occurred_at, idempotencyKey=same_key
    )
    assert again["entry"] == first["entry"] and again["userErrors"] == []


async def test_the_same_moment_in_another_offset_is_the_same_request(staff, clock):
    from datetime import timedelta, timezone

    from tests.support.factories import key as new_key

    member = await staff.register()
    moment = clock.now() - timedelta(hours=3)
    same_key = new_key()
    first = await staff.purchase(
        member["id"],
        "10.00",
        orderRef="TZ",
        idempotencyKey=same_key,
        occurredAt=moment.astimezone(timezone(timedelta(hours=8))).isoformat(),
    )
    again = await staff.purchase(
        member["id"],
        "10.00",
        orderRef="TZ",
        idempotencyKey=same_key,
        occurredAt=moment.astimezone(UTC).isoformat(),
    )
    assert first["userErrors"] == [] and again == first


async def test_a_purchase_whose_points_would_be_born_expired_is_refused(
    make_brand, make_token, gql, clock
):
    """Rolling one month: a purchase of the 31st, recorded on the 1st of the month after next's
    eve, is young enough to record but its points' last day has passed."""
    from datetime import timedelta

    from domain.ledger.policy import expiry_of
    from tests.support.factories import Staff
    from tests.support.ledger import iso

    monthly = await make_brand(expiry_months=1, timezone="UTC")
    admin = Staff(gql, make_token(monthly, "ADMIN", "admin-1"))
    member = await admin.register()

    def born_expired() -> object:
        now = clock.now()
        for hours_ago in range(24, 30 * 24, 3):  # within the 30 days a purchase may be old
            occurred = now - timedelta(hours=hours_ago)
            if expiry_of(monthly, occurred) <= now:
                return occurred
        return None

    for _ in range(800):  # such days follow January's last days, once a year or two
        if (occurred := born_expired()) is not None:
            break
        clock.advance(timedelta(days=1))
    else:
        pytest.fail("no day within two years where a recent purchase's points are due")
    refused = await admin.purchase(member["id"], "10.00", occurredAt=iso(occurred))
    assert [error["field"] for error in refused["userErrors"]] == [["occurredAt"]]
    assert "expired already" in refused["userErrors"][0]["message"]
