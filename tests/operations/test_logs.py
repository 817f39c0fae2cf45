"""One log stream: in production every line on stderr is a JSON object, uvicorn's included, and
each HTTP request has one access line with its request id, brand, operation, status and
duration; in development the same lines are plain text."""

from __future__ import annotations

import json
import logging

import httpx

from tests.support.factories import key
from tests.support.flash_sales import EXAMPLE, scheduled_sale
from tests.support.live import bearer
from tests.support.operations import OUR_ID, sample
from tests.support.serving import Served, serving

QUERY = {"query": "query LogsProbe { brand { code } }"}


def probe(url: str, brand_code: str, request_id: str) -> None:
    response = httpx.post(
        f"{url}/graphql",
        json=QUERY,
        headers={"X-Brand": brand_code, "X-Request-Id": request_id},
        timeout=10,
    )
    assert response.json() == {"data": {"brand": {"code": brand_code}}}


def json_entries(served: Served) -> list[dict]:
    """Every line the process wrote on stderr, each a JSON object."""
    entries = []
    for line in served.stderr:
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\n{served.output}") from None
    return entries


def test_production_writes_one_json_stream_with_access_lines(settings, brand):
    with serving(settings, workers=2, env={"POINTSMALL_ENV": "production"}) as served:
        probe(served.url, brand.code, "logs-probe-json")
        assert httpx.get(f"{served.url}/healthz").status_code == 200
        served.terminate()
        assert served.wait_exit() == 0
    entries = json_entries(served)
    loggers = {entry["logger"] for entry in entries}
    assert {"uvicorn.error", "pointsmall.access"} <= loggers, loggers
    assert "uvicorn.access" not in loggers  # ours replaces it: one line per request
    (access,) = [entry for entry in entries if entry["request_id"] == "logs-probe-json"]
    assert access["logger"] == "pointsmall.access"
    assert access["brand"] == brand.code
    assert access["operation"] == "LogsProbe"
    assert access["status"] == 200
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] > 0
    assert (access["method"], access["path"]) == ("POST", "/graphql")
    (health,) = [entry for entry in entries if entry.get("path") == "/healthz"]
    assert (health["status"], health["brand"], health["operation"]) == (200, None, None)


def test_every_response_and_its_access_line_carry_one_request_id(settings):
    """Not only GraphQL's: the client's X-Request-Id when plain, else a new one."""
    with serving(settings, env={"POINTSMALL_ENV": "production"}) as served:
        named = httpx.get(f"{served.url}/healthz", headers={"X-Request-Id": "health-probe"})
        unnamed = httpx.get(f"{served.url}/healthz")
        missing = httpx.get(f"{served.url}/nowhere")
        served.terminate()
        assert served.wait_exit() == 0
    access = {
        entry["request_id"]: entry
        for entry in json_entries(served)
        if entry["logger"] == "pointsmall.access"
    }
    assert named.headers["x-request-id"] == "health-probe"
    assert access["health-probe"]["path"] == "/healthz"
    fresh = unnamed.headers["x-request-id"]
    assert OUR_ID.fullmatch(fresh) and access[fresh]["path"] == "/healthz"
    assert access[missing.headers["x-request-id"]]["status"] == 404


def test_development_writes_plain_lines(settings, brand):
    with serving(settings) as served:
        probe(served.url, brand.code, "logs-probe-plain")
        served.terminate()
        assert served.wait_exit() == 0
    (access,) = [line for line in served.stderr if "logs-probe-plain" in line]
    assert "pointsmall.access [logs-probe-plain] POST /graphql 200 " in access
    assert access.rstrip().endswith(f"brand={brand.code} operation=LogsProbe")
    started = [line for line in served.stderr if "Application startup complete" in line]
    assert started and not started[0].startswith("{")


async def precheck_answers(client: httpx.AsyncClient) -> float:
    metrics = (await client.get("/metrics")).text
    return sample(metrics, "pointsmall_precheck_answers_total", field="enterFlashSale")


async def test_a_request_its_precheck_answered_is_noted_too(
    client, staff, clock, brand, make_token, caplog
):
    """enterFlashSale's refusals are answered before execution (server/prechecks.py): their
    access lines still name the operation and the brand."""
    sale = await scheduled_sale(staff, clock)  # not started: NOT_STARTED
    member = await staff.register()
    entry = {"flashSaleId": sale["id"], "idempotencyKey": key()}
    answered_before = await precheck_answers(client)
    with caplog.at_level(logging.INFO, logger="pointsmall.access"):
        response = await client.post(
            "/graphql",
            json={"query": EXAMPLE, "variables": {"input": entry}},
            headers={
                **bearer(make_token(brand, "MEMBER", subject=member["id"])),
                "X-Request-Id": "precheck-probe",
            },
        )
    (error,) = response.json()["data"]["enterFlashSale"]["userErrors"]
    assert error["code"] == "NOT_STARTED"
    assert await precheck_answers(client) == answered_before + 1  # by the pre-check
    (access,) = [record for record in caplog.records if record.request_id == "precheck-probe"]
    assert access.fields["operation"] == "EnterFlashSaleMutation"
    assert access.fields["brand"] == brand.code
    assert access.fields["status"] == 200
