"""The insights page at GET /insights: served by the app with every asset of its own (Chart.js
vendored from the npm package the lock pins), and in a real browser (headless Chromium) an
analyst's token draws every chart with the same figures the `insights` query answers, while
other tokens are refused plainly."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from domain.insights.reports import refresh_segments
from domain.insights.rollups import roll_up
from server.app import STATIC_DIR
from tests.support.live import admin_of, api
from tests.support.node import LOCK, ensure_node_clients, run_node

DRIVER = Path(__file__).with_name("insights.mjs")
SCREENSHOT = "/tmp/insights.png"
CHROMIUM = shutil.which("chromium")
PAGE_DIR = STATIC_DIR / "insights"
CHART_JS = "chart.umd.min.js"
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)

OVERVIEW = """
query ($months: Int!) {
  insights {
    currency
    liability { asOf points amount byExpiryMonth { month points amount } }
    expiringForecast(months: $months) { month points amount }
    segments { segments { segment members spend } }
  }
}
"""
PERIOD = """
query ($from: Date!, $to: Date!) {
  insights {
    earnBurn(from: $from, to: $to, groupBy: DAY) {
      label earned redeemed expired adjusted reversed
    }
    redemptions(from: $from, to: $to) { items { name category units points cash } }
    members(from: $from, to: $to) { active new tiers { tierName members } }
  }
}
"""
SAVE_TIER = """
mutation ($input: SaveTierInput!) { saveTier(input: $input) { userErrors { code message } } }
"""
CREATE_ITEM = """
mutation ($input: CreateCatalogItemInput!) {
  createCatalogItem(input: $input) { item { id } userErrors { code message } }
}
"""
REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) { redemption { status } userErrors { code message } }
}
"""
TODAY = """
query { insights { liability { asOf } } }
"""
BREAKAGE = """
query ($day: Date!) { insights { breakage(from: $day, to: $day) { earned } } }
"""
MOVEMENTS = ("earned", "redeemed", "expired", "adjusted", "reversed")
SEEDED_EARN = 800 + 300 + 120


def points(value: int) -> str:
    """A count as the page shows it (en-US grouping)."""
    return f"{value:,}"


def until_last_due(forecast: list[dict]) -> list[dict]:
    """The forecast's months up to the last with points due, 12 at least (as the page shows)."""
    due = [index for index, month in enumerate(forecast) if month["points"]]
    return forecast[: max(12, due[-1] + 1 if due else 0)]


def segment_name(segment: str) -> str:
    return segment.replace("_", " ").capitalize()


async def seed_brand(server, brand, make_token) -> None:
    """Three members (one climbs to Gold), two coupons, three redemptions; rolled up, scored."""
    async with admin_of(server, brand, make_token) as admin, api(server) as gql:
        tier = {"code": "GOLD", "name": "Gold", "rank": 1, "qualifyingPoints": 500}
        assert (await admin.call(SAVE_TIER, tier))["userErrors"] == []
        members = []
        for name, total in (("Ada", "800.00"), ("Bo", "300.00"), ("Cy", "120.00")):
            member = await admin.register(name)
            await admin.purchase(member["id"], total)
            members.append(member)
        items = {}
        for name, category, price in (("Tote bag", "merch", 150), ("Latte", "drinks", 100)):
            spec = {"sku": f"SKU-{category}", "name": name, "kind": "COUPON", "category": category}
            created = await admin.call(CREATE_ITEM, {**spec, "pointsPrice": price, "stock": 10})
            assert created["userErrors"] == [], created
            items[name] = created["item"]["id"]
        for member, item, quantity in ((0, "Tote bag", 2), (1, "Latte", 1)):
            token = make_token(brand, "MEMBER", members[member]["id"])
            redeem = {"itemId": items[item], "quantity": quantity, "idempotencyKey": item}
            body = await gql(REDEEM, {"input": redeem}, token=token)
            assert body["data"]["redeem"]["userErrors"] == [], body


async def roll_up_the_seeded_ledger(runtime, server, token: str) -> None:
    """Roll the ledger up until it counts the seeded earn: a roll-up stops short of the oldest
    transaction still running on the PostgreSQL server, in any database (another suite's)."""
    async with api(server) as gql:
        today = (await gql(TODAY, token=token))["data"]["insights"]["liability"]["asOf"]
        for _ in range(100):
            await roll_up(runtime)
            body = await gql(BREAKAGE, {"day": today}, token=token)
            if body["data"]["insights"]["breakage"]["earned"] == SEEDED_EARN:
                return
            await asyncio.sleep(0.2)
    pytest.fail(f"the roll-up did not reach the seeded earn: {body}")


async def answers(server, token: str, period: dict) -> tuple[dict, dict]:
    """The `insights` figures the page is to show, straight from GraphQL."""
    async with api(server) as gql:
        overview = await gql(OVERVIEW, {"months": 60}, token=token)
        over_period = await gql(PERIOD, period, token=token)
    assert "errors" not in overview and "errors" not in over_period, (overview, over_period)
    return overview["data"]["insights"], over_period["data"]["insights"]


def month_rows(months: list[dict]) -> list[list[str]]:
    return [[m["month"][:7], points(m["points"]), m["amount"]] for m in months]


def expected_tables(overview: dict, over_period: dict) -> dict[str, list[list[str]]]:
    """Per table: its rows' cells, as the page is to show them."""
    return {
        "liability": month_rows(overview["liability"]["byExpiryMonth"]),
        "forecast": month_rows(until_last_due(overview["expiringForecast"])),
        "earn-burn": [
            [row["label"], *(points(row[name]) for name in MOVEMENTS)]
            for row in over_period["earnBurn"]
        ],
        "items": [
            [i["name"], i["category"], points(i["units"]), points(i["points"]), i["cash"]]
            for i in over_period["redemptions"]["items"][:10]
        ],
        "tiers": [[t["tierName"], points(t["members"])] for t in over_period["members"]["tiers"]],
        "segments": [
            [segment_name(s["segment"]), points(s["members"]), s["spend"]]
            for s in overview["segments"]["segments"]
        ],
    }


def expected_charts(overview: dict, over_period: dict) -> dict[str, tuple[list, list[list]]]:
    """Per canvas: its labels and its datasets' data."""
    liability = overview["liability"]["byExpiryMonth"]
    forecast = until_last_due(overview["expiringForecast"])
    earn_burn = over_period["earnBurn"]
    items = over_period["redemptions"]["items"][:10]
    tiers = over_period["members"]["tiers"]
    segments = overview["segments"]["segments"]
    return {
        "liability-chart": (
            [m["month"][:7] for m in liability],
            [[m["points"] for m in liability]],
        ),
        "forecast-chart": ([m["month"][:7] for m in forecast], [[m["points"] for m in forecast]]),
        "earn-burn-chart": (
            [row["label"] for row in earn_burn],
            [[row[name] for row in earn_burn] for name in MOVEMENTS],
        ),
        "items-chart": ([i["name"] for i in items], [[i["units"] for i in items]]),
        "tiers-chart": ([t["tierName"] for t in tiers], [[t["members"] for t in tiers]]),
        "segments-chart": (
            [segment_name(s["segment"]) for s in segments],
            [[s["members"] for s in segments]],
        ),
    }


def only_from(origin: str, requests: list[str]) -> list[str]:
    """The requests that went anywhere but the app."""
    return [url for url in requests if not url.startswith(f"{origin}/") and url != "data:,"]


@needs_chromium
async def test_an_analyst_sees_every_chart_drawn_with_the_figures_of_the_api(
    live_server, runtime, brand, make_token
):
    await seed_brand(live_server, brand, make_token)
    analyst = make_token(brand, "ANALYST", "analyst-1")
    await roll_up_the_seeded_ledger(runtime, live_server, analyst)
    await refresh_segments(runtime)
    request = {
        "url": f"{live_server.url}/insights",
        "executablePath": CHROMIUM,
        "sessions": [{"token": analyst, "screenshot": SCREENSHOT}],
    }
    run = await asyncio.to_thread(run_node, DRIVER, input=request)
    assert run.returncode == 0, run.stderr
    (page,) = json.loads(run.stdout)["sessions"]
    assert page["problems"] == [], page["problems"]
    assert page["state"] == "ready" and page["error"] is None, page
    assert only_from(live_server.url, page["requests"]) == []

    # The default period: the last 30 days up to the brand's today, by day.
    period = page["period"]
    overview, over_period = await answers(live_server, analyst, period)
    today = date.fromisoformat(overview["liability"]["asOf"])
    assert period == {
        "from": str(today - timedelta(days=29)),
        "to": str(today),
        "groupBy": "DAY",
    }
    # What was seeded shows (820 = 1220 earned - 300 - 100 redeemed).
    assert overview["liability"]["points"] == 820
    assert [row[:3] for row in page["tables"]["items"]] == [
        ["Tote bag", "merch", "2"],
        ["Latte", "drinks", "1"],
    ]
    assert page["tables"]["tiers"] == [["Member", "2"], ["Gold", "1"]]

    assert page["tables"] == expected_tables(overview, over_period)
    liability = overview["liability"]
    members = over_period["members"]
    assert page["totals"] == {
        "liability-points": {"text": "820", "value": "820"},
        "liability-amount": {
            "text": f"{overview['currency']} {liability['amount']}",
            "value": liability["amount"],
        },
        "active-members": {"text": points(members["active"]), "value": str(members["active"])},
        "new-members": {"text": points(members["new"]), "value": str(members["new"])},
    }
    charts = page["charts"]
    for canvas, (labels, data) in expected_charts(overview, over_period).items():
        chart = charts.pop(canvas)
        assert chart is not None, f"{canvas}: no chart"
        assert (chart["labels"], [d["data"] for d in chart["datasets"]]) == (labels, data), canvas
        assert chart["painted"] > 0 and chart["unpainted"] == [], (canvas, chart)
        assert any(any(values) for values in data), f"{canvas}: drew nothing but zeros"
    assert charts == {}, "canvases the test does not check"


@needs_chromium
async def test_tokens_that_may_not_read_insights_are_refused_plainly(
    live_server, brand, make_token
):
    request = {
        "url": f"{live_server.url}/insights",
        "executablePath": CHROMIUM,
        "sessions": [
            {"token": make_token(brand, "STAFF", "clerk")},
            {"token": "not-a-token"},
        ],
    }
    run = await asyncio.to_thread(run_node, DRIVER, input=request)
    assert run.returncode == 0, run.stderr
    staff, stranger = json.loads(run.stdout)["sessions"]
    for page, code in ((staff, "FORBIDDEN"), (stranger, "UNAUTHENTICATED")):
        assert page["state"] == "refused", page
        assert page["error"].startswith(f"Refused ({code}): "), page["error"]
        assert page["error"].endswith("Sign in with an ANALYST or ADMIN token of the brand.")
        assert not page["dashboardShown"]
        assert all(chart is None for chart in page["charts"].values()), page["charts"]
    assert staff["problems"] == []
    # A bad token is a 401, which Chromium reports on its console too.
    assert all("401" in problem and "/graphql" in problem for problem in stranger["problems"]), (
        stranger["problems"]
    )


ASSET = re.compile(r'(?:src|href)="([^"]+)"')
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css"}


async def test_the_page_and_its_assets_are_served_by_the_app(client):
    page = await client.get("/insights")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assets = ASSET.findall(page.text)
    assert {"/static/insights/app.js", f"/static/insights/{CHART_JS}"} <= set(assets)
    for asset in assets:
        if asset == "data:,":  # the empty favicon
            continue
        assert asset.startswith("/static/insights/"), asset
        served = await client.get(asset)
        assert served.status_code == 200, asset
        content_type = CONTENT_TYPES[Path(asset).suffix]
        assert served.headers["content-type"].startswith(content_type), served.headers
    for own in ("index.html", "app.js", "insights.css"):
        assert not re.search(r"https?://", (PAGE_DIR / own).read_text()), own


def test_the_vendored_chart_library_is_the_one_the_lock_pins():
    node_modules = ensure_node_clients()
    locked = json.loads(LOCK.read_text())["packages"]["node_modules/chart.js"]["version"]
    package = node_modules / "chart.js"
    assert json.loads((package / "package.json").read_text())["version"] == locked
    vendored = (PAGE_DIR / CHART_JS).read_bytes()
    assert vendored == (package / "dist" / CHART_JS).read_bytes()
    assert f"chart.js@{locked} dist/{CHART_JS}" in (PAGE_DIR / "VERSIONS.txt").read_text()
    assert f"chart.js@{locked}" in (PAGE_DIR / "LICENSES.txt").read_text()
