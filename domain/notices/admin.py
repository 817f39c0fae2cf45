"""The brand's notice settings: which kinds go on which channels, its locale, quiet hours and
expiry thresholds (gateways: domain/notices/gateway.py; wordings: templates.py)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from db.models import Brand, NoticeChannel, NoticeGateway, NoticeKind, NoticeSwitch
from domain.errors import DomainError, ErrorCode
from domain.idempotency import run_once
from domain.notices.templates import check_locale
from domain.principal import Principal

CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_THRESHOLDS = 5
LONGEST_THRESHOLD = 365


async def switch_channel(
    principal: Principal, kind: NoticeKind, channel: NoticeChannel, enabled: bool, key: str
) -> None:
    """Switch a kind on or off on a channel for the brand (all are on until switched off);
    once per idempotency key."""

    async def switch(connection: BaseDBAsyncClient) -> dict[str, Any]:
        switches = NoticeSwitch.filter(brand_id=principal.brand_id, kind=kind, channel=channel)
        if enabled:
            await switches.using_db(connection).delete()
        else:
            await NoticeSwitch.get_or_create(
                brand_id=principal.brand_id, kind=kind, channel=channel, using_db=connection
            )
        return {}

    request = {"kind": kind.value, "channel": channel.value, "enabled": enabled}
    await run_once(principal, "setNoticeChannel", key, request, switch)


async def switched_off(brand_id: int) -> set[tuple[NoticeKind, NoticeChannel]]:
    rows = await NoticeSwitch.filter(brand_id=brand_id).values_list("kind", "channel")
    return {(NoticeKind(kind), NoticeChannel(channel)) for kind, channel in rows}


async def gateways_of(brand_id: int) -> list[NoticeGateway]:
    return await NoticeGateway.filter(brand_id=brand_id).order_by("channel")


def minute_of(clock: str, field: str) -> int:
    match = CLOCK.match(clock.strip())
    if match is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "A time of day as HH:MM.", ["input", field])
    return int(match[1]) * 60 + int(match[2])


def clock_of(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True)
class NoticeSettingsChange:
    """None: as it is. Equal quiet hours' start and end: no quiet hours."""

    locale: str | None = None
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None
    expiry_reminder_days: list[int] | None = None


async def update_settings(principal: Principal, change: NoticeSettingsChange, key: str) -> None:
    """The brand's notice settings; once per idempotency key."""
    fields, brand = checked_settings(await Brand.get(id=principal.brand_id), change)

    async def save(connection: BaseDBAsyncClient) -> dict[str, Any]:
        if fields:
            await brand.save(using_db=connection, update_fields=fields)
        return {}

    await run_once(principal, "updateNoticeSettings", key, asdict(change), save)


def checked_settings(brand: Brand, change: NoticeSettingsChange) -> tuple[list[str], Brand]:
    """The brand with the change made, and the fields it changed."""
    fields = []
    if change.locale is not None:
        brand.locale = check_locale(change.locale)
        fields.append("locale")
    if change.quiet_hours_start is not None:
        brand.quiet_from_minute = minute_of(change.quiet_hours_start, "quietHoursStart")
        fields.append("quiet_from_minute")
    if change.quiet_hours_end is not None:
        brand.quiet_until_minute = minute_of(change.quiet_hours_end, "quietHoursEnd")
        fields.append("quiet_until_minute")
    if change.expiry_reminder_days is not None:
        days = sorted(set(change.expiry_reminder_days), reverse=True)
        if len(days) > MAX_THRESHOLDS or not all(1 <= day <= LONGEST_THRESHOLD for day in days):
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"Up to {MAX_THRESHOLDS} thresholds, each 1 to {LONGEST_THRESHOLD} days.",
                ["input", "expiryReminderDays"],
            )
        brand.expiry_reminder_days = days
        fields.append("expiry_reminder_days")
    return fields, brand
