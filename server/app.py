"""The application factory: `create_app(settings)` returns the Starlette app.

Design: docs/architecture.md, "A process".
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    generate_latest,
    multiprocess,
)
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from domain.brands import BrandDirectory
from domain.runtime import (
    FlashSaleLimits,
    WebhookPolicy,
    close_backends,
    open_backends,
    readiness,
)
from schema.build import SchemaLimits, build_schema
from schema.observability import OperationMetrics
from server.auth import Authenticator
from server.dependencies import check_dependencies
from server.graphql_view import GraphQLEndpoint
from server.limits import RequestLimits, headers_too_large
from server.logs import AccessLog, configure_logging
from server.scheduler import Scheduler, standard_jobs
from server.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
GRAPHQL_PATH = "/graphql"
INSIGHTS_PAGE = STATIC_DIR / "insights" / "index.html"
# The insights page keeps a bearer token in sessionStorage: it runs only its own scripts and
# talks only to this origin, and its sign-in form is never submitted (a token in a URL).
INSIGHTS_PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
# Set by `pointsmall serve` (server/cli.py): every worker writes its metrics to files there.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def whole_server_metrics() -> CollectorRegistry:
    """Every worker's metrics, added up from their files under PROMETHEUS_MULTIPROC_DIR."""
    registry = CollectorRegistry()
    # prometheus_client's multiprocess module is unannotated (so is mark_process_dead).
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


class Service(Starlette):
    """The Starlette app, where a WebSocket on /graphql goes straight to the GraphQL endpoint.

    The HTTP middleware has nothing to do for a socket once its headers pass (CORS does not
    apply, the access log writes HTTP requests, a socket's frames are bounded by the server),
    and each layer's frame would stay for the socket's whole life: some 4 KB a subscriber.
    """

    def __init__(self, *args: Any, graphql: GraphQLEndpoint, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.graphql = graphql

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "websocket"
            and scope["path"] == GRAPHQL_PATH
            and not headers_too_large(scope)  # else refused by RequestLimits, in the stack
        ):
            scope["app"] = self
            await self.graphql(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


async def insights_page(request: Request) -> Response:
    """The brand's read-only insights dashboard (server/static/insights), for ANALYST and ADMIN
    tokens: it draws what the `insights` query answers."""
    return HTMLResponse(
        INSIGHTS_PAGE.read_text(), headers={"Content-Security-Policy": INSIGHTS_PAGE_POLICY}
    )


def tune_garbage_collector(gen0_threshold: int) -> None:
    """Fit CPython's cycle collector to a process that serves requests; once, after startup.

    What the process holds once started (the schema, the models: some 150,000 objects) is
    frozen out of every collection. Each request leaves about a hundred objects in reference
    cycles (graphql-core's execution context, Starlette's request, our context and loaders)
    that only the collector frees. At CPython's default threshold they are promoted while their
    request still runs, and full collections over the whole heap then sweep them, stopping the
    event loop for ~100 ms each; collected every `gen0_threshold` allocations, most die young.
    """
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(gen0_threshold, middle, oldest)


def create_app(
    settings: Settings | None = None, *, configure_logs: bool = True, served: bool = False
) -> Starlette:
    """The whole service; resources are opened by its lifespan, none at import. `served`: this
    process serves it until it exits (a uvicorn worker), so its collector is tuned at startup;
    not for apps that come and go in one process (tests), whose frozen objects would stay."""
    check_dependencies()
    settings = settings or Settings()
    settings.check_production()
    settings.check_documents()
    database_url, redis_url = settings.database_url, settings.redis_url
    if database_url is None or redis_url is None:
        raise RuntimeError(
            "DATABASE_URL and REDIS_URL must be set: `pointsmall serve` sets them to its "
            "embedded backends when you have none."
        )
    if configure_logs:
        configure_logging(json_lines=settings.production)
    jwt_secret, _ = settings.resolved_jwt_secret()
    registry = CollectorRegistry()
    multiprocess_metrics = bool(os.environ.get(MULTIPROCESS_DIR))
    if multiprocess_metrics:
        # GCCollector reads the process a scrape reaches, not the server: left out then.
        scraped = whole_server_metrics()
    else:
        GCCollector(registry=registry)  # collections per generation: see tune_garbage_collector
        scraped = registry
    operation_metrics = OperationMetrics(registry)
    tracing = None
    if settings.tracing:  # the otel extra: imported only when tracing is on
        from server.tracing import Tracing

        tracing = Tracing.start()
    schema = build_schema(
        SchemaLimits(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_query_tokens,
            max_cost=settings.max_query_cost,
            max_batch_operations=settings.max_batch_operations,
            mask_internal_errors=settings.production,
            introspection=settings.introspection_enabled,
            document_cache_bytes=settings.document_cache_bytes,
            documents=settings.documents,
            trusted_documents=settings.trusted_document_paths,
        ),
        operation_metrics,
        tracing.extension if tracing is not None else None,
    )
    graphql = GraphQLEndpoint(
        schema,
        metrics=operation_metrics,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        allowed_origins=settings.allowed_origins,
        allowed_origin_pattern=settings.allowed_origin_pattern,
        max_message_bytes=settings.max_body_bytes,
        prechecks=settings.prechecks,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        backends = await open_backends(
            database_url,
            redis_url,
            settings.redis_prefix,
            db_pool_max=settings.db_pool_max,
            redis_pool_max=settings.redis_pool_max,
            flash=FlashSaleLimits(
                settings.flash_sale_hold_seconds, settings.flash_sale_attempts_per_minute
            ),
            webhooks=WebhookPolicy(settings.production, settings.webhooks_private_allowed),
            reveal_codes=not settings.production,
        )
        authenticator = Authenticator(
            BrandDirectory(),
            jwt_secret,
            settings.jwt_issuer,
            backends,
            settings.partner_requests_per_second,
            settings.partner_burst,
        )
        app.state.backends = backends  # for tests that move the clock
        app.state.authenticator = authenticator  # for tests that tune partners' rate limits
        app.state.graphql = graphql  # for tests that compare answers with pre-checks off
        jobs = standard_jobs(
            settings.expiry_interval_seconds,
            settings.idempotency_retention_days,
            settings.reconcile_interval_seconds,
            settings.webhook_interval_seconds,
            settings.audit_retention_days,
        )
        scheduler = Scheduler(backends, tracing.jobs(jobs) if tracing is not None else jobs)
        if settings.scheduler:
            scheduler.start()
        if served:
            tune_garbage_collector(settings.gc_threshold)
        try:
            yield {"backends": backends, "authenticator": authenticator}
        finally:
            await scheduler.stop()
            await close_backends(backends)
            if multiprocess_metrics:
                multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        report = await readiness(request.state.backends)
        ready = all(value == "ok" for value in report.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", **report},
            status_code=200 if ready else 503,
        )

    async def metrics_page(request: Request) -> Response:
        return Response(generate_latest(scraped), media_type=CONTENT_TYPE_LATEST)

    app = Service(
        graphql=graphql,
        routes=[
            Route(GRAPHQL_PATH, graphql, methods=["GET", "POST"]),
            WebSocketRoute(GRAPHQL_PATH, graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/insights", insights_page),
            # With POINTSMALL_METRICS_BIND, `pointsmall serve` serves them there instead.
            *([Route("/metrics", metrics_page)] if settings.metrics_bind is None else []),
            Mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
        ],
        middleware=[
            # Outermost: it sees every answer, refusals included.
            *([Middleware(AccessLog)] if settings.access_log else []),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.allowed_origins,
                allow_origin_regex=settings.allowed_origin_pattern,
                allow_methods=["GET", "POST"],
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "X-Api-Key",
                    "X-Brand",
                    "X-Request-Id",
                ],
            ),
            # Inside CORS, so that a browser reads its 413 and 431 answers.
            Middleware(RequestLimits, max_body_bytes=settings.max_body_bytes),
        ],
        lifespan=lifespan,
    )
    if tracing is not None:
        tracing.instrument(app, graphql)
    return app


def create_app_from_environment() -> Starlette:
    """The factory uvicorn workers call (`pointsmall serve` exports the settings first)."""
    return create_app(Settings(), served=True)
