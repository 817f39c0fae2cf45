"""Documents named by hash (Automatic Persisted Queries) or by trusted id (manifests written by
relay-compiler and GraphQL Codegen), the three POINTSMALL_DOCUMENTS modes over HTTP and over
WebSocket, and each document parsed, validated and planned once (schema/documents.py)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from schema.build import SchemaLimits, build_schema
from schema.documents import DocumentsMode, ManifestError, sha256_of
from server.app import create_app
from server.settings import SettingsError
from tests.support.factories import unique_code
from tests.support.live import connected, receive, start_live_server, stop_live_server

PROBE = "query Probe { __typename }"
TRUSTED = "query TrustedProbe { brand { code } }"
NOT_FOUND = {
    "errors": [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]
}


def persisted(text: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_of(text)}}


def codes(body: dict) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def test_a_persisted_query_is_registered_then_sent_by_hash_alone(client, brand):
    text = f"query Apq{unique_code()} {{ brand {{ code }} }}"
    headers = {"X-Brand": brand.code}
    for accept in ("application/json", "application/graphql-response+json"):
        unknown = await client.post(
            "/graphql", json={"extensions": persisted(text)}, headers={**headers, "Accept": accept}
        )
        assert unknown.status_code == 200, unknown.text  # as Apollo's persisted-queries link wants
        assert unknown.json() == NOT_FOUND
    registered = await client.post(
        "/graphql", json={"query": text, "extensions": persisted(text)}, headers=headers
    )
    assert registered.json() == {"data": {"brand": {"code": brand.code}}}
    by_hash = await client.post("/graphql", json={"extensions": persisted(text)}, headers=headers)
    assert by_hash.json() == {"data": {"brand": {"code": brand.code}}}


async def test_a_hash_that_is_not_the_texts_is_refused(client, brand):
    body = {"query": PROBE, "extensions": persisted(PROBE + " ")}
    response = await client.post("/graphql", json=body, headers={"X-Brand": brand.code})
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert error == {
        "message": "provided sha does not match query",
        "extensions": {"code": "BAD_REQUEST"},
    }
    odd = {"query": PROBE, "extensions": {"persistedQuery": {"version": 2, "sha256Hash": "x"}}}
    response = await client.post("/graphql", json=odd, headers={"X-Brand": brand.code})
    assert codes(response.json()) == ["BAD_REQUEST"]


async def test_persisted_queries_over_get_as_cdns_cache_them(client, brand):
    text = f"query Get{unique_code()} {{ brand {{ code }} }}"
    params = {"extensions": json.dumps(persisted(text))}
    headers = {"X-Brand": brand.code}
    assert (await client.get("/graphql", params=params, headers=headers)).json() == NOT_FOUND
    registering = await client.get("/graphql", params={**params, "query": text}, headers=headers)
    assert registering.json() == {"data": {"brand": {"code": brand.code}}}
    again = await client.get("/graphql", params=params, headers=headers)
    assert again.status_code == 200 and again.json() == registering.json()


async def test_a_persisted_document_is_parsed_validated_and_planned_once(
    client, brand, running_app
):
    documents = running_app[0].state.graphql.documents
    text = f"query Once{unique_code()} {{ brand {{ code }} }}"
    headers = {"X-Brand": brand.code}
    await client.post(
        "/graphql", json={"query": text, "extensions": persisted(text)}, headers=headers
    )
    counts = (documents.misses, documents.validations)
    for _ in range(3):
        body = {"extensions": persisted(text)}
        assert "errors" not in (await client.post("/graphql", json=body, headers=headers)).json()
        assert "errors" not in (await client.post("/graphql", json={"query": text},
                                                   headers=headers)).json()  # fmt: skip
    assert (documents.misses, documents.validations) == counts


def test_the_settings_bound_the_registry_by_bytes(running_app, settings):
    assert running_app[0].state.graphql.documents.max_bytes == settings.document_cache_bytes


def manifest_file(tmp_path, documents: dict[str, str], name: str = "manifest.json"):
    path = tmp_path / name
    path.write_text(json.dumps(documents))
    return path


def test_manifests_load_with_their_hashes_checked(tmp_path):
    relay = manifest_file(tmp_path, {sha256_of(TRUSTED): TRUSTED}, "relay.json")
    codegen = manifest_file(tmp_path, {f"sha256:{sha256_of(PROBE)}": PROBE}, "codegen.json")
    schema = build_schema(SchemaLimits(trusted_documents=(relay, codegen)))
    assert set(schema.documents.trusted) == {sha256_of(TRUSTED), sha256_of(PROBE)}
    assert all(document.valid for document in schema.documents.trusted.values())
    wrong = manifest_file(tmp_path, {sha256_of(PROBE): TRUSTED}, "wrong.json")
    with pytest.raises(ManifestError, match="not the text of that sha256"):
        build_schema(SchemaLimits(trusted_documents=(wrong,)))
    invalid = "{ nope }"
    broken = manifest_file(tmp_path, {sha256_of(invalid): invalid}, "broken.json")
    with pytest.raises(ManifestError, match="does not run"):
        build_schema(SchemaLimits(trusted_documents=(broken,)))
    with pytest.raises(ManifestError, match=r"missing\.json"):
        build_schema(SchemaLimits(trusted_documents=(tmp_path / "missing.json",)))


def test_the_server_does_not_start_with_a_bad_manifest_or_trusted_mode_without_one(
    settings, tmp_path
):
    wrong = manifest_file(tmp_path, {sha256_of(PROBE): TRUSTED})
    with pytest.raises(ManifestError):
        create_app(settings.model_copy(update={"trusted_documents": str(wrong)}))
    with pytest.raises(SettingsError, match="POINTSMALL_TRUSTED_DOCUMENTS"):
        create_app(settings.model_copy(update={"documents": DocumentsMode.TRUSTED}))


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    path = tmp_path_factory.mktemp("manifest") / "persisted-documents.json"
    path.write_text(json.dumps({sha256_of(text): text for text in (TRUSTED, PROBE)}))
    return path


async def post(server, body: dict | list, brand) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
        return await http.post("/graphql", json=body, headers={"X-Brand": brand.code})


async def subscribe(server, payload: dict, brand) -> dict:
    async with connected(server, {"X-Brand": brand.code}) as socket:
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        return await receive(socket)


def server_in_mode(settings, manifest, mode: str):
    env = {"POINTSMALL_DOCUMENTS": mode, "POINTSMALL_TRUSTED_DOCUMENTS": str(manifest)}
    server = start_live_server(settings, env=env)
    yield server
    stop_live_server(server)


@pytest.fixture(scope="module")
def persisted_server(settings, manifest):
    yield from server_in_mode(settings, manifest, "persisted")


@pytest.fixture(scope="module")
def trusted_server(settings, manifest):
    yield from server_in_mode(settings, manifest, "trusted")


async def test_persisted_mode_never_runs_a_bare_text(persisted_server, brand):
    text = f"query Bare{unique_code()} {{ __typename }}"
    bare = await post(persisted_server, {"query": text}, brand)
    assert bare.status_code == 200 and codes(bare.json()) == ["PERSISTED_QUERY_REQUIRED"]
    registered = await post(persisted_server, {"query": text, "extensions": persisted(text)}, brand)
    assert registered.json() == {"data": {"__typename": "Query"}}
    by_hash = await post(persisted_server, {"extensions": persisted(text)}, brand)
    assert by_hash.json() == {"data": {"__typename": "Query"}}
    by_id = await post(persisted_server, {"documentId": sha256_of(TRUSTED)}, brand)
    assert by_id.json() == {"data": {"brand": {"code": brand.code}}}
    socket = await subscribe(persisted_server, {"query": text}, brand)
    assert socket["type"] == "error", socket
    assert socket["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"


async def test_trusted_mode_runs_only_the_manifests_documents(trusted_server, brand):
    by_id = await post(trusted_server, {"documentId": f"sha256:{sha256_of(TRUSTED)}"}, brand)
    assert by_id.json() == {"data": {"brand": {"code": brand.code}}}
    as_text = await post(trusted_server, {"query": TRUSTED}, brand)
    assert as_text.json() == by_id.json()
    by_hash = await post(trusted_server, {"extensions": persisted(PROBE)}, brand)
    assert by_hash.json() == {"data": {"__typename": "Query"}}
    batch = await post(trusted_server, [{"documentId": sha256_of(PROBE)}, {"query": PROBE}], brand)
    assert batch.json() == [{"data": {"__typename": "Query"}}] * 2
    other = f"query Other{unique_code()} {{ __typename }}"
    for body in ({"query": other}, {"query": other, "extensions": persisted(other)}):
        refused = await post(trusted_server, body, brand)
        assert refused.status_code == 200 and codes(refused.json()) == ["TRUSTED_DOCUMENT_REQUIRED"]
    async with httpx.AsyncClient(base_url=trusted_server.url, timeout=15) as http:
        got = await http.get("/graphql", params={"documentId": sha256_of(PROBE)})
    assert got.json() == {"data": {"__typename": "Query"}}  # not GraphiQL's page
    unknown = await post(trusted_server, {"documentId": sha256_of(other)}, brand)
    assert codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    mixed = await post(trusted_server, [{"documentId": sha256_of(PROBE)}, {"query": other}], brand)
    assert [codes(answer) for answer in mixed.json()] == [[], ["TRUSTED_DOCUMENT_REQUIRED"]]


async def test_a_socket_is_no_way_around_trusted_mode(trusted_server, brand):
    other = f"query Other{unique_code()} {{ __typename }}"
    for payload in (
        {"query": other},
        {"query": other, "extensions": persisted(other)},
        {"documentId": sha256_of(other)},
    ):
        refused = await subscribe(trusted_server, payload, brand)
        assert refused["type"] == "error", refused
        assert refused["payload"][0]["extensions"]["code"] in (
            "TRUSTED_DOCUMENT_REQUIRED",
            "PERSISTED_QUERY_NOT_FOUND",
        )
    for payload in ({"documentId": sha256_of(PROBE)}, {"extensions": persisted(PROBE)}):
        answered = await subscribe(trusted_server, payload, brand)
        assert answered["type"] == "next", answered
        assert answered["payload"] == {"data": {"__typename": "Query"}}


async def test_a_socket_takes_persisted_queries_in_any_mode(live_server, brand):
    text = f"query Socket{unique_code()} {{ __typename }}"
    unknown = await subscribe(live_server, {"extensions": persisted(text)}, brand)
    assert unknown["type"] == "error"
    assert unknown["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    registered = await subscribe(live_server, {"query": text, "extensions": persisted(text)}, brand)
    assert registered["payload"] == {"data": {"__typename": "Query"}}
    await asyncio.sleep(0)
    by_hash = await subscribe(live_server, {"extensions": persisted(text)}, brand)
    assert by_hash["payload"] == {"data": {"__typename": "Query"}}
