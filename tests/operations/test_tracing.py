"""Tracing (the `otel` extra, POINTSMALL_TRACING=true): a purchase is one trace, continuing the
caller's `traceparent`, of HTTP, GraphQL, SQL and Redis spans; an entry its pre-check refuses
and a job's run are traced too; a webhook delivery continues the trace of the change that
emitted its event; the OTEL_* variables configure the SDK; off, nothing of tracing is imported
nor needed, and on without the extra the service refuses to start."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from db.models import WebhookEvent
from domain import webhooks
from domain.webhooks import deliver_due
from server.app import create_app
from server.scheduler import Job
from server.tracing import Tracing
from tests.support.apps import client_on_session_backends
from tests.support.factories import key
from tests.support.flash_sales import scheduled_sale
from tests.support.live import free_port
from tests.support.partners import REVIEW, partner_with_endpoint, publish

RECORD_PURCHASE = """
mutation RecordPurchase($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    entry { points description }
    member { points { available } ledger(first: 1) { edges { node { points } } } }
    userErrors { code }
  }
}
"""
ENTER_FLASH_SALE = """
mutation EnterFlashSale($input: EnterFlashSaleInput!) {
  enterFlashSale(input: $input) { redemption { id } userErrors { code } }
}
"""
ASYNCPG = "opentelemetry.instrumentation.asyncpg"
REDIS = "opentelemetry.instrumentation.redis"
HTTPX = "opentelemetry.instrumentation.httpx"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """This process's spans, kept in memory; the instrumentation undone after the module."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    assert trace.get_tracer_provider() is provider, "another tracer provider was set first"
    yield exporter
    for instrumentor in (AsyncPGInstrumentor(), RedisInstrumentor(), HTTPXClientInstrumentor()):
        instrumentor.uninstrument()
    webhooks.carry_traces(None)
    exporter.clear()


@pytest.fixture(scope="module")
async def traced(settings, running_app, exporter) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the service with tracing on, served with the session's app's backends, as
    its lifespan yields them (a lifespan of its own would close the database they share)."""
    application = create_app(settings.model_copy(update={"tracing": True}), configure_logs=False)
    async with client_on_session_backends(application, running_app) as http:
        yield http


def traceparent() -> tuple[int, int, str]:
    """A caller's trace id and span id, and the `traceparent` header naming them."""
    trace_id, span_id = secrets.randbits(128) | 1, secrets.randbits(64) | 1
    return trace_id, span_id, f"00-{trace_id:032x}-{span_id:016x}-01"


def spans_of(exporter: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.context.trace_id == trace_id]


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    """The span's parent, its parent's, ... as far as the given spans go."""
    by_id = {other.context.span_id: other for other in spans}
    chain = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


def scope_of(span: ReadableSpan) -> str:
    return span.instrumentation_scope.name if span.instrumentation_scope else ""


async def test_a_purchase_is_one_trace_of_http_graphql_sql_and_redis_spans(traced, exporter, staff):
    member = await staff.register()
    trace_id, caller_span_id, header = traceparent()
    response = await traced.post(
        "/graphql",
        json={
            "query": RECORD_PURCHASE,
            "variables": {
                "input": {
                    "memberId": member["id"],
                    "orderRef": key(),
                    "total": "120.00",
                    "idempotencyKey": key(),
                }
            },
        },
        headers={"Authorization": f"Bearer {staff.token}", "traceparent": header},
    )
    assert response.json()["data"]["recordPurchase"]["userErrors"] == []
    spans = spans_of(exporter, trace_id)

    (http,) = [
        span for span in spans if span.kind is SpanKind.SERVER and span.name == "POST /graphql"
    ]
    assert http.parent is not None and http.parent.is_remote
    assert http.parent.span_id == caller_span_id
    (operation,) = [span for span in spans if span.name == "GraphQL Query: RecordPurchase"]
    assert operation.parent.span_id == http.context.span_id
    assert operation.attributes["graphql.operation.name"] == "RecordPurchase"
    resolving = [span for span in spans if span.name.startswith("GraphQL Resolving")]
    assert [span.name for span in resolving] == ["GraphQL Resolving: recordPurchase"]
    assert resolving[0].parent.span_id == operation.context.span_id

    # Every span hangs from the request's; the purchase's statements and its event's publication
    # from the operation's (authentication's look-ups come before the operation), the payload's
    # nested fields' (the ledger's page) from the operation's directly.
    assert all(ancestors(span, spans)[-1] is http for span in spans if span is not http)
    within = [span for span in spans if operation in ancestors(span, spans)]
    nested = [span for span in within if span.parent.span_id == operation.context.span_id]
    assert any("ledger_entry" in span.attributes.get("db.statement", "") for span in nested)
    statements = [span.attributes["db.statement"] for span in within if scope_of(span) == ASYNCPG]
    assert any("INSERT INTO ledger_entry" in statement for statement in statements), statements
    assert "COMMIT;" in statements
    commands = [span.name for span in within if scope_of(span) == REDIS]
    assert "PUBLISH" in commands, [span.name for span in spans]

    # Neither the document nor its arguments are recorded: they may hold personal data.
    for span in spans:
        assert not any(
            name == "query" or name.startswith("graphql.param") for name in span.attributes
        ), span.attributes
        assert member["id"] not in json.dumps(dict(span.attributes))


async def test_a_webhook_delivery_continues_the_trace_of_its_change(
    traced, exporter, client, staff, runtime, listener
):
    url, received = listener
    key_secret, _ = await partner_with_endpoint(client, staff, url, ["OFFER_APPROVED"])
    offer = (await publish(client, key_secret, sku=f"TR-{key()[:8]}"))["item"]
    trace_id, _, header = traceparent()
    response = await traced.post(
        "/graphql",
        json={
            "query": REVIEW,
            "variables": {
                "approve": {"id": offer["id"], "idempotencyKey": key()},
                "reject": {"id": offer["id"], "reason": "-", "idempotencyKey": key()},
                "approving": True,
            },
        },
        headers={"Authorization": f"Bearer {staff.token}", "traceparent": header},
    )
    assert "errors" not in response.json(), response.json()
    approval = {span.context.span_id for span in spans_of(exporter, trace_id)}

    assert await deliver_due(runtime) >= 1
    (headers,) = [headers for _, headers, body in received if offer["id"].encode() in body]
    _, delivered_trace, post_span, _ = headers["traceparent"].split("-")
    assert int(delivered_trace, 16) == trace_id
    (post,) = [
        span
        for span in spans_of(exporter, trace_id)
        if scope_of(span) == HTTPX and span.context.span_id == int(post_span, 16)
    ]
    assert post.kind is SpanKind.CLIENT
    assert post.parent.span_id in approval  # the span that emitted the event
    events = await WebhookEvent.filter(type="offer.approved").order_by("-id")
    (event,) = [event for event in events if event.payload["itemId"] == offer["id"]]
    assert event.trace_context["traceparent"].split("-")[1] == delivered_trace


async def test_an_entry_refused_by_its_pre_check_is_traced_as_one(
    traced, exporter, staff, clock, make_token, brand
):
    sale = await scheduled_sale(staff, clock)  # not started: the entry script refuses
    member = await staff.register()
    trace_id, _, header = traceparent()
    entry = {"flashSaleId": sale["id"], "idempotencyKey": key()}
    response = await traced.post(
        "/graphql",
        json={"query": ENTER_FLASH_SALE, "variables": {"input": entry}},
        headers={
            "Authorization": f"Bearer {make_token(brand, 'MEMBER', member['id'])}",
            "traceparent": header,
        },
    )
    assert response.json()["data"]["enterFlashSale"]["userErrors"] == [{"code": "NOT_STARTED"}]
    spans = spans_of(exporter, trace_id)
    (precheck,) = [span for span in spans if span.name == "GraphQL pre-check"]
    assert precheck.attributes["pointsmall.precheck.answered"] is True
    assert not [span.name for span in spans if span.name.startswith("GraphQL Query")]
    script = [span for span in spans if scope_of(span) == REDIS and span.name == "EVALSHA"]
    assert [span.parent.span_id for span in script] == [precheck.context.span_id]


async def test_a_job_run_is_a_trace_of_its_own(traced, exporter, runtime):
    (job,) = Tracing.start().jobs([Job("deliver-webhooks", 2.0, deliver_due)])
    await job.run(runtime)
    (run,) = [span for span in exporter.get_finished_spans() if span.name == "job deliver-webhooks"]
    assert run.parent is None
    statements = [
        span.attributes["db.statement"]
        for span in spans_of(exporter, run.context.trace_id)
        if scope_of(span) == ASYNCPG and span.parent.span_id == run.context.span_id
    ]
    assert any("UPDATE webhook_delivery" in statement for statement in statements), statements


# In a process of its own: a start with the given settings, and which of tracing's modules it
# imported (redis-py imports OpenTelemetry's metrics SDK itself whenever it is installed).
START = """
import json, sys
from server.app import create_app
from server.settings import Settings
settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none",
                    redis_url="redis://127.0.0.1:1/0", jwt_secret="x" * 40, data_dir=sys.argv[1])
try:
    create_app(settings.model_copy(update=json.loads(sys.argv[2])), configure_logs=False)
except Exception as refused:
    print(type(refused).__name__, refused, file=sys.stderr)
    sys.exit(3)
tracing = ("server.tracing", "strawberry.extensions.tracing", "opentelemetry.sdk.trace",
           "opentelemetry.instrumentation", "opentelemetry.distro", "opentelemetry.propagate")
print(json.dumps(sorted(name for name in sys.modules if name.startswith(tracing))))
"""
WITHOUT_THE_EXTRA = "import sys; sys.modules['opentelemetry'] = None\n" + START


def start(tmp_path, code: str, **settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), json.dumps(settings)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_with_tracing_off_nothing_of_it_is_imported_nor_needed(tmp_path):
    started = start(tmp_path, START)
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout) == []
    started = start(tmp_path, WITHOUT_THE_EXTRA)
    assert started.returncode == 0, started.stderr


def test_tracing_on_without_the_extra_refuses_to_start(tmp_path):
    started = start(tmp_path, WITHOUT_THE_EXTRA, tracing=True)
    assert started.returncode == 3, started.stderr
    assert started.stderr.startswith("SettingsError")
    assert 'pip install "pointsmall[otel]"' in started.stderr


# A traced start, then spans, flushed: what the OTEL_* variables make of them.
PROBE = """
from opentelemetry import trace
from server.app import create_app
from server.settings import Settings
create_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/none",
                    redis_url="redis://127.0.0.1:1/0", jwt_secret="x" * 40, tracing=True),
           configure_logs=False)
tracer = trace.get_tracer("probe")
tracer.start_span("lone-call", kind=trace.SpanKind.CLIENT).end()
with tracer.start_as_current_span("tracing-probe"):
    tracer.start_span("inner-call", kind=trace.SpanKind.CLIENT).end()
trace.get_tracer_provider().shutdown()
"""


@pytest.fixture
def listener() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    """An HTTP endpoint on a free port (a webhook receiver, an OTLP collector): its URL, and the
    path, headers (in lower case) and body of each POST it answered with an empty 200."""
    port, received = free_port(), []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {name.lower(): value for name, value in self.headers.items()}
            received.append((self.path, headers, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}", received
    server.shutdown()
    server.server_close()


def probe(tmp_path, **otel: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("OTEL_")},
        "POINTSMALL_DATA_DIR": str(tmp_path),
        **otel,
    }
    return subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env=environment
    )


def printed_spans(stdout: str) -> list[dict]:
    """The spans the console exporter printed, one JSON object after another."""
    decoder, spans, text, at = json.JSONDecoder(), [], stdout.strip(), 0
    while at < len(text):
        span, end = decoder.raw_decode(text, at)
        spans.append(span)
        at = len(text) - len(text[end:].lstrip())
    return spans


def test_the_otel_variables_configure_the_sdk(tmp_path, listener):
    url, received = listener
    probed = probe(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=url)
    assert probed.returncode == 0, probed.stderr
    # OTLP over HTTP by default, to the endpoint named, as pointsmall, without the lone call.
    assert {path for path, _, _ in received} == {"/v1/traces"}
    exported = b"".join(body for _, _, body in received)
    assert b"tracing-probe" in exported and b"inner-call" in exported
    assert b"pointsmall" in exported and b"lone-call" not in exported

    probed = probe(tmp_path, OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="shop-api")
    assert probed.returncode == 0, probed.stderr
    spans = printed_spans(probed.stdout)
    assert sorted(span["name"] for span in spans) == ["inner-call", "tracing-probe"]
    assert {span["resource"]["attributes"]["service.name"] for span in spans} == {"shop-api"}

    probed = probe(tmp_path, OTEL_TRACES_EXPORTER="console", OTEL_TRACES_SAMPLER="always_off")
    assert probed.returncode == 0, probed.stderr
    assert printed_spans(probed.stdout) == []
