"""A socket is authorized like HTTP, operation by operation: an expired token, a revoked key and
a partner's rate hold over a WebSocket as over a POST."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from server.settings import Settings
from tests.support.factories import Staff, key
from tests.support.live import (
    LiveServer,
    api,
    bearer,
    connected,
    receive,
    start_live_server,
    stop_live_server,
)
from tests.support.partners import create_partner, issue

CLOSED_UNAUTHORIZED = 4401
REVOKE_KEY = """
mutation ($input: ApiKeyInput!) { revokeApiKey(input: $input) { userErrors { code } } }
"""
BRAND_CODE = "{ brand { code } }"
RECORD_PURCHASE = """
mutation ($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) { entry { id points } userErrors { code } }
}
"""


async def run(socket, operation_id: str, query: str, variables: dict | None = None) -> dict:
    """Send one operation and return its first answer (next or error)."""
    payload = {"query": query, "variables": variables or {}}
    await socket.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": payload}))
    return await receive(socket)


async def closed_with(socket) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await receive(socket)
    return closed.value.rcvd.code


def purchase(member_id: str) -> dict:
    return {"input": {"memberId": member_id, "orderRef": key(), "total": "10.00",
                      "idempotencyKey": key()}}  # fmt: skip


async def test_a_revoked_key_runs_nothing_more_over_its_open_socket(live_server, brand, make_token):
    async with api(live_server) as gql:
        admin_token = make_token(brand, "ADMIN", "admin-1")
        staff = Staff(gql, admin_token)
        member = await staff.register()
        partner = await create_partner(staff)
        issued = await issue(staff, partner["id"], ["POINTS_EARN"])
        async with connected(live_server, {"X-Api-Key": issued["secret"]}) as socket:
            first = await run(socket, "1", RECORD_PURCHASE, purchase(member["id"]))
            assert first["type"] == "next" and "errors" not in first["payload"], first
            await receive(socket)  # complete
            revoked = await gql(
                REVOKE_KEY,
                {"input": {"id": issued["apiKey"]["id"], "idempotencyKey": key()}},
                token=admin_token,
            )
            assert revoked["data"]["revokeApiKey"]["userErrors"] == []
            payload = {"query": RECORD_PURCHASE, "variables": purchase(member["id"])}
            await socket.send(json.dumps({"id": "2", "type": "subscribe", "payload": payload}))
            assert await closed_with(socket) == CLOSED_UNAUTHORIZED
        assert (await staff.balance(member["id"]))["version"] == 1  # one purchase


async def test_a_socket_closes_when_its_token_expires(live_server, brand, make_token):
    """recordPurchase once earned points over a socket six seconds after the token's exp."""
    expires_in = 2
    token = make_token(brand, "STAFF", "cashier-1", ttl_seconds=expires_in)
    started = time.time()
    async with connected(live_server, bearer(token)) as socket:
        answer = await run(socket, "1", BRAND_CODE)
        assert answer["payload"] == {"data": {"brand": {"code": brand.code}}}
        assert await closed_with(socket) == CLOSED_UNAUTHORIZED
    assert time.time() >= started + expires_in - 1  # closed for the expiry, not before


@pytest.fixture(scope="module")
def stingy_server(settings: Settings) -> Iterator[LiveServer]:
    """A server whose partners may send three operations, then one every hundred seconds."""
    server = start_live_server(
        settings,
        env={"POINTSMALL_PARTNER_BURST": "3", "POINTSMALL_PARTNER_REQUESTS_PER_SECOND": "0.01"},
    )
    yield server
    stop_live_server(server)


async def test_each_operation_over_a_socket_pays_the_partners_rate(
    stingy_server, staff, make_token
):
    """450 verifyCoupon over one socket in 0.4 s once went through a burst of 40."""
    partner = await create_partner(staff)
    issued = await issue(staff, partner["id"], ["COUPONS_VERIFY"])
    async with connected(stingy_server, {"X-Api-Key": issued["secret"]}) as socket:
        answers = []
        for number in range(5):
            answers.append(await run(socket, str(number), BRAND_CODE))
            if answers[-1]["type"] == "next":
                await receive(socket)  # its complete
    assert [answer["type"] for answer in answers] == ["next"] * 3 + ["error"] * 2
    refusal = answers[3]["payload"][0]
    assert refusal["extensions"]["code"] == "RATE_LIMITED"
    assert refusal["extensions"]["retryAfter"] > 0


async def test_each_operation_of_a_batch_pays_the_partners_rate(stingy_server, staff):
    """40 batched POSTs once carried 400 operations through a burst of 40."""
    partner = await create_partner(staff)
    issued = await issue(staff, partner["id"], ["COUPONS_VERIFY"])
    batch = [{"query": BRAND_CODE}, {"query": BRAND_CODE}]
    async with httpx.AsyncClient(base_url=stingy_server.url) as http:
        headers = {"X-Api-Key": issued["secret"]}
        first = await http.post("/graphql", json=batch, headers=headers)
        second = await http.post("/graphql", json=batch, headers=headers)
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
