"""X-Request-Id: a client's id is echoed and logged only when it is a plain token (letters,
digits, `.`, `_`, `-`; at most 64); anything else, which could forge log lines or grow them
without bound, is replaced by an id of our own."""

from __future__ import annotations

import re

import pytest

OUR_ID = re.compile(r"[0-9a-f]{32}")
DOCUMENT = {"query": "{ __typename }"}


@pytest.mark.parametrize("given", ["a", "req-42_retry.1", "A" * 64])
async def test_a_plain_client_id_is_echoed(client, given):
    response = await client.post("/graphql", json=DOCUMENT, headers={"X-Request-Id": given})
    assert response.headers["x-request-id"] == given


FORGED = {
    "too long": "A" * 65,
    "a forged log line": "x] ERROR server.auth [admin",
    "a space": "a b",
    "a tab": "a\tb",
    "a colon": "abc:def",
    "latin-1": "caf\xe9",
}


@pytest.mark.parametrize("given", FORGED.values(), ids=FORGED.keys())
async def test_any_other_id_is_replaced_by_ours(client, given):
    response = await client.post(
        "/graphql", json=DOCUMENT, headers={"X-Request-Id": given.encode("latin-1")}
    )
    assert response.status_code == 200
    assert OUR_ID.fullmatch(response.headers["x-request-id"])


async def test_each_request_without_an_id_gets_its_own(client):
    ids = {(await client.post("/graphql", json=DOCUMENT)).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3 and all(OUR_ID.fullmatch(i) for i in ids)
