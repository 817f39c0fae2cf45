"""Bad input is the caller's error, never INTERNAL: a NUL character in any string (PostgreSQL
refuses it), a date-time beyond the calendar, a settlement month out of range, a null sent
through a variable where null cannot go."""

from __future__ import annotations

import pytest

from tests.support.commands import pointsmall
from tests.support.factories import RECORD_PURCHASE, REGISTER, Staff, key
from tests.support.partners import create_partner
from tests.support.rules import CREATE_RULE

NUL = "\u0000"
MEMBERS = "query ($search: String) { members(first: 5, search: $search) { totalCount } }"
CATALOG = "query ($category: String) { catalog(first: 5, category: $category) { totalCount } }"
SETTLEMENT = """
query ($partnerId: ID!, $month: String!) {
  settlement(partnerId: $partnerId, month: $month) {
    settlement { pointsIssued } userErrors { field code }
  }
}
"""
OUT_OF_RANGE_MONTHS = ["0001-01", "9999-12"]
# `quantity` is `Int! = 1`; `$quantity` may be null, and is, explicitly.
ENTER_WITH_QUANTITY = """
mutation ($quantity: Int = 1) {
  enterFlashSale(input: {flashSaleId: "Rmxhc2hTYWxlOjE=", quantity: $quantity,
                         idempotencyKey: "null-quantity"}) {
    userErrors { code }
  }
}
"""


def refused_as_bad_request(body: dict) -> str:
    """The one error's message, asserting it is BAD_REQUEST and nothing was answered."""
    assert body.get("data") is None, body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST", body
    return error["message"]


async def test_a_nul_character_in_a_string_variable_is_a_bad_request(gql, staff: Staff):
    member = await staff.register()
    calls = [
        (REGISTER, {"input": {"displayName": f"Ada{NUL}", "idempotencyKey": key()}}),
        (
            RECORD_PURCHASE,
            {
                "input": {
                    "memberId": member["id"],
                    "orderRef": f"A{NUL}1",
                    "total": "10.00",
                    "idempotencyKey": key(),
                }
            },
        ),
        (MEMBERS, {"search": f"Ada{NUL}"}),
        (CATALOG, {"category": NUL}),
        (
            CREATE_RULE,
            {
                "input": {
                    "code": "NUL",
                    "name": f"Bad{NUL}name",
                    "kind": "BASE_RATE",
                    "rate": "1.00",
                    "idempotencyKey": key(),
                }
            },
        ),
    ]
    for document, variables in calls:
        body = await gql(document, variables, token=staff.token)
        assert "NUL" in refused_as_bad_request(body), body


async def test_a_nul_character_in_a_string_literal_is_a_bad_request(gql, staff: Staff):
    body = await gql(
        '{ members(first: 5, search: "Ada\\u0000") { totalCount } }', token=staff.token
    )
    assert "NUL" in refused_as_bad_request(body), body


@pytest.mark.parametrize("occurred_at", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
async def test_a_date_time_at_the_calendars_ends_is_a_bad_request(gql, staff: Staff, occurred_at):
    member = await staff.register()
    purchase = {"memberId": member["id"], "orderRef": key(), "total": "10.00",
                "occurredAt": occurred_at, "idempotencyKey": key()}  # fmt: skip
    body = await gql(RECORD_PURCHASE, {"input": purchase}, token=staff.token)
    assert "year" in refused_as_bad_request(body), body


@pytest.mark.parametrize("month", OUT_OF_RANGE_MONTHS)
async def test_a_settlement_month_out_of_range_is_invalid_input(gql, staff: Staff, month):
    partner = await create_partner(staff)
    body = await gql(SETTLEMENT, {"partnerId": partner["id"], "month": month}, token=staff.token)
    assert "errors" not in body, body
    payload = body["data"]["settlement"]
    assert payload == {
        "settlement": None,
        "userErrors": [{"field": ["month"], "code": "INVALID_INPUT"}],
    }


@pytest.mark.parametrize("month", OUT_OF_RANGE_MONTHS)
async def test_the_settlement_command_refuses_a_month_out_of_range(staff, brand, settings, month):
    partner = await create_partner(staff)
    result = pointsmall(
        "settlement", "--brand", brand.code, "--partner", partner["code"], "--month", month,
        env={"DATABASE_URL": settings.database_url},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "--month" in result.stderr and "Traceback" not in result.stderr, result.stderr


async def test_a_null_variable_where_null_cannot_go_is_a_bad_request(gql, member_with_points):
    """A variable left out takes its default; one sent as null is null, and GraphQL's coercion
    refuses it in a non-null input field: the caller's error, not an internal one."""
    _, token = await member_with_points(100)
    body = await gql(ENTER_WITH_QUANTITY, {"quantity": None}, token=token)
    assert "not to be None" in refused_as_bad_request(body)


async def test_a_variable_nested_a_thousand_levels_deep_is_a_bad_request(client):
    """JSON allows 1,024 levels; walking them for NULs once overflowed Python's stack, which
    made the request INTERNAL, logged with its traceback: any caller could fill the logs."""
    depth = 1000
    text = '{"query": "{ __typename }", "variables": {"x": ' + "[" * depth + "1" + "]" * depth
    response = await client.post(
        "/graphql", content=text + "}}", headers={"content-type": "application/json"}
    )
    message = refused_as_bad_request(response.json())
    assert message == "A variable's value nests too deeply: $x, past 64 levels.", message
