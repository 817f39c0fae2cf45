"""OpenTelemetry tracing: the `otel` extra (`pip install "pointsmall[otel]"`), on with
POINTSMALL_TRACING=true, and imported only then (server/app.py).

The SDK configures itself from the standard OTEL_* variables (exporter, endpoint, headers,
service name, sampler, ...), unless the process has a tracer provider already
(`opentelemetry-instrument`, a test's). Spans: each HTTP request and WebSocket (ASGI, W3C
`traceparent` accepted; not /healthz, /readyz, /metrics), each GraphQL operation with its
parsing, validation and root fields (strawberry's), each pre-check (server/prechecks.py answers
some requests before strawberry sees them), each SQL statement (asyncpg), each Redis command
(redis-py: the command's name, never its arguments), each run of a periodic job, and each
webhook post (httpx), which continues the trace of the change that emitted its event.
Documents, variables and arguments are never recorded: they may hold a member's personal data.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from graphql import GraphQLResolveInfo
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from strawberry.extensions import LifecycleStep

from domain import webhooks
from domain.runtime import Backends
from resolvers.context import Context
from schema.strawberry_internals import OperationType, spans_of, tracer_of
from server.graphql_view import GraphQLEndpoint, PrecheckAnswers
from server.scheduler import Job
from server.settings import SettingsError

try:
    from opentelemetry import context, propagate, trace
    from opentelemetry.distro import OpenTelemetryConfigurator
    from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
    from opentelemetry.trace import Link, SpanKind, TraceState
    from opentelemetry.util.types import Attributes
    from strawberry.extensions.tracing import OpenTelemetryExtension
except ModuleNotFoundError as missing:
    raise SettingsError(
        f'POINTSMALL_TRACING=true needs the otel extra: pip install "pointsmall[otel]" '
        f"({missing.name} is not installed)."
    ) from missing

SERVICE = "pointsmall"  # the service's name unless OTEL_SERVICE_NAME or the resource names one
# OTLP over HTTP, the extra's exporter, unless OTEL_TRACES_EXPORTER names others (the SDK reads
# `otlp` alone as gRPC, which it would need installed).
DEFAULT_EXPORTER = "otlp_proto_http"
# Probes and scrapes, every few seconds, are not traced unless OTEL_PYTHON_ASGI_EXCLUDED_URLS
# (or OTEL_PYTHON_EXCLUDED_URLS) says otherwise.
UNTRACED_URLS = "/healthz$,/readyz$,/metrics$"


class OperationTracing(OpenTelemetryExtension):
    """strawberry's spans of an operation, its parsing and validation, and its root fields: each
    calls one domain service, where the work is. Nested fields read what it returned or batch
    their loads: a span each would cost more than their work, times a page's size. The
    operation's span is current while it executes, so its SQL and Redis spans are its own.
    A subscription's events are not traced one by one (its operation's span holds them all)."""

    subscription = False  # the operation is a subscription: set when it executes

    def on_operation(self) -> Generator[None, None, None]:
        named = self.execution_context.operation_name
        span = tracer_of(self).start_span(
            f"GraphQL Query: {named}" if named else "GraphQL Query",
            kind=SpanKind.SERVER,
            attributes={"component": "graphql"},
        )  # strawberry's name and kind, without the document's text
        spans_of(self)[LifecycleStep.OPERATION] = span
        try:
            yield
        finally:
            name = self.execution_context.operation_name
            if name:
                span.set_attribute("graphql.operation.name", name)
                if not named:  # named by the document, found when it was parsed
                    span.update_name(f"GraphQL Query: {name}")
            span.end()

    def on_execute(self) -> Generator[None, None, None]:
        if self.execution_context.operation_type is OperationType.SUBSCRIPTION:
            # Its events execute between the yields of a stream: no span stays current.
            self.subscription = True
            yield
            return
        with trace.use_span(spans_of(self)[LifecycleStep.OPERATION]):
            yield

    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Context],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if info.path.prev is None and not self.subscription:
            return super().resolve(_next, root, info, *args, **kwargs)
        return _next(root, info, *args, **kwargs)

    def filter_resolver_args(
        self, args: dict[str, Any], info: GraphQLResolveInfo[Context]
    ) -> dict[str, Any]:
        return {}  # arguments may hold a member's personal data


class NoLoneCalls(Sampler):
    """`sampler`'s decisions, except that a call (SQL, Redis, HTTP) outside any span is not
    traced: a probe's look-up, a job's lease, each a trace of one span every few seconds."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler

    def should_sample(
        self,
        parent_context: context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if (
            kind is SpanKind.CLIENT
            and not trace.get_current_span(parent_context).get_span_context().is_valid
        ):
            return SamplingResult(Decision.DROP)
        return self.sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"NoLoneCalls{{{self.sampler.get_description()}}}"


@dataclass(frozen=True)
class Tracing:
    """What create_app traces with: the schema's extension, the endpoint, the jobs, the app."""

    tracer: trace.Tracer

    @classmethod
    def start(cls) -> Tracing:
        """The process's tracing: the SDK configured (once, unless it has a tracer provider
        already), asyncpg, redis-py and httpx instrumented, webhook events carrying traces."""
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            configure_sdk()
        # opentelemetry-instrumentation-asyncpg leaves its constructor unannotated.
        asyncpg_instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
        for instrumentor in (asyncpg_instrumentor, RedisInstrumentor(), HTTPXClientInstrumentor()):
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument()
        webhooks.carry_traces(webhooks.TraceCarrier(current_trace, continued_trace))
        return cls(trace.get_tracer(__name__))

    @staticmethod
    def extension() -> OperationTracing:
        """The schema's tracing extension, one per operation (build_schema's `tracing`)."""
        return OperationTracing()

    def jobs(self, jobs: list[Job]) -> list[Job]:
        """The jobs, each run in a span of its own: the root of that run's SQL and Redis spans."""
        return [replace(job, run=self._traced_run(job)) for job in jobs]

    def instrument(self, app: Starlette, endpoint: GraphQLEndpoint) -> None:
        """Trace the app's requests (outermost) and the endpoint's pre-checks."""
        excluded = os.environ.get(
            "OTEL_PYTHON_ASGI_EXCLUDED_URLS",
            os.environ.get("OTEL_PYTHON_EXCLUDED_URLS", UNTRACED_URLS),
        )
        app.add_middleware(
            OpenTelemetryMiddleware, excluded_urls=excluded, exclude_spans=["receive", "send"]
        )
        if endpoint.prechecks is not None:
            endpoint.prechecks = TracedPrechecks(endpoint.prechecks, self.tracer)

    def _traced_run(self, job: Job) -> Callable[[Backends], Awaitable[object]]:
        async def run(backends: Backends) -> object:
            with self.tracer.start_as_current_span(f"job {job.name}"):
                return await job.run(backends)

        return run


@dataclass(frozen=True)
class TracedPrechecks:
    """The endpoint's pre-checks, a span for each: a request one answers never reaches
    strawberry's spans."""

    prechecks: PrecheckAnswers
    tracer: trace.Tracer

    async def answer(self, request: Request) -> Response | None:
        with self.tracer.start_as_current_span("GraphQL pre-check") as span:
            response = await self.prechecks.answer(request)
            span.set_attribute("pointsmall.precheck.answered", response is not None)
            return response


def configure_sdk() -> None:
    """The SDK as the OTEL_* variables configure it, by its own configurator; by default
    exporting over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT, else localhost:4318), as `pointsmall`,
    sampled as OTEL_TRACES_SAMPLER says (a provider made only to read it), without lone calls."""
    named = not str(Resource.create().attributes[SERVICE_NAME]).startswith("unknown_service")
    sampler = TracerProvider(shutdown_on_exit=False).sampler
    # opentelemetry-distro leaves its configurator unannotated.
    OpenTelemetryConfigurator().configure(  # type: ignore[no-untyped-call]
        trace_exporter_names=[] if os.environ.get(OTEL_TRACES_EXPORTER) else [DEFAULT_EXPORTER],
        resource_attributes={} if named else {SERVICE_NAME: SERVICE},
        sampler=NoLoneCalls(sampler),
    )


def current_trace() -> dict[str, str]:
    """The running trace's W3C context (`traceparent`, `tracestate`); empty outside a trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextlib.contextmanager
def continued_trace(carrier: dict[str, str]) -> Iterator[None]:
    """Spans started inside continue the trace `carrier` names (current_trace's)."""
    token = context.attach(propagate.extract(carrier))
    try:
        yield
    finally:
        context.detach(token)
