"""Helpers of the partner tests: partners and keys made by the brand's admin, calls sent with
a key in X-Api-Key (the `gql` fixture sends bearer tokens only), offers partners publish and
admins review, and webhook endpoints."""

from __future__ import annotations

import uuid

import httpx

from tests.support.factories import Staff, key, with_key

USER_ERRORS = "userErrors { field message code }"
API_KEY_FIELDS = "id prefix scopes createdAt revokedAt"

CREATE_PARTNER = f"""
mutation ($input: CreatePartnerInput!) {{
  createPartner(input: $input) {{
    partner {{ id code name pointValue apiKeys {{ id }} }}
    {USER_ERRORS}
  }}
}}
"""

ISSUE_KEY = f"""
mutation ($input: IssueApiKeyInput!) {{
  issueApiKey(input: $input) {{ apiKey {{ {API_KEY_FIELDS} }} secret {USER_ERRORS} }}
}}
"""

REVOKE_KEY = f"""
mutation ($input: ApiKeyInput!) {{
  revokeApiKey(input: $input) {{ apiKey {{ {API_KEY_FIELDS} }} secret {USER_ERRORS} }}
}}
"""

PUBLISH_OFFER = """
mutation ($input: CreateCatalogItemInput!) {
  createCatalogItem(input: $input) {
    item { id status kind rejectionReason }
    userErrors { field message code }
  }
}
"""

REVIEW = """
mutation ($approve: ApproveCatalogItemInput!, $reject: RejectCatalogItemInput!,
          $approving: Boolean!) {
  approve: approveCatalogItem(input: $approve) @include(if: $approving) {
    item { id status } userErrors { code field }
  }
  reject: rejectCatalogItem(input: $reject) @skip(if: $approving) {
    item { id status rejectionReason } userErrors { code field }
  }
}
"""

# What a partner publishes unless told otherwise.
OFFER = {"sku": "ACME-1", "name": "Acme 10% off", "kind": "PARTNER_OFFER", "category": "coffee",
         "pointsPrice": 50}  # fmt: skip

REGISTER_ENDPOINT = """
mutation ($input: RegisterWebhookEndpointInput!) {
  registerWebhookEndpoint(input: $input) {
    endpoint { id url events } secret userErrors { code field message }
  }
}
"""


def partner_code() -> str:
    return f"p-{uuid.uuid4().hex[:10]}"


async def as_partner(
    client: httpx.AsyncClient,
    secret: str,
    query: str,
    variables: dict | None = None,
    **headers: str,
) -> httpx.Response:
    """POST a GraphQL document with the key in X-Api-Key (the `gql` fixture cannot send it)."""
    return await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"X-Api-Key": secret, **headers},
    )


async def partner_gql(client, secret: str, query: str, variables: dict | None = None) -> dict:
    response = await as_partner(client, secret, query, variables)
    assert response.status_code == 200, response.text
    return response.json()


async def create_partner(staff: Staff, **fields) -> dict:
    payload = await staff.call(
        CREATE_PARTNER,
        {"code": fields.pop("code", partner_code()), "name": fields.pop("name", "Acme"), **fields},
    )
    assert payload["userErrors"] == [], payload
    return payload["partner"]


async def issue(staff: Staff, partner_id: str, scopes: list[str]) -> dict:
    """A new key's payload: {apiKey, secret, userErrors} (asserting it was issued)."""
    payload = await staff.call(ISSUE_KEY, {"partnerId": partner_id, "scopes": scopes})
    assert payload["userErrors"] == [], payload
    return payload


def assert_unauthenticated(response: httpx.Response) -> str:
    """A refused credential: HTTP 401 with a GraphQL-shaped body, code UNAUTHENTICATED."""
    assert response.status_code == 401, response.text
    body = response.json()
    assert "data" not in body, body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED", body
    return error["message"]


async def revoke(staff: Staff, key_id: str) -> dict:
    """Revoke a key as the brand's admin; the payload."""
    return await staff.call(REVOKE_KEY, {"id": key_id})


async def publish(client, secret: str, **fields) -> dict:
    """An offer published by the partner whose key this is (OFFER unless told): the payload."""
    input = with_key(PUBLISH_OFFER, {**OFFER, **fields})
    body = await partner_gql(client, secret, PUBLISH_OFFER, {"input": input})
    assert "errors" not in body, body
    return body["data"]["createCatalogItem"]


async def review(staff, item_id: str, *, approve: bool, reason: str = "Not our style") -> dict:
    """The admin approves or rejects a partner's offer: the payload."""
    body = await staff.gql(
        REVIEW,
        {"approve": {"id": item_id, "idempotencyKey": key()},
         "reject": {"id": item_id, "reason": reason, "idempotencyKey": key()},
         "approving": approve},
        token=staff.token,
    )  # fmt: skip
    assert "errors" not in body, body
    return body["data"]["approve" if approve else "reject"]


async def partner_with_endpoint(client, staff, url: str, events: list[str]) -> tuple[str, str]:
    """A new partner with a webhook endpoint at `url` for `events`: (its key, the endpoint's
    signing secret)."""
    partner = await create_partner(staff)
    scopes = ["WEBHOOKS_MANAGE", "OFFERS_WRITE", "COUPONS_VERIFY"]
    secret = (await issue(staff, partner["id"], scopes))["secret"]
    input = {"url": url, "events": events, "idempotencyKey": key()}
    body = await partner_gql(client, secret, REGISTER_ENDPOINT, {"input": input})
    payload = body["data"]["registerWebhookEndpoint"]
    assert payload["userErrors"] == [], payload
    assert payload["secret"].startswith("whsec_")
    return secret, payload["secret"]
