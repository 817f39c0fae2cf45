"""When earned points expire, by the brand's policy, in the brand's timezone."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from db.models import Brand, ExpiryPolicy

# The years dates are taken in (date-times, settlement months): any a plan needs, with room to
# add expiry periods and change timezones without leaving Python's calendar.
YEARS = range(1900, 3000)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it is shorter."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def expiry_of(brand: Brand, earned_at: datetime) -> datetime:
    """The moment points earned at `earned_at` stop counting.

    Rolling: they last through the same calendar day N months later (brand's local time).
    Fixed date: points earned in year Y last through the clearing day (e.g. 31 December) of
    year Y + 1.
    """
    zone = ZoneInfo(brand.timezone)
    earned_day = earned_at.astimezone(zone).date()
    if brand.expiry_policy is ExpiryPolicy.ROLLING:
        last_day = add_months(earned_day, brand.expiry_months)
    else:
        year = earned_day.year + 1
        clearing_day = min(brand.clearing_day, calendar.monthrange(year, brand.clearing_month)[1])
        last_day = date(year, brand.clearing_month, clearing_day)
    return start_of_day(last_day + timedelta(days=1), zone)


def grace_expiry(brand: Brand, now: datetime) -> datetime:
    """When returned points whose lot expired meanwhile stop counting: through the local day
    the brand's grace period (in days) from now."""
    zone = ZoneInfo(brand.timezone)
    return start_of_day(now.astimezone(zone).date() + timedelta(days=brand.grace_days + 1), zone)


def held_until(brand: Brand, now: datetime) -> datetime | None:
    """Until when a purchase's points earned now are pending: the brand's pending days (its
    return window) from now; None when it holds none."""
    return now + timedelta(days=brand.pending_days) if brand.pending_days else None
