"""The audit trail: staff's, admins' and partners' operations are recorded with who, what, on
which records, the input without secrets and the request id; members' are not; admins read it
by actor, operation and period; it is kept for its retention."""

from __future__ import annotations

import json
from datetime import timedelta

from db.models import AuditEntry
from domain.audit_trail import purge_audit
from domain.idempotency import without_secrets
from tests.support.factories import RECORD_PURCHASE, key

TRAIL = """
query ($actor: String, $operation: String, $from: DateTime, $to: DateTime) {
  auditTrail(actor: $actor, operation: $operation, from: $from, to: $to, first: 20) {
    edges { node { actor operation targets input requestId createdAt } }
  }
}
"""
GATEWAY = """
mutation ($input: RegisterNoticeGatewayInput!) {
  registerNoticeGateway(input: $input) { secret userErrors { code message } }
}
"""
MARK = """
mutation ($input: MarkNoticesReadInput!) { markNoticesRead(input: $input) { marked } }
"""


async def trail(gql, token: str, **filters) -> list[dict]:
    body = await gql(TRAIL, filters, token=token)
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["auditTrail"]["edges"]]


async def test_a_cashiers_purchase_is_recorded_with_its_request(client, staff, brand, make_token):
    member = await staff.register("Ada")
    cashier = make_token(brand, "STAFF", "cashier-7")
    order = key()
    response = await client.post(
        "/graphql",
        json={"query": RECORD_PURCHASE, "variables": {"input": {
            "memberId": member["id"], "orderRef": order, "total": "12.00",
            "idempotencyKey": key()}}},
        headers={"Authorization": f"Bearer {cashier}"},
    )  # fmt: skip
    assert response.status_code == 200 and "errors" not in response.json()
    (entry,) = await trail(staff.gql, staff.token, actor="STAFF:cashier-7")
    assert entry["operation"] == "recordPurchase"
    assert entry["requestId"] == response.headers["x-request-id"]
    assert member["id"] in entry["targets"]
    assert json.loads(entry["input"])["order"] == order


async def test_secrets_never_reach_the_trail(staff, gql, receiver):
    registered = await staff.call(GATEWAY, {"channel": "SMS", "url": receiver.url})
    assert registered["userErrors"] == [] and registered["secret"]
    (entry,) = await trail(gql, staff.token, operation="registerNoticeGateway")
    assert "ntsec_" not in entry["input"] and "secret" not in entry["input"]
    assert without_secrets({"url": "u", "signingSecret": "s", "proof": {"signature": "x"},
                            "nested": [{"password": "p", "kept": 1}]}) == {
        "url": "u", "nested": [{"kept": 1}]
    }  # fmt: skip


async def test_members_operations_are_not_audited_and_only_admins_read(
    staff, gql, brand, make_token, member_with_points
):
    member, token = await member_with_points(10)
    await gql(MARK, {"input": {"all": True, "idempotencyKey": key()}}, token=token)
    assert await trail(gql, staff.token, operation="markNoticesRead") == []
    for role in ("STAFF", "ANALYST", "MEMBER"):
        subject = member["id"] if role == "MEMBER" else "someone"
        body = await gql(TRAIL, {}, token=make_token(brand, role, subject))
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", role


async def test_the_trail_filters_by_period_and_forgets_past_its_retention(staff, gql, clock):
    member = await staff.register("Bea")
    entries = await trail(gql, staff.token, operation="registerMember")
    mine = [entry for entry in entries if member["id"] in entry["targets"]]
    assert len(mine) == 1
    made = mine[0]["createdAt"]
    assert await trail(gql, staff.token, operation="registerMember", to=made) == []
    assert len(await trail(gql, staff.token, operation="registerMember", **{"from": made})) >= 1

    stored = await AuditEntry.filter(targets__contains=[member["id"]]).first()
    assert await purge_audit(timedelta(days=365), stored.created_at + timedelta(days=364)) == 0
    assert await purge_audit(timedelta(days=365), stored.created_at + timedelta(days=366)) >= 1
    assert not await AuditEntry.filter(id=stored.id).exists()
