"""Velocity limits over GraphQL: each kind refuses past its limit with RATE_LIMITED and the
seconds to its window's end, or lets the movement through with one risk flag; a movement that
fails or replays takes no place; no limits, no counter. Runs against the development app and a
production server process; the last test splits one member's purchases between two server
processes."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest

from domain.brands import ensure_store
from tests.support.factories import RECORD_PURCHASE, Staff, key

SET_LIMITS = """
mutation ($input: SetVelocityLimitsInput!) {
  setVelocityLimits(input: $input) {
    limits { kind window limit action } userErrors { code field }
  }
}
"""
LIMITS = "{ velocityLimits { kind window limit action } }"
FLAGS = """
{ riskFlags(first: 10) { totalCount edges { node {
    reason details status member { id } entry { id } } } } }
"""
REGISTER = """
mutation ($input: RegisterMemberInput!) {
  registerMember(input: $input) {
    member { id referralCode } userErrors { code field retryAfter }
  }
}
"""
CREATE_ITEM = """
mutation ($input: CreateCatalogItemInput!) {
  createCatalogItem(input: $input) { item { id } userErrors { code } }
}
"""
REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) { redemption { id } userErrors { code field retryAfter } }
}
"""
PURCHASE = """
mutation ($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) { entry { id } userErrors { code field retryAfter } }
}
"""
WINDOW_SECONDS = {"HOUR": 3600, "DAY": 86400}
CLEAR_OF_WINDOW_END = 20  # seconds: a test does not straddle a window's end


@pytest.fixture
def server_now(request: pytest.FixtureRequest, runtime):
    """The serving process's time: the in-process app's clock (which tests move forward), or
    real time in the production server."""
    if request.node.callspec.params.get("client") == "production":
        return lambda: datetime.now(UTC)
    return runtime.clock.now


def seconds_to_window_end(now: datetime, window: str) -> int:
    seconds = WINDOW_SECONDS[window]
    return seconds - int(now.timestamp()) % seconds


async def set_limits(staff, *limits: tuple[str, str, int, str], idempotency_key: str = "") -> dict:
    spec = [
        {"kind": kind, "window": window, "limit": limit, "action": action}
        for kind, window, limit, action in limits
    ]
    payload = await staff.call(
        SET_LIMITS, {"limits": spec, "idempotencyKey": idempotency_key or key()}
    )
    assert payload["userErrors"] == [], payload
    return payload


async def clear_of_window_end(server_now, window: str) -> None:
    """Wait out the last seconds of a window, so its counts hold for the test."""
    left = seconds_to_window_end(server_now(), window)
    if left < CLEAR_OF_WINDOW_END:
        await asyncio.sleep(left + 1)


async def purchase(staff, member_id: str, **fields) -> dict:
    return await staff.call(
        PURCHASE, {"memberId": member_id, "orderRef": key(), "total": "10.00", **fields}
    )


def codes(payloads: list[dict]) -> list[str | None]:
    return [p["userErrors"][0]["code"] if p["userErrors"] else None for p in payloads]


async def flags(gql, staff) -> dict:
    body = await gql(FLAGS, token=staff.token)
    assert "errors" not in body, body
    return body["data"]["riskFlags"]


async def test_admins_set_limits_whole_once_per_key(staff, gql, brand, make_token):
    limits = ("EARNS_PER_MEMBER", "HOUR", 3, "REFUSE"), ("PURCHASES_PER_STORE", "DAY", 9, "FLAG")
    first = await set_limits(staff, *limits, idempotency_key="limits-1")
    replay = await set_limits(staff, *limits, idempotency_key="limits-1")
    assert replay == first
    body = await gql(LIMITS, token=staff.token)
    assert body["data"]["velocityLimits"] == first["limits"]
    assert [item["kind"] for item in body["data"]["velocityLimits"]] == [
        "EARNS_PER_MEMBER",
        "PURCHASES_PER_STORE",
    ]

    twice = [{"kind": "EARNS_PER_MEMBER", "window": "DAY", "limit": n, "action": "REFUSE"}
             for n in (1, 2)]  # fmt: skip
    refused = await staff.call(SET_LIMITS, {"limits": twice})
    assert refused["userErrors"] == [{"code": "INVALID_INPUT", "field": ["limits", "1"]}]

    cashier = make_token(brand, "STAFF", "cashier-1")
    for document in (LIMITS, FLAGS):
        body = await gql(document, token=cashier)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_earns_past_the_limit_are_refused_until_the_hour_ends(
    staff, gql, brand, member_with_points, server_now
):
    member, _ = await member_with_points(0)
    other, _ = await member_with_points(0, name="Bo")
    await clear_of_window_end(server_now, "HOUR")
    await set_limits(staff, ("EARNS_PER_MEMBER", "HOUR", 2, "REFUSE"))

    first = await purchase(staff, member["id"], orderRef="o-1", idempotencyKey="earn-1")
    replay = await purchase(staff, member["id"], orderRef="o-1", idempotencyKey="earn-1")
    assert replay == first and first["userErrors"] == []  # the replay took no place
    assert (await purchase(staff, member["id"]))["userErrors"] == []

    before = server_now()
    refused = await purchase(staff, member["id"])
    after = server_now()
    (error,) = refused["userErrors"]
    assert (error["code"], error["field"]) == ("RATE_LIMITED", ["velocity", "EARNS_PER_MEMBER"])
    assert (
        seconds_to_window_end(after, "HOUR") - 1
        <= error["retryAfter"]
        <= seconds_to_window_end(before, "HOUR") + 1
    )
    assert refused["entry"] is None
    assert (await staff.balance(member["id"]))["available"] == 20
    assert (await purchase(staff, other["id"]))["userErrors"] == []  # per member
    assert (await flags(gql, staff))["totalCount"] == 0


async def test_a_purchase_that_fails_takes_no_place(staff, member_with_points, server_now):
    member, _ = await member_with_points(0)
    await clear_of_window_end(server_now, "DAY")
    await set_limits(staff, ("EARNS_PER_MEMBER", "DAY", 1, "REFUSE"))

    unknown_store = await purchase(staff, member["id"], storeCode="NO-SUCH-STORE")
    assert codes([unknown_store]) == ["NOT_FOUND"]
    kept = await purchase(staff, member["id"], orderRef="order-1")
    assert kept["userErrors"] == []
    # A duplicate order fails after passing the limit's check: the count stays at one.
    duplicate = await purchase(staff, member["id"], orderRef="order-1")
    assert codes([duplicate]) == ["RATE_LIMITED"]


async def test_purchases_per_store_and_per_actor(
    staff, gql, brand, make_token, member_with_points, server_now
):
    member, _ = await member_with_points(0)
    await ensure_store(brand, "SH-01", "Shanghai One")
    await clear_of_window_end(server_now, "HOUR")
    await set_limits(
        staff,
        ("PURCHASES_PER_STORE", "HOUR", 2, "REFUSE"),
        ("PURCHASES_PER_ACTOR", "HOUR", 3, "REFUSE"),
    )
    at_store = [await purchase(staff, member["id"], storeCode=code)
                for code in ("SH-01", "SH-01", "SH-01")]  # fmt: skip
    assert codes(at_store) == [None, None, "RATE_LIMITED"]
    assert at_store[2]["userErrors"][0]["field"] == ["velocity", "PURCHASES_PER_STORE"]

    by_admin = await purchase(staff, member["id"])  # the admin's third place
    refused = await purchase(staff, member["id"])
    assert codes([by_admin, refused]) == [None, "RATE_LIMITED"]
    assert refused["userErrors"][0]["field"] == ["velocity", "PURCHASES_PER_ACTOR"]
    cashier = Staff(gql, make_token(brand, "STAFF", "cashier-2"))
    assert codes([await purchase(cashier, member["id"])]) == [None]


async def test_redemptions_per_member(staff, gql, member_with_points, server_now):
    member, token = await member_with_points(1000)
    await clear_of_window_end(server_now, "DAY")
    item = await staff.call(
        CREATE_ITEM,
        {"sku": f"SKU-{key()[:10]}", "name": "Mug", "kind": "COUPON", "category": "gifts",
         "pointsPrice": 100},
    )  # fmt: skip
    await set_limits(staff, ("REDEMPTIONS_PER_MEMBER", "DAY", 1, "REFUSE"))

    async def redeem(idempotency_key: str) -> dict:
        variables = {"input": {"itemId": item["item"]["id"], "idempotencyKey": idempotency_key}}
        body = await gql(REDEEM, variables, token=token)
        return body["data"]["redeem"]

    first = await redeem("r-1")
    assert first["userErrors"] == []
    assert await redeem("r-1") == first  # a replay, not a second place
    refused = await redeem("r-2")
    assert codes([refused]) == ["RATE_LIMITED"]
    assert 1 <= refused["userErrors"][0]["retryAfter"] <= 86400
    assert (await staff.balance(member["id"]))["available"] == 900


async def register_referred(staff, referrer: dict, name: str, idempotency_key: str) -> dict:
    return await staff.call(
        REGISTER,
        {"displayName": name, "referralCode": referrer["referralCode"],
         "idempotencyKey": idempotency_key},
    )  # fmt: skip


async def test_registrations_per_referrer_refuse_or_flag(staff, gql, server_now):
    referrer = await staff.register("Ada")
    await clear_of_window_end(server_now, "DAY")
    await set_limits(staff, ("REGISTRATIONS_PER_REFERRER", "DAY", 1, "REFUSE"))

    async def register(name: str) -> dict:
        return await register_referred(staff, referrer, name, key())

    first = await register("Bo")
    assert first["userErrors"] == []
    refused = await register("Cy")
    assert codes([refused]) == ["RATE_LIMITED"]
    assert refused["member"] is None
    assert (await staff.register("Di"))["id"]  # without a referral code: not counted

    await set_limits(staff, ("REGISTRATIONS_PER_REFERRER", "DAY", 1, "FLAG"))
    flagged = await register("Ed")
    assert flagged["userErrors"] == []
    listed = await flags(gql, staff)
    assert listed["totalCount"] == 1
    (edge,) = listed["edges"]
    assert edge["node"]["member"]["id"] == referrer["id"] and edge["node"]["entry"] is None


async def test_a_registration_replayed_at_the_limit_answers_as_the_first(staff, server_now):
    referrer = await staff.register("Ada")
    await clear_of_window_end(server_now, "DAY")
    await set_limits(staff, ("REGISTRATIONS_PER_REFERRER", "DAY", 1, "REFUSE"))
    first = await register_referred(staff, referrer, "Bo", "reg-1")
    assert first["userErrors"] == []
    assert await register_referred(staff, referrer, "Bo", "reg-1") == first


async def test_a_flagging_limit_lets_earns_through_with_one_flag(
    staff, gql, member_with_points, server_now
):
    member, _ = await member_with_points(0)
    await clear_of_window_end(server_now, "DAY")
    await set_limits(staff, ("EARNS_PER_MEMBER", "DAY", 1, "FLAG"))

    within = await purchase(staff, member["id"])
    past = await purchase(staff, member["id"], orderRef="o-2", idempotencyKey="past-1")
    replay = await purchase(staff, member["id"], orderRef="o-2", idempotencyKey="past-1")
    assert codes([within, past]) == [None, None]
    assert replay == past  # one flag: the replay writes none
    assert (await staff.balance(member["id"]))["available"] == 20

    listed = await flags(gql, staff)
    assert listed["totalCount"] == 1
    flag = listed["edges"][0]["node"]
    assert flag["reason"] == "VELOCITY" and flag["status"] == "OPEN"
    assert flag["member"]["id"] == member["id"]
    assert flag["entry"]["id"] == past["entry"]["id"]
    assert json.loads(flag["details"]) == {
        "kind": "EARNS_PER_MEMBER", "window": "DAY", "limit": 1, "action": "FLAG"
    }  # fmt: skip


async def test_without_limits_no_counter_is_kept(staff, brand, member_with_points, redis):
    member, _ = await member_with_points(10)
    await ensure_store(brand, "SH-01", "Shanghai One")
    assert (await purchase(staff, member["id"], storeCode="SH-01"))["userErrors"] == []
    assert [found async for found in redis.scan_iter(match=f"*{{vel:{brand.id}}}*")] == []


async def test_two_server_processes_admit_exactly_the_limit(
    brand, make_token, live_server, production_server
):
    """Purchases for one member, split between two server processes at once: exactly the
    limit succeed, the rest are RATE_LIMITED."""
    attempts, limit = 24, 9
    token = make_token(brand, "ADMIN", "admin-live")
    headers = {"Authorization": f"Bearer {token}"}
    urls = (live_server.url, production_server.url)
    async with (
        httpx.AsyncClient(base_url=urls[0], headers=headers, timeout=60) as first,
        httpx.AsyncClient(base_url=urls[1], headers=headers, timeout=60) as second,
    ):

        async def call(http: httpx.AsyncClient, document: str, input: dict) -> dict:
            response = await http.post(
                "/graphql", json={"query": document, "variables": {"input": input}}
            )
            body = response.json()
            assert "errors" not in body, body
            (payload,) = body["data"].values()
            return payload

        left = seconds_to_window_end(datetime.now(UTC), "HOUR")
        if left < CLEAR_OF_WINDOW_END:
            await asyncio.sleep(left + 1)
        registered = await call(first, REGISTER, {"displayName": "Ada", "idempotencyKey": key()})
        member_id = registered["member"]["id"]
        spec = [{"kind": "EARNS_PER_MEMBER", "window": "HOUR", "limit": limit,
                 "action": "REFUSE"}]  # fmt: skip
        await call(second, SET_LIMITS, {"limits": spec, "idempotencyKey": key()})

        payloads = await asyncio.gather(
            *(
                call((first, second)[number % 2], RECORD_PURCHASE,
                     {"memberId": member_id, "orderRef": key(), "total": "10.00",
                      "idempotencyKey": key()})
                for number in range(attempts)
            )
        )  # fmt: skip
    assert Counter(codes(payloads)) == {None: limit, "RATE_LIMITED": attempts - limit}
