"""`pointsmall report NAME` as a user runs it, on the test database: each report's CSV is the
GraphQL insights answer for the same brand and period (money at the brand's point value, days
and moments in its timezone), on figures the command brought up to date itself; the segment
export lists exactly the scored members, page after page, with a progress bar on a terminal
only; a bad brand or option is refused with exit code 2 and nothing written."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import pty
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from db.models import Brand, Store
from domain.insights.csv import REPORTS as CSV_REPORTS
from domain.insights.rollups import roll_up
from server.cli import REPORTS
from tests.support.catalog import create_catalog_item, redeem_item
from tests.support.commands import pointsmall_on
from tests.support.factories import key

POINT_VALUE = Decimal("0.05")
CENT = Decimal("0.01")
# A date, a code and a rule key of earnBurn's groupings (each a separate process: seconds).
EARN_BURN_GROUPINGS = ("DAY", "STORE", "RULE")

SAVE_TIER = """
mutation ($input: SaveTierInput!) { saveTier(input: $input) { userErrors { code } } }
"""
CANCEL_REDEMPTION = """
mutation ($input: CancelRedemptionInput!) {
  cancelRedemption(input: $input) { userErrors { code } }
}
"""
CREATE_SALE = """
mutation ($input: CreateFlashSaleInput!) {
  createFlashSale(input: $input) { flashSale { id } userErrors { code } }
}
"""
ENTER = """
mutation ($input: EnterFlashSaleInput!) { enterFlashSale(input: $input) { userErrors { code } } }
"""
INSIGHTS = """
fragment Moves on EarnBurnRow { key label earned redeemed expired adjusted reversed }
query ($from: Date!, $to: Date!, $asOf: Date!) {
  insights {
    pointValue
    liability { points byExpiryMonth { month points amount } }
    earlier: liability(asOf: $asOf) { asOf points amount }
    expiringForecast(months: 60) { month points amount }
    breakage(from: $from, to: $to) { earned earnedAmount expired expiredAmount rate }
    DAY: earnBurn(from: $from, to: $to, groupBy: DAY) { ...Moves }
    STORE: earnBurn(from: $from, to: $to, groupBy: STORE) { ...Moves }
    RULE: earnBurn(from: $from, to: $to, groupBy: RULE) { ...Moves }
    redemptions(from: $from, to: $to) {
      items { sku name category units points cash cancelledUnits cancelRate stockLeft sellThrough }
      categories { category units points cash }
      flashSales {
        itemName startsAt totalStock sold soldOutAfterSeconds attempts attemptsPerUnit
      }
    }
    members(from: $from, to: $to) {
      active new tiers { tierCode tierName members } movements { fromTier toTier members }
    }
    segments { refreshedAt segments { segment members spend } }
  }
}
"""
HIGH_VALUE_MEMBERS = """
query ($segment: RfmSegment, $after: String) {
  insights {
    highValueMembers(segment: $segment, first: 100, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges { node {
        member { id displayName } segment recency frequency monetary purchases spend
        lastPurchaseAt
      } }
    }
  }
}
"""


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def run_reports(settings, brand_code: str, runs: dict[str, list[str]]) -> dict[str, list]:
    """Each run's CSV (a few processes at a time), asserting it succeeded and printed nothing
    besides."""

    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        return pointsmall_on(settings, "report", *args, "--brand", brand_code)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(runs, pool.map(run, runs.values()), strict=True))
    for label, result in results.items():
        assert (result.returncode, result.stderr) == (0, ""), (label, result.stderr)
    return {label: rows_of(result.stdout) for label, result in results.items()}


def money(points: int) -> str:
    return str((Decimal(points) * POINT_VALUE).quantize(CENT))


def cash(amount: str) -> str:
    return f"{Decimal(amount):.2f}"


def cell(value) -> str:
    return "" if value is None else str(value)


def local(moment: str | None, zone: ZoneInfo) -> str:
    if moment is None:
        return ""
    return datetime.fromisoformat(moment).astimezone(zone).isoformat("T", "seconds")


async def record_history(staff, gql, brand, make_token, clock) -> dict[str, str]:
    """Four members: Ada earns in a store and climbs to Silver, Bo is adjusted, Cy's purchase
    is partly reversed, Di never buys; two items redeemed (one order cancelled) and a flash
    sale sold out. Their global ids by name."""
    await Brand.filter(id=brand.id).update(point_value=POINT_VALUE)
    await Store.create(brand_id=brand.id, code="SH-1", name="Shanghai One")
    saved = await staff.call(
        SAVE_TIER, {"code": "SILVER", "name": "Silver", "rank": 1, "qualifyingPoints": 1000}
    )
    assert saved["userErrors"] == []
    ids = {name: (await staff.register(name))["id"] for name in ("Ada", "Bo", "Cy", "Di")}
    tokens = {name: make_token(brand, "MEMBER", member_id) for name, member_id in ids.items()}
    await staff.purchase(ids["Ada"], "1500.00", storeCode="SH-1")
    await staff.purchase(ids["Bo"], "300.00")
    await staff.adjust(ids["Bo"], -50)
    await staff.purchase(ids["Cy"], "200.00", orderRef="CY-1")
    reversed_ = await staff.reverse(ids["Cy"], "CY-1", "100.00")
    assert reversed_["userErrors"] == [], reversed_
    coupon = await create_catalog_item(staff, name="Latte", category="drinks", stock=10)
    mug = await create_catalog_item(staff, name="Mug", category="goods", pointsPrice=50)
    assert (await redeem_item(gql, tokens["Ada"], coupon["id"], 2))["userErrors"] == []
    cancelled = await redeem_item(gql, tokens["Bo"], coupon["id"])
    refund = {"redemptionId": cancelled["redemption"]["id"], "reason": "changed mind"}
    assert (await staff.call(CANCEL_REDEMPTION, refund))["userErrors"] == []
    assert (await redeem_item(gql, tokens["Cy"], mug["id"]))["userErrors"] == []
    sale_item = await create_catalog_item(staff, name="Flash mug", category="goods")
    starts_at = clock.now() + timedelta(seconds=1)
    sale = await staff.call(
        CREATE_SALE,
        {
            "itemId": sale_item["id"],
            "pointsPrice": 100,
            "startsAt": starts_at.isoformat(),
            "endsAt": (starts_at + timedelta(hours=1)).isoformat(),
            "totalStock": 2,
            "perMemberLimit": 1,
        },
    )
    assert sale["userErrors"] == [], sale
    clock.advance(timedelta(seconds=2))
    for name in ("Ada", "Bo", "Cy"):  # Cy comes too late: an attempt, no unit
        entry = {"flashSaleId": sale["flashSale"]["id"], "idempotencyKey": key()}
        body = await gql(ENTER, {"input": entry}, token=tokens[name])
        assert "errors" not in body, body
    return ids


async def scored_members(gql, token: str, segment: str | None) -> list[dict]:
    """highValueMembers, every page."""
    nodes, after = [], None
    while True:
        body = await gql(HIGH_VALUE_MEMBERS, {"segment": segment, "after": after}, token=token)
        assert "errors" not in body, body
        page = body["data"]["insights"]["highValueMembers"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


def expected_csvs(answer: dict, scored: dict[str, list[dict]], zone: ZoneInfo, **days) -> dict:
    """Each run's CSV as the GraphQL answer says it must read."""
    today, earlier, start, end = days["today"], days["earlier"], days["start"], days["end"]
    redemptions, members = answer["redemptions"], answer["members"]
    segments = answer["segments"]
    breakage = answer["breakage"]
    moves = ("earned", "redeemed", "expired", "adjusted", "reversed")
    expected = {
        "liability": [
            ["as_of", "expiry_month", "points", "amount"],
            *([str(today), month["month"][:7], str(month["points"]), cash(month["amount"])]
              for month in answer["liability"]["byExpiryMonth"]),
        ],
        "liability --as-of": [
            ["as_of", "expiry_month", "points", "amount"],
            [str(earlier), "", str(answer["earlier"]["points"]), cash(answer["earlier"]["amount"])],
        ],
        "breakage": [
            ["from", "to", "earned", "earned_amount", "expired", "expired_amount", "rate"],
            [str(start), str(end), str(breakage["earned"]), cash(breakage["earnedAmount"]),
             str(breakage["expired"]), cash(breakage["expiredAmount"]), cell(breakage["rate"])],
        ],
        "redemptions": [
            ["sku", "name", "category", "units", "points", "points_amount", "cash",
             "cancelled_units", "cancel_rate", "stock_left", "sell_through"],
            *([item["sku"], item["name"], item["category"], str(item["units"]),
               str(item["points"]), money(item["points"]), cash(item["cash"]),
               str(item["cancelledUnits"]), cell(item["cancelRate"]), cell(item["stockLeft"]),
               cell(item["sellThrough"])] for item in redemptions["items"]),
        ],
        "redemption-categories": [
            ["category", "units", "points", "points_amount", "cash"],
            *([row["category"], str(row["units"]), str(row["points"]), money(row["points"]),
               cash(row["cash"])] for row in redemptions["categories"]),
        ],
        "flash-sales": [
            ["item", "starts_at", "total_stock", "sold", "sold_out_after_seconds", "attempts",
             "attempts_per_unit"],
            *([sale["itemName"], local(sale["startsAt"], zone), str(sale["totalStock"]),
               str(sale["sold"]), cell(sale["soldOutAfterSeconds"]), cell(sale["attempts"]),
               cell(sale["attemptsPerUnit"])] for sale in redemptions["flashSales"]),
        ],
        "members": [
            ["from", "to", "active", "new"],
            [str(start), str(end), str(members["active"]), str(members["new"])],
        ],
        "tiers": [
            ["tier_code", "tier_name", "members"],
            *([tier["tierCode"], tier["tierName"], str(tier["members"])]
              for tier in members["tiers"]),
        ],
        "tier-movements": [
            ["from_tier", "to_tier", "members"],
            *([move["fromTier"], move["toTier"], str(move["members"])]
              for move in members["movements"]),
        ],
        "segments": [
            ["segment", "members", "spend", "refreshed_at"],
            *([row["segment"], str(row["members"]), cash(row["spend"]),
               local(segments["refreshedAt"], zone)] for row in segments["segments"]),
        ],
    }  # fmt: skip
    for grouping in EARN_BURN_GROUPINGS:
        expected[f"earn-burn {grouping}"] = [
            [grouping.lower(), "label",
             *(f"{move}{money_}" for move in moves for money_ in ("", "_amount"))],
            *([row["key"], row["label"],
               *(cell for move in moves for cell in (str(row[move]), money(row[move])))]
              for row in answer[grouping]),
        ]  # fmt: skip
    for label, nodes in scored.items():
        expected[label] = [
            ["member_id", "display_name", "segment", "recency", "frequency", "monetary",
             "purchases", "spend", "last_purchase_at"],
            *([node["member"]["id"], node["member"]["displayName"], node["segment"],
               str(node["recency"]), str(node["frequency"]), str(node["monetary"]),
               str(node["purchases"]), cash(node["spend"]), local(node["lastPurchaseAt"], zone)]
              for node in nodes),
        ]  # fmt: skip
    return expected


def forecast_of(rows: list[list[str]]) -> dict[str, tuple[str, str]]:
    """A forecast's months with points: (points, amount) by YYYY-MM."""
    return {month: (points, amount) for month, points, amount in rows if points != "0"}


async def test_each_report_is_the_graphql_answer_as_csv(
    gql, staff, brand, make_token, clock, runtime, settings
):
    ids = await record_history(staff, gql, brand, make_token, clock)
    zone = ZoneInfo(brand.timezone)
    today = clock.now().astimezone(zone).date()
    # The command's clock is the real one (the tests' may be ahead): a day past for both.
    real_today = datetime.now(UTC).astimezone(zone).date()
    days = {
        "start": today - timedelta(days=1),
        "end": today,
        "today": real_today,
        "earlier": real_today - timedelta(days=1),
    }
    period = ["--from", str(days["start"]), "--to", str(days["end"])]
    runs = {
        "liability": ["liability"],
        "liability --as-of": ["liability", "--as-of", str(days["earlier"])],
        # From the session's month: the command's clock is the real one, the session's may be
        # ahead (other tests move it).
        "expiring-forecast": ["expiring-forecast", "--months", "60", "--from", str(days["end"])],
        "breakage": ["breakage", *period],
        **{f"earn-burn {grouping}": ["earn-burn", *period, "--group-by", grouping]
           for grouping in EARN_BURN_GROUPINGS},
        **{name: [name, *period]
           for name in ("redemptions", "redemption-categories", "flash-sales", "members",
                        "tiers", "tier-movements")},
        "members-of-segment": ["members-of-segment"],
        "members-of-segment HIBERNATING": ["members-of-segment", "--segment", "HIBERNATING"],
    }  # fmt: skip
    csvs = run_reports(settings, brand.code, runs)
    # Alone and last, so that its scoring is the one the answer below reads.
    csvs |= run_reports(settings, brand.code, {"segments": ["segments"]})

    # Only now are the figures rolled up and scored here: had the command not done it first,
    # its figures would lack what this answer has.
    await roll_up(runtime)
    token = make_token(brand, "ANALYST", "analyst")
    variables = {"from": str(days["start"]), "to": str(days["end"]), "asOf": str(days["earlier"])}
    body = await gql(INSIGHTS, variables, token=token)
    assert "errors" not in body, body
    answer = body["data"]["insights"]
    assert Decimal(answer["pointValue"]) == POINT_VALUE
    scored = {
        "members-of-segment": await scored_members(gql, token, None),
        "members-of-segment HIBERNATING": await scored_members(gql, token, "HIBERNATING"),
    }
    expected = expected_csvs(answer, scored, zone, **days)

    forecast = csvs.pop("expiring-forecast")
    assert forecast[0] == ["month", "points", "amount"] and len(forecast) == 1 + 60
    assert forecast_of(forecast[1:]) == {
        month["month"][:7]: (str(month["points"]), cash(month["amount"]))
        for month in answer["expiringForecast"]
        if month["points"]
    }
    assert csvs == expected
    # The history shows in the figures (so that agreeing is not agreeing on nothing).
    assert sum(int(row[2]) for row in csvs["liability"][1:]) == 1200 + 150 + 50
    assert [row[:3] for row in csvs["earn-burn STORE"][1:]] == [
        ["", "No store", "500"],
        ["SH-1", "Shanghai One", "1500"],
    ]
    assert csvs["tier-movements"][1:] == [["BASE", "SILVER", "1"]]
    (sale,) = csvs["flash-sales"][1:]
    assert sale[2:4] == ["2", "2"] and sale[4] and sale[5:] == ["3", "1.5"], sale
    every_scored = {row[0] for row in csvs["members-of-segment"][1:]}
    assert every_scored == {ids["Ada"], ids["Bo"], ids["Cy"]}
    hibernating = {row[0] for row in csvs["members-of-segment HIBERNATING"][1:]}
    assert hibernating and hibernating < every_scored


async def test_the_segment_export_streams_every_scored_member_page_after_page(
    staff, brand, settings, tmp_path
):
    """Past one page (100): every scored member once, most spent first, into --output; a
    progress bar on a terminal, nothing on a pipe."""
    members = []
    for batch in range(0, 130, 10):
        registered = await asyncio.gather(
            *(staff.register(f"Shopper {number}") for number in range(batch, batch + 10))
        )
        members += registered
        await asyncio.gather(
            *(staff.purchase(member["id"], f"{10 + batch + index}.00")
              for index, member in enumerate(registered))
        )  # fmt: skip
    await staff.register("Window shopper")  # no purchase: not scored
    output = tmp_path / "members.csv"

    piped = pointsmall_on(
        settings, "report", "members-of-segment", "--brand", brand.code, "--output", str(output),
    )  # fmt: skip
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, "", "")
    rows = rows_of(output.read_text())[1:]
    assert [row[0] for row in rows] == [member["id"] for member in reversed(members)]
    assert [row[7] for row in rows] == [f"{139 - index}.00" for index in range(130)]
    assert list(tmp_path.iterdir()) == [output]

    on_terminal = terminal_stderr(
        settings, "report", "members-of-segment", "--brand", brand.code, "--output", str(output)
    )
    assert "Exporting" in on_terminal and "130/130" in on_terminal, on_terminal
    assert rows_of(output.read_text())[1:] == rows


def terminal_stderr(settings, *args: str) -> str:
    """What the command shows on stderr when stderr is a terminal."""
    controller, terminal = pty.openpty()
    shown = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        result = pointsmall_on(settings, *args, stdout=subprocess.PIPE, stderr=terminal)
    finally:
        os.close(terminal)
        reader.join(timeout=10)
        os.close(controller)
    assert result.returncode == 0, shown.decode(errors="replace")
    return shown.decode(errors="replace")


async def test_the_period_defaults_to_the_30_days_before_today(brand, settings):
    zone = ZoneInfo(brand.timezone)
    result = pointsmall_on(settings, "report", "breakage", "--brand", brand.code)
    assert result.returncode == 0, result.stderr
    today = datetime.now(UTC).astimezone(zone).date()
    assert rows_of(result.stdout)[1][:2] == [str(today - timedelta(days=30)), str(today)]
    only_to = pointsmall_on(
        settings, "report", "members", "--brand", brand.code, "--to", "2026-03-31",
    )  # fmt: skip
    assert rows_of(only_to.stdout)[1][:2] == ["2026-03-01", "2026-03-31"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("liability", "--brand", "no-such-brand"), "No brand 'no-such-brand'."),
        (("profits",), "Invalid value for '{liability|"),
        (("earn-burn", "--group-by", "YEAR"), "Invalid value for '--group-by'"),
        (("breakage", "--from", "2026-02-30"), "Invalid value for '--from'"),
        (("breakage", "--from", "2026-03-02", "--to", "2026-03-01"), "`to` is before `from`"),
        (("breakage", "--from", "2020-01-01", "--to", "2026-03-01"), "Invalid value for '--to'"),
        (("expiring-forecast", "--months", "0"), "Invalid value for '--months'"),
        (("liability", "--as-of", "2999-01-01"), "Invalid value for '--as-of'"),
        (("members-of-segment", "--segment", "WHALES"), "Invalid value for '--segment'"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else None,
)
def test_a_bad_brand_or_option_is_exit_code_2_and_writes_nothing(
    brand, settings, tmp_path, args, message
):
    if "--brand" not in args:
        args = (*args, "--brand", brand.code)
    output = tmp_path / "report.csv"
    result = pointsmall_on(settings, "report", *args, "--output", str(output), cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_every_report_the_command_names_is_one_it_writes():
    assert set(REPORTS) == set(CSV_REPORTS)
