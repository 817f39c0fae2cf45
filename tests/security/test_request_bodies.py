"""Request bodies that are JSON but not a GraphQL request, or that the json module cannot take
(nesting half a million deep, a 5,000-digit number): each is a 400 with a GraphQL-shaped error of
code BAD_REQUEST and a request id, never a 500 with a traceback."""

from __future__ import annotations

import pytest

QUERY = b'"{ __typename }"'

BODIES = {
    "a number": b"42",
    "a string": b'"x"',
    "null": b"null",
    "a batch of a number": b"[1]",
    "a batch with a number after a request": b'[{"query": ' + QUERY + b"}, 1]",
    "an empty batch": b"[]",
    "arrays half a million deep": b"[" * 500_000 + b"]" * 500_000,  # 1 MB, under the limit
    "objects deeper than a JSON decoder goes": b'{"a": ' * 2_000 + b"1" + b"}" * 2_000,
    "a 5,000-digit integer": b"9" * 5_000,
    "a 5,000-digit variable": b'{"query": '
    + QUERY
    + b', "variables": {"n": '
    + b"9" * 5_000
    + b"}}",
    "an object operationName": b'{"query": ' + QUERY + b', "operationName": {"obj": "ect"}}',
    "an array operationName": b'{"query": ' + QUERY + b', "operationName": ["array"]}',
    "a string of variables in a batch": b'[{"query": ' + QUERY + b', "variables": "x"}]',
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_a_body_that_is_not_a_graphql_request_is_a_bad_request(client, body, accept):
    response = await client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json", "Accept": accept}
    )
    assert response.status_code == 400, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"]
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    assert "Traceback" not in error["message"] and "Error" not in error["message"]


async def test_a_bad_variables_parameter_of_a_get_is_a_bad_request(client):
    response = await client.get(
        "/graphql", params={"query": "{ __typename }", "variables": "9" * 5_000}
    )
    assert response.status_code == 400, response.text[:500]
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}
