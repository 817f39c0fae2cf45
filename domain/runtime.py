"""The process's handles on PostgreSQL, Redis and the event bus, opened and closed together."""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from db.database import close_database, open_database, pending_migrations, ping_database
from db.keys import RedisKeys
from db.redis import RedisClient, open_redis, ping_redis
from domain.clock import Clock
from subscriptions.bus import EventBus

# The id of the request (or job) the running code serves: in logs, and in the audit trail.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


# A flash-sale win's transaction: its statements' timeout.
STATEMENT_TIMEOUT_MS = 2000
# The transaction commits only this long before the hold's deadline or earlier, and the
# reconciler releases a hold only this long after it: a commit never meets a release.
DEADLINE_MARGIN_MS = 3000
# A shorter hold would leave its transaction no time to commit: nothing would ever sell.
MIN_HOLD_SECONDS = (DEADLINE_MARGIN_MS + STATEMENT_TIMEOUT_MS) / 1000 + 1


@dataclass(frozen=True)
class FlashSaleLimits:
    """How long a flash-sale hold waits for its transaction, and how often a member may try."""

    hold_seconds: float = 10.0
    attempts_per_minute: int = 60


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class WebhookPolicy:
    """What partners' endpoint URLs may be: https only, and no private addresses, unless the
    deployment allows them (tests and development)."""

    require_https: bool = True
    allow_private: bool = False
    # Names to addresses: the system's resolver unless a test gives its own.
    resolve: Callable[[str], Awaitable[list[IPAddress]]] | None = None

    async def addresses(self, host: str) -> list[IPAddress]:
        """The host's addresses (an address names itself); OSError when it does not resolve."""
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        if self.resolve is not None:
            return await self.resolve(host)
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        return [ipaddress.ip_address(info[4][0]) for info in infos]


@dataclass
class Backends:
    """What a domain service may need besides the database: Redis, its key names, the bus,
    the clock, and the flash-sale limits."""

    redis: RedisClient
    keys: RedisKeys
    bus: EventBus
    clock: Clock
    flash: FlashSaleLimits = field(default_factory=FlashSaleLimits)
    webhooks: WebhookPolicy = field(default_factory=WebhookPolicy)
    # Whether a one-time code is also answered to whoever asked for it (development only).
    reveal_codes: bool = False
    # Per-process helpers the domain starts on first use (the flash-sale stock publisher).
    helpers: dict[str, Any] = field(default_factory=dict)


class UnmigratedDatabase(RuntimeError):
    """The database lacks migrations this code needs; `pointsmall migrate` applies them."""


async def open_backends(
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    *,
    db_pool_max: int = 10,
    redis_pool_max: int = 50,
    require_migrated: bool = True,
    flash: FlashSaleLimits | None = None,
    webhooks: WebhookPolicy | None = None,
    reveal_codes: bool = False,
) -> Backends:
    """Open the database pool, the Redis pool and the event bus of this process."""
    await open_database(database_url, pool_max=db_pool_max)
    redis = open_redis(redis_url, max_connections=redis_pool_max)
    try:
        if require_migrated and (missing := await pending_migrations()):
            raise UnmigratedDatabase(
                "The database is not migrated (missing: " + ", ".join(missing) + "). "
                "Run `pointsmall migrate` first."
            )
        keys = RedisKeys(redis_prefix)
        bus = EventBus(redis, keys)
        await bus.start()
    except BaseException:
        await redis.aclose()
        await close_database()
        raise
    return Backends(
        redis=redis,
        keys=keys,
        bus=bus,
        clock=Clock(),
        flash=flash or FlashSaleLimits(),
        webhooks=webhooks or WebhookPolicy(),
        reveal_codes=reveal_codes,
    )


async def close_backends(backends: Backends) -> None:
    for helper in backends.helpers.values():
        if hasattr(helper, "stop"):
            await helper.stop()
    await backends.bus.stop()
    await backends.redis.aclose()
    await close_database()


async def readiness(backends: Backends) -> dict[str, str]:
    """Whether PostgreSQL and Redis answer now: {"postgres": "ok"|error, "redis": ...}."""
    report: dict[str, str] = {}
    for name, check in (("postgres", ping_database()), ("redis", ping_redis(backends.redis))):
        try:
            await asyncio.wait_for(check, timeout=2)
            report[name] = "ok"
        except Exception as error:  # a readiness probe reports faults, it does not raise them
            report[name] = f"{type(error).__name__}: {error}"
    return report
