"""A value longer than the column it is looked up in (a member or coupon code, a brand's code
in X-Brand) finds nothing, as any unknown value does: Tortoise refused to send it, which read as
an INTERNAL error or, before GraphQL, an HTTP 500. Found by tests/security/test_fuzz.py."""

from __future__ import annotations

import pytest

LONG = "0" * 300
LOOKUPS = {
    "memberByCode": (f'{{ memberByCode(code: "{LONG}") {{ id }} }}', {"memberByCode": None}),
    "members search": (
        f'{{ members(first: 5, search: "{LONG}") {{ totalCount }} }}',
        {"members": {"totalCount": 0}},
    ),
    "verifyCoupon": (
        f'{{ verifyCoupon(code: "{LONG}") {{ userErrors {{ code }} }} }}',
        {"verifyCoupon": {"userErrors": [{"code": "NOT_FOUND"}]}},
    ),
}


@pytest.mark.parametrize("document, data", LOOKUPS.values(), ids=LOOKUPS.keys())
async def test_a_lookup_by_a_value_longer_than_its_column_finds_nothing(gql, staff, document, data):
    assert await gql(document, token=staff.token) == {"data": data}


async def test_an_x_brand_longer_than_a_brand_code_is_an_unknown_brand(client):
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Brand": LONG}
    )
    assert response.status_code == 401, response.text[:300]
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
