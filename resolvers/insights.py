"""Resolvers for the brand's insights: each field reads one report of domain/insights."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from domain import records
from domain.insights import reports
from domain.insights.reports import Figures, GroupBy
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import Info, now_of, principal_of


@dataclass(frozen=True)
class InsightsView:
    brand_id: int


def insights(info: Info) -> InsightsView:
    return InsightsView(principal_of(info).brand_id)


async def figures(info: Info, view: InsightsView) -> Figures:
    return Figures(await info.context.loaders.brand(view.brand_id))


async def currency(info: Info, view: InsightsView) -> str:
    return (await figures(info, view)).brand.currency


async def point_value(info: Info, view: InsightsView) -> Decimal:
    return (await figures(info, view)).brand.point_value


async def rolled_up_at() -> datetime | None:
    return await reports.rolled_up_at()


async def liability(info: Info, view: InsightsView, as_of: date | None) -> reports.Liability:
    return await reports.liability(await figures(info, view), as_of, now_of(info))


async def expiring_forecast(
    info: Info, view: InsightsView, months: int
) -> list[reports.MonthPoints]:
    return await reports.expiring_forecast(await figures(info, view), months, now_of(info))


async def breakage(info: Info, view: InsightsView, start: date, end: date) -> reports.Breakage:
    return await reports.breakage(await figures(info, view), start, end)


async def earn_burn(
    info: Info, view: InsightsView, start: date, end: date, group_by: GroupBy
) -> list[reports.EarnBurn]:
    return await reports.earn_burn(await figures(info, view), start, end, group_by)


async def redemptions(
    info: Info, view: InsightsView, start: date, end: date
) -> reports.Redemptions:
    figures_ = await figures(info, view)
    return await reports.redemptions(info.context.backends, figures_, start, end)


async def members(info: Info, view: InsightsView, start: date, end: date) -> reports.MemberFigures:
    return await reports.members(await figures(info, view), start, end)


async def segments(info: Info, view: InsightsView) -> reports.Segments:
    return await reports.segments(await figures(info, view))


async def high_value_members(
    info: Info,
    view: InsightsView,
    segment: str | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> ConnectionView[records.MemberSegment]:
    page = await reports.high_value_members(
        await figures(info, view), segment, page_request(first, after, last, before)
    )
    return to_connection(page)


async def member_of_score(info: Info, score: records.MemberSegment) -> records.Member | None:
    return await info.context.loaders.member_by_id.load(score.member_id)
