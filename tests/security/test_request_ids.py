"""X-Request-Id: a client's id is echoed and logged only when it is a plain token (letters,
digits, `.`, `_`, `-`; at most 64); anything else, which could forge log lines or grow them
without bound, is replaced by an id of our own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from server.app import create_app
from tests.support.apps import client_on_session_backends
from tests.support.operations import OUR_ID

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


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/nowhere"])
async def test_every_response_carries_one(client, path):
    named = await client.get(path, headers={"X-Request-Id": "req-42"})
    forged = await client.get(path, headers={"X-Request-Id": FORGED["a space"]})
    assert named.headers["x-request-id"] == "req-42"
    assert OUR_ID.fullmatch(forged.headers["x-request-id"])


@pytest.fixture(scope="module")
async def unlogged(settings, running_app) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the service without its access log (POINTSMALL_ACCESS_LOG=false), served
    with the session's app's backends (a lifespan of its own would close the database)."""
    application = create_app(
        settings.model_copy(update={"access_log": False}), configure_logs=False
    )
    async with client_on_session_backends(application, running_app) as http:
        yield http


async def test_without_the_access_log_graphql_answers_still_carry_one(unlogged):
    named = await unlogged.post("/graphql", json=DOCUMENT, headers={"X-Request-Id": "req-42"})
    forged = await unlogged.post(
        "/graphql", json=DOCUMENT, headers={"X-Request-Id": FORGED["a space"]}
    )
    assert named.headers["x-request-id"] == "req-42"
    assert OUR_ID.fullmatch(forged.headers["x-request-id"])
