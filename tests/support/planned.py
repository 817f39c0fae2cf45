"""Comparing a planned document's answer with execution's (schema/prechecks.py)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter

from hypothesis import note


@contextlib.contextmanager
def prechecks_off(endpoint):
    """strawberry's execution alone, as with POINTSMALL_PRECHECKS=false."""
    saved, endpoint.prechecks = endpoint.prechecks, None
    try:
        yield
    finally:
        endpoint.prechecks = saved


async def answers(client, field: str) -> float:
    """How many requests the field's pre-check has answered so far (its metric)."""
    pattern = rf'^pointsmall_precheck_answers_total\{{field="{field}"\}} (\S+)$'
    match = re.search(pattern, (await client.get("/metrics")).text, re.M)
    return float(match.group(1)) if match else 0.0


async def raw(client, body: dict, headers: dict) -> tuple[int, str, bytes]:
    response = await client.post("/graphql", json=body, headers=headers)
    return response.status_code, response.headers["content-type"], response.content


async def both_ways(
    client, endpoint, field: str, body: dict, headers: dict, execution_first: bool
) -> tuple[tuple[int, str, bytes], tuple[int, str, bytes], float]:
    """The planned answer, execution's, and how many of them the pre-check answered."""
    before = await answers(client, field)
    if execution_first:
        with prechecks_off(endpoint):
            executed = await raw(client, body, headers)
        planned = await raw(client, body, headers)
    else:
        planned = await raw(client, body, headers)
        with prechecks_off(endpoint):
            executed = await raw(client, body, headers)
    return planned, executed, await answers(client, field) - before


class Agreement:
    """Requests sent both ways from a hypothesis test (run in a thread, `asyncio.to_thread`),
    each compared byte for byte; counts how many the plan answered and how many execution."""

    def __init__(self, client, endpoint, field: str) -> None:
        self.client, self.endpoint, self.field = client, endpoint, field
        self.loop = asyncio.get_running_loop()
        self.answered: Counter[bool] = Counter()

    def check(self, body: dict, headers: dict, execution_first: bool) -> None:
        planned, executed, by_plan = asyncio.run_coroutine_threadsafe(
            both_ways(self.client, self.endpoint, self.field, body, headers, execution_first),
            self.loop,
        ).result(60)
        note(f"{body} {headers}: {planned}")
        assert planned == executed
        self.answered[by_plan > 0] += 1

    def assert_both_answered(self) -> None:
        """Some requests were answered by the plan, some by execution (else the test proved
        nothing of one of them)."""
        assert self.answered[True] > 0 and self.answered[False] > 0, self.answered
