"""Settings from the environment; see the README's configuration table."""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.runtime import MIN_HOLD_SECONDS
from schema.documents import DOCUMENT_CACHE_BYTES, DocumentsMode

MIN_SECRET_LENGTH = 32
# Pages served from this machine, on any port (a front-end's dev server, GraphiQL elsewhere).
LOCAL_ORIGINS = r"https?://(localhost|127\.0\.0\.1)(:[0-9]+)?"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class SettingsError(RuntimeError):
    """The settings cannot run the service; the message says what to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POINTSMALL_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "POINTSMALL_DATABASE_URL")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "POINTSMALL_REDIS_URL")
    )
    data_dir: Path = Path(".pointsmall")
    redis_prefix: str = "pointsmall"
    jwt_secret: str | None = None
    jwt_issuer: str = "pointsmall"
    allowed_origins: list[str] = []
    # A worker's requests wait for a connection when all are taken, and each holds one for a
    # few turns of a busy event loop beside its statement: at 32 requests in flight, 10 gave
    # the member's pages a p99 of 55-105 ms, 16 gave 25-32 ms (bench.reads).
    db_pool_max: int = 16
    redis_pool_max: int = 50
    # Allocations between two collections of the youngest generation in a served process
    # (CPython's default: 700); see server.app.tune_garbage_collector.
    gc_threshold: int = Field(default=20_000, ge=700)
    max_query_depth: int = 12
    max_query_tokens: int = 2000
    max_aliases: int = 30
    max_query_cost: int = 5000
    max_batch_operations: int = 10
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)  # larger request bodies: 413
    # Which documents requests may name (schema/documents.py): texts, persisted hashes, ids.
    documents: DocumentsMode = DocumentsMode.ANY
    # Manifests of trusted documents ({"<sha256>": "<text>"} JSON files), comma-separated.
    trusted_documents: str = ""
    # Bytes of query texts kept parsed and validated (trusted documents are kept besides).
    document_cache_bytes: int = Field(default=DOCUMENT_CACHE_BYTES, ge=0)
    # Fields' pre-checks (schema/prechecks.py) may answer before execution; off: never.
    prechecks: bool = True
    graphiql: bool | None = None  # default: on in development, off in production
    introspection: bool | None = None  # default: on in development, off in production
    scheduler: bool = True  # run the periodic jobs (expiry, clean-up) inside serve
    expiry_interval_seconds: float = 3600
    idempotency_retention_days: int = 30
    audit_retention_days: int = Field(default=365, ge=1)  # the audit trail of staff and partners
    # A hold waits this long for its transaction; the transaction must commit well inside it.
    flash_sale_hold_seconds: float = Field(default=10.0, ge=MIN_HOLD_SECONDS)
    flash_sale_attempts_per_minute: int = 60  # per member and sale; more is RATE_LIMITED
    reconcile_interval_seconds: float = 5.0  # flash-sale holds and lost Redis state
    partner_requests_per_second: float = 20.0  # per API key, refilled continuously
    partner_burst: int = 40  # requests an idle API key may send at once
    # Webhook endpoints on private, loopback or link-local addresses: only where allowed
    # (default: in development, never in production); production also requires https.
    webhooks_allow_private: bool | None = None
    webhook_interval_seconds: float = 2.0  # how often serve posts due webhook deliveries
    access_log: bool = True  # one line per HTTP request (server/logs.py AccessLog)
    # OpenTelemetry tracing (the `otel` extra; OTEL_* variables configure it): server/tracing.py
    tracing: bool = False
    # An idle keep-alive connection is closed after this long: longer than a load balancer's
    # idle timeout (60 s on the common ones), so that it is the balancer that closes it.
    keep_alive_seconds: int = Field(default=75, ge=1)
    # On SIGTERM, open requests get this long to finish before they are cancelled.
    drain_seconds: int = Field(default=25, ge=0)
    # `host:port` serving /metrics instead of the public port (then not served there).
    metrics_bind: str | None = Field(default=None, pattern=r"^\[?[^\s\]]*\]?:[0-9]{1,5}$")

    @property
    def production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def graphiql_enabled(self) -> bool:
        return (not self.production) if self.graphiql is None else self.graphiql

    @property
    def introspection_enabled(self) -> bool:
        return (not self.production) if self.introspection is None else self.introspection

    @property
    def allowed_origin_pattern(self) -> str | None:
        """Origins allowed besides `allowed_origins`: in development, this machine's pages."""
        return None if self.production else LOCAL_ORIGINS

    @property
    def trusted_document_paths(self) -> tuple[Path, ...]:
        parts = (part.strip() for part in self.trusted_documents.split(","))
        return tuple(Path(part) for part in parts if part)

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """`metrics_bind` as (host, port); None: /metrics is on the public port."""
        if self.metrics_bind is None:
            return None
        host, _, port = self.metrics_bind.rpartition(":")
        return host.strip("[]") or "0.0.0.0", int(port)

    @property
    def webhooks_private_allowed(self) -> bool:
        if self.webhooks_allow_private is None:
            return not self.production
        return self.webhooks_allow_private

    def check_documents(self) -> None:
        """Trusted mode runs only the manifests' documents: it needs at least one."""
        if self.documents is DocumentsMode.TRUSTED and not self.trusted_document_paths:
            raise SettingsError(
                "POINTSMALL_DOCUMENTS=trusted needs POINTSMALL_TRUSTED_DOCUMENTS, the manifest "
                "files of the documents it may run."
            )

    def check_production(self) -> None:
        """Production runs only on named backends with a real signing secret."""
        if not self.production:
            return
        missing = [
            name
            for name, value in (
                ("DATABASE_URL", self.database_url),
                ("REDIS_URL", self.redis_url),
                ("POINTSMALL_JWT_SECRET", self.jwt_secret),
            )
            if not value
        ]
        if missing:
            raise SettingsError(
                "Production needs " + ", ".join(missing) + " set; refusing to start."
            )
        assert self.jwt_secret is not None  # else missing
        if len(self.jwt_secret) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"POINTSMALL_JWT_SECRET must be at least {MIN_SECRET_LENGTH} characters."
            )

    def resolved_jwt_secret(self) -> tuple[str, str | None]:
        """The deployment's HS256 secret, and a notice when development generated it.

        In development without POINTSMALL_JWT_SECRET, a secret is generated once and kept in
        the data dir, so `pointsmall token` in another shell mints tokens the server accepts.
        """
        if self.jwt_secret:
            return self.jwt_secret, None
        if self.production:
            raise SettingsError("POINTSMALL_JWT_SECRET must be set in production.")
        path = self.data_dir / "jwt-secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        notice = f"Development JWT secret kept in {path} (set POINTSMALL_JWT_SECRET to choose one)."
        return path.read_text().strip(), notice
