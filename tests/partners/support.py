"""Helpers of the partner tests: partners and keys made by the brand's admin, and calls
sent with a key in X-Api-Key (the `gql` fixture sends bearer tokens only)."""

from __future__ import annotations

import uuid

import httpx

from tests.factories import Staff

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
