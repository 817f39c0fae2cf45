"""Waiting on the event bus's subscribers, for the bus's tests here and on the cluster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from subscriptions.bus import EventBus

TIMEOUT = 5  # for a bus to start, or the events awaited to arrive

BusFactory = Callable[..., Awaitable[EventBus]]  # the `make_bus` fixtures: a started bus


async def take(events: AsyncIterator[dict], count: int) -> list[dict]:
    """The next `count` events of a subscription; fails if they do not come in time."""
    received: list[dict] = []
    try:
        async with asyncio.timeout(TIMEOUT):
            while len(received) < count:
                received.append(await anext(events))
    except TimeoutError:
        pytest.fail(f"{len(received)} of {count} events arrived within {TIMEOUT}s: {received}")
    return received
