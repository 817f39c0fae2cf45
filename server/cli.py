"""The `pointsmall` command: serve, migrate, seed-demo, token, the periodic jobs, export-schema.

Every command that needs a database takes the same data dir as `serve`: with DATABASE_URL /
REDIS_URL unset it reaches the embedded backends of the `serve` running there, or starts them
itself for its run when none is. Brands and partners are named by code, members by global id;
one that does not exist is exit code 2, like a usage error.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar, overload

import click

from server.settings import Settings, SettingsError

# Commands import what they use when they run: `pointsmall --help` loads none of these.
if TYPE_CHECKING:
    from db.models import Brand
    from domain.demo import Demo
    from domain.member_import import ImportPlan
    from domain.runtime import Backends

T = TypeVar("T")
Progress = Callable[[int, int], None]

EXAMPLE_QUERY = "{ brand { name stores { name } } tiers { name } }"
MEMBER_QUERY = (
    "{ me { displayName points { available expiring(withinDays: 800) { points expiresAt } } "
    "ledger(first: 5) { edges { node { kind points description breakdown { description } } } } } }"
)
PREVIEW_QUERY = (
    '{ previewEarn(input: {total: "268.00"}) { preview { points breakdown { rule description '
    "points } } userErrors { code message } } }"
)

# uvicorn's sans-I/O websockets implementation: per open socket, about 25 KB of memory where
# its legacy one (the default) takes 32 KB, sending as fast (README, performance notes).
WEBSOCKETS = "websockets-sansio"
BACKENDS = "DATABASE_URL, REDIS_URL"
DATABASE = "DATABASE_URL"
EMBEDDED = (
    "; when unset, the embedded backends under the data dir (those of the `pointsmall serve` "
    "running there, or started for this command)"
)


def reads(backends: str | None, *settings: str) -> str:
    """A command's epilog: the environment variables it reads."""
    names = [backends + EMBEDDED] if backends else []
    return "Environment: " + ", ".join([*names, *settings]) + "."


class NotFound(click.ClickException):
    """A brand, partner or member named on the command line that does not exist."""

    exit_code = 2


def data_dir_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--data-dir",
        type=click.Path(path_type=Path),
        help="The data dir of the embedded backends and the development secret "
        "[default: POINTSMALL_DATA_DIR, else ./.pointsmall].",
    )(command)


def _settings(data_dir: Path | None = None) -> Settings:
    settings = Settings()
    if data_dir is not None:
        settings.data_dir = data_dir
    return settings


@contextmanager
def _reachable(settings: Settings, command: str, *, redis: bool = True) -> Iterator[Settings]:
    """`settings` with the backend URLs filled in: the environment's, else the embedded
    backends under the data dir (a running serve's, or started here and migrated)."""
    database_missing = not settings.database_url
    redis_missing = redis and not settings.redis_url
    if not (database_missing or redis_missing):
        yield settings
        return
    from db.database import apply_migrations
    from server.embedded import DataDirInUse, embedded_backends, ensure_database

    try:
        with embedded_backends(
            settings.data_dir, command, database=database_missing, redis=redis_missing
        ) as urls:
            settings.database_url = settings.database_url or urls.database_url
            settings.redis_url = settings.redis_url or urls.redis_url
            if urls.started and urls.database_url:
                asyncio.run(ensure_database(urls.database_url))
                asyncio.run(apply_migrations(urls.database_url))
            yield settings
    except DataDirInUse as error:
        raise click.ClickException(str(error)) from None


def _run_with_database(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    from db.database import close_database, open_database

    database_url = settings.database_url
    assert database_url is not None  # filled in by _reachable

    async def main() -> T:
        await open_database(database_url, pool_max=2)
        try:
            return await work()
        finally:
            await close_database()

    return asyncio.run(main())


def _run_with_backends(settings: Settings, work: Callable[[Backends], Awaitable[T]]) -> T:
    """Run `work(backends)` with the database, Redis and the event bus open."""
    from domain.runtime import WebhookPolicy, close_backends, open_backends

    database_url, redis_url = settings.database_url, settings.redis_url
    assert database_url is not None and redis_url is not None  # filled in by _reachable

    async def main() -> T:
        backends = await open_backends(
            database_url,
            redis_url,
            settings.redis_prefix,
            db_pool_max=2,
            redis_pool_max=4,
            webhooks=WebhookPolicy(settings.production, settings.webhooks_private_allowed),
        )
        try:
            return await work(backends)
        finally:
            await close_backends(backends)

    return asyncio.run(main())


@overload
async def _check_brand(brand_code: str) -> Brand: ...


@overload
async def _check_brand(brand_code: str | None) -> Brand | None: ...


async def _check_brand(brand_code: str | None) -> Brand | None:
    """The brand of this code (None for None); NotFound when there is none."""
    from db.models import Brand

    if brand_code is None:
        return None
    brand = await Brand.get_or_none(code=brand_code)
    if brand is None:
        raise NotFound(f"No brand {brand_code!r}.")
    return brand


async def _check_member(global_id: str, brand_id: int | None = None) -> int:
    """The database id of the member with this global id (of this brand); NotFound otherwise."""
    from db.models import Member
    from resolvers.ids import parse_id

    parsed = parse_id(global_id)
    if parsed is None or parsed[0] != "Member":
        raise NotFound(f"{global_id!r} is not a member's global id (see `me {{ id }}`).")
    found = Member.filter(id=parsed[1])
    if brand_id is not None:
        found = found.filter(brand_id=brand_id)
    if not await found.exists():
        raise NotFound(f"No member {global_id!r}" + (" in this brand." if brand_id else "."))
    return parsed[1]


@click.group()
def main() -> None:
    """pointsmall: the loyalty points mall GraphQL API."""


@main.command(
    epilog=reads(
        None,
        "DATABASE_URL, REDIS_URL (unset: started under the data dir)",
        "POINTSMALL_ENV",
        "POINTSMALL_JWT_SECRET",
        "POINTSMALL_DATA_DIR",
        "POINTSMALL_REDIS_PREFIX",
        "and every other POINTSMALL_* setting of the README's Configuration",
    )
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, help="Worker processes.")
@click.option("--demo", is_flag=True, help="Seed the demo brand and print tokens to try.")
@data_dir_option
def serve(host: str, port: int, workers: int, demo: bool, data_dir: Path | None) -> None:
    """Serve the API; without DATABASE_URL / REDIS_URL, on embedded PostgreSQL and Redis."""
    import uvicorn
    from prometheus_client import start_http_server

    from server.app import MULTIPROCESS_DIR, whole_server_metrics
    from server.embedded import (
        DataDirInUse,
        EmbeddedPostgres,
        EmbeddedRedis,
        lock_data_dir,
        publish_backends,
        withdraw_backends,
    )
    from server.logs import logging_config
    from server.prometheus_internals import choose_value_storage_again

    settings = _settings(data_dir)
    try:
        settings.check_production()
        secret, notice = settings.resolved_jwt_secret()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    # Workers read their settings from the environment: hand them what the parent resolved.
    os.environ["POINTSMALL_JWT_SECRET"] = secret
    os.environ["POINTSMALL_DATA_DIR"] = str(settings.data_dir)
    if notice:
        click.echo(notice)
    # Every worker writes its metrics to files here, so that a scrape shows the whole server.
    metrics_dir = tempfile.mkdtemp(prefix="pointsmall-metrics-")
    os.environ[MULTIPROCESS_DIR] = metrics_dir
    # prometheus_client chose where metrics keep their values when it was imported (by the
    # settings); a single worker runs in this process, so it chooses again, now.
    choose_value_storage_again()
    embedded: list[EmbeddedPostgres | EmbeddedRedis] = []
    published: dict[str, str] = {}
    # Ctrl-C and SIGTERM end the process through SystemExit, so the embedded servers are
    # stopped below (uvicorn re-raises the signal it caught once it has shut down).
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: sys.exit(0))
    try:
        if not (settings.database_url and settings.redis_url):
            try:
                lock = lock_data_dir(settings.data_dir)  # noqa: F841  (held until we exit)
            except DataDirInUse as error:
                raise click.ClickException(str(error)) from None
        if not settings.database_url:
            postgres = EmbeddedPostgres(settings.data_dir)
            embedded.append(postgres)
            settings.database_url = postgres.start()
            published["DATABASE_URL"] = settings.database_url
            click.echo(f"Embedded PostgreSQL under {postgres.pgdata}")
        if not settings.redis_url:
            redis = EmbeddedRedis(settings.data_dir)
            embedded.append(redis)
            settings.redis_url = redis.start()
            published["REDIS_URL"] = settings.redis_url
            click.echo(f"Embedded Redis under {redis.directory}")
        os.environ["DATABASE_URL"] = settings.database_url
        os.environ["REDIS_URL"] = settings.redis_url
        seeded = _prepare(settings, embedded_database_url=published.get("DATABASE_URL"), demo=demo)
        if published:
            publish_backends(settings.data_dir, published)
            click.echo(
                f"The CLI's jobs with --data-dir {settings.data_dir} (or run from here) use "
                "them; other clients:"
            )
            for name, url in published.items():
                click.echo(f"  {name}={url}")
        if seeded is not None:
            _print_demo(settings, secret, host, port, seeded)
        if settings.metrics_address is not None:
            metrics_host, metrics_port = settings.metrics_address
            start_http_server(metrics_port, metrics_host, registry=whole_server_metrics())
        uvicorn.run(
            "server.app:create_app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            ws=WEBSOCKETS,
            ws_per_message_deflate=False,
            ws_max_size=settings.max_body_bytes,  # frames past it are refused as they arrive
            # On SIGTERM uvicorn stops listening, closes WebSockets with 1012 (service restart)
            # and gives open requests `drain_seconds` to finish.
            timeout_keep_alive=settings.keep_alive_seconds,
            timeout_graceful_shutdown=settings.drain_seconds,
            log_config=logging_config(json_lines=settings.production),
            access_log=False,  # server.logs.AccessLog writes ours
            log_level="info",
        )
    finally:
        if published:
            withdraw_backends(settings.data_dir)
        for backend in reversed(embedded):
            backend.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _prepare(settings: Settings, *, embedded_database_url: str | None, demo: bool) -> Demo | None:
    """Migrate the embedded database (its URL, when serve started one); refuse an unmigrated
    one we do not own; seed the demo."""
    from db.database import apply_migrations, pending_migrations
    from domain.demo import seed_demo
    from server.embedded import ensure_database

    if embedded_database_url is not None:
        asyncio.run(ensure_database(embedded_database_url))
        asyncio.run(apply_migrations(embedded_database_url))
    missing = _run_with_database(settings, pending_migrations)
    if missing:
        raise click.ClickException(
            f"The database is not migrated (missing: {', '.join(missing)}). "
            "Run `pointsmall migrate` first."
        )
    return _run_with_backends(settings, seed_demo) if demo else None


def _print_demo(settings: Settings, secret: str, host: str, port: int, demo: Demo) -> None:
    """The headers to paste into GraphiQL, one per line: `  LABEL  {json}`."""
    from domain.demo import DEMO_BRAND_CODE
    from resolvers.ids import encode_id
    from server.auth import brand_signing_secret, mint_token

    def token(role: str, subject: str) -> str:
        return mint_token(
            brand_signing_secret(secret, DEMO_BRAND_CODE),
            role=role,
            brand=DEMO_BRAND_CODE,
            subject=subject,
            issuer=settings.jwt_issuer,
            ttl_seconds=7 * 24 * 3600,
        )

    click.echo(f"\nGraphiQL: http://{host}:{port}/graphql")
    click.echo("Paste one of these into GraphiQL's headers (tokens valid 7 days):")
    member, gold_member = demo.members[0], demo.members[-1]
    for role, subject, label in (
        ("ADMIN", "demo-admin", "ADMIN"),
        ("STAFF", "demo-cashier", "STAFF"),
        ("ANALYST", "demo-analyst", "ANALYST"),
        ("MEMBER", encode_id("Member", member.id), "MEMBER"),
        ("MEMBER", encode_id("Member", gold_member.id), "GOLD"),
    ):
        click.echo(f'  {label:8} {{"Authorization": "Bearer {token(role, subject)}"}}')
    click.echo(f'  PARTNER  {{"X-Api-Key": "{demo.partner_key.secret}"}}')
    click.echo(f'  visitor  {{"X-Brand": "{DEMO_BRAND_CODE}"}}')
    click.echo(
        f"MEMBER is {member.display_name}, GOLD is {gold_member.display_name}; PARTNER is "
        f"{demo.partner.name}'s API key ({', '.join(demo.partner_key.api_key.scopes)})."
    )
    click.echo(
        f"The flash sale opens at {demo.flash_sale.starts_at.isoformat(timespec='seconds')} "
        "(Gold members may enter 10 minutes early)."
    )
    click.echo(f"Try: {EXAMPLE_QUERY}")
    click.echo(f"As the MEMBER ({member.display_name}): {MEMBER_QUERY}")
    click.echo(
        f"As the MEMBER, then as the GOLD member ({gold_member.display_name}), compare: "
        f"{PREVIEW_QUERY}"
    )
    click.echo("Then the README's 'Try it': earn, redeem, the flash sale, the live balance.\n")


@main.command(epilog=reads(DATABASE, "POINTSMALL_DATA_DIR"))
@data_dir_option
def migrate(data_dir: Path | None) -> None:
    """Apply the database migrations to DATABASE_URL (or the embedded database)."""
    from db.database import apply_migrations

    def waiting() -> None:
        click.echo("Another `pointsmall migrate` is applying migrations; waiting for it.")

    with _reachable(_settings(data_dir), "migrate", redis=False) as settings:
        assert settings.database_url is not None  # filled in by _reachable
        applied = asyncio.run(apply_migrations(settings.database_url, on_wait=waiting))
    if applied:
        click.echo(f"Applied {len(applied)} migrations: {', '.join(applied)}.")
    else:
        click.echo("No migrations to apply: the database was up to date.")


@main.command("seed-demo", epilog=reads(BACKENDS, "POINTSMALL_DATA_DIR", "POINTSMALL_REDIS_PREFIX"))
@data_dir_option
def seed_demo_command(data_dir: Path | None) -> None:
    """Create (or refresh) the demo brand: stores, tiers, members, catalog; safe to repeat."""
    from domain.demo import seed_demo

    with _reachable(_settings(data_dir), "seed-demo") as settings:
        demo = _run_with_backends(settings, seed_demo)
    click.echo(f"Demo brand {demo.brand.code!r} is ready, with {len(demo.members)} members.")
    click.echo(
        f'PARTNER {{"X-Api-Key": "{demo.partner_key.secret}"}} (earlier demo keys are revoked)'
    )


@main.command(
    epilog=reads(DATABASE, "POINTSMALL_JWT_SECRET", "POINTSMALL_JWT_ISSUER", "POINTSMALL_DATA_DIR")
)
@click.option(
    "--role",
    type=click.Choice(["MEMBER", "STAFF", "ADMIN", "ANALYST"]),
    default="ADMIN",
    show_default=True,
)
@click.option("--brand", default="demo", show_default=True, help="Brand code.")
@click.option(
    "--sub",
    "subject",
    default="dev-user",
    show_default=True,
    help="Subject: a staff user, or for MEMBER the member's global id.",
)
@click.option("--ttl", default=3600, show_default=True, help="Lifetime in seconds.")
@data_dir_option
def token(role: str, brand: str, subject: str, ttl: int, data_dir: Path | None) -> None:
    """Mint a development JWT the server accepts (for a brand without a key of its own); says
    on stderr which secret signed it."""
    from server.auth import mint_token

    settings = _settings(data_dir)
    signing_key, source = _brand_secret(
        settings, brand, member=subject if role == "MEMBER" else None
    )
    click.echo(f"Signed with {source}.", err=True)
    click.echo(
        mint_token(
            signing_key,
            role=role,
            brand=brand,
            subject=subject,
            issuer=settings.jwt_issuer,
            ttl_seconds=ttl,
        )
    )


def _brand_secret(
    settings: Settings, brand_code: str, member: str | None = None
) -> tuple[str, str]:
    """The key tokens of this brand are signed with, and where its secret came from: the
    environment or the data dir's development secret, never a new one (a server would not know
    it). The brand (and member) must exist, and the brand must have no key of its own."""
    from server.auth import brand_signing_secret

    secret, source = _deployment_secret(settings)

    async def check() -> None:
        brand = await _check_brand(brand_code)
        if brand.jwt_key:
            raise click.ClickException(
                f"Brand {brand_code!r} verifies tokens with its own key: its identity service "
                "signs them."
            )
        if member is not None:
            await _check_member(member, brand.id)

    with _reachable(settings, "token", redis=False) as reached:
        _run_with_database(reached, check)
    return brand_signing_secret(secret, brand_code), source


def _deployment_secret(settings: Settings) -> tuple[str, str]:
    """The secret brands' keys are derived from, and where it came from: the environment or the
    data dir's development secret, never a new one (a server would not know it)."""
    path = settings.data_dir / "jwt-secret"
    if not settings.jwt_secret and not path.exists():
        raise click.ClickException(
            f"No development secret in {path}: start `pointsmall serve` with this data dir "
            "first, pass --data-dir, or set POINTSMALL_JWT_SECRET."
        )
    try:
        secret, _ = settings.resolved_jwt_secret()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    return secret, "POINTSMALL_JWT_SECRET" if settings.jwt_secret else f"the secret in {path}"


@main.command(
    "brand-secret",
    epilog=reads(DATABASE, "POINTSMALL_JWT_SECRET", "POINTSMALL_DATA_DIR"),
)
@click.option("--brand", required=True, help="Brand code.")
@data_dir_option
def brand_secret(brand: str, data_dir: Path | None) -> None:
    """Print the HS256 key a brand's identity service signs its tokens with (when the brand
    has no key of its own): derived from POINTSMALL_JWT_SECRET, different for every brand."""
    signing_key, source = _brand_secret(_settings(data_dir), brand)
    click.echo(f"Derived from {source}.", err=True)
    click.echo(signing_key)


BRANDS = reads(DATABASE, "POINTSMALL_JWT_SECRET", "POINTSMALL_JWT_ISSUER", "POINTSMALL_DATA_DIR")
# The arguments of `brand create`, by the fields the domain names in its errors.
BRAND_ARGUMENTS = {"code": "CODE", "name": "'--name'", "timezone": "'--timezone'",
                   "currency": "'--currency'"}  # fmt: skip


@main.group(epilog=BRANDS)
def brand() -> None:
    """Brands, for the platform's operator: create one and get its first ADMIN token."""


@brand.command("create", epilog=BRANDS)
@click.argument("code")
@click.option("--name", required=True, help="The brand's name, as its members see it.")
@click.option("--timezone", required=True, help="IANA timezone of its days, e.g. Asia/Shanghai.")
@click.option("--currency", required=True, help="ISO 4217 code of its money, e.g. CNY.")
@click.option(
    "--sub", "subject", default="admin", show_default=True, help="The first admin's subject."
)
@click.option(
    "--ttl",
    type=click.IntRange(min=60),
    default=24 * 3600,
    show_default=True,
    help="Lifetime of the token in seconds.",
)
@data_dir_option
def brand_create(
    code: str,
    name: str,
    timezone: str,
    currency: str,
    subject: str,
    ttl: int,
    data_dir: Path | None,
) -> None:
    """Create brand CODE (1 to 32 of a-z, 0-9 and '-') with a base tier and a base rate of 1
    point per unit of its currency, and print its first ADMIN token (on stdout; the rest on
    stderr); its admin sets up the rest over GraphQL. Exit code 2 for a bad value, 1 when
    the code is taken."""
    from domain.brands import open_brand
    from domain.errors import DomainError, ErrorCode
    from server.auth import brand_signing_secret, mint_token

    settings = _settings(data_dir)
    secret, source = _deployment_secret(settings)  # before the brand is made: no token, no brand

    async def create() -> Brand:
        try:
            return await open_brand(code, name, timezone, currency)
        except DomainError as error:
            if error.code is ErrorCode.DUPLICATE:
                raise click.ClickException(error.message) from None
            hint = BRAND_ARGUMENTS.get((error.field or [""])[0])
            raise click.BadParameter(error.message, param_hint=hint) from None

    with _reachable(settings, "brand create", redis=False) as reached:
        created = _run_with_database(reached, create)
    token = mint_token(
        brand_signing_secret(secret, created.code),
        role="ADMIN",
        brand=created.code,
        subject=subject,
        issuer=settings.jwt_issuer,
        ttl_seconds=ttl,
    )
    click.echo(
        f"Created brand {created.code!r} ({created.name}; {created.timezone}, "
        f"{created.currency}) with the base tier Member and a base rate of 1 point per "
        f"{created.currency} 1. Its first ADMIN token (subject {subject!r}, valid {ttl} s, "
        f"signed with {source}) follows: send it as 'Authorization: Bearer <token>' to set up "
        "the brand (updateBrandSettings, createStore, saveTier, createEarningRule).",
        err=True,
    )
    click.echo(token)


def _run_job(
    command: str,
    data_dir: Path | None,
    brand_code: str | None,
    job: Callable[[Backends, Settings], Awaitable[T]],
) -> T:
    """Run `job(backends, settings)` on the reachable backends, once the brand is found."""

    async def checked(rt: Backends) -> T:
        await _check_brand(brand_code)
        return await job(rt, settings)

    with _reachable(_settings(data_dir), command) as settings:
        return _run_with_backends(settings, checked)


def _run_job_with_progress(
    command: str,
    data_dir: Path | None,
    brand_code: str | None,
    label: str,
    job: Callable[[Backends, Progress], Awaitable[T]],
) -> T:
    """Run a member-by-member job, showing how far it has got."""
    with click.progressbar(length=0, label=label, show_pos=True) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        return _run_job(command, data_dir, brand_code, lambda rt, _: job(rt, progress))


JOBS = reads(BACKENDS, "POINTSMALL_DATA_DIR", "POINTSMALL_REDIS_PREFIX")
DELIVERIES = reads(
    BACKENDS,
    "POINTSMALL_DATA_DIR",
    "POINTSMALL_REDIS_PREFIX",
    "POINTSMALL_ENV",
    "POINTSMALL_WEBHOOKS_ALLOW_PRIVATE",
)
brand_option = click.option("--brand", "brand_code", help="Only this brand's members (code).")


@main.command(epilog=JOBS)
@brand_option
@data_dir_option
def expire(brand_code: str | None, data_dir: Path | None) -> None:
    """Expire every point past its expiry; safe to repeat, resumable, safe to run twice at once."""
    from domain.ledger.expiry import run_expiry

    members, points = _run_job_with_progress(
        "expire",
        data_dir,
        brand_code,
        "Expiring",
        lambda rt, progress: run_expiry(rt, brand_code=brand_code, progress=progress),
    )
    click.echo(f"Expired {points} points of {members} members.")


@main.command("release-pending", epilog=JOBS)
@brand_option
@data_dir_option
def release_pending(brand_code: str | None, data_dir: Path | None) -> None:
    """Make pending points available once their return window has closed; safe to repeat,
    resumable, safe to run twice at once."""
    from domain.ledger.expiry import run_release

    members, points = _run_job_with_progress(
        "release-pending",
        data_dir,
        brand_code,
        "Releasing",
        lambda rt, progress: run_release(rt, brand_code=brand_code, progress=progress),
    )
    click.echo(f"Released {points} pending points of {members} members.")


@main.command("evaluate-tiers", epilog=JOBS)
@brand_option
@data_dir_option
def evaluate_tiers_command(brand_code: str | None, data_dir: Path | None) -> None:
    """Re-qualify every member's tier: up to what they reach, down one tier at most."""
    from domain.tiers import evaluate_tiers

    changed = _run_job_with_progress(
        "evaluate-tiers",
        data_dir,
        brand_code,
        "Evaluating",
        lambda rt, progress: evaluate_tiers(rt, brand_code=brand_code, progress=progress),
    )
    click.echo(f"{changed} members changed tier.")


@main.command(epilog=JOBS)
@brand_option
@data_dir_option
def birthdays(brand_code: str | None, data_dir: Path | None) -> None:
    """Give the birthday bonus to members whose birthday is due (once per member and year)."""
    from domain.rules.birthdays import give_birthday_bonuses

    given = _run_job_with_progress(
        "birthdays",
        data_dir,
        brand_code,
        "Birthdays",
        lambda rt, progress: give_birthday_bonuses(rt, brand_code=brand_code, progress=progress),
    )
    click.echo(f"{given} members got their birthday bonus.")


@main.command("cancel-unpaid", epilog=JOBS)
@data_dir_option
def cancel_unpaid_command(data_dir: Path | None) -> None:
    """Cancel points + cash redemptions whose payment window has passed (every minute in
    `serve`), giving back their points and stock."""
    from domain.catalog.redemptions import cancel_unpaid

    cancelled = _run_job("cancel-unpaid", data_dir, None, lambda rt, _: cancel_unpaid(rt))
    click.echo(f"Cancelled {cancelled} unpaid redemptions.")


@main.command(
    "deliver-webhooks",
    epilog=DELIVERIES,
)
@data_dir_option
def deliver_webhooks(data_dir: Path | None) -> None:
    """Post the partners' webhook deliveries that are due (every few seconds in `serve`)."""
    from domain.webhooks import deliver_due

    delivered = _run_job("deliver-webhooks", data_dir, None, lambda rt, _: deliver_due(rt))
    click.echo(f"Delivered {delivered} webhooks.")


@main.command(
    "deliver-notices",
    epilog=DELIVERIES,
)
@data_dir_option
def deliver_notices(data_dir: Path | None) -> None:
    """Post the member notices due to the brands' gateways (every few seconds in `serve`)."""
    from domain.notices.gateway import deliver_due_notices

    delivered = _run_job("deliver-notices", data_dir, None, lambda rt, _: deliver_due_notices(rt))
    click.echo(f"Delivered {delivered} notices.")


@main.command("remind-expiring", epilog=JOBS)
@brand_option
@data_dir_option
def remind_expiring(brand_code: str | None, data_dir: Path | None) -> None:
    """Remind members of points and coupons about to expire, payment windows closing and flash
    sales starting (hourly in `serve`); resumable, safe to repeat and to run twice at once."""
    from domain.notices.reminders import send_reminders

    told = _run_job_with_progress(
        "remind-expiring",
        data_dir,
        brand_code,
        "Reminding",
        lambda rt, progress: send_reminders(rt, brand_code=brand_code, progress=progress),
    )
    click.echo(f"Made {told} notices.")


@main.command(
    "purge-idempotency",
    epilog=reads(
        BACKENDS,
        "POINTSMALL_DATA_DIR",
        "POINTSMALL_REDIS_PREFIX",
        "POINTSMALL_IDEMPOTENCY_RETENTION_DAYS",
    ),
)
@data_dir_option
def purge_idempotency(data_dir: Path | None) -> None:
    """Forget idempotency records older than the retention (daily in `serve`)."""
    from domain.idempotency import purge_expired

    async def purge(rt: Backends, settings: Settings) -> int:
        return await purge_expired(timedelta(days=settings.idempotency_retention_days))

    purged = _run_job("purge-idempotency", data_dir, None, purge)
    click.echo(f"Forgot {purged} idempotency records.")


@main.command(epilog=reads(DATABASE, "POINTSMALL_DATA_DIR"))
@click.option("--brand", "brand_code", required=True, help="The brand's code.")
@click.option("--partner", "partner_code", required=True, help="The partner's code.")
@click.option("--month", required=True, help="YYYY-MM, in the brand's timezone.")
@data_dir_option
def settlement(brand_code: str, partner_code: str, month: str, data_dir: Path | None) -> None:
    """Print a partner's settlement for a month as CSV (points issued and redeemed, valued)."""
    import csv

    from domain.errors import DomainError
    from domain.partners import CSV_HEADER, Settlement, month_of, settlement_by_code

    try:
        period = month_of(month)
    except DomainError as error:
        raise click.BadParameter(error.message, param_hint="--month") from None

    async def figures_of() -> Settlement:
        await _check_brand(brand_code)
        try:
            return await settlement_by_code(brand_code, partner_code, period)
        except DomainError as error:
            raise NotFound(error.message) from None

    with _reachable(_settings(data_dir), "settlement", redis=False) as settings:
        figures = _run_with_database(settings, figures_of)
    writer = csv.writer(sys.stdout)
    writer.writerow(CSV_HEADER)
    writer.writerow(figures.csv_row())


# The reports of domain/insights/csv.py and the groupings of domain/insights/reports.GroupBy,
# named here so that `pointsmall --help` does not load the models.
REPORTS = (
    "liability", "expiring-forecast", "breakage", "earn-burn", "redemptions",
    "redemption-categories", "flash-sales", "members", "tiers", "tier-movements", "segments",
    "members-of-segment",
)  # fmt: skip
GROUPINGS = ("DAY", "WEEK", "MONTH", "STORE", "PARTNER", "RULE", "TIER")
# A report's options, as the domain names them in its errors.
REPORT_OPTIONS = {"from": "--from", "to": "--to", "months": "--months", "asOf": "--as-of",
                  "segment": "--segment"}  # fmt: skip
day_type = click.DateTime(formats=["%Y-%m-%d"])


@contextmanager
def _csv_output(path: Path | None) -> Iterator[TextIO]:
    """stdout, or a file that appears at `path` only once the report is whole."""
    if path is None:
        yield sys.stdout
        return
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", newline="", encoding="utf-8") as stream:
            yield stream
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def _report_progress(shown: bool, label: str = "Exporting") -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr when it is a terminal the CSV does not go to; else nothing."""
    if not shown:
        yield lambda done, total: None
        return
    with click.progressbar(length=0, label=label, show_pos=True, file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        yield progress


@main.command(epilog=JOBS)
@click.argument("name", type=click.Choice(REPORTS))
@click.option("--brand", "brand_code", required=True, help="The brand's code.")
@click.option(
    "--from", "start", type=day_type, help="First day (brand's timezone) [default: --to - 30 days]."
)
@click.option("--to", "end", type=day_type, help="Last day, included [default: today].")
@click.option(
    "--group-by",
    type=click.Choice(GROUPINGS, case_sensitive=False),
    default="DAY",
    show_default=True,
    help="earn-burn's rows.",
)
@click.option(
    "--months", default=12, show_default=True, help="expiring-forecast: months from this one."
)
@click.option(
    "--segment", help="members-of-segment: only this RFM segment (e.g. CHAMPIONS) [default: all]."
)
@click.option("--as-of", type=day_type, help="liability: at the end of this day [default: now].")
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="File [default: stdout]."
)
@data_dir_option
def report(
    name: str,
    brand_code: str,
    start: datetime | None,
    end: datetime | None,
    group_by: str,
    months: int,
    segment: str | None,
    as_of: datetime | None,
    output: Path | None,
    data_dir: Path | None,
) -> None:
    """Print one of the brand's insights as CSV (NAME: the report), on figures brought up to
    date first; money at the brand's point value, days in its timezone."""
    from domain.errors import DomainError
    from domain.insights.csv import REPORTS as CSV_REPORTS
    from domain.insights.csv import ReportOptions, write_report
    from domain.insights.reports import GroupBy

    options = ReportOptions(
        start=start.date() if start else None,
        end=end.date() if end else None,
        group_by=GroupBy(group_by.upper()),
        months=months,
        segment=segment,
        as_of=as_of.date() if as_of else None,
    )
    shown = CSV_REPORTS[name].streamed and sys.stderr.isatty()
    shown = shown and (output is not None or not sys.stdout.isatty())
    with _csv_output(output) as stream, _report_progress(shown) as progress:

        async def job(rt: Backends, _: Settings) -> None:
            brand = await _check_brand(brand_code)
            try:
                await write_report(rt, brand.id, name, options, stream, progress)
            except DomainError as error:
                option = REPORT_OPTIONS.get((error.field or [""])[0])
                hint = f"'{option}'" if option else None  # quoted, as click quotes its own
                raise click.BadParameter(error.message, param_hint=hint) from None

        _run_job("report", data_dir, None, job)


@main.command(epilog=JOBS)
@data_dir_option
def reconcile(data_dir: Path | None) -> None:
    """Resolve flash-sale holds left past their deadline and rebuild sales Redis lost."""
    from domain.flash_sales.reconcile import reconcile as run_reconcile

    outcome = _run_job("reconcile", data_dir, None, lambda rt, _: run_reconcile(rt))
    click.echo(
        f"Rebuilt {outcome.rebuilt} sales; confirmed {outcome.confirmed} and released "
        f"{outcome.released} holds."
    )


@main.command(epilog=reads(DATABASE, "POINTSMALL_DATA_DIR"))
@click.option("--member", "member_id", help="Only this member (global id, as in `me { id }`).")
@data_dir_option
def audit(member_id: str | None, data_dir: Path | None) -> None:
    """Check balances against ledgers and lots; exits 1 listing the members that disagree."""
    from domain.ledger.audit import AuditFinding
    from domain.ledger.audit import audit as run_audit
    from resolvers.ids import encode_id

    async def findings_of() -> list[AuditFinding]:
        pk = None if member_id is None else await _check_member(member_id)
        return await run_audit(member_id=pk)

    with _reachable(_settings(data_dir), "audit", redis=False) as settings:
        findings = _run_with_database(settings, findings_of)
    for finding in findings:
        click.echo(finding.describe(encode_id("Member", finding.member_id)), err=True)
    if findings:
        raise SystemExit(1)
    click.echo("The ledger is consistent.")


# --- Members from and for another loyalty system ----------------------------------------------

MEMBERS_IO = reads(DATABASE, "POINTSMALL_DATA_DIR")


@main.group("import", epilog=MEMBERS_IO)
def import_group() -> None:
    """Import members from another loyalty system (CSV)."""


@import_group.command("members", epilog=MEMBERS_IO)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--brand", "brand_code", required=True, help="The brand's code.")
@click.option("--skip-bad", is_flag=True, help="Import the other members; skip any with a bad row.")
@click.option("--dry-run", is_flag=True, help="Check the file and say what would be written.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the bad rows there, as CSV (line, external_id, column, value, reason).",
)
@data_dir_option
def import_members(
    file: Path,
    brand_code: str,
    skip_bad: bool,
    dry_run: bool,
    report_path: Path | None,
    data_dir: Path | None,
) -> None:
    """Import members with their opening balances from FILE, a CSV with a header row
    (README, "Import members"). Every row is checked first: with any bad row nothing is
    written (exit 1) unless --skip-bad. Members imported before (by external_id) are skipped,
    so a rerun, even of a run that failed halfway, writes each member once."""
    import csv
    import time
    from datetime import UTC, datetime

    from domain.errors import DomainError
    from domain.member_import import plan_import, write_import

    def checked(plan: ImportPlan) -> None:
        click.echo(
            f"Checked {plan.rows} rows: {len(plan.staged)} new members, "
            f"{plan.imported_before} imported before, {len(plan.bad_rows)} bad rows."
        )
        for bad in plan.bad_rows:
            click.echo(bad.describe(), err=True)
        if report_path is not None:
            with report_path.open("w", newline="", encoding="utf-8") as stream:
                writer = csv.writer(stream)
                writer.writerow(("line", "external_id", "column", "value", "reason"))
                writer.writerows(
                    (bad.line, bad.external_id, bad.column, bad.value, bad.reason)
                    for bad in plan.bad_rows
                )

    async def run() -> None:
        brand = await _check_brand(brand_code)
        started = time.monotonic()
        with file.open("rb") as source:
            plan = await plan_import(brand, source, datetime.now(UTC), file.name)
        checked(plan)
        if not plan.whole:
            raise click.ClickException("Nothing written: the file could not be read whole.")
        if plan.bad_rows and not skip_bad:
            raise click.ClickException(
                "Nothing written: correct the rows above, or give --skip-bad to import the "
                "other members without those these rows belong to."
            )
        members, skipped = plan.members, plan.members_left_out
        if dry_run:
            click.echo(
                f"Would import {len(members)} members ({sum(len(m.lots) for m in members)} "
                f"lots, {sum(m.points for m in members)} points); {skipped} skipped for bad "
                "rows. Nothing written (--dry-run)."
            )
            return
        with _report_progress(sys.stderr.isatty(), "Importing") as progress:
            try:
                outcome = await write_import(plan, skip_bad=skip_bad, progress=progress)
            except DomainError as error:
                raise click.ClickException(error.message) from None
        seconds = time.monotonic() - started
        if not outcome.members:
            left_out = f" ({skipped} skipped for bad rows)" if skipped else ""
            click.echo(f"Nothing new: every member of the file was imported before{left_out}.")
            return
        click.echo(
            f"Imported {outcome.members} members ({outcome.lots} lots, {outcome.points} points) "
            f"in {seconds:.1f} s, {outcome.members / seconds:,.0f} members/s; "
            f"{outcome.imported_before} imported before, {outcome.left_out} skipped for bad rows."
        )

    with _reachable(_settings(data_dir), "import", redis=False) as settings:
        _run_with_database(settings, run)


@main.group("export", epilog=MEMBERS_IO)
def export_group() -> None:
    """Export members (CSV), in the columns `pointsmall import members` reads."""


@export_group.command("members", epilog=MEMBERS_IO)
@click.option("--brand", "brand_code", required=True, help="The brand's code.")
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="File [default: stdout]."
)
@data_dir_option
def export_members_command(brand_code: str, output: Path | None, data_dir: Path | None) -> None:
    """Print the brand's members (closed ones left out) as CSV, a row per expiry date of their
    available points, read as they are streamed: another brand imports the file as it is."""
    from datetime import UTC, datetime

    from domain.member_import import export_members

    shown = sys.stderr.isatty() and (output is not None or not sys.stdout.isatty())
    with _csv_output(output) as stream, _report_progress(shown) as progress:

        async def run() -> int:
            brand = await _check_brand(brand_code)
            return await export_members(brand, stream, datetime.now(UTC), progress)

        with _reachable(_settings(data_dir), "export", redis=False) as settings:
            members = _run_with_database(settings, run)
    if output is not None:
        click.echo(f"Exported {members} members to {output}.", err=True)


@main.command("export-schema", epilog="Environment: none.")
def export_schema() -> None:
    """Print the GraphQL schema (SDL)."""
    from schema.build import export_sdl

    click.echo(export_sdl(), nl=False)
