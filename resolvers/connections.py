"""Relay connections from domain pages: edges with cursors, page info, total count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from domain.pagination import Page, PageRequest, RecordT

NodeT = TypeVar("NodeT")


@dataclass(frozen=True, slots=True)
class EdgeView(Generic[NodeT]):
    cursor: str
    node: NodeT


@dataclass(frozen=True, slots=True)
class PageInfoView:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@dataclass(frozen=True, slots=True)
class ConnectionView(Generic[NodeT]):
    edges: list[EdgeView[NodeT]]
    page_info: PageInfoView
    total_count: int


def page_request(
    first: int | None, after: str | None, last: int | None, before: str | None
) -> PageRequest:
    return PageRequest(first=first, after=after, last=last, before=before)


def to_connection(page: Page[RecordT]) -> ConnectionView[RecordT]:
    return ConnectionView(
        edges=[
            EdgeView(cursor, item) for cursor, item in zip(page.cursors, page.items, strict=True)
        ],
        page_info=PageInfoView(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
        total_count=page.total_count,
    )
