"""`risk.flagged`: each new risk flag is posted, signed, to the brand's own webhook endpoints
(an admin's registerWebhookEndpoint without a partner), written with the flagged movement (a
rolled-back one sends nothing); a partner can neither subscribe to it nor receive it; a brand
without such an endpoint pays no statement for it."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from db.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from domain.brands import create_brand
from domain.webhooks import deliver_due
from resolvers.ids import parse_id
from tests.support.backend_calls import recording
from tests.support.catalog import create_catalog_item, redeem_item
from tests.support.factories import Staff, key
from tests.support.partners import create_partner, issue, partner_gql
from tests.support.receiver import verify

REGISTER = """
mutation ($input: RegisterWebhookEndpointInput!) {
  registerWebhookEndpoint(input: $input) {
    endpoint { id url events } secret userErrors { code field message }
  }
}
"""
DELIVERIES = """
query ($partnerId: ID) { webhookDeliveries(partnerId: $partnerId, first: 20) {
    edges { node { id status eventType eventId } } } }
"""
REDELIVER = """
mutation ($input: RedeliverWebhookInput!) {
  redeliverWebhook(input: $input) { delivery { status } userErrors { code } }
}
"""
FLAGS = """
{ riskFlags(first: 20) { edges { node {
    id reason details createdAt member { id } entry { id } } } } }
"""
PARTNER_EVENTS = ["REDEMPTION_CREATED", "REDEMPTION_CANCELLED", "COUPON_CONSUMED", "OFFER_APPROVED"]


async def register_endpoint(staff, url: str, events: list[str], **fields) -> dict:
    """registerWebhookEndpoint as the brand's admin: its payload."""
    return await staff.call(REGISTER, {"url": url, "events": events, **fields})


async def brand_endpoint(staff, url: str) -> str:
    """The brand's own endpoint for risk.flagged; its signing secret."""
    payload = await register_endpoint(staff, url, ["RISK_FLAGGED"])
    assert payload["userErrors"] == [], payload
    assert payload["endpoint"]["events"] == ["RISK_FLAGGED"]
    return payload["secret"]


async def risk_flags(gql, staff) -> list[dict]:
    body = await gql(FLAGS, token=staff.token)
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["riskFlags"]["edges"]]


def risk_events(receiver) -> list[tuple[dict, bytes, dict]]:
    """(headers, body, decoded body) of each risk.flagged delivery the receiver got."""
    return [
        (headers, body, json.loads(body))
        for headers, body in receiver.received
        if json.loads(body)["type"] == "risk.flagged"
    ]


async def test_a_flagged_adjustment_reaches_the_brands_endpoint_signed(
    staff, gql, runtime, receiver
):
    signing = await brand_endpoint(staff, receiver.url)
    member = await staff.register("Ada")
    adjusted = await staff.adjust(member["id"], 10_000, "a large gift")
    assert adjusted["userErrors"] == []
    (flag,) = await risk_flags(gql, staff)
    assert flag["reason"] == "LARGE_ADJUSTMENT"

    assert await deliver_due(runtime) >= 1
    ((headers, body, event),) = risk_events(receiver)
    assert verify(signing, headers, body)
    assert not verify("whsec_wrong", headers, body)
    assert headers["x-pointsmall-event"] == "risk.flagged"
    assert headers["x-pointsmall-event-id"] == event["id"]
    data = event["data"]
    created_at = datetime.fromisoformat(data.pop("createdAt"))
    assert created_at == datetime.fromisoformat(flag["createdAt"])
    assert data == {
        "flagId": flag["id"],  # the id riskFlags and reviewRiskFlag take
        "reason": "LARGE_ADJUSTMENT",
        "details": json.loads(flag["details"]),
        "memberId": member["id"],
        "entryId": adjusted["entry"]["id"],
    }
    assert data["details"]["points"] == 10_000

    # The admin's own deliveries: webhookDeliveries naming no partner.
    listed = await gql(DELIVERIES, token=staff.token)
    nodes = [edge["node"] for edge in listed["data"]["webhookDeliveries"]["edges"]]
    assert [(n["status"], n["eventType"], n["eventId"]) for n in nodes] == [
        ("DELIVERED", "RISK_FLAGGED", event["id"])
    ]
    again = await staff.call(REDELIVER, {"id": nodes[0]["id"]})
    assert again == {"delivery": {"status": "PENDING"}, "userErrors": []}
    await deliver_due(runtime)
    assert [e["id"] for _, _, e in risk_events(receiver)] == [event["id"], event["id"]]


async def test_a_shared_device_registration_reaches_the_brands_endpoint(
    staff, gql, runtime, receiver
):
    signing = await brand_endpoint(staff, receiver.url)
    device = f"device-{key()}"
    members = [await staff.register(f"M{n}", deviceId=device) for n in range(3)]
    await deliver_due(runtime)
    ((headers, body, event),) = risk_events(receiver)  # the third member's
    assert verify(signing, headers, body)
    (flag,) = await risk_flags(gql, staff)
    data = event["data"]
    assert (data["flagId"], data["reason"], data["memberId"], data["entryId"]) == (
        flag["id"], "SHARED_DEVICE", members[-1]["id"], None
    )  # fmt: skip
    assert data["details"] == {"deviceId": device, "members": 3}


async def test_a_partner_may_not_subscribe_to_risk_flags(client, staff, receiver):
    partner = await create_partner(staff)
    key_secret = (await issue(staff, partner["id"], ["WEBHOOKS_MANAGE"]))["secret"]
    for events in (["RISK_FLAGGED"], ["OFFER_APPROVED", "RISK_FLAGGED"]):
        variables = {"input": {"url": receiver.url, "events": events, "idempotencyKey": key()}}
        body = await partner_gql(client, key_secret, REGISTER, variables)
        payload = body["data"]["registerWebhookEndpoint"]
        assert (payload["endpoint"], payload["secret"]) == (None, None)
        (error,) = payload["userErrors"]
        assert (error["code"], error["field"]) == ("INVALID_INPUT", ["input", "events"])
        assert "RISK_FLAGGED" in error["message"] and "brand" in error["message"]

    # Nor may an admin subscribe a partner's endpoint to it, or the brand's to a partner's event.
    named = await register_endpoint(staff, receiver.url, ["RISK_FLAGGED"], partnerId=partner["id"])
    assert [(e["code"], e["field"]) for e in named["userErrors"]] == [
        ("INVALID_INPUT", ["input", "events"])
    ]
    own = await register_endpoint(staff, receiver.url, ["OFFER_APPROVED"])
    (error,) = own["userErrors"]
    assert error["code"] == "INVALID_INPUT" and "partnerId" in error["message"]
    assert await WebhookEndpoint.filter(url=receiver.url).count() == 0


async def test_a_partners_endpoint_never_receives_a_risk_flag(
    client, staff, gql, runtime, receiver
):
    partner = await create_partner(staff)
    key_secret = (await issue(staff, partner["id"], ["WEBHOOKS_MANAGE"]))["secret"]
    variables = {"input": {"url": receiver.url, "events": PARTNER_EVENTS, "idempotencyKey": key()}}
    body = await partner_gql(client, key_secret, REGISTER, variables)
    registered = body["data"]["registerWebhookEndpoint"]["endpoint"]
    # Even an endpoint of the partner's whose row names the event (written by hand, as no call
    # can) is not the brand's own.
    _, endpoint_pk = parse_id(registered["id"])
    await WebhookEndpoint.filter(id=endpoint_pk).update(events=[*registered["events"],
                                                                 "risk.flagged"])  # fmt: skip
    await brand_endpoint(staff, receiver.url + "/brand")

    member = await staff.register("Bo")
    await staff.adjust(member["id"], 10_000, "a large gift")
    assert len(await risk_flags(gql, staff)) == 1
    await deliver_due(runtime)

    told = [(headers["x-pointsmall-event"], json.loads(body)["data"]["memberId"])
            for headers, body in receiver.received]  # fmt: skip
    assert told == [("risk.flagged", member["id"])]  # to the brand's endpoint alone
    deliveries = WebhookDelivery.filter(endpoint_id=endpoint_pk)
    assert await deliveries.count() == 0
    listed = await partner_gql(client, key_secret, DELIVERIES)
    assert listed["data"]["webhookDeliveries"]["edges"] == []
    as_admin = await gql(DELIVERIES, {"partnerId": partner["id"]}, token=staff.token)
    assert as_admin["data"]["webhookDeliveries"]["edges"] == []
    # The brand's delivery is not the partner's to send again.
    brands = await gql(DELIVERIES, token=staff.token)
    (edge,) = brands["data"]["webhookDeliveries"]["edges"]
    redeliver = {"input": {"id": edge["node"]["id"], "idempotencyKey": key()}}
    refused = await partner_gql(client, key_secret, REDELIVER, redeliver)
    payload = refused["data"]["redeliverWebhook"]
    assert payload == {"delivery": None, "userErrors": [{"code": "NOT_FOUND"}]}


async def test_a_rolled_back_movement_sends_nothing(
    staff, gql, runtime, receiver, member_with_points, brand
):
    await brand_endpoint(staff, receiver.url)
    scarce = await create_catalog_item(staff, stock=1)
    _, token = await member_with_points(1500)  # a large earn: spent now, it is flagged
    # Two of the last unit: the redemption writes its QUICK_REDEEM flag and event, then takes
    # the stock last, finds too little, and everything rolls back.
    refused = await redeem_item(gql, token, scarce["id"], quantity=2)
    assert [(e["code"], e["message"]) for e in refused["userErrors"]] == [
        ("OUT_OF_STOCK", "Not enough of this item left.")
    ]
    assert await risk_flags(gql, staff) == []
    assert await WebhookEvent.filter(brand_id=brand.id).count() == 0
    await deliver_due(runtime)
    assert risk_events(receiver) == []

    assert (await redeem_item(gql, token, scarce["id"]))["userErrors"] == []
    (flag,) = await risk_flags(gql, staff)
    assert flag["reason"] == "QUICK_REDEEM"
    await deliver_due(runtime)
    assert [event["data"]["flagId"] for _, _, event in risk_events(receiver)] == [flag["id"]]


@pytest.fixture
def brands_kept(running_app, monkeypatch):
    """Brands cached for the test, so a reread of one never falls between two counts (see
    tests/performance/test_statement_counts.py)."""
    monkeypatch.setattr(running_app[0].state.authenticator.brands, "ttl", 3600.0)


async def statements_of_adjusting(staff, member_id: str, points: int) -> list[str]:
    async with recording() as calls:
        payload = await staff.adjust(member_id, points, "counted")
    assert payload["userErrors"] == [], payload
    return calls.sql


async def test_a_flag_costs_one_statement_and_its_event_one_more_only_when_heard(
    staff, receiver, brands_kept
):
    member = await staff.register("Cy")
    await staff.adjust(member["id"], 1, "the token and the brand read once")
    plain = await statements_of_adjusting(staff, member["id"], 9_999)
    unheard = await statements_of_adjusting(staff, member["id"], 10_000)
    await brand_endpoint(staff, receiver.url)
    heard = await statements_of_adjusting(staff, member["id"], 10_000)
    assert len(unheard) == len(plain) + 1, unheard  # the flag, as before the event existed
    assert len(heard) == len(plain) + 2, heard  # and the event with its deliveries
    assert [s for s in unheard if "webhook_event" in s] == []
    assert len([s for s in heard if "INSERT INTO webhook_event" in s]) == 1


async def test_a_brand_hears_only_its_own_flags(staff, gql, runtime, receiver, make_token):
    await brand_endpoint(staff, receiver.url)
    other = await create_brand(f"o{key()[:12]}", "Other Brand")
    other_staff = Staff(gql, make_token(other, "ADMIN", "admin-1"))
    stranger = await other_staff.register("Di")
    await other_staff.adjust(stranger["id"], 10_000, "a large gift elsewhere")
    assert await WebhookEvent.filter(brand_id=other.id).count() == 0
    await deliver_due(runtime)
    assert risk_events(receiver) == []
