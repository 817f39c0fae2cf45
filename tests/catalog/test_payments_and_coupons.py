"""Points + cash redemptions (AWAITING_PAYMENT -> CONFIRMED, or CANCELLED by the payment
timeout), fulfilment, coupons verified and consumed at the checkout, and the lists of
redemptions members and staff see."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest

from db.models import Coupon, Redemption
from domain.brands import create_brand
from domain.catalog.redemptions import cancel_unpaid
from server.scheduler import standard_jobs
from tests.support.catalog import (
    REDEMPTION_FIELDS,
    create_catalog_item,
    error_codes,
    redeem_item,
    top_level_codes,
    when,
)
from tests.support.factories import Staff, key, unique_code
from tests.support.ledger import pk

CODE = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{12}$")

CONFIRM = f"""
mutation ($input: ConfirmRedemptionPaymentInput!) {{
  confirmRedemptionPayment(input: $input) {{
    redemption {{ {REDEMPTION_FIELDS} paymentReference }}
    userErrors {{ field message code }}
  }}
}}
"""

FULFIL = f"""
mutation ($input: FulfilRedemptionInput!) {{
  fulfilRedemption(input: $input) {{
    redemption {{ {REDEMPTION_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}
"""

CANCEL = """
mutation ($input: CancelRedemptionInput!) {
  cancelRedemption(input: $input) {
    redemption { id status }
    userErrors { field message code }
  }
}
"""

VERIFY = """
query ($code: String!) {
  verifyCoupon(code: $code) {
    coupon { code value expiresAt usedAt voidedAt }
    state
    userErrors { field message code }
  }
}
"""

CONSUME = """
mutation ($input: ConsumeCouponInput!) {
  consumeCoupon(input: $input) {
    coupon { code value expiresAt usedAt voidedAt }
    userErrors { field message code }
  }
}
"""

REDEMPTION_AS_STAFF = f"""
query ($id: ID!) {{
  node(id: $id) {{ ... on Redemption {{ {REDEMPTION_FIELDS} paymentReference }} }}
}}
"""

ITEM_STOCK = """
query ($id: ID!) { node(id: $id) { ... on CatalogItem { stock } } }
"""

POINTS_AND_LEDGER = """
query ($id: ID!) {
  member(id: $id) {
    points { available lifetimeRedeemed }
    ledger(first: 100) { totalCount edges { node { kind points balanceAfter } } }
  }
}
"""

MY_REDEMPTIONS = """
query ($first: Int, $after: String) {
  me {
    redemptions(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id status quantity paymentReference item { sku } } }
    }
  }
}
"""

STAFF_REDEMPTIONS = """
query ($memberId: ID, $status: RedemptionStatus, $first: Int) {
  redemptions(memberId: $memberId, status: $status, first: $first) {
    totalCount
    edges { node { id status member { id } } }
  }
}
"""

ADDRESS = {
    "recipient": "Ada Lovelace",
    "phone": "+86 138 0000 0000",
    "line1": "1 Nanjing Road",
    "city": "Shanghai",
    "country": "CN",
}


# ---------------------------------------------------------------------------------------------
# helpers


@pytest.fixture
def cashier(gql, brand, make_token) -> Staff:
    """A STAFF (not admin) token of the brand: the checkout."""
    return Staff(gql, make_token(brand, "STAFF", "cashier-1"))


async def confirm(
    caller: Staff, redemption_id: str, reference: str = "PAY-1", idem: str | None = None
) -> dict:
    return await caller.call(
        CONFIRM,
        {
            "redemptionId": redemption_id,
            "paymentReference": reference,
            "idempotencyKey": idem or key(),
        },
    )


async def fulfil(caller: Staff, redemption_id: str, tracking: str = "SF1000") -> dict:
    return await caller.call(FULFIL, {"redemptionId": redemption_id, "trackingReference": tracking})


async def staff_cancel(caller: Staff, redemption_id: str) -> dict:
    return await caller.call(
        CANCEL, {"redemptionId": redemption_id, "reason": "customer asked", "idempotencyKey": key()}
    )


async def verify(caller: Staff, code: str) -> dict:
    body = await caller.gql(VERIFY, {"code": code}, token=caller.token)
    assert "errors" not in body, body
    return body["data"]["verifyCoupon"]


async def consume(caller: Staff, code: str, reference: str = "RCPT-1", idem: str | None = None):
    return await caller.call(
        CONSUME, {"code": code, "reference": reference, "idempotencyKey": idem or key()}
    )


async def as_staff(caller: Staff, redemption_id: str) -> dict:
    body = await caller.gql(REDEMPTION_AS_STAFF, {"id": redemption_id}, token=caller.token)
    assert "errors" not in body, body
    return body["data"]["node"]


async def stock_of(caller: Staff, item_id: str) -> int | None:
    body = await caller.gql(ITEM_STOCK, {"id": item_id}, token=caller.token)
    assert "errors" not in body, body
    return body["data"]["node"]["stock"]


async def points_and_ledger(caller: Staff, member_id: str) -> dict:
    body = await caller.gql(POINTS_AND_LEDGER, {"id": member_id}, token=caller.token)
    assert "errors" not in body, body
    member = body["data"]["member"]
    entries = [edge["node"] for edge in member["ledger"]["edges"]]
    return {"points": member["points"], "entries": entries}


async def cash_item(staff: Staff, **fields) -> dict:
    """A points + cash coupon: 200 points and 9.90 a unit, worth 50.00, valid 7 days."""
    return await create_catalog_item(
        staff,
        **{
            "kind": "COUPON",
            "pointsPrice": 200,
            "cashPrice": "9.90",
            "couponValue": "50.00",
            "couponValidDays": 7,
            "stock": 5,
            **fields,
        },
    )


async def awaiting(staff, gql, member_with_points, quantity: int = 2, **item_fields):
    """A member (500 points) with a points + cash redemption awaiting payment."""
    item = await cash_item(staff, **item_fields)
    member, token = await member_with_points(500)
    redeemed = await redeem_item(gql, token, item["id"], quantity)
    assert redeemed["userErrors"] == [], redeemed
    return item, member, token, redeemed["redemption"]


async def coupon_redemption(staff, gql, member_with_points, quantity: int = 1, **item_fields):
    """A member's points-only coupon redemption, CONFIRMED with its coupons at once."""
    item = await create_catalog_item(
        staff,
        **{"kind": "CASH_VOUCHER", "pointsPrice": 100, "couponValue": "20.00", **item_fields},
    )
    member, token = await member_with_points(500)
    redeemed = await redeem_item(gql, token, item["id"], quantity)
    assert redeemed["userErrors"] == [], redeemed
    assert redeemed["redemption"]["status"] == "CONFIRMED"
    return item, member, token, redeemed["redemption"]


# ---------------------------------------------------------------------------------------------
# points + cash: awaiting payment, confirmed


async def test_a_points_and_cash_redemption_awaits_payment_with_the_points_taken(
    staff, gql, member_with_points, clock
):
    item = await cash_item(staff)
    member, token = await member_with_points(500)
    before = clock.now()
    redeemed = await redeem_item(gql, token, item["id"], 2)
    after = clock.now()
    assert redeemed["userErrors"] == []
    redemption = redeemed["redemption"]
    assert {
        name: redemption[name]
        for name in ("quantity", "pointsSpent", "cashAmount", "status", "confirmedAt", "coupon")
    } == {
        "quantity": 2,
        "pointsSpent": 400,
        "cashAmount": "19.80",
        "status": "AWAITING_PAYMENT",
        "confirmedAt": None,
        "coupon": None,
    }
    assert redemption["coupons"] == []
    created = when(redemption["createdAt"])
    assert before <= created <= after
    assert when(redemption["paymentDueAt"]) == created + timedelta(minutes=30)
    assert redeemed["member"]["points"]["available"] == 100
    booked = await points_and_ledger(staff, member["id"])
    assert booked["points"] == {"available": 100, "lifetimeRedeemed": 400}
    assert booked["entries"][0] == {"kind": "REDEEM", "points": -400, "balanceAfter": 100}
    assert await stock_of(staff, item["id"]) == 3
    assert await Coupon.filter(redemption_id=pk(redemption["id"])).count() == 0


async def test_confirming_the_payment_issues_one_coupon_per_unit(
    staff, cashier, gql, member_with_points, clock
):
    _, _, token, redemption = await awaiting(staff, gql, member_with_points, quantity=2)
    before = clock.now()
    confirmed = await confirm(cashier, redemption["id"], " PAY-778 ")
    after = clock.now()
    assert confirmed["userErrors"] == []
    done = confirmed["redemption"]
    assert done["status"] == "CONFIRMED"
    assert done["paymentReference"] == "PAY-778"
    confirmed_at = when(done["confirmedAt"])
    assert before <= confirmed_at <= after
    assert done["paymentDueAt"] == redemption["paymentDueAt"]
    assert len(done["coupons"]) == 2
    for coupon in done["coupons"]:
        assert CODE.match(coupon["code"]), coupon
        assert coupon["value"] == "50.00"
        assert when(coupon["expiresAt"]) == confirmed_at + timedelta(days=7)
        assert (coupon["usedAt"], coupon["voidedAt"]) == (None, None)
    assert len({coupon["code"] for coupon in done["coupons"]}) == 2
    assert done["coupon"] == done["coupons"][0]
    # The member sees their coupons, but not the checkout's payment reference.
    body = await gql(MY_REDEMPTIONS, {"first": 10}, token=token)
    assert "errors" not in body, body
    (edge,) = body["data"]["me"]["redemptions"]["edges"]
    assert (edge["node"]["status"], edge["node"]["paymentReference"]) == ("CONFIRMED", None)
    assert (await as_staff(staff, redemption["id"]))["paymentReference"] == "PAY-778"


async def test_confirming_twice_conflicts_and_the_same_key_replays(
    staff, cashier, gql, member_with_points
):
    _, _, _, redemption = await awaiting(staff, gql, member_with_points, quantity=2)
    first_key = key()
    first = await confirm(cashier, redemption["id"], "PAY-1", first_key)
    assert first["userErrors"] == []
    again = await confirm(cashier, redemption["id"], "PAY-1")
    assert error_codes(again) == [("CONFLICT", ["redemptionId"])]
    assert again["redemption"] is None
    replay = await confirm(cashier, redemption["id"], "PAY-1", first_key)
    assert replay["userErrors"] == []
    assert replay["redemption"]["status"] == "CONFIRMED"
    assert replay["redemption"]["coupons"] == first["redemption"]["coupons"]
    other_payload = await confirm(cashier, redemption["id"], "PAY-2", first_key)
    assert error_codes(other_payload) == [("CONFLICT", ["idempotencyKey"])]
    assert await Coupon.filter(redemption_id=pk(redemption["id"])).count() == 2
    assert (await as_staff(staff, redemption["id"]))["paymentReference"] == "PAY-1"


@pytest.mark.parametrize("reference", ["", "   ", "x" * 101])
async def test_a_payment_reference_must_be_given(
    staff, cashier, gql, member_with_points, reference
):
    _, _, _, redemption = await awaiting(staff, gql, member_with_points, quantity=1)
    refused = await confirm(cashier, redemption["id"], reference)
    assert error_codes(refused) == [("INVALID_INPUT", ["paymentReference"])]
    assert (await as_staff(staff, redemption["id"]))["status"] == "AWAITING_PAYMENT"


async def test_a_member_cannot_confirm_a_payment(staff, gql, member_with_points):
    _, _, token, redemption = await awaiting(staff, gql, member_with_points, quantity=1)
    body = await gql(
        CONFIRM,
        {
            "input": {
                "redemptionId": redemption["id"],
                "paymentReference": "SELF-PAID",
                "idempotencyKey": key(),
            }
        },
        token=token,
    )
    assert body["data"] is None
    assert top_level_codes(body) == ["FORBIDDEN"]
    after = await as_staff(staff, redemption["id"])
    assert (after["status"], after["paymentReference"], after["coupons"]) == (
        "AWAITING_PAYMENT",
        None,
        [],
    )


async def test_a_points_only_coupon_is_confirmed_at_once_with_its_coupon(
    staff, gql, member_with_points, clock
):
    item = await create_catalog_item(
        staff, kind="COUPON", pointsPrice=150, couponValue="15.00", couponValidDays=30
    )
    _, token = await member_with_points(500)
    redeemed = await redeem_item(gql, token, item["id"])
    redemption = redeemed["redemption"]
    assert (redemption["status"], redemption["cashAmount"], redemption["paymentDueAt"]) == (
        "CONFIRMED",
        "0.00",
        None,
    )
    created = when(redemption["createdAt"])
    assert when(redemption["confirmedAt"]) == created
    (coupon,) = redemption["coupons"]
    assert coupon["value"] == "15.00"
    assert when(coupon["expiresAt"]) == created + timedelta(days=30)


# ---------------------------------------------------------------------------------------------
# the payment timeout


async def test_too_late_a_confirmation_is_ended_and_the_timeout_gives_everything_back(
    staff, cashier, gql, member_with_points, clock, runtime
):
    item, member, _, redemption = await awaiting(staff, gql, member_with_points, quantity=2)
    clock.advance(timedelta(minutes=31))
    late = await confirm(cashier, redemption["id"])
    assert error_codes(late) == [("ENDED", ["redemptionId"])]
    assert (await as_staff(staff, redemption["id"]))["status"] == "AWAITING_PAYMENT"
    entries_before = len((await points_and_ledger(staff, member["id"]))["entries"])

    assert await cancel_unpaid(runtime) >= 1
    cancelled = await as_staff(staff, redemption["id"])
    assert (cancelled["status"], cancelled["cancelReason"], cancelled["coupons"]) == (
        "CANCELLED",
        "Payment not received in time",
        [],
    )
    assert cancelled["cancelledAt"] is not None
    booked = await points_and_ledger(staff, member["id"])
    assert booked["points"] == {"available": 500, "lifetimeRedeemed": 0}
    assert len(booked["entries"]) == entries_before + 1
    assert booked["entries"][0] == {"kind": "REFUND", "points": 400, "balanceAfter": 500}
    assert await stock_of(staff, item["id"]) == 5

    assert await cancel_unpaid(runtime) == 0
    assert await points_and_ledger(staff, member["id"]) == booked
    assert await stock_of(staff, item["id"]) == 5
    assert (await as_staff(staff, redemption["id"]))["status"] == "CANCELLED"
    after_cancel = await confirm(cashier, redemption["id"])
    assert error_codes(after_cancel) == [("CONFLICT", ["redemptionId"])]


async def test_the_timeout_leaves_confirmed_and_still_open_redemptions_alone(
    staff, cashier, gql, member_with_points, clock, runtime
):
    item = await cash_item(staff, stock=10)
    member, token = await member_with_points(1000)
    paid = (await redeem_item(gql, token, item["id"], 1))["redemption"]
    assert (await confirm(cashier, paid["id"]))["userErrors"] == []
    unpaid = (await redeem_item(gql, token, item["id"], 1))["redemption"]
    clock.advance(timedelta(minutes=31))
    still_open = (await redeem_item(gql, token, item["id"], 1))["redemption"]
    assert still_open["status"] == "AWAITING_PAYMENT"

    await cancel_unpaid(runtime)
    statuses = [
        (await as_staff(staff, redemption["id"]))["status"]
        for redemption in (paid, unpaid, still_open)
    ]
    assert statuses == ["CONFIRMED", "CANCELLED", "AWAITING_PAYMENT"]
    (coupon,) = (await as_staff(staff, paid["id"]))["coupons"]
    assert coupon["voidedAt"] is None
    assert (await verify(cashier, coupon["code"]))["state"] == "USABLE"
    assert (await points_and_ledger(staff, member["id"]))["points"]["available"] == 1000 - 400
    assert await stock_of(staff, item["id"]) == 8
    # The open one can still be paid.
    assert (await confirm(cashier, still_open["id"]))["redemption"]["status"] == "CONFIRMED"


def test_cancelling_unpaid_redemptions_is_a_standard_job():
    jobs = {job.name: job for job in standard_jobs(3600, 30)}
    assert "cancel-unpaid" in jobs
    job = jobs["cancel-unpaid"]
    assert job.interval == 60
    assert job.run is cancel_unpaid


# ---------------------------------------------------------------------------------------------
# fulfilment


async def test_staff_fulfil_a_confirmed_redemption_once(
    staff, cashier, gql, member_with_points, clock
):
    item = await create_catalog_item(staff, kind="PHYSICAL", pointsPrice=120, stock=3)
    _, token = await member_with_points(500)
    redeemed = await redeem_item(gql, token, item["id"], shippingAddress=ADDRESS)
    assert redeemed["userErrors"] == []
    redemption = redeemed["redemption"]
    assert redemption["status"] == "CONFIRMED"
    before = clock.now()
    shipped = await fulfil(cashier, redemption["id"], " SF1234567 ")
    after = clock.now()
    assert shipped["userErrors"] == []
    done = shipped["redemption"]
    assert (done["status"], done["trackingReference"]) == ("FULFILLED", "SF1234567")
    assert before <= when(done["fulfilledAt"]) <= after
    twice = await fulfil(cashier, redemption["id"], "OTHER-999")
    assert twice["userErrors"] == []
    assert twice["redemption"]["status"] == "FULFILLED"
    assert twice["redemption"]["trackingReference"] == "SF1234567"
    assert twice["redemption"]["fulfilledAt"] == done["fulfilledAt"]


async def test_only_a_confirmed_redemption_can_be_fulfilled(
    staff, cashier, gql, member_with_points
):
    _, _, _, unpaid = await awaiting(staff, gql, member_with_points, quantity=1)
    refused = await fulfil(cashier, unpaid["id"])
    assert error_codes(refused) == [("CONFLICT", ["redemptionId"])]
    assert (await as_staff(staff, unpaid["id"]))["status"] == "AWAITING_PAYMENT"

    _, _, _, cancelled = await coupon_redemption(staff, gql, member_with_points)
    assert (await staff_cancel(staff, cancelled["id"]))["userErrors"] == []
    refused = await fulfil(cashier, cancelled["id"])
    assert error_codes(refused) == [("CONFLICT", ["redemptionId"])]
    after = await as_staff(staff, cancelled["id"])
    assert (after["status"], after["fulfilledAt"], after["trackingReference"]) == (
        "CANCELLED",
        None,
        None,
    )


async def test_a_fulfilled_redemption_cannot_be_cancelled(staff, cashier, gql, member_with_points):
    item = await create_catalog_item(staff, kind="PHYSICAL", pointsPrice=120, stock=3)
    member, token = await member_with_points(500)
    redemption = (await redeem_item(gql, token, item["id"], shippingAddress=ADDRESS))["redemption"]
    assert (await fulfil(cashier, redemption["id"]))["userErrors"] == []
    refused = await staff_cancel(staff, redemption["id"])
    assert error_codes(refused) == [("CONFLICT", ["redemptionId"])]
    assert (await as_staff(staff, redemption["id"]))["status"] == "FULFILLED"
    assert (await points_and_ledger(staff, member["id"]))["points"]["available"] == 380
    assert await stock_of(staff, item["id"]) == 2


async def test_a_member_cannot_fulfil(staff, gql, member_with_points):
    item = await create_catalog_item(staff, kind="PHYSICAL", pointsPrice=120)
    _, token = await member_with_points(500)
    redemption = (await redeem_item(gql, token, item["id"], shippingAddress=ADDRESS))["redemption"]
    mine = {"redemptionId": redemption["id"], "trackingReference": "MINE", "idempotencyKey": key()}
    body = await gql(FULFIL, {"input": mine}, token=token)
    assert top_level_codes(body) == ["FORBIDDEN"]
    assert (await as_staff(staff, redemption["id"]))["status"] == "CONFIRMED"


# ---------------------------------------------------------------------------------------------
# coupons at the checkout


async def test_a_coupon_is_verified_then_used_once(staff, cashier, gql, member_with_points, clock):
    _, _, _, redemption = await coupon_redemption(staff, gql, member_with_points)
    (coupon,) = redemption["coupons"]
    assert CODE.match(coupon["code"])
    checked = await verify(cashier, coupon["code"])
    assert checked == {"coupon": coupon, "state": "USABLE", "userErrors": []}

    first_key = key()
    before = clock.now()
    used = await consume(cashier, coupon["code"], "RCPT-42", first_key)
    after = clock.now()
    assert used["userErrors"] == []
    assert used["coupon"]["code"] == coupon["code"]
    assert before <= when(used["coupon"]["usedAt"]) <= after
    checked = await verify(cashier, coupon["code"])
    assert (checked["state"], checked["coupon"]["usedAt"]) == ("USED", used["coupon"]["usedAt"])

    again = await consume(cashier, coupon["code"], "RCPT-43")
    assert error_codes(again) == [("CONFLICT", ["code"])]
    assert again["coupon"] is None
    replay = await consume(cashier, coupon["code"], "RCPT-42", first_key)
    assert replay == used
    stored = await Coupon.get(code=coupon["code"])
    assert (stored.used_reference, stored.used_at) == ("RCPT-42", when(used["coupon"]["usedAt"]))
    # Its only coupon used: the redemption is fulfilled.
    done = await as_staff(staff, redemption["id"])
    assert (done["status"], done["fulfilledAt"]) == ("FULFILLED", used["coupon"]["usedAt"])


async def test_codes_are_matched_whatever_their_case_dashes_and_spaces(
    staff, cashier, gql, member_with_points
):
    _, _, _, redemption = await coupon_redemption(staff, gql, member_with_points)
    code = redemption["coupons"][0]["code"]
    typed = f" {code[:4].lower()}-{code[4:8]} {code[8:].lower()} "
    checked = await verify(cashier, typed)
    assert (checked["userErrors"], checked["state"], checked["coupon"]["code"]) == (
        [],
        "USABLE",
        code,
    )
    used = await consume(cashier, typed)
    assert used["userErrors"] == []
    assert used["coupon"]["code"] == code
    assert (await verify(cashier, code))["state"] == "USED"


async def test_codes_are_twelve_unambiguous_characters_and_all_different(
    staff, gql, member_with_points, runtime
):
    _, _, _, redemption = await coupon_redemption(
        staff, gql, member_with_points, quantity=5, pointsPrice=10
    )
    codes = [coupon["code"] for coupon in redemption["coupons"]]
    assert len(codes) == 5
    assert len(set(codes)) == 5
    for code in codes:
        assert CODE.match(code), code
        assert not set(code) & set("01OIL"), code


async def test_an_expired_coupon_is_ended(staff, cashier, gql, member_with_points, clock):
    _, _, _, redemption = await coupon_redemption(staff, gql, member_with_points, couponValidDays=1)
    (coupon,) = redemption["coupons"]
    clock.advance(timedelta(days=1, minutes=1))
    checked = await verify(cashier, coupon["code"])
    assert (checked["state"], checked["coupon"]["usedAt"]) == ("EXPIRED", None)
    refused = await consume(cashier, coupon["code"])
    assert error_codes(refused) == [("ENDED", ["code"])]
    assert (await verify(cashier, coupon["code"]))["state"] == "EXPIRED"
    assert (await Coupon.get(code=coupon["code"])).used_at is None
    assert (await as_staff(staff, redemption["id"]))["status"] == "CONFIRMED"


async def test_a_cancelled_redemptions_coupons_are_void(
    staff, cashier, gql, member_with_points, clock
):
    _, member, _, redemption = await coupon_redemption(staff, gql, member_with_points, quantity=2)
    before = clock.now()
    assert (await staff_cancel(staff, redemption["id"]))["userErrors"] == []
    after = clock.now()
    assert (await points_and_ledger(staff, member["id"]))["points"]["available"] == 500
    for coupon in redemption["coupons"]:
        checked = await verify(cashier, coupon["code"])
        assert checked["state"] == "VOID"
        assert before <= when(checked["coupon"]["voidedAt"]) <= after
        refused = await consume(cashier, coupon["code"])
        assert error_codes(refused) == [("NOT_FOUND", ["code"])]
        assert (await Coupon.get(code=coupon["code"])).used_at is None


async def test_unknown_codes_and_other_brands_codes_are_not_found(
    staff, cashier, gql, member_with_points, make_token
):
    other = await create_brand(unique_code(), "Other Brand")
    other_admin = Staff(gql, make_token(other, "ADMIN", "admin-2"))
    item = await create_catalog_item(other_admin, kind="COUPON", pointsPrice=10)
    stranger = await other_admin.register("Zed")
    await other_admin.purchase(stranger["id"], "100.00")
    theirs = await redeem_item(gql, make_token(other, "MEMBER", stranger["id"]), item["id"])
    their_code = theirs["redemption"]["coupons"][0]["code"]

    for code in ("23456789ABCD", their_code, ""):
        checked = await verify(cashier, code)
        assert (error_codes(checked), checked["coupon"], checked["state"]) == (
            [("NOT_FOUND", ["code"])],
            None,
            None,
        )
    for code in ("23456789ABCD", their_code):
        refused = await consume(cashier, code)
        assert error_codes(refused) == [("NOT_FOUND", ["code"])]
    assert (await Coupon.get(code=their_code)).used_at is None
    assert (await verify(other_admin, their_code))["state"] == "USABLE"


async def test_a_consume_needs_a_reference(staff, cashier, gql, member_with_points):
    _, _, _, redemption = await coupon_redemption(staff, gql, member_with_points)
    code = redemption["coupons"][0]["code"]
    refused = await consume(cashier, code, "  ")
    assert error_codes(refused) == [("INVALID_INPUT", ["reference"])]
    assert (await verify(cashier, code))["state"] == "USABLE"


async def test_twenty_tills_racing_for_one_code_use_it_once(
    staff, cashier, gql, member_with_points
):
    _, _, _, redemption = await coupon_redemption(staff, gql, member_with_points)
    code = redemption["coupons"][0]["code"]
    results = await asyncio.gather(*(consume(cashier, code, f"TILL-{till}") for till in range(20)))
    succeeded = [result for result in results if result["userErrors"] == []]
    assert len(succeeded) == 1
    assert (
        sorted(error_codes(result)[0][0] for result in results if result["userErrors"])
        == ["CONFLICT"] * 19
    )
    stored = await Coupon.get(code=code)
    winner = succeeded[0]["coupon"]
    assert stored.used_reference is not None and stored.used_reference.startswith("TILL-")
    assert stored.used_at == when(winner["usedAt"])
    assert (await verify(cashier, code))["state"] == "USED"


async def test_a_redemption_is_fulfilled_once_all_its_coupons_are_used(
    staff, cashier, gql, member_with_points
):
    _, _, _, redemption = await coupon_redemption(staff, gql, member_with_points, quantity=2)
    first, second = (coupon["code"] for coupon in redemption["coupons"])
    assert (await consume(cashier, first))["userErrors"] == []
    halfway = await as_staff(staff, redemption["id"])
    assert (halfway["status"], halfway["fulfilledAt"]) == ("CONFIRMED", None)
    used = await consume(cashier, second)
    assert used["userErrors"] == []
    done = await as_staff(staff, redemption["id"])
    assert (done["status"], done["fulfilledAt"]) == ("FULFILLED", used["coupon"]["usedAt"])
    # Used coupons keep the redemption from being cancelled.
    refused = await staff_cancel(staff, redemption["id"])
    assert error_codes(refused) == [("CONFLICT", ["redemptionId"])]


async def test_a_partly_used_redemption_cannot_be_cancelled(
    staff, cashier, gql, member_with_points
):
    _, member, _, redemption = await coupon_redemption(staff, gql, member_with_points, quantity=2)
    assert (await consume(cashier, redemption["coupons"][0]["code"]))["userErrors"] == []
    refused = await staff_cancel(staff, redemption["id"])
    assert error_codes(refused) == [("CONFLICT", ["redemptionId"])]
    assert (await as_staff(staff, redemption["id"]))["status"] == "CONFIRMED"
    assert (await points_and_ledger(staff, member["id"]))["points"]["available"] == 300
    assert (await verify(cashier, redemption["coupons"][1]["code"]))["state"] == "USABLE"


async def test_members_cannot_verify_or_consume_coupons(staff, gql, member_with_points):
    _, _, token, redemption = await coupon_redemption(staff, gql, member_with_points)
    code = redemption["coupons"][0]["code"]
    body = await gql(VERIFY, {"code": code}, token=token)
    assert top_level_codes(body) == ["FORBIDDEN"]
    body = await gql(
        CONSUME,
        {"input": {"code": code, "reference": "SELF", "idempotencyKey": key()}},
        token=token,
    )
    assert top_level_codes(body) == ["FORBIDDEN"]
    assert (await Coupon.get(code=code)).used_at is None


# ---------------------------------------------------------------------------------------------
# lists of redemptions


async def test_a_member_pages_their_own_redemptions_newest_first(staff, gql, member_with_points):
    items = [
        await create_catalog_item(staff, sku=f"LIST-{n}", kind="COUPON", pointsPrice=10)
        for n in range(3)
    ]
    _, token = await member_with_points(500, "Ada")
    _, other_token = await member_with_points(500, "Bea")
    made = []
    for item in items:
        made.append((await redeem_item(gql, token, item["id"]))["redemption"]["id"])
    await redeem_item(gql, other_token, items[0]["id"])

    body = await gql(MY_REDEMPTIONS, {"first": 2}, token=token)
    assert "errors" not in body, body
    page = body["data"]["me"]["redemptions"]
    assert page["totalCount"] == 3
    assert [edge["node"]["id"] for edge in page["edges"]] == [made[2], made[1]]
    assert [edge["node"]["item"]["sku"] for edge in page["edges"]] == ["LIST-2", "LIST-1"]
    assert page["pageInfo"]["hasNextPage"] is True
    body = await gql(
        MY_REDEMPTIONS, {"first": 2, "after": page["pageInfo"]["endCursor"]}, token=token
    )
    rest = body["data"]["me"]["redemptions"]
    assert [edge["node"]["id"] for edge in rest["edges"]] == [made[0]]
    assert (rest["totalCount"], rest["pageInfo"]["hasNextPage"]) == (3, False)


async def test_staff_list_redemptions_by_member_and_status(
    staff, cashier, gql, member_with_points, make_token, brand
):
    item = await cash_item(staff, pointsPrice=10, stock=None)
    ada, ada_token = await member_with_points(500, "Ada")
    bea, bea_token = await member_with_points(500, "Bea")
    ada_paid = (await redeem_item(gql, ada_token, item["id"]))["redemption"]
    assert (await confirm(cashier, ada_paid["id"]))["userErrors"] == []
    ada_unpaid = (await redeem_item(gql, ada_token, item["id"]))["redemption"]
    bea_unpaid = (await redeem_item(gql, bea_token, item["id"]))["redemption"]

    async def listed(token: str, **variables) -> tuple[int, list[str]]:
        body = await gql(STAFF_REDEMPTIONS, {"first": 10, **variables}, token=token)
        assert "errors" not in body, body
        found = body["data"]["redemptions"]
        return found["totalCount"], [edge["node"]["id"] for edge in found["edges"]]

    for role in ("STAFF", "ADMIN", "ANALYST"):
        token = make_token(brand, role, f"{role.lower()}-1")
        assert await listed(token) == (3, [bea_unpaid["id"], ada_unpaid["id"], ada_paid["id"]])
    assert await listed(cashier.token, memberId=ada["id"]) == (
        2,
        [ada_unpaid["id"], ada_paid["id"]],
    )
    assert await listed(cashier.token, status="AWAITING_PAYMENT") == (
        2,
        [bea_unpaid["id"], ada_unpaid["id"]],
    )
    assert await listed(cashier.token, memberId=ada["id"], status="CONFIRMED") == (
        1,
        [ada_paid["id"]],
    )
    assert await listed(cashier.token, memberId=bea["id"], status="CANCELLED") == (0, [])

    body = await gql(STAFF_REDEMPTIONS, {"first": 10}, token=ada_token)
    assert body["data"] is None
    assert top_level_codes(body) == ["FORBIDDEN"]


async def test_another_brands_staff_see_none_of_these_redemptions(
    staff, gql, member_with_points, make_token
):
    item = await create_catalog_item(staff, kind="COUPON", pointsPrice=10)
    _, token = await member_with_points(500)
    redemption = (await redeem_item(gql, token, item["id"]))["redemption"]
    other = await create_brand(unique_code(), "Other Brand")
    other_admin = Staff(gql, make_token(other, "ADMIN", "admin-2"))
    body = await gql(STAFF_REDEMPTIONS, {"first": 10}, token=other_admin.token)
    assert body["data"]["redemptions"] == {"totalCount": 0, "edges": []}
    refused = await confirm(other_admin, redemption["id"])
    assert error_codes(refused) == [("NOT_FOUND", ["redemptionId"])]
    refused = await fulfil(other_admin, redemption["id"])
    assert error_codes(refused) == [("NOT_FOUND", ["redemptionId"])]
    stored = await Redemption.get(id=pk(redemption["id"]))
    assert stored.status.value == "CONFIRMED"
