"""Helpers shared by the catalog tests: items created by the brand's admin, redemptions made
by members over GraphQL, and readers of the answers."""

from __future__ import annotations

from datetime import datetime

from tests.support.factories import key

CREATE_ITEM = """
mutation ($input: CreateCatalogItemInput!) {
  createCatalogItem(input: $input) {
    item { id sku name kind category pointsPrice cashPrice stock couponValue couponValidDays }
    userErrors { field message code }
  }
}
"""

REDEMPTION_FIELDS = """
id quantity pointsSpent cashAmount status createdAt paymentDueAt confirmedAt fulfilledAt
trackingReference cancelledAt cancelReason
coupon { code value expiresAt usedAt voidedAt }
coupons { code value expiresAt usedAt voidedAt }
"""

REDEEM = f"""
mutation ($input: RedeemInput!) {{
  redeem(input: $input) {{
    redemption {{ {REDEMPTION_FIELDS} }}
    member {{ points {{ available }} }}
    userErrors {{ field message code }}
  }}
}}
"""


async def create_catalog_item(staff, **fields) -> dict:
    """An item made by the brand's admin: a points-only COUPON of 100 points unless told."""
    spec = {
        "sku": f"SKU-{key()[:12]}",
        "name": "Item",
        "kind": "COUPON",
        "category": "general",
        "pointsPrice": 100,
        **fields,
    }
    payload = await staff.call(CREATE_ITEM, spec)
    assert payload["userErrors"] == [], payload
    return payload["item"]


async def redeem_item(gql, token: str, item_id: str, quantity: int = 1, **fields) -> dict:
    """Redeem as the member whose token this is; returns the payload (asserting no top-level
    errors)."""
    body = await gql(
        REDEEM,
        {
            "input": {
                "itemId": item_id,
                "quantity": quantity,
                "idempotencyKey": fields.pop("idempotencyKey", key()),
                **fields,
            }
        },
        token=token,
    )
    assert "errors" not in body, body
    return body["data"]["redeem"]


def error_codes(payload: dict) -> list[tuple[str, list[str] | None]]:
    """(code, field) of each user error of a mutation's payload."""
    return [(error["code"], error["field"]) for error in payload["userErrors"]]


def top_level_codes(body: dict) -> list[str]:
    """The codes of a response's top-level errors (permission refusals), asserting some."""
    assert body.get("errors"), body
    return [error["extensions"]["code"] for error in body["errors"]]


def when(value: str | None) -> datetime | None:
    """A DateTime from the API, as an aware datetime."""
    return datetime.fromisoformat(value) if value is not None else None
