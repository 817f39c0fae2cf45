"""GraphiQL, served at GET /graphql in development, in a real browser (headless Chromium):
its assets load, its editor appears, and a query and a subscription run through its UI."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.support.live import admin_of
from tests.support.node import run_node

GRAPHIQL = Path(__file__).with_name("graphiql.mjs")
SCREENSHOT = "/tmp/graphiql.png"
CHROMIUM = shutil.which("chromium")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)

POINTS = "query { me { points { available version } } }"
BALANCE_CHANGED = """subscription {
  balanceChanged(sinceVersion: 0) { available version }
}"""


async def test_graphiql_runs_a_query_and_a_subscription(live_server, brand, make_token):
    async with admin_of(live_server, brand, make_token) as staff:
        member = await staff.register()
        for points in (10, 5):
            await staff.adjust(member["id"], points)
    request = {
        "url": f"{live_server.url}/graphql",
        "executablePath": CHROMIUM,
        "headers": {"Authorization": f"Bearer {make_token(brand, 'MEMBER', member['id'])}"},
        "operations": [
            {"query": POINTS, "waitFor": '"available": 15'},
            # The replay since version 0: the pane shows the latest change, version 2.
            {"query": BALANCE_CHANGED, "waitFor": '"version": 2'},
        ],
        "screenshot": SCREENSHOT,
    }
    run = await asyncio.to_thread(run_node, GRAPHIQL, input=request)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["editor"], report
    assert report["problems"] == [], report["problems"]
    query, subscription = (json.loads(shown) for shown in report["responses"])
    assert query == {"data": {"me": {"points": {"available": 15, "version": 2}}}}
    assert subscription == {"data": {"balanceChanged": {"available": 15, "version": 2}}}
