"""enterFlashSale in any valid document, as people write it in GraphiQL or send it in batches:
each answers as GraphQL execution does, enters once and takes the points once, the first time
and when replayed (the endpoint's short way, server/hot_path.py, takes none of these)."""

from __future__ import annotations

import pytest

from tests.factories import key
from tests.flash_sales.test_flash_sales import live_sale, points_of, sold

PAYLOAD = "redemption { status } member { points { available } } userErrors { code }"
WON = {
    "redemption": {"status": "CONFIRMED"},
    "member": {"points": {"available": 900}},
    "userErrors": [],
}
LIMIT_REACHED = {"redemption": None, "member": None, "userErrors": [{"code": "LIMIT_REACHED"}]}

# Each case: the request's JSON (a batch is a list), with @sale / @key / @other standing for the
# sale's id and two idempotency keys; then the answer's data (one per operation of a batch).
CASES = {
    "inline arguments": (
        {
            "query": f"""mutation {{
              enterFlashSale(input: {{flashSaleId: "@sale", idempotencyKey: "@key"}}) {{
                {PAYLOAD} }} }}"""
        },
        {"enterFlashSale": WON},
    ),
    "aliases and an inline quantity": (
        {
            "query": """mutation Buy {
              bought: enterFlashSale(
                input: {flashSaleId: "@sale", quantity: 1, idempotencyKey: "@key"}
              ) { r: redemption { s: status } __typename problems: userErrors { code } } }""",
            "operationName": "Buy",
        },
        {
            "bought": {
                "r": {"s": "CONFIRMED"},
                "__typename": "EnterFlashSalePayload",
                "problems": [],
            }
        },
    ),
    "fragments": (
        {
            "query": """mutation ($input: EnterFlashSaleInput!) {
              enterFlashSale(input: $input) { ...Entered ... on EnterFlashSalePayload {
                userErrors { code } } } }
            fragment Entered on EnterFlashSalePayload {
              redemption { status } member { ...Points } }
            fragment Points on Member { points { available } }""",
            "variables": {"input": {"flashSaleId": "@sale", "idempotencyKey": "@key"}},
        },
        {"enterFlashSale": WON},
    ),
    "@include and @skip": (
        {
            "query": f"""mutation ($input: EnterFlashSaleInput!, $go: Boolean!) {{
              enterFlashSale(input: $input) @include(if: $go) {{ {PAYLOAD} }}
              skipped: enterFlashSale(input: $input) @skip(if: $go) {{ {PAYLOAD} }} }}""",
            "variables": {
                "input": {"flashSaleId": "@sale", "idempotencyKey": "@key"},
                "go": True,
            },
        },
        {"enterFlashSale": WON},
    ),
    "several mutations in one document": (
        {
            "query": f"""mutation ($first: EnterFlashSaleInput!) {{
              first: enterFlashSale(input: $first) {{ {PAYLOAD} }}
              second: enterFlashSale(input: {{flashSaleId: "@sale", idempotencyKey: "@other"}}) {{
                {PAYLOAD} }} }}""",
            "variables": {"first": {"flashSaleId": "@sale", "idempotencyKey": "@key"}},
        },
        {"first": WON, "second": LIMIT_REACHED},
    ),
    "an operationName among several operations": (
        {
            "query": f"""query Look {{ __typename }}
            mutation Enter($input: EnterFlashSaleInput!) {{
              enterFlashSale(input: $input) {{ {PAYLOAD} }} }}
            mutation Other {{ __typename }}""",
            "variables": {"input": {"flashSaleId": "@sale", "idempotencyKey": "@key"}},
            "operationName": "Enter",
        },
        {"enterFlashSale": WON},
    ),
    "a batch": (
        [
            {
                "query": f"""mutation {{ enterFlashSale(input: {{flashSaleId: "@sale",
                  idempotencyKey: "@key"}}) {{ {PAYLOAD} }} }}"""
            },
            {"query": "query Look { __typename }"},  # a batch's operations run concurrently
        ],
        [{"enterFlashSale": WON}, {"__typename": "Query"}],
    ),
}


def filled(value, names: dict[str, str]):
    """The request with the placeholders replaced, in strings at any depth."""
    if isinstance(value, str):
        for placeholder, name in names.items():
            value = value.replace(placeholder, name)
        return value
    if isinstance(value, dict):
        return {field: filled(item, names) for field, item in value.items()}
    if isinstance(value, list):
        return [filled(item, names) for item in value]
    return value


@pytest.mark.parametrize("request_json, data", CASES.values(), ids=CASES.keys())
async def test_an_entry_in_any_valid_document_answers_as_execution_does(
    client, staff, clock, member_with_points, request_json, data
):
    sale = await live_sale(staff, clock, totalStock=5, perMemberLimit=1)
    member, token = await member_with_points(1000)
    body = filled(request_json, {"@sale": sale["id"], "@key": key(), "@other": key()})
    answers = []
    for _ in range(2):  # the first time, then replayed (the document is then a known one)
        response = await client.post(
            "/graphql", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        answers.append(response.json())
        assert (await points_of(staff, member["id"]))["available"] == 900
        assert await sold(sale["id"]) == 1
    first, replayed = answers
    expected = [{"data": d} for d in data] if isinstance(data, list) else {"data": data}
    assert first == expected
    assert replayed == first
