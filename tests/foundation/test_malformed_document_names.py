"""A request naming its document in a shape the server does not take is refused as a bad
request, never a server error (schema/documents.py)."""

from __future__ import annotations

import pytest

from schema.documents import DocumentRefused, build_documents

MALFORMED_PERSISTED = {
    "message": "`extensions.persistedQuery` must be {version: 1, sha256Hash}.",
    "extensions": {"code": "BAD_REQUEST"},
}


@pytest.mark.parametrize("persisted", ["abc", 1, ["x"], {"version": 1}, {"sha256Hash": "ab"}])
async def test_a_persisted_query_of_another_shape_is_a_bad_request(client, brand, persisted):
    body = {"extensions": {"persistedQuery": persisted}}
    response = await client.post("/graphql", json=body, headers={"X-Brand": brand.code})
    assert response.status_code == 200, response.text
    assert response.json()["errors"] == [MALFORMED_PERSISTED]


@pytest.mark.parametrize("query", [5, ["{ __typename }"], {"text": "{ __typename }"}])
def test_a_query_that_is_not_a_string_is_refused(query):
    """As a socket's subscribe message may send it (an HTTP body's members are checked
    before)."""
    documents = build_documents(max_depth=5, max_aliases=5, max_tokens=100, max_cost=100)
    with pytest.raises(DocumentRefused) as refused:
        documents.resolve(query, None, None)
    assert (refused.value.message, refused.value.code) == (
        "`query` must be a string.",
        "BAD_REQUEST",
    )
