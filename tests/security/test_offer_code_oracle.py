"""uploadOfferCodes is no oracle on other partners' codes: codes are unique among a partner's
own, so a guess of another partner's code uploads as the caller's own code, and that code is
still used only at the till of the partner whose offer gave it out."""

from __future__ import annotations

import asyncio
import contextvars
from datetime import UTC, datetime

import asyncpg
from tortoise.transactions import in_transaction

from db.models import CatalogItem, Coupon
from resolvers.ids import parse_id
from tests.support.factories import Staff, key, with_key
from tests.support.partners import create_partner, issue, partner_gql, publish, review

SHARED_CODE = "BOLT-0001"
# Sessions waiting for the session with process id $1.
WAITING_FOR = "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))"
UPLOAD = """
mutation ($input: UploadOfferCodesInput!) {
  uploadOfferCodes(input: $input) { uploaded userErrors { code field message } }
}
"""
REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) { redemption { coupons { code } } userErrors { code } }
}
"""
VERIFY = "query ($code: String!) { verifyCoupon(code: $code) { state userErrors { code } } }"
CONSUME = """
mutation ($input: ConsumeCouponInput!) {
  consumeCoupon(input: $input) { coupon { code usedAt } userErrors { code } }
}
"""


async def partner_offer(client, staff: Staff, *codes: str) -> tuple[str, str]:
    """A new partner's key and its approved offer, whose pool holds `codes`."""
    partner = await create_partner(staff)
    secret = (await issue(staff, partner["id"], ["OFFERS_WRITE", "COUPONS_VERIFY"]))["secret"]
    offer = await publish(client, secret, sku=f"O-{key()[:8]}", pointsPrice=10)
    uploaded = await upload(client, secret, offer["item"]["id"], *codes)
    assert uploaded == {"uploaded": len(codes), "userErrors": []}, uploaded
    await review(staff, offer["item"]["id"], approve=True)
    return secret, offer["item"]["id"]


async def upload(client, secret: str, item_id: str, *codes: str) -> dict:
    input = with_key(UPLOAD, {"itemId": item_id, "codes": list(codes)})
    body = await partner_gql(client, secret, UPLOAD, {"input": input})
    assert "errors" not in body, body
    return body["data"]["uploadOfferCodes"]


async def given_code(gql, token: str, item_id: str) -> str:
    body = await gql(REDEEM, {"input": {"itemId": item_id, "idempotencyKey": key()}}, token=token)
    assert body["data"]["redeem"]["userErrors"] == [], body
    (coupon,) = body["data"]["redeem"]["redemption"]["coupons"]
    return coupon["code"]


async def verify(client, gql, code: str, *, secret: str = "", token: str = "") -> dict:
    """verifyCoupon with a partner's key, or else with a staff token."""
    if secret:
        body = await partner_gql(client, secret, VERIFY, {"code": code})
    else:
        body = await gql(VERIFY, {"code": code}, token=token)
    return body["data"]["verifyCoupon"]


async def consume(client, secret: str, code: str) -> dict:
    consumed = {"code": code, "reference": "till-1", "idempotencyKey": key()}
    body = await partner_gql(client, secret, CONSUME, {"input": consumed})
    return body["data"]["consumeCoupon"]


async def test_another_partners_code_uploads_as_ones_own_and_is_not_named(client, staff):
    await partner_offer(client, staff, SHARED_CODE, "BOLT-0002")
    partner_b, offer_b = await partner_offer(client, staff, "OWN-0001")
    uploaded = await upload(client, partner_b, offer_b, SHARED_CODE, "BOLT-0003")
    assert uploaded == {"uploaded": 2, "userErrors": []}


async def test_a_duplicate_among_the_partners_own_codes_is_named(client, staff):
    partner_b, offer_b = await partner_offer(client, staff, "OWN-0001", "OWN-0002")
    refused = await upload(client, partner_b, offer_b, "OWN-0002", "OWN-0003")
    assert refused["uploaded"] is None
    (error,) = refused["userErrors"]
    assert (error["code"], error["field"]) == ("DUPLICATE", ["input", "codes"])
    assert "OWN-0002" in error["message"] and "OWN-0003" not in error["message"]


async def test_a_code_another_upload_commits_meanwhile_is_a_duplicate_named(
    client, staff, database_url
):
    """Both uploads pass the check for codes in use; the unique index refuses the later one,
    which answers DUPLICATE naming its own code, as if it had come second."""
    partner_b, offer_b = await partner_offer(client, staff, "OWN-0001")
    item = await CatalogItem.get(id=parse_id(offer_b)[1])
    # The upload must not run in the rival's transaction, which in_transaction makes current.
    outside = contextvars.copy_context()
    async with in_transaction() as rival:  # another upload of the partner's, not committed
        await Coupon.create(item_id=item.id, brand_id=item.brand_id, partner_id=item.partner_id,
                            code="RACE-0001", value=item.coupon_value, created_at=datetime.now(UTC),
                            using_db=rival)  # fmt: skip
        uploading = asyncio.create_task(
            upload(client, partner_b, offer_b, "RACE-0001", "RACE-0002"), context=outside
        )
        (row,) = await rival.execute_query_dict("SELECT pg_backend_pid() AS pid")
        await waiting_for(database_url, row["pid"])
    refused = await uploading
    assert refused["uploaded"] is None
    (error,) = refused["userErrors"]
    assert (error["code"], error["field"]) == ("DUPLICATE", ["input", "codes"])
    assert "RACE-0001" in error["message"] and "RACE-0002" not in error["message"]
    assert await Coupon.filter(item_id=item.id, code="RACE-0002").count() == 0


async def waiting_for(database_url: str, pid: int, within: float = 10.0) -> None:
    """Until another session (the upload's insert) waits for the transaction of `pid`; watched
    from a connection of its own (a transaction reads statistics once)."""
    watcher = await asyncpg.connect(database_url)
    try:
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            if await watcher.fetchval(WAITING_FOR, pid):
                return
            await asyncio.sleep(0.02)
    finally:
        await watcher.close()
    raise AssertionError("The upload never waited on the uncommitted code.")


async def test_a_code_two_partners_share_is_used_only_at_the_till_of_the_one_that_gave_it(
    client, gql, staff, make_token, brand, member_with_points
):
    _, member_token = await member_with_points(1000)
    staff_token = make_token(brand, "STAFF", "cashier-1")
    partner_a, offer_a = await partner_offer(client, staff, SHARED_CODE)
    partner_b, offer_b = await partner_offer(client, staff, SHARED_CODE)
    assert await given_code(gql, member_token, offer_a) == SHARED_CODE

    # B has not given its copy out: B finds nothing, A and the brand's staff find A's.
    assert (await verify(client, gql, SHARED_CODE, secret=partner_b))["userErrors"] == [
        {"code": "NOT_FOUND"}
    ]
    assert (await verify(client, gql, SHARED_CODE, secret=partner_a))["state"] == "USABLE"
    assert (await verify(client, gql, SHARED_CODE, token=staff_token))["state"] == "USABLE"

    # Once both gave it out, each partner uses its own copy; staff cannot tell which.
    assert await given_code(gql, member_token, offer_b) == SHARED_CODE
    assert (await consume(client, partner_a, SHARED_CODE))["userErrors"] == []
    assert (await verify(client, gql, SHARED_CODE, secret=partner_b))["state"] == "USABLE"
    assert (await consume(client, partner_b, SHARED_CODE))["userErrors"] == []
    staff_view = await verify(client, gql, SHARED_CODE, token=staff_token)
    assert staff_view["userErrors"] == [{"code": "CONFLICT"}]
