"""The audit trail: every state-changing operation of the brand's staff, admins and partners,
written with the operation (domain/idempotency.py), read by the brand's admins, kept for the
deployment's retention."""

from __future__ import annotations

from datetime import datetime, timedelta

from db.models import AuditEntry
from domain.errors import DomainError, ErrorCode
from domain.pagination import Page, PageRequest, paginate
from domain.principal import Principal


async def trail_page(
    principal: Principal,
    actor: str | None,
    operation: str | None,
    since: datetime | None,
    until: datetime | None,
    request: PageRequest,
) -> Page[AuditEntry]:
    """The brand's audit entries, newest first: of one actor (role:subject, as listed), one
    operation, in a period (from included, to excluded)."""
    if since is not None and until is not None and until <= since:
        raise DomainError(ErrorCode.INVALID_INPUT, "`to` is not after `from`.", ["to"])
    entries = AuditEntry.filter(brand_id=principal.brand_id)
    if actor is not None:
        entries = entries.filter(actor=actor)
    if operation is not None:
        entries = entries.filter(operation=operation)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    if until is not None:
        entries = entries.filter(created_at__lt=until)
    return await paginate(entries, request, ("id",), descending=True)


async def purge_audit(retention: timedelta, now: datetime) -> int:
    """Forget entries older than the retention; how many went."""
    return await AuditEntry.filter(created_at__lt=now - retention).delete()
