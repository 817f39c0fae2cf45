"""Every partner-facing operation against every kind of key: a key with the operation's scope
may use it; the same partner's key without it is FORBIDDEN (the message names the scope); a
revoked key is HTTP 401; another partner's key, of the brand or of another brand, passes the
permission but cannot reach the first partner's resources (NOT_FOUND, or its own data only).
Partners never get a member's phone, email or birthday; members belong to the brand, so every
partner of the brand finds them, and no partner of another brand does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import httpx
import pytest

from db.models import CatalogItem, Member, WebhookEndpoint
from domain.brands import create_brand
from tests.support.factories import Staff, key, unique_code
from tests.support.ledger import pk
from tests.support.partners import (
    as_partner,
    assert_unauthenticated,
    create_partner,
    issue,
    partner_gql,
    publish,
    review,
    revoke,
)

ALL_SCOPES = ["COUPONS_VERIFY", "MEMBERS_LOOKUP", "MEMBERS_REGISTER", "OFFERS_WRITE",
              "POINTS_EARN", "WEBHOOKS_MANAGE"]  # fmt: skip
PERSONAL = {"phone": "+86 138-0013-8000", "email": "ada@example.com", "birthday": "1990-12-10"}
NO_PERSONAL = {"phone": None, "email": None, "birthday": None}
MEMBER_FIELDS = "member { id phone email birthday }"
ERRORS = "userErrors { code field }"

REGISTER = f"""
mutation ($input: RegisterMemberInput!) {{
  registerMember(input: $input) {{ {MEMBER_FIELDS} {ERRORS} }}
}}
"""
RECORD = f"""
mutation ($input: RecordPurchaseInput!) {{
  recordPurchase(input: $input) {{ entry {{ id points }} {MEMBER_FIELDS} {ERRORS} }}
}}
"""
REVERSE = f"""
mutation ($input: ReversePurchaseInput!) {{
  reversePurchase(input: $input) {{ entry {{ id points }} {MEMBER_FIELDS} {ERRORS} }}
}}
"""
CREATE_ITEM = f"""
mutation ($input: CreateCatalogItemInput!) {{
  createCatalogItem(input: $input) {{ item {{ id status kind }} {ERRORS} }}
}}
"""
UPLOAD = f"""
mutation ($input: UploadOfferCodesInput!) {{
  uploadOfferCodes(input: $input) {{ uploaded {ERRORS} }}
}}
"""
REDEMPTIONS = f"""
{{ redemptions(first: 50) {{
    totalCount edges {{ node {{ id item {{ id }} {MEMBER_FIELDS} }} }} }} }}
"""
SETTLEMENT = f"""
query ($partnerId: ID!, $month: String!) {{
  settlement(partnerId: $partnerId, month: $month) {{
    settlement {{ pointsIssued pointsRedeemed }} {ERRORS}
  }}
}}
"""
VERIFY = f"""
query ($code: String!) {{ verifyCoupon(code: $code) {{ state coupon {{ code }} {ERRORS} }} }}
"""
CONSUME = f"""
mutation ($input: ConsumeCouponInput!) {{
  consumeCoupon(input: $input) {{ coupon {{ code usedAt }} {ERRORS} }}
}}
"""
REGISTER_ENDPOINT = f"""
mutation ($input: RegisterWebhookEndpointInput!) {{
  registerWebhookEndpoint(input: $input) {{ endpoint {{ id url }} secret {ERRORS} }}
}}
"""
DELIVERIES = """
query ($partnerId: ID) {
  webhookDeliveries(partnerId: $partnerId, first: 50) { edges { node { id eventType } } }
}
"""
REDELIVER = f"""
mutation ($input: RedeliverWebhookInput!) {{
  redeliverWebhook(input: $input) {{ delivery {{ id status }} {ERRORS} }}
}}
"""
LOOKUP = f"""
query ($memberCode: String, $phone: String) {{
  partnerMemberLookup(memberCode: $memberCode, phone: $phone) {{
    match {{ memberId displayName }} {ERRORS}
  }}
}}
"""
REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) { redemption { id coupons { code } } userErrors { code } }
}
"""

HOOK_URL = "http://127.0.0.1:9/hooks"  # private addresses are allowed in development
HOOK_EVENTS = ["OFFER_APPROVED", "REDEMPTION_CREATED"]


@dataclass
class World:
    """Partner A's resources, set up once per test through the API."""

    client: httpx.AsyncClient
    staff: Staff
    partner: dict  # partner A
    other: dict  # partner B, of the same brand
    foreign: dict  # partner C, of another brand
    foreign_staff: Staff  # the other brand's admin
    member: dict
    member_key: str  # the idempotencyKey A registered `member` with
    member_code: str  # the code on the member's card
    order: dict  # A's purchase: its input and its entry's id
    offer: dict
    codes: list[str]  # uploaded to the offer; the first was given out
    code: str  # the member's coupon code, from A's offer
    redemption_id: str
    delivery_id: str
    month: str


@pytest.fixture
async def world(client, gql, brand, make_token, staff, clock) -> World:
    partner = await create_partner(staff, name="Acme")
    setup = (await issue(staff, partner["id"], ALL_SCOPES))["secret"]

    async def call(query: str, variables: dict) -> dict:
        body = await partner_gql(client, setup, query, variables)
        assert "errors" not in body, body
        (payload,) = body["data"].values()
        if isinstance(payload, dict) and "userErrors" in payload:
            assert payload["userErrors"] == [], payload
        return payload

    hook = await call(REGISTER_ENDPOINT, {"input": {"url": HOOK_URL, "events": HOOK_EVENTS,
                                                    "idempotencyKey": key()}})  # fmt: skip
    assert hook["secret"].startswith("whsec_")
    member_key = key()
    member = (await call(REGISTER, {"input": {"displayName": "Ada", "idempotencyKey": member_key,
                                              **PERSONAL}}))["member"]  # fmt: skip
    order = {"memberId": member["id"], "orderRef": f"A-{key()[:8]}", "total": "500.00",
             "idempotencyKey": key()}  # fmt: skip
    earned = await call(RECORD, {"input": order})
    assert earned["entry"]["points"] == 500

    published = await publish(client, setup, sku=f"MX-{key()[:8]}", pointsPrice=50)
    assert published["userErrors"] == [], published
    offer = published["item"]
    codes = [f"mx-{key()[:12]}" for _ in range(3)]
    upload = {"itemId": offer["id"], "codes": codes, "idempotencyKey": key()}
    assert (await call(UPLOAD, {"input": upload}))["uploaded"] == 3
    assert (await review(staff, offer["id"], approve=True))["item"]["status"] == "ACTIVE"

    token = make_token(brand, "MEMBER", member["id"])
    redeemed = await gql(REDEEM, {"input": {"itemId": offer["id"], "idempotencyKey": key()}},
                         token=token)  # fmt: skip
    assert redeemed["data"]["redeem"]["userErrors"] == [], redeemed
    redemption = redeemed["data"]["redeem"]["redemption"]
    (coupon,) = redemption["coupons"]
    assert coupon["code"] in codes

    deliveries = (await call(DELIVERIES, {}))["edges"]
    assert {edge["node"]["eventType"] for edge in deliveries} == set(HOOK_EVENTS), deliveries

    other_brand = await create_brand(unique_code(), "Other Brand", timezone="Asia/Shanghai")
    other_staff = Staff(gql, make_token(other_brand, "ADMIN", "admin-1"))
    return World(
        client=client,
        staff=staff,
        partner=partner,
        other=await create_partner(staff, name="Rival"),
        foreign=await create_partner(other_staff, code=partner["code"], name="Acme Abroad"),
        foreign_staff=other_staff,
        member=member,
        member_key=member_key,
        member_code=(await Member.get(id=pk(member["id"]))).member_code,
        order={**order, "entryId": earned["entry"]["id"]},
        offer=offer,
        codes=codes,
        code=coupon["code"],
        redemption_id=redemption["id"],
        delivery_id=deliveries[0]["node"]["id"],
        month=f"{clock.now().astimezone(ZoneInfo(brand.timezone)):%Y-%m}",
    )


# --- the operations: how each is called, what the scoped key gets, what another partner gets --


@dataclass(frozen=True)
class Operation:
    scope: str
    call: Callable[[World], tuple[str, dict]]  # the document and variables sent by every key
    allowed: Callable[[World, dict], Awaitable[None]]  # the owner's scoped key: it works
    isolated: Callable[[World, dict, dict], Awaitable[None]]  # another partner: not A's things


def payload_of(body: dict) -> dict:
    (payload,) = body["data"].values()
    return payload


def codes(payload: dict) -> list[tuple[str, list[str] | None]]:
    return [(error["code"], error["field"]) for error in payload["userErrors"]]


# registerMember: idempotency keys are the caller's own, so A's key registers no one twice
# for A, and another partner replaying it registers a member of its own.


def register_member(world: World) -> tuple[str, dict]:
    return REGISTER, {"input": {"displayName": "Ada", "idempotencyKey": world.member_key,
                                **PERSONAL}}  # fmt: skip


async def register_allowed(world: World, payload: dict) -> None:
    assert payload["userErrors"] == []
    # The same partner (through another key) replaying its key gets its first answer.
    assert payload["member"] == {"id": world.member["id"], **NO_PERSONAL}
    personal = {"phone": "+86 138-0013-8001", "email": "bo@example.com", "birthday": "1991-01-02"}
    fresh = {"input": {"displayName": "Bo", "idempotencyKey": key(), **personal}}
    secret = (await issue(world.staff, world.partner["id"], ["MEMBERS_REGISTER"]))["secret"]
    body = await partner_gql(world.client, secret, REGISTER, fresh)
    assert "errors" not in body, body
    new = body["data"]["registerMember"]
    assert new["userErrors"] == [] and new["member"]["id"] != world.member["id"]
    assert {k: new["member"][k] for k in NO_PERSONAL} == NO_PERSONAL


async def register_isolated(world: World, payload: dict, partner: dict) -> None:
    if partner is world.other:
        # Not A's answer replayed: a registration of its own, of a phone the brand has.
        assert payload["member"] is None
        assert codes(payload) == [("DUPLICATE", ["phone"])]
        return
    assert payload["userErrors"] == []
    assert payload["member"]["id"] != world.member["id"]
    assert {k: payload["member"][k] for k in NO_PERSONAL} == NO_PERSONAL


# recordPurchase: A's orderRefs and idempotency keys are its own.


def record_purchase(world: World) -> tuple[str, dict]:
    order = {k: v for k, v in world.order.items() if k != "entryId"}
    return RECORD, {"input": order}


async def record_allowed(world: World, payload: dict) -> None:
    # A replaying its own purchase gets its first answer: nothing is earned twice.
    assert payload["userErrors"] == []
    assert payload["entry"] == {"id": world.order["entryId"], "points": 500}
    assert payload["member"] == {"id": world.member["id"], **NO_PERSONAL}
    fresh = {**record_purchase(world)[1]["input"], "orderRef": f"A-{key()[:8]}",
             "idempotencyKey": key(), "total": "20.00"}  # fmt: skip
    again = await as_owner(world, RECORD, {"input": fresh})
    assert again["userErrors"] == [] and again["entry"]["points"] == 20
    assert again["member"] == {"id": world.member["id"], **NO_PERSONAL}


async def record_isolated(world: World, payload: dict, partner: dict) -> None:
    if partner is world.other:
        # Its orderRefs are its own: the same order number is another purchase, not A's.
        assert payload["userErrors"] == []
        assert payload["entry"]["id"] != world.order["entryId"]
        assert payload["member"] == {"id": world.member["id"], **NO_PERSONAL}
    else:
        assert payload["entry"] is None and payload["member"] is None
        assert codes(payload) == [("NOT_FOUND", ["memberId"])]


# reversePurchase: only A reverses A's purchase.


def reverse_purchase(world: World) -> tuple[str, dict]:
    return REVERSE, {"input": {"memberId": world.member["id"], "orderRef": world.order["orderRef"],
                               "amount": "100.00", "idempotencyKey": key()}}  # fmt: skip


async def reverse_allowed(world: World, payload: dict) -> None:
    assert payload["userErrors"] == []
    assert payload["entry"]["points"] == -100
    assert payload["member"] == {"id": world.member["id"], **NO_PERSONAL}


async def reverse_isolated(world: World, payload: dict, partner: dict) -> None:
    assert payload["entry"] is None and payload["member"] is None
    assert [code for code, _ in codes(payload)] == ["NOT_FOUND"], payload


# createCatalogItem: what another partner publishes is its own, in its own brand.

NEW_OFFER_SKU = "MX-NEW-1"


def create_catalog_item(world: World) -> tuple[str, dict]:
    return CREATE_ITEM, {"input": {"sku": f"{NEW_OFFER_SKU}-{key()[:6]}", "name": "New offer",
                                   "kind": "PARTNER_OFFER", "category": "coffee",
                                   "pointsPrice": 40, "idempotencyKey": key()}}  # fmt: skip


async def created_by(payload: dict) -> CatalogItem:
    assert payload["userErrors"] == []
    assert (payload["item"]["status"], payload["item"]["kind"]) == (
        "PENDING_APPROVAL",
        "PARTNER_OFFER",
    )
    return await CatalogItem.get(id=pk(payload["item"]["id"]))


async def create_allowed(world: World, payload: dict) -> None:
    item = await created_by(payload)
    assert item.partner_id == pk(world.partner["id"])


async def create_isolated(world: World, payload: dict, partner: dict) -> None:
    item = await created_by(payload)
    assert item.partner_id == pk(partner["id"])
    offer = await CatalogItem.get(id=pk(world.offer["id"]))
    assert (item.brand_id == offer.brand_id) == (partner is world.other)
    assert (offer.partner_id, offer.status.value) == (pk(world.partner["id"]), "ACTIVE")


# uploadOfferCodes: only to one's own offers.


def upload_offer_codes(world: World) -> tuple[str, dict]:
    return UPLOAD, {"input": {"itemId": world.offer["id"], "codes": [f"mx-{key()[:12]}"],
                              "idempotencyKey": key()}}  # fmt: skip


async def upload_allowed(world: World, payload: dict) -> None:
    assert payload == {"uploaded": 1, "userErrors": []}


async def upload_isolated(world: World, payload: dict, partner: dict) -> None:
    assert payload["uploaded"] is None
    assert codes(payload) == [("NOT_FOUND", ["input", "itemId"])]


# redemptions: a partner sees those of its own offers.


def redemptions(world: World) -> tuple[str, dict]:
    return REDEMPTIONS, {}


async def redemptions_allowed(world: World, payload: dict) -> None:
    assert payload["totalCount"] == 1
    (edge,) = payload["edges"]
    assert edge["node"] == {
        "id": world.redemption_id,
        "item": {"id": world.offer["id"]},
        "member": {"id": world.member["id"], **NO_PERSONAL},
    }


async def redemptions_isolated(world: World, payload: dict, partner: dict) -> None:
    assert payload == {"totalCount": 0, "edges": []}


# settlement: a partner reads its own.


def settlement(world: World) -> tuple[str, dict]:
    return SETTLEMENT, {"partnerId": world.partner["id"], "month": world.month}


async def settlement_allowed(world: World, payload: dict) -> None:
    assert payload == {"settlement": {"pointsIssued": 500, "pointsRedeemed": 50},
                       "userErrors": []}  # fmt: skip


async def settlement_isolated(world: World, payload: dict, partner: dict) -> None:
    assert payload["settlement"] is None
    assert codes(payload) == [("NOT_FOUND", ["partnerId"])]


# verifyCoupon and consumeCoupon: only the codes of one's own offers.


def verify_coupon(world: World) -> tuple[str, dict]:
    return VERIFY, {"code": world.code}


async def verify_allowed(world: World, payload: dict) -> None:
    assert payload == {"state": "USABLE", "coupon": {"code": world.code}, "userErrors": []}


async def coupon_isolated(world: World, payload: dict, partner: dict) -> None:
    assert payload["coupon"] is None
    assert [code for code, _ in codes(payload)] == ["NOT_FOUND"], payload
    # The code is untouched: its owner still finds it usable.
    await verify_allowed(world, await as_owner(world, VERIFY, {"code": world.code}))


def consume_coupon(world: World) -> tuple[str, dict]:
    return CONSUME, {"input": {"code": world.code, "reference": "till-1",
                               "idempotencyKey": key()}}  # fmt: skip


async def consume_allowed(world: World, payload: dict) -> None:
    assert payload["userErrors"] == []
    assert payload["coupon"]["code"] == world.code and payload["coupon"]["usedAt"]


async def verify_isolated(world: World, payload: dict, partner: dict) -> None:
    assert payload["state"] is None
    await coupon_isolated(world, payload, partner)


# Webhooks: a partner registers, lists and redelivers its own only.


def register_webhook_endpoint(world: World) -> tuple[str, dict]:
    # Naming A does not make the endpoint A's: a partner registers its own.
    return REGISTER_ENDPOINT, {"input": {"url": HOOK_URL, "events": ["OFFER_APPROVED"],
                                         "partnerId": world.partner["id"],
                                         "idempotencyKey": key()}}  # fmt: skip


async def endpoint_owner(payload: dict) -> int:
    assert payload["userErrors"] == []
    assert payload["secret"].startswith("whsec_")
    endpoint = await WebhookEndpoint.get(id=pk(payload["endpoint"]["id"]))
    return endpoint.partner_id


async def endpoint_allowed(world: World, payload: dict) -> None:
    assert await endpoint_owner(payload) == pk(world.partner["id"])


async def endpoint_isolated(world: World, payload: dict, partner: dict) -> None:
    assert await endpoint_owner(payload) == pk(partner["id"])


def webhook_deliveries(world: World) -> tuple[str, dict]:
    return DELIVERIES, {"partnerId": world.partner["id"]}


async def deliveries_allowed(world: World, payload: dict) -> None:
    listed = {edge["node"]["id"] for edge in payload["edges"]}
    assert world.delivery_id in listed and len(listed) == len(HOOK_EVENTS)


async def deliveries_isolated(world: World, payload: dict, partner: dict) -> None:
    assert payload == {"edges": []}


def redeliver_webhook(world: World) -> tuple[str, dict]:
    return REDELIVER, {"input": {"id": world.delivery_id, "idempotencyKey": key()}}


async def redeliver_allowed(world: World, payload: dict) -> None:
    assert payload == {"delivery": {"id": world.delivery_id, "status": "PENDING"},
                       "userErrors": []}  # fmt: skip


async def redeliver_isolated(world: World, payload: dict, partner: dict) -> None:
    assert payload["delivery"] is None
    assert codes(payload) == [("NOT_FOUND", ["input", "id"])]


# partnerMemberLookup: the brand's members, by the code on their card or their phone.


def partner_member_lookup(world: World) -> tuple[str, dict]:
    return LOOKUP, {"memberCode": world.member_code}


async def lookup_allowed(world: World, payload: dict) -> None:
    assert payload == {"match": {"memberId": world.member["id"], "displayName": "Ada"},
                       "userErrors": []}  # fmt: skip
    by_phone = await as_owner(world, LOOKUP, {"phone": PERSONAL["phone"]})
    assert by_phone == payload


async def lookup_isolated(world: World, payload: dict, partner: dict) -> None:
    if partner is world.other:
        assert payload["match"] == {"memberId": world.member["id"], "displayName": "Ada"}
    else:
        assert payload["match"] is None
        assert codes(payload) == [("NOT_FOUND", ["memberCode"])]


OPERATIONS = {
    "partnerMemberLookup": Operation(
        "MEMBERS_LOOKUP", partner_member_lookup, lookup_allowed, lookup_isolated
    ),
    "registerMember": Operation(
        "MEMBERS_REGISTER", register_member, register_allowed, register_isolated
    ),
    "recordPurchase": Operation("POINTS_EARN", record_purchase, record_allowed, record_isolated),
    "reversePurchase": Operation(
        "POINTS_EARN", reverse_purchase, reverse_allowed, reverse_isolated
    ),
    "createCatalogItem": Operation(
        "OFFERS_WRITE", create_catalog_item, create_allowed, create_isolated
    ),
    "uploadOfferCodes": Operation(
        "OFFERS_WRITE", upload_offer_codes, upload_allowed, upload_isolated
    ),
    "redemptions": Operation(
        "OFFERS_WRITE", redemptions, redemptions_allowed, redemptions_isolated
    ),
    "settlement": Operation("OFFERS_WRITE", settlement, settlement_allowed, settlement_isolated),
    "verifyCoupon": Operation("COUPONS_VERIFY", verify_coupon, verify_allowed, verify_isolated),
    "consumeCoupon": Operation("COUPONS_VERIFY", consume_coupon, consume_allowed, coupon_isolated),
    "registerWebhookEndpoint": Operation(
        "WEBHOOKS_MANAGE", register_webhook_endpoint, endpoint_allowed, endpoint_isolated
    ),
    "webhookDeliveries": Operation(
        "WEBHOOKS_MANAGE", webhook_deliveries, deliveries_allowed, deliveries_isolated
    ),
    "redeliverWebhook": Operation(
        "WEBHOOKS_MANAGE", redeliver_webhook, redeliver_allowed, redeliver_isolated
    ),
}


async def as_owner(world: World, query: str, variables: dict) -> dict:
    """Partner A, through a fresh key with every scope: the payload (asserting no errors)."""
    secret = (await issue(world.staff, world.partner["id"], ALL_SCOPES))["secret"]
    body = await partner_gql(world.client, secret, query, variables)
    assert "errors" not in body, body
    return payload_of(body)


def top_level_codes(body: dict) -> list[str]:
    assert body.get("errors"), body
    return [error["extensions"]["code"] for error in body["errors"]]


@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_each_operation_needs_its_scope_and_reaches_only_the_partners_own(world, name):
    operation = OPERATIONS[name]
    client, staff, owner = world.client, world.staff, world.partner

    async def send(secret: str) -> dict:
        return await partner_gql(client, secret, *operation.call(world))

    # The same partner's key with every scope but this one: FORBIDDEN, naming the scope.
    others = [scope for scope in ALL_SCOPES if scope != operation.scope]
    refused = await send((await issue(staff, owner["id"], others))["secret"])
    assert top_level_codes(refused) == ["FORBIDDEN"], refused
    assert operation.scope in refused["errors"][0]["message"], refused
    assert refused["data"] is None, refused

    # A revoked key with the scope: the whole request is refused.
    revoked = await issue(staff, owner["id"], [operation.scope])
    assert (await revoke(staff, revoked["apiKey"]["id"]))["userErrors"] == []
    response = await as_partner(client, revoked["secret"], *operation.call(world))
    assert_unauthenticated(response)

    # Another partner of the brand, and a partner of another brand (of the same code), with
    # the scope: let through, but never to A's things.
    for partner, admin in ((world.other, staff), (world.foreign, world.foreign_staff)):
        secret = (await issue(admin, partner["id"], [operation.scope]))["secret"]
        body = await send(secret)
        assert "errors" not in body, (partner["name"], body)
        await operation.isolated(world, payload_of(body), partner)

    # The owner's key with just this scope.
    body = await send((await issue(staff, owner["id"], [operation.scope]))["secret"])
    assert "errors" not in body, body
    await operation.allowed(world, payload_of(body))
