"""Resolvers for the brand's insights: each field reads one report of domain/insights."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from domain.insights import reports
from domain.insights.reports import Figures, GroupBy
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import principal_of


@dataclass(frozen=True)
class InsightsView:
    brand_id: int


def insights(info: Any) -> InsightsView:
    return InsightsView(principal_of(info).brand_id)


async def figures(info: Any, view: InsightsView) -> Figures:
    return Figures(await info.context.loaders.brand_by_id.load(view.brand_id))


def _now(info: Any) -> Any:
    return info.context.backends.clock.now()


async def currency(info: Any, view: InsightsView) -> str:
    return (await figures(info, view)).brand.currency


async def point_value(info: Any, view: InsightsView) -> Any:
    return (await figures(info, view)).brand.point_value


async def rolled_up_at(info: Any, view: InsightsView) -> Any:
    return await reports.rolled_up_at()


async def liability(info: Any, view: InsightsView, as_of: date | None) -> Any:
    return await reports.liability(await figures(info, view), as_of, _now(info))


async def expiring_forecast(info: Any, view: InsightsView, months: int) -> Any:
    return await reports.expiring_forecast(await figures(info, view), months, _now(info))


async def breakage(info: Any, view: InsightsView, start: date, end: date) -> Any:
    return await reports.breakage(await figures(info, view), start, end)


async def earn_burn(
    info: Any, view: InsightsView, start: date, end: date, group_by: GroupBy
) -> Any:
    return await reports.earn_burn(await figures(info, view), start, end, group_by)


async def redemptions(info: Any, view: InsightsView, start: date, end: date) -> Any:
    figures_ = await figures(info, view)
    return await reports.redemptions(info.context.backends, figures_, start, end)


async def members(info: Any, view: InsightsView, start: date, end: date) -> Any:
    return await reports.members(await figures(info, view), start, end)


async def segments(info: Any, view: InsightsView) -> Any:
    return await reports.segments(await figures(info, view))


async def high_value_members(
    info: Any,
    view: InsightsView,
    segment: str | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> ConnectionView:
    page = await reports.high_value_members(
        await figures(info, view), segment, page_request(first, after, last, before)
    )
    return to_connection(page)


async def member_of_score(info: Any, score: Any) -> Any:
    return await info.context.loaders.member_by_id.load(score.member_id)
