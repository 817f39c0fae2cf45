"""Webhooks through a real HTTP receiver on a free local port: signed and verifiable, retried
with growing delays and then dead, delivered after a crash, never for a rolled-back change;
every id in a payload is the API's global id."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from db.models import DeliveryStatus, WebhookDelivery, WebhookEvent
from domain.webhooks import deliver_due
from resolvers.ids import encode_id
from tests.support.factories import key
from tests.support.live import free_port
from tests.support.partners import (
    REGISTER_ENDPOINT,
    create_partner,
    issue,
    partner_gql,
    partner_with_endpoint,
    publish,
    review,
)
from tests.support.receiver import verify

DELIVERIES = """
{ webhookDeliveries(first: 20) { edges { node { id status attempts eventType eventId } } } }
"""
REDELIVER = """
mutation ($input: RedeliverWebhookInput!) {
  redeliverWebhook(input: $input) { delivery { status } userErrors { code } }
}
"""
REDEEM = """
mutation ($input: RedeemInput!) { redeem(input: $input) { userErrors { code } } }
"""
REDEEM_FOR_ID = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) { redemption { id coupons { code } } userErrors { code } }
}
"""
CONSUME = """
mutation ($input: ConsumeCouponInput!) {
  consumeCoupon(input: $input) { coupon { usedAt } userErrors { code } }
}
"""
CANCEL = """
mutation ($input: CancelRedemptionInput!) {
  cancelRedemption(input: $input) { redemption { status } userErrors { code } }
}
"""


async def latest_delivery(offer: dict) -> WebhookDelivery:
    """The delivery of the event that approving `offer` put in the outbox."""
    events = await WebhookEvent.filter(type="offer.approved").order_by("-id")
    event = next(event for event in events if event.payload["itemId"] == offer["id"])
    return await WebhookDelivery.get(event_id=event.id)


async def test_a_delivery_arrives_signed_and_verifiable(client, staff, runtime, receiver):
    key_secret, signing = await partner_with_endpoint(
        client, staff, receiver.url, ["OFFER_APPROVED"]
    )
    offer = (await publish(client, key_secret, sku=f"W-{key()[:8]}"))["item"]
    await review(staff, offer["id"], approve=True)
    assert await deliver_due(runtime) >= 1
    (headers, body), *_ = [r for r in receiver.received if b"offer.approved" in r[1]]
    assert verify(signing, headers, body)
    assert not verify("whsec_wrong", headers, body)
    event = json.loads(body)
    assert event["type"] == "offer.approved" and event["data"]["sku"].startswith("W-")
    assert headers["x-pointsmall-event-id"] == event["id"]
    listed = await partner_gql(client, key_secret, DELIVERIES)
    nodes = [e["node"] for e in listed["data"]["webhookDeliveries"]["edges"]]
    assert [(n["status"], n["attempts"], n["eventType"], n["eventId"]) for n in nodes] == [
        ("DELIVERED", 1, "OFFER_APPROVED", event["id"])
    ]


async def test_a_failing_receiver_gets_growing_retries_then_a_dead_letter(
    client, staff, runtime, receiver, clock
):
    receiver.status = 500
    key_secret, _ = await partner_with_endpoint(client, staff, receiver.url, ["OFFER_APPROVED"])
    offer = (await publish(client, key_secret, sku=f"F-{key()[:8]}"))["item"]
    await review(staff, offer["id"], approve=True)
    waits = []
    for _ in range(6):
        await deliver_due(runtime)
        delivery = await latest_delivery(offer)
        waits.append(delivery.next_attempt_at - clock.now())
        clock.advance(delivery.next_attempt_at - clock.now() + timedelta(seconds=1))
    assert delivery.attempts == 6 and delivery.status is DeliveryStatus.PENDING
    # 30 s, 1, 2, 4, 8, 16 min, each within ±50%: each wait longer than the one before last
    assert all(later > earlier for earlier, later in zip(waits, waits[2:], strict=False))
    assert timedelta(seconds=15) <= waits[0] <= timedelta(seconds=45)
    clock.advance(timedelta(hours=25))
    await deliver_due(runtime)
    dead = await latest_delivery(offer)
    assert (dead.status, dead.attempts, dead.last_status_code) == (DeliveryStatus.DEAD, 7, 500)
    await deliver_due(runtime)
    assert (await latest_delivery(offer)).attempts == 7  # the dead are left alone

    receiver.status = 200
    dead_id = encode_id("WebhookDelivery", dead.id)
    redeliver = {"input": {"id": dead_id, "idempotencyKey": key()}}
    again = await partner_gql(client, key_secret, REDELIVER, redeliver)
    assert again["data"]["redeliverWebhook"] == {"delivery": {"status": "PENDING"},
                                                 "userErrors": []}  # fmt: skip
    await deliver_due(runtime)
    assert (await latest_delivery(offer)).status is DeliveryStatus.DELIVERED


async def test_a_receiver_that_is_down_is_retried(client, staff, runtime):
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    key_secret, _ = await partner_with_endpoint(client, staff, url, ["OFFER_APPROVED"])
    offer = (await publish(client, key_secret, sku=f"D-{key()[:8]}"))["item"]
    await review(staff, offer["id"], approve=True)
    await deliver_due(runtime)
    delivery = await latest_delivery(offer)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert "ConnectError" in delivery.last_error


async def test_a_receiver_that_times_out_is_retried(client, staff, runtime, receiver):
    receiver.delay = 1.0
    key_secret, _ = await partner_with_endpoint(client, staff, receiver.url, ["OFFER_APPROVED"])
    offer = (await publish(client, key_secret, sku=f"T-{key()[:8]}"))["item"]
    await review(staff, offer["id"], approve=True)
    async with httpx.AsyncClient(timeout=0.2) as impatient:  # the job's own waits 5 s
        await deliver_due(runtime, impatient)
    delivery = await latest_delivery(offer)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert "Timeout" in delivery.last_error


async def test_a_crash_after_commit_still_delivers(client, staff, runtime, receiver, clock):
    key_secret, signing = await partner_with_endpoint(
        client, staff, receiver.url, ["OFFER_APPROVED"]
    )
    offer = (await publish(client, key_secret, sku=f"C-{key()[:8]}"))["item"]
    await review(staff, offer["id"], approve=True)
    # A run that claimed the delivery and died before posting: the claim lapses in a minute.
    delivery = await latest_delivery(offer)
    delivery.next_attempt_at = clock.now() + timedelta(minutes=1)
    await delivery.save(update_fields=["next_attempt_at"])
    await deliver_due(runtime)
    assert (await latest_delivery(offer)).attempts == 0
    clock.advance(timedelta(minutes=1, seconds=1))
    await deliver_due(runtime)
    delivered = await latest_delivery(offer)
    assert (delivered.status, delivered.attempts) == (DeliveryStatus.DELIVERED, 1)
    assert any(verify(signing, h, b) for h, b in receiver.received)


async def test_nothing_is_delivered_for_a_rolled_back_change(
    client, staff, runtime, brand, gql, make_token, receiver
):
    key_secret, _ = await partner_with_endpoint(client, staff, receiver.url, ["REDEMPTION_CREATED"])
    member = await staff.register()
    await staff.purchase(member["id"], "500.00")
    token = make_token(brand, "MEMBER", member["id"])
    skus = {}
    # Two of the first's single unit: the redemption writes its event, then the stock is taken
    # last and refused (OUT_OF_STOCK), so everything rolls back. The second goes through.
    for stock in (1, 5):
        skus[stock] = f"R-{key()[:8]}"
        offer = (await publish(client, key_secret, sku=skus[stock], stock=stock))["item"]
        await review(staff, offer["id"], approve=True)
        variables = {"input": {"itemId": offer["id"], "quantity": 2, "idempotencyKey": key()}}
        body = await gql(REDEEM, variables, token=token)
        assert body["data"]["redeem"]["userErrors"] == ([{"code": "OUT_OF_STOCK"}] if stock == 1
                                                         else [])  # fmt: skip
    events = await WebhookEvent.filter(type="redemption.created").values_list("payload", flat=True)
    sent = {event["sku"] for event in events}
    assert skus[5] in sent and skus[1] not in sent
    await deliver_due(runtime)
    bodies = [json.loads(body) for _, body in receiver.received]
    assert [b["data"]["sku"] for b in bodies if b["type"] == "redemption.created"] == [skus[5]]


async def test_every_id_in_a_payload_is_the_apis_global_id(
    client, staff, runtime, brand, gql, make_token, receiver
):
    every_event = ["OFFER_APPROVED", "REDEMPTION_CREATED", "COUPON_CONSUMED",
                   "REDEMPTION_CANCELLED"]  # fmt: skip
    key_secret, _ = await partner_with_endpoint(client, staff, receiver.url, every_event)
    offer = (await publish(client, key_secret, sku=f"G-{key()[:8]}"))["item"]
    await review(staff, offer["id"], approve=True)
    member = await staff.register()
    await staff.purchase(member["id"], "500.00")
    token = make_token(brand, "MEMBER", member["id"])
    redeemed = []
    for _ in range(2):
        variables = {"input": {"itemId": offer["id"], "idempotencyKey": key()}}
        body = await gql(REDEEM_FOR_ID, variables, token=token)
        assert body["data"]["redeem"]["userErrors"] == [], body
        redeemed.append(body["data"]["redeem"]["redemption"])
    used, cancelled = redeemed
    consume = {"code": used["coupons"][0]["code"], "reference": "till-1", "idempotencyKey": key()}
    consumed = await partner_gql(client, key_secret, CONSUME, {"input": consume})
    assert consumed["data"]["consumeCoupon"]["userErrors"] == [], consumed
    cancel = {"redemptionId": cancelled["id"], "reason": "changed my mind", "idempotencyKey": key()}
    body = await gql(CANCEL, {"input": cancel}, token=token)
    assert body["data"]["cancelRedemption"]["userErrors"] == [], body

    await deliver_due(runtime)
    events = [json.loads(body) for _, body in receiver.received]
    ids = sorted((event["type"], name, value) for event in events
                 for name, value in event["data"].items() if name.endswith("Id"))  # fmt: skip
    assert ids == sorted([
        ("offer.approved", "itemId", offer["id"]),
        ("redemption.created", "redemptionId", used["id"]),
        ("redemption.created", "redemptionId", cancelled["id"]),
        ("coupon.consumed", "redemptionId", used["id"]),
        ("redemption.cancelled", "redemptionId", cancelled["id"]),
    ])  # fmt: skip


@pytest.mark.parametrize(
    ("url", "require_https", "allow_private", "refused"),
    [
        ("http://127.0.0.1:9/x", False, False, True),
        ("http://10.1.2.3/x", False, False, True),
        ("http://169.254.169.254/latest", False, False, True),
        ("http://[::1]/x", False, False, True),
        ("http://93.184.216.34/x", True, False, True),
        ("https://93.184.216.34/x", True, False, False),
        ("http://127.0.0.1:9/x", False, True, False),
        ("ftp://example.com/x", False, True, True),
    ],
)
async def test_endpoint_urls_are_checked(client, staff, runtime, url, require_https,
                                         allow_private, refused):  # fmt: skip
    policy = runtime.webhooks
    runtime.webhooks = replace(policy, require_https=require_https, allow_private=allow_private)
    try:
        partner = await create_partner(staff)
        secret = (await issue(staff, partner["id"], ["WEBHOOKS_MANAGE"]))["secret"]
        body = await partner_gql(client, secret, REGISTER_ENDPOINT,
                                 {"input": {"url": url, "events": ["OFFER_APPROVED"],
                                            "idempotencyKey": key()}})  # fmt: skip
    finally:
        runtime.webhooks = policy
    errors = body["data"]["registerWebhookEndpoint"]["userErrors"]
    assert [e["field"] for e in errors] == ([["input", "url"]] if refused else [])
