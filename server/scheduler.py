"""Periodic jobs inside `serve`: each runs in one worker at a time, under a Redis lease.

Design: docs/architecture.md, "Background jobs".
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from db.redis import cancel_and_wait
from domain import idempotency
from domain.audit_trail import purge_audit
from domain.catalog.redemptions import cancel_unpaid
from domain.flash_sales.reconcile import reconcile
from domain.insights.reports import refresh_segments
from domain.insights.rollups import roll_up
from domain.ledger.events import SWEEP_EVERY, announce_recent
from domain.ledger.expiry import run_expiry, run_release
from domain.notices.gateway import deliver_due_notices
from domain.notices.inbox import announce_recent_notices
from domain.notices.reminders import send_reminders, send_soon_reminders
from domain.rules.birthdays import give_birthday_bonuses
from domain.runtime import Backends
from domain.tiers import evaluate_tiers
from domain.webhooks import deliver_due

log = logging.getLogger("pointsmall.scheduler")

RUN_LEASE_MS = 6 * 3600 * 1000  # longer than any run of any job


@dataclass(frozen=True)
class Job:
    name: str
    interval: float  # seconds
    run: Callable[[Backends], Awaitable[object]]


def standard_jobs(
    expiry_interval: float,
    idempotency_retention_days: int,
    reconcile_interval: float = 5.0,
    webhook_interval: float = 2.0,
    audit_retention_days: int = 365,
) -> list[Job]:
    """Expire due points; re-qualify tiers daily; give birthday bonuses hourly; cancel unpaid
    redemptions every minute; reconcile flash sales every few seconds; deliver webhooks and
    notices; remind members of what expires (hourly) and what starts or closes soon (every
    minute); announce recent balance versions and notices; roll the ledger up for the brand's
    reports and score members' RFM segments; forget idempotency records and the audit trail
    past their retentions."""

    async def purge(rt: Backends) -> int:
        return await idempotency.purge_expired(timedelta(days=idempotency_retention_days))

    async def purge_trail(rt: Backends) -> int:
        return await purge_audit(timedelta(days=audit_retention_days), rt.clock.now())

    return [
        Job("expire-points", expiry_interval, run_expiry),
        Job("release-pending", 60, run_release),  # pending points whose return window closed
        Job("evaluate-tiers", 24 * 3600, evaluate_tiers),
        Job("birthdays", 3600, give_birthday_bonuses),  # hourly: brands' days start at all hours
        Job("cancel-unpaid", 60, cancel_unpaid),  # points + cash redemptions past their window
        Job("reconcile-flash-sales", reconcile_interval, reconcile),
        Job("deliver-webhooks", webhook_interval, deliver_due),
        Job("announce-balances", SWEEP_EVERY, announce_recent),  # events lost after commit
        Job("deliver-notices", webhook_interval, deliver_due_notices),
        Job("remind-expiring", 3600, send_reminders),
        Job("remind-soon", 60, send_soon_reminders),
        Job("announce-notices", SWEEP_EVERY, announce_recent_notices),
        Job("roll-up-ledger", 5, roll_up),  # the brand's reports read the roll-ups
        Job("score-segments", 3600, refresh_segments),
        Job("purge-idempotency", 24 * 3600, purge),
        Job("purge-audit-trail", 24 * 3600, purge_trail),
    ]


class Scheduler:
    """Every worker runs the loop; the lease lets one of them do each run of each job."""

    def __init__(self, backends: Backends, jobs: list[Job]) -> None:
        self.backends = backends
        self.jobs = jobs
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(job), name=job.name) for job in self.jobs]

    async def stop(self) -> None:
        # Should a job swallow the cancellation, its loop is cancelled again where it waits next.
        for task in self._tasks:
            await cancel_and_wait(task)

    async def run_once(self, job: Job) -> bool:
        """Run the job now if no other worker holds its lease; whether it ran here."""
        lease = self.backends.keys.key("lease", job.name)
        # Held for the whole run (a worker that dies frees it after RUN_LEASE), then kept for
        # most of the interval, so the other workers' next ticks skip this round.
        if not await self.backends.redis.set(lease, "1", nx=True, px=RUN_LEASE_MS):
            return False
        try:
            result = await job.run(self.backends)
        finally:
            await self.backends.redis.pexpire(lease, int(job.interval * 900))
        log.info("job %s done: %s", job.name, result)
        return True

    async def _loop(self, job: Job) -> None:
        await asyncio.sleep(random.uniform(0, min(job.interval, 10)))  # workers start together
        while True:
            try:
                await self.run_once(job)
            except Exception:
                log.exception("job %s failed; it runs again at the next interval", job.name)
            await asyncio.sleep(job.interval)
