"""The application factory: `create_app(settings)` returns the Starlette app."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from domain.brands import BrandDirectory
from domain.runtime import (
    FlashSaleLimits,
    WebhookPolicy,
    close_backends,
    open_backends,
    readiness,
)
from schema import SchemaLimits, build_schema
from schema.observability import OperationMetrics
from server.auth import Authenticator
from server.graphql_view import GraphQLEndpoint
from server.limits import RequestLimits
from server.logs import configure_logging
from server.scheduler import Scheduler, standard_jobs
from server.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"


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
    settings = settings or Settings()
    settings.check_production()
    settings.check_documents()
    if settings.database_url is None or settings.redis_url is None:
        raise RuntimeError(
            "DATABASE_URL and REDIS_URL must be set: `pointsmall serve` sets them to its "
            "embedded backends when you have none."
        )
    if configure_logs:
        configure_logging(json_lines=settings.production)
    jwt_secret, _ = settings.resolved_jwt_secret()
    registry = CollectorRegistry()
    GCCollector(registry=registry)  # collections per generation: see tune_garbage_collector
    metrics = OperationMetrics(registry)
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
        metrics,
    )
    graphql = GraphQLEndpoint(
        schema,
        metrics=metrics,
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
            settings.database_url,
            settings.redis_url,
            settings.redis_prefix,
            db_pool_max=settings.db_pool_max,
            redis_pool_max=settings.redis_pool_max,
            flash=FlashSaleLimits(
                settings.flash_sale_hold_seconds, settings.flash_sale_attempts_per_minute
            ),
            webhooks=WebhookPolicy(settings.production, settings.webhooks_private_allowed),
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
        scheduler = Scheduler(
            backends,
            standard_jobs(
                settings.expiry_interval_seconds,
                settings.idempotency_retention_days,
                settings.reconcile_interval_seconds,
                settings.webhook_interval_seconds,
            ),
        )
        if settings.scheduler:
            scheduler.start()
        if served:
            tune_garbage_collector(settings.gc_threshold)
        try:
            yield {"backends": backends, "authenticator": authenticator}
        finally:
            await scheduler.stop()
            await close_backends(backends)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        report = await readiness(request.state.backends)
        ready = all(value == "ok" for value in report.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", **report},
            status_code=200 if ready else 503,
        )

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
        ],
        middleware=[
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


def create_app_from_environment() -> Starlette:
    """The factory uvicorn workers call (`pointsmall serve` exports the settings first)."""
    return create_app(Settings(), served=True)
