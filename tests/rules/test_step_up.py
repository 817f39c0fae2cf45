"""Step-up verification: a redemption above the brand's thresholds, or by a flagged member,
answers VERIFICATION_REQUIRED; requestVerification sends a one-time code through the brand's
gateway (and answers it in development); the code is single-use, expires and allows a few
tries; concurrent uses of one code redeem once."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from db.models import RiskFlag
from domain.notices.gateway import deliver_due_notices
from resolvers.ids import parse_id
from tests.support.catalog import create_catalog_item
from tests.support.factories import key

STEP_UP = """
mutation ($input: SetStepUpVerificationInput!) {
  setStepUpVerification(input: $input) {
    stepUp { enabled pointsAbove valueAbove flaggedMembers } userErrors { code }
  }
}
"""
REQUEST = """
mutation ($input: RequestVerificationInput!) {
  requestVerification(input: $input) { sent code userErrors { code retryAfter } }
}
"""
REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) { redemption { status } userErrors { code field message } }
}
"""
GATEWAY = """
mutation ($input: RegisterNoticeGatewayInput!) {
  registerNoticeGateway(input: $input) { secret userErrors { code } }
}
"""
INBOX = "{ me { notices(first: 20) { edges { node { kind } } } } }"
SET_LIMITS = """
mutation ($input: SetVelocityLimitsInput!) {
  setVelocityLimits(input: $input) { userErrors { code } }
}
"""


async def redeem(gql, token: str, item: dict, code: str | None = None, key_: str | None = None):
    input = {"itemId": item["id"], "quantity": 1, "idempotencyKey": key_ or key()}
    if code is not None:
        input["verificationCode"] = code
    body = await gql(REDEEM, {"input": input}, token=token)
    assert "errors" not in body, body
    return body["data"]["redeem"]


async def ask(gql, token: str) -> dict:
    body = await gql(REQUEST, {"input": {"idempotencyKey": key()}}, token=token)
    assert "errors" not in body, body
    return body["data"]["requestVerification"]


async def test_a_large_redemption_needs_a_code_sent_through_the_gateway(
    staff, gql, brand, make_token, runtime, receiver
):
    stepped = await staff.call(STEP_UP, {"enabled": True, "pointsAbove": 500})
    assert stepped["stepUp"] == {"enabled": True, "pointsAbove": 500, "valueAbove": None,
                                 "flaggedMembers": False}  # fmt: skip
    await staff.call(GATEWAY, {"channel": "SMS", "url": receiver.url})
    member = await staff.register("Ada", phone="13800000002")
    await staff.purchase(member["id"], "2000.00")
    token = make_token(brand, "MEMBER", member["id"])
    small = await create_catalog_item(staff, pointsPrice=100)
    large = await create_catalog_item(staff, pointsPrice=800)

    assert (await redeem(gql, token, small))["userErrors"] == []  # below the threshold
    refused = await redeem(gql, token, large)
    assert refused["userErrors"][0]["code"] == "VERIFICATION_REQUIRED"
    assert refused["userErrors"][0]["field"] == ["verificationCode"]

    asked = await ask(gql, token)
    assert asked["sent"] is True and len(asked["code"]) == 6  # development answers it
    again = await ask(gql, token)
    assert again["userErrors"][0]["code"] == "RATE_LIMITED" and again["userErrors"][0]["retryAfter"]
    await deliver_due_notices(runtime)
    (body,) = [json.loads(b) for _, b in receiver.received if b"VERIFICATION_CODE" in b]
    assert body["data"]["contact"] == {"phoneNumber": "13800000002"}  # a code needs its phone
    assert asked["code"] in body["data"]["texts"]["en"]

    wrong = await redeem(gql, token, large, "000000" if asked["code"] != "000000" else "111111")
    assert wrong["userErrors"][0]["code"] == "VERIFICATION_REQUIRED"
    done = await redeem(gql, token, large, asked["code"])
    assert done["userErrors"] == [] and done["redemption"]["status"] == "CONFIRMED"
    reused = await redeem(gql, token, large, asked["code"])  # single-use
    assert reused["userErrors"][0]["code"] == "VERIFICATION_REQUIRED"
    inbox = await gql(INBOX, token=token)
    kinds = {edge["node"]["kind"] for edge in inbox["data"]["me"]["notices"]["edges"]}
    assert "VERIFICATION_CODE" not in kinds and "REDEMPTION_CONFIRMED" in kinds


async def test_a_code_expires(staff, gql, brand, make_token, runtime):
    await staff.call(STEP_UP, {"enabled": True, "valueAbove": "0.50"})  # 50 points at 0.01
    member = await staff.register("Eve")
    await staff.purchase(member["id"], "500.00")
    token = make_token(brand, "MEMBER", member["id"])
    item = await create_catalog_item(staff, pointsPrice=100)
    code = (await ask(gql, token))["code"]
    member_pk = parse_id(member["id"])[1]
    await runtime.redis.pexpire(runtime.keys.key("verify", member_pk), 1)  # its 5 minutes pass
    await asyncio.sleep(0.05)
    expired = await redeem(gql, token, item, code)
    assert "expired" in expired["userErrors"][0]["message"]


async def test_a_code_allows_five_tries_and_one_use_under_fire(staff, gql, brand, make_token):
    await staff.call(STEP_UP, {"enabled": True, "pointsAbove": 10})
    member = await staff.register("Bea")
    await staff.purchase(member["id"], "5000.00")
    token = make_token(brand, "MEMBER", member["id"])
    item = await create_catalog_item(staff, pointsPrice=100)

    first = await ask(gql, token)
    wrong = "123456" if first["code"] != "123456" else "654321"
    for _ in range(5):
        assert (await redeem(gql, token, item, wrong))["userErrors"][0]["code"] == (
            "VERIFICATION_REQUIRED"
        )
    spent = await redeem(gql, token, item, first["code"])  # the right one, too late
    assert "ask for a new one" in spent["userErrors"][0]["message"]


async def test_concurrent_uses_of_one_code_redeem_once(staff, gql, brand, make_token, runtime):
    await staff.call(STEP_UP, {"enabled": True, "pointsAbove": 10})
    member = await staff.register("Cy")
    await staff.purchase(member["id"], "5000.00")
    token = make_token(brand, "MEMBER", member["id"])
    item = await create_catalog_item(staff, pointsPrice=100)
    code = (await ask(gql, token))["code"]
    outcomes = await asyncio.gather(*(redeem(gql, token, item, code) for _ in range(6)))
    assert sum(outcome["userErrors"] == [] for outcome in outcomes) == 1


async def test_a_flagged_member_needs_a_code_for_any_redemption(staff, gql, brand, make_token):
    await staff.call(STEP_UP, {"enabled": True, "flaggedMembers": True})
    member = await staff.register("Di")
    await staff.purchase(member["id"], "500.00")
    token = make_token(brand, "MEMBER", member["id"])
    item = await create_catalog_item(staff, pointsPrice=10)
    assert (await redeem(gql, token, item))["userErrors"] == []
    limits = [{"kind": "EARNS_PER_MEMBER", "window": "DAY", "limit": 1, "action": "FLAG"}]
    await staff.call(SET_LIMITS, {"limits": limits})
    await staff.purchase(member["id"], "10.00")
    await staff.purchase(member["id"], "10.00")  # past the limit: flagged, not refused
    assert await RiskFlag.filter(member_id=parse_id(member["id"])[1], status="OPEN").exists()
    assert (await redeem(gql, token, item))["userErrors"][0]["code"] == "VERIFICATION_REQUIRED"


CREATE_SALE = """
mutation ($input: CreateFlashSaleInput!) {
  createFlashSale(input: $input) { flashSale { id } userErrors { code } }
}
"""
ENTER = """
mutation ($input: EnterFlashSaleInput!) {
  enterFlashSale(input: $input) {
    redemption { status pointsSpent } userErrors { code field message }
  }
}
"""


async def enter(gql, token: str, sale_id: str, idem: str, code: str | None = None) -> dict:
    input = {"flashSaleId": sale_id, "quantity": 1, "idempotencyKey": idem}
    if code is not None:
        input["verificationCode"] = code
    body = await gql(ENTER, {"input": input}, token=token)
    assert "errors" not in body, body
    return body["data"]["enterFlashSale"]


async def test_a_flash_sale_entry_above_the_threshold_needs_a_code_and_keeps_its_unit(
    staff, gql, brand, make_token, clock
):
    await staff.call(STEP_UP, {"enabled": True, "pointsAbove": 500})
    member = await staff.register("Flo")
    await staff.purchase(member["id"], "2000.00")
    token = make_token(brand, "MEMBER", member["id"])
    item = await create_catalog_item(staff, pointsPrice=800)
    starts_at = clock.now() + timedelta(seconds=1)
    created = await staff.call(
        CREATE_SALE,
        {"itemId": item["id"], "pointsPrice": 600, "totalStock": 1, "perMemberLimit": 1,
         "startsAt": starts_at.isoformat(), "endsAt": (starts_at + timedelta(hours=1)).isoformat()},
    )  # fmt: skip
    assert created["userErrors"] == [], created
    sale_id = created["flashSale"]["id"]
    clock.advance(timedelta(seconds=2))

    idem = key()
    refused = await enter(gql, token, sale_id, idem)
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("VERIFICATION_REQUIRED", ["verificationCode"])
    ]
    assert refused["redemption"] is None
    # The only unit went back: the same key, with the code, takes it.
    code = (await ask(gql, token))["code"]
    entered = await enter(gql, token, sale_id, idem, code)
    assert entered["userErrors"] == []
    assert entered["redemption"] == {"status": "CONFIRMED", "pointsSpent": 600}
    again = await enter(gql, token, sale_id, idem, code)  # a replay, not a second unit
    assert again["redemption"] == entered["redemption"]


async def test_asking_again_with_the_same_key_answers_as_the_first_time(
    staff, gql, brand, make_token, runtime, receiver
):
    await staff.call(GATEWAY, {"channel": "SMS", "url": receiver.url})
    member = await staff.register("Gus", phone="13800000009")
    token = make_token(brand, "MEMBER", member["id"])
    idem = key()
    answers = []
    for _ in range(2):
        body = await gql(REQUEST, {"input": {"idempotencyKey": idem}}, token=token)
        answers.append(body["data"]["requestVerification"])
    assert answers[0]["sent"] is True and answers[0]["code"]
    assert answers[1] == answers[0]  # a retry: neither RATE_LIMITED nor a second code
    await deliver_due_notices(runtime)
    codes_sent = [b for _, b in receiver.received if b"VERIFICATION_CODE" in b]
    assert len(codes_sent) == 1
    another = await ask(gql, token)  # a new key within 30 s is a new request
    assert another["userErrors"][0]["code"] == "RATE_LIMITED"
