"""The `pointsmall` command: serve, migrate, seed-demo, token, export-schema."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from server.settings import Settings, SettingsError

EXAMPLE_QUERY = "{ brand { name stores { name } } tiers { name } }"
MEMBER_QUERY = (
    "{ me { displayName points { available expiring(withinDays: 800) { points expiresAt } } "
    "ledger(first: 5) { edges { node { kind points description breakdown { description } } } } } }"
)
PREVIEW_QUERY = (
    '{ previewEarn(input: {total: "268.00"}) { preview { points breakdown { rule description '
    "points } } userErrors { code message } } }"
)


def _settings(data_dir: Path | None = None) -> Settings:
    settings = Settings()
    if data_dir is not None:
        settings.data_dir = data_dir
    return settings


def _run_with_database(settings: Settings, work: Callable[[], Awaitable[Any]]) -> Any:
    from db.database import close_database, open_database

    async def main() -> Any:
        await open_database(settings.database_url, pool_max=2)
        try:
            return await work()
        finally:
            await close_database()

    return asyncio.run(main())


def _require_database(settings: Settings) -> None:
    if not settings.database_url:
        raise click.UsageError("Set DATABASE_URL (or use `pointsmall serve`, which embeds one).")


@click.group()
def main() -> None:
    """pointsmall: the loyalty points mall GraphQL API."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, help="Worker processes.")
@click.option("--demo", is_flag=True, help="Seed the demo brand and print tokens to try.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where embedded data lives.")
def serve(host: str, port: int, workers: int, demo: bool, data_dir: Path | None) -> None:
    """Serve the API; without DATABASE_URL / REDIS_URL, on embedded PostgreSQL and Redis."""
    import uvicorn

    from server.embedded import DataDirInUse, EmbeddedPostgres, EmbeddedRedis, lock_data_dir

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
    embedded: list[EmbeddedPostgres | EmbeddedRedis] = []
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
        embedded_database = not settings.database_url
        if embedded_database:
            postgres = EmbeddedPostgres(settings.data_dir)
            embedded.append(postgres)
            settings.database_url = postgres.start()
            click.echo(f"Embedded PostgreSQL under {postgres.pgdata}")
        if not settings.redis_url:
            redis = EmbeddedRedis(settings.data_dir)
            embedded.append(redis)
            settings.redis_url = redis.start()
            click.echo(f"Embedded Redis under {redis.directory}")
        os.environ["DATABASE_URL"] = settings.database_url
        os.environ["REDIS_URL"] = settings.redis_url
        seeded = _prepare(settings, embedded_database=embedded_database, demo=demo)
        if seeded is not None:
            _print_demo_tokens(settings, secret, host, port, seeded)
        uvicorn.run(
            "server.app:create_app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            ws_per_message_deflate=False,
            log_level="info",
        )
    finally:
        for backend in reversed(embedded):
            backend.stop()


def _prepare(settings: Settings, *, embedded_database: bool, demo: bool) -> Any:
    """Migrate an embedded database; refuse an unmigrated one we do not own; seed the demo."""
    from db.database import apply_migrations, pending_migrations
    from domain.demo import seed_demo
    from server.embedded import ensure_database

    if embedded_database:
        asyncio.run(ensure_database(settings.database_url))
        asyncio.run(apply_migrations(settings.database_url))
    missing = _run_with_database(settings, pending_migrations)
    if missing:
        raise click.ClickException(
            f"The database is not migrated (missing: {', '.join(missing)}). "
            "Run `pointsmall migrate` first."
        )
    return _run_with_backends(settings, seed_demo) if demo else None


def _print_demo_tokens(settings: Settings, secret: str, host: str, port: int, demo: Any) -> None:
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
    click.echo("Paste one of these into GraphiQL's headers (valid 7 days):")
    member, gold_member = demo.members[0], demo.members[-1]
    for role, subject, label in (
        ("ADMIN", "demo-admin", "ADMIN"),
        ("STAFF", "demo-cashier", "STAFF"),
        ("ANALYST", "demo-analyst", "ANALYST"),
        ("MEMBER", encode_id("Member", member.id), "MEMBER"),
        ("MEMBER", encode_id("Member", gold_member.id), "GOLD"),
    ):
        click.echo(f'  {label:8} {{"Authorization": "Bearer {token(role, subject)}"}}')
    click.echo(f'  visitor  {{"X-Brand": "{DEMO_BRAND_CODE}"}}')
    click.echo(f"Try: {EXAMPLE_QUERY}")
    click.echo(f"As the MEMBER ({member.display_name}): {MEMBER_QUERY}")
    click.echo(
        f"As the MEMBER, then as the GOLD member ({gold_member.display_name}), compare: "
        f"{PREVIEW_QUERY}\n"
    )


@main.command()
def migrate() -> None:
    """Apply the database migrations to DATABASE_URL."""
    from db.database import apply_migrations

    settings = _settings()
    _require_database(settings)
    asyncio.run(apply_migrations(settings.database_url))
    click.echo("Migrations applied.")


@main.command("seed-demo")
def seed_demo_command() -> None:
    """Create (or refresh) the demo brand: stores, tiers, members; safe to repeat."""
    from domain.demo import seed_demo

    demo = _run_with_backends(_settings(), seed_demo)
    click.echo(f"Demo brand {demo.brand.code!r} is ready, with {len(demo.members)} members.")


@main.command()
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
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where the dev secret lives.")
def token(role: str, brand: str, subject: str, ttl: int, data_dir: Path | None) -> None:
    """Mint a development JWT the server accepts (for a brand without a key of its own)."""
    from server.auth import mint_token

    settings = _settings(data_dir)
    click.echo(
        mint_token(
            _brand_secret(settings, brand),
            role=role,
            brand=brand,
            subject=subject,
            issuer=settings.jwt_issuer,
            ttl_seconds=ttl,
        )
    )


def _brand_secret(settings: Settings, brand: str) -> str:
    from server.auth import brand_signing_secret

    try:
        secret, _ = settings.resolved_jwt_secret()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    return brand_signing_secret(secret, brand)


@main.command("brand-secret")
@click.option("--brand", required=True, help="Brand code.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where the dev secret lives.")
def brand_secret(brand: str, data_dir: Path | None) -> None:
    """Print the HS256 key a brand's identity service signs its tokens with (when the brand
    has no key of its own): derived from POINTSMALL_JWT_SECRET, different for every brand."""
    click.echo(_brand_secret(_settings(data_dir), brand))


def _run_with_backends(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run `work(backends)` with the database, Redis and the event bus open."""
    from domain.runtime import close_backends, open_backends

    if not (settings.database_url and settings.redis_url):
        raise click.UsageError("Set DATABASE_URL and REDIS_URL.")

    async def main() -> Any:
        backends = await open_backends(
            settings.database_url,
            settings.redis_url,
            settings.redis_prefix,
            db_pool_max=2,
            redis_pool_max=4,
        )
        try:
            return await work(backends)
        finally:
            await close_backends(backends)

    return asyncio.run(main())


def _run_job_with_progress(label: str, job: Callable[[Any, Callable], Awaitable[Any]]) -> Any:
    """Run a member-by-member job with the backends open, showing how far it has got."""
    with click.progressbar(length=0, label=label, show_pos=True) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        return _run_with_backends(_settings(), lambda rt: job(rt, progress))


@main.command()
@click.option("--brand", "brand_code", help="Only this brand's members (code).")
def expire(brand_code: str | None) -> None:
    """Expire every point past its expiry; safe to repeat, resumable, safe to run twice at once."""
    from domain.errors import DomainError
    from domain.ledger.expiry import run_expiry

    try:
        members, points = _run_job_with_progress(
            "Expiring",
            lambda rt, progress: run_expiry(rt, brand_code=brand_code, progress=progress),
        )
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Expired {points} points of {members} members.")


@main.command("evaluate-tiers")
@click.option("--brand", "brand_code", help="Only this brand's members (code).")
def evaluate_tiers_command(brand_code: str | None) -> None:
    """Re-qualify every member's tier: up to what they reach, down one tier at most."""
    from domain.tiers import evaluate_tiers

    changed = _run_job_with_progress(
        "Evaluating",
        lambda rt, progress: evaluate_tiers(rt, brand_code=brand_code, progress=progress),
    )
    click.echo(f"{changed} members changed tier.")


@main.command()
@click.option("--brand", "brand_code", help="Only this brand's members (code).")
def birthdays(brand_code: str | None) -> None:
    """Give the birthday bonus to members whose birthday is due (once per member and year)."""
    from domain.rules.birthdays import give_birthday_bonuses

    given = _run_job_with_progress(
        "Birthdays",
        lambda rt, progress: give_birthday_bonuses(rt, brand_code=brand_code, progress=progress),
    )
    click.echo(f"{given} members got their birthday bonus.")


@main.command()
@click.option("--brand", "brand_code", required=True, help="The brand's code.")
@click.option("--partner", "partner_code", required=True, help="The partner's code.")
@click.option("--month", required=True, help="YYYY-MM, in the brand's timezone.")
def settlement(brand_code: str, partner_code: str, month: str) -> None:
    """Print a partner's settlement for a month as CSV (points issued and redeemed, valued)."""
    import csv
    import sys

    from domain.errors import DomainError
    from domain.partners import CSV_HEADER, month_of, settlement_by_code

    settings = _settings()
    _require_database(settings)
    try:
        figures = _run_with_database(
            settings, lambda: settlement_by_code(brand_code, partner_code, month_of(month))
        )
    except DomainError as error:
        raise click.UsageError(error.message) from None
    writer = csv.writer(sys.stdout)
    writer.writerow(CSV_HEADER)
    writer.writerow(figures.csv_row())


@main.command()
def reconcile() -> None:
    """Resolve flash-sale holds left past their deadline and rebuild sales Redis lost."""
    from domain.flash_sales.reconcile import reconcile as run_reconcile

    settings = _settings()
    _require_database(settings)
    outcome = _run_with_backends(settings, run_reconcile)
    click.echo(
        f"Rebuilt {outcome.rebuilt} sales; confirmed {outcome.confirmed} and released "
        f"{outcome.released} holds."
    )


@main.command()
@click.option("--member", "member_id", type=int, help="Only this member (database id).")
def audit(member_id: int | None) -> None:
    """Check balances against ledgers and lots; exits 1 listing the members that disagree."""
    from domain.ledger.audit import audit as run_audit

    settings = _settings()
    _require_database(settings)
    findings = _run_with_database(settings, lambda: run_audit(member_id=member_id))
    for finding in findings:
        click.echo(finding.describe(), err=True)
    if findings:
        raise SystemExit(1)
    click.echo("The ledger is consistent.")


@main.command("export-schema")
def export_schema() -> None:
    """Print the GraphQL schema (SDL)."""
    from schema import export_sdl

    click.echo(export_sdl(), nl=False)
