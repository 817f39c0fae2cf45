"""Factories that set data up through the API, as a brand's backend would."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

REGISTER = """
mutation ($input: RegisterMemberInput!) {
  registerMember(input: $input) {
    member { id referralCode memberCode }
    userErrors { field message code }
  }
}
"""

RECORD_PURCHASE = """
mutation ($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    entry { id kind points balanceAfter version expiresAt breakdown { rule description points } }
    member { points { available version lifetimeEarned } }
    userErrors { field message code }
  }
}
"""

REVERSE_PURCHASE = """
mutation ($input: ReversePurchaseInput!) {
  reversePurchase(input: $input) {
    entry { id kind points balanceAfter version shortfall }
    member { points { available version } }
    userErrors { field message code }
  }
}
"""

ADJUST = """
mutation ($input: AdjustPointsInput!) {
  adjustPoints(input: $input) {
    entry { id kind points balanceAfter version reason }
    member { points { available version } }
    userErrors { field message code }
  }
}
"""

SET_STATUS = """
mutation ($input: SetMemberStatusInput!) {
  setMemberStatus(input: $input) { member { status } userErrors { code } }
}
"""

BALANCE = """
query ($id: ID!) {
  member(id: $id) { points { available version lifetimeEarned lifetimeRedeemed } }
}
"""


def key() -> str:
    return uuid.uuid4().hex


def unique_code(prefix: str = "b") -> str:
    """A code no other brand (or other coded thing) of the run has."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


MUTATION = re.compile(r"^\s*mutation\b")


def with_key(document: str, input: dict) -> dict:
    """For a mutation (each takes an idempotencyKey), the input with a fresh key unless given."""
    if MUTATION.match(document) is None or "idempotencyKey" in input:
        return input
    return {**input, "idempotencyKey": key()}


@dataclass
class Staff:
    """Calls the API as the brand's staff (an ADMIN token by default)."""

    gql: object
    token: str

    async def call(self, document: str, input: dict) -> dict:
        """Run a mutation as this staff member, with a fresh idempotencyKey unless given."""
        body = await self.gql(document, {"input": with_key(document, input)}, token=self.token)
        assert "errors" not in body, body
        (payload,) = body["data"].values()
        return payload

    async def register(self, name: str = "Ada", **fields) -> dict:
        payload = await self.call(REGISTER, {"displayName": name, **fields})
        assert payload["userErrors"] == [], payload
        return payload["member"]

    async def purchase(self, member_id: str, total: str, **fields) -> dict:
        return await self.call(
            RECORD_PURCHASE,
            {
                "memberId": member_id,
                "orderRef": fields.pop("orderRef", key()),
                "total": total,
                **fields,
            },
        )

    async def reverse(self, member_id: str, order_ref: str, amount: str | None = None, **fields):
        return await self.call(
            REVERSE_PURCHASE,
            {
                "memberId": member_id,
                "orderRef": order_ref,
                "amount": amount,
                **fields,
            },
        )

    async def adjust(self, member_id: str, points: int, reason: str = "goodwill", **fields):
        return await self.call(
            ADJUST,
            {
                "memberId": member_id,
                "points": points,
                "reason": reason,
                **fields,
            },
        )

    async def set_status(self, member_id: str, status: str, reason: str = "fraud check") -> dict:
        return await self.call(
            SET_STATUS, {"memberId": member_id, "status": status, "reason": reason}
        )

    async def balance(self, member_id: str) -> dict:
        body = await self.gql(BALANCE, {"id": member_id}, token=self.token)
        return body["data"]["member"]["points"]
