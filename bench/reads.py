"""Read paths under load: the pages members open most, against `{ __typename }` in the same run.

    python -m bench.reads [--seconds 8] [--workers 2] [--connections 64] [--runs 1]

A brand like the demo's (three stores, four tiers, 30 catalog items: coupons, physical items,
points + cash, some limited, one sold out, two for Gold and up, one not yet started) and a Gold
member with 40 purchases (half of them in a store). Each scenario is loaded by wrk on the
service's uvicorn workers, against a database and Redis prefix of the run's own:
  typename        `{ __typename }`, the baseline: the least a GraphQL request costs;
  catalog         the catalog page, a visitor's (X-Brand) and the member's (prices and
                  availability differ per tier and balance);
  member page     the member's name, balance, points expiring, tier and their latest 20 entries;
  brand           `brand { name stores { name } }`.
Each row gives the rate, its ratio to `{ __typename }`'s of the same run, p50 and p99, and the
CPU per request of the workers and of PostgreSQL (CPU seconds used meanwhile / requests). With
`--runs N` the scenarios are run N times, one after another each time, and the median of each
figure is printed, with every run's ratios.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from bench.backends import database, own_backends
from bench.cli import add_load_arguments, run
from bench.cpu import MeasuredLoad, measured_load
from bench.graphql import JSON_HEADERS, authorized, graphql_body
from bench.load import WARMUP_SECONDS, Target, load, probe
from bench.report import Row, cpu_ms, describe_row, load_average, load_row, rows_table
from bench.seed import brand_token, new_brand_code
from bench.servers import SERVICE_FACTORY, serve
from domain.brands import create_brand, ensure_store
from domain.ids import encode_id
from domain.tiers import TierSpec, ensure_tier
from tests.support.factories import RECORD_PURCHASE, REGISTER

STORES = (("SH-001", "Shanghai Nanjing Road"), ("BJ-001", "Beijing Sanlitun"),
          ("ONLINE", "Online shop"))  # fmt: skip
TIERS = (
    TierSpec("SILVER", "Silver", rank=1, qualifying_points=1_000),
    TierSpec("GOLD", "Gold", rank=2, qualifying_points=5_000, discount_percent=5),
    TierSpec("PLATINUM", "Platinum", rank=3, qualifying_points=20_000, discount_percent=10),
)
ITEMS = 30
PURCHASES = 40
PURCHASE_TOTAL = "200.00"  # 200 points each at the base rate: 8,000 in all, Gold
CATEGORIES = ("coffee", "bakery", "merch", "travel", "beauty")

TYPENAME = "{ __typename }"
CATALOG = """
query CatalogPage {
  catalog(first: 20) {
    edges { node { id name pointsPrice memberPrice available category } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
MEMBER_PAGE = """
query MemberPage {
  me {
    displayName
    points { available expiring(withinDays: 30) { points expiresAt } }
    tier { name }
    ledger(first: 20) {
      edges { node { id kind points description createdAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
BRAND = "{ brand { name stores { name } } }"

CREATE_ITEM = """
mutation ($input: CreateCatalogItemInput!) {
  createCatalogItem(input: $input) { item { id } userErrors { code message } }
}
"""


def item_inputs(tier_ids: dict[str, str], now: datetime) -> list[dict[str, Any]]:
    """The catalog's 30 items, oldest first, of every kind and state a page shows."""
    inputs = []
    for number in range(ITEMS):
        spec: dict[str, Any] = {
            "sku": f"READ-{number:03}",
            "name": f"Item {number}",
            "kind": ("COUPON", "PHYSICAL", "CASH_VOUCHER")[number % 3],
            "category": CATEGORIES[number % len(CATEGORIES)],
            "pointsPrice": 100 + 37 * number,
            "description": "An item of the catalog page.",
        }
        if number % 7 == 3:
            spec["cashPrice"] = "19.90"
        if number % 4 == 1:
            spec["stock"] = 500
        if number == 5:
            spec["stock"] = 0  # sold out
        if number in (8, 17):
            spec["minTierId"] = tier_ids["PLATINUM"]  # not for a Gold member
        if number == 11:
            spec["minTierId"] = tier_ids["GOLD"]
        if number == 13:
            spec["availableFrom"] = (now + timedelta(days=3)).isoformat()
        if number == 19:
            spec["availableUntil"] = (now + timedelta(days=30)).isoformat()
        inputs.append({**spec, "idempotencyKey": f"item-{number}"})
    return inputs


async def call(client: httpx.AsyncClient, document: str, input: dict, token: str) -> dict:
    """A mutation as staff; its payload, checked for errors."""
    response = await client.post(
        "/graphql",
        json={"query": document, "variables": {"input": input}},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    if response.status_code != 200 or "errors" in body:
        raise RuntimeError(f"seeding failed: {response.status_code} {response.text}")
    (payload,) = body["data"].values()
    if payload["userErrors"]:
        raise RuntimeError(f"seeding refused: {payload['userErrors']}")
    return payload


async def seed_over_graphql(client: httpx.AsyncClient, admin: str, tier_ids: dict[str, str]) -> str:
    """The catalog, and a member with 40 purchases, as the brand's backend makes them; the
    member's global id."""
    for spec in item_inputs(tier_ids, datetime.now(UTC)):
        await call(client, CREATE_ITEM, spec, admin)
    registered = await call(
        client, REGISTER, {"displayName": "Lin Wei", "idempotencyKey": "member"}, admin
    )
    member_id = registered["member"]["id"]
    for number in range(PURCHASES):
        purchase = {
            "memberId": member_id,
            "orderRef": f"ORDER-{number:03}",
            "total": PURCHASE_TOTAL,
            "storeCode": STORES[number % 2][0] if number % 2 else None,
            "idempotencyKey": f"purchase-{number}",
        }
        await call(client, RECORD_PURCHASE, purchase, admin)
    return member_id


async def seed_brand(code: str) -> tuple[int, dict[str, str]]:
    """The brand with its stores and tiers (the ORM opened by the caller); its id, and its
    tiers' global ids by code."""
    brand = await create_brand(code, "Bench Coffee", earn_rate=Decimal(1))
    for store_code, name in STORES:
        await ensure_store(brand, store_code, name)
    tier_ids = {}
    for tier in TIERS:
        tier_ids[tier.code] = encode_id("Tier", (await ensure_tier(brand, tier)).id)
    return brand.id, tier_ids


# --- Scenarios, and what a right answer is ---------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    target: Target
    check: Callable[[dict], bool]  # of the answer's data


def catalog_check(member: bool) -> Callable[[dict], bool]:
    def check(data: dict) -> bool:
        nodes = [edge["node"] for edge in data["catalog"]["edges"]]
        prices = {node["memberPrice"] is None for node in nodes}
        unavailable = sum(not node["available"] for node in nodes)
        # Sold out, not started, and (for the Gold member) the two Platinum items.
        return len(nodes) == 20 and prices == {not member} and unavailable == (4 if member else 2)

    return check


def member_page_check(data: dict) -> bool:
    me = data["me"]
    return (
        me["tier"]["name"] == "Gold"
        and me["points"]["available"] == PURCHASES * 200
        and len(me["ledger"]["edges"]) == 20
    )


def brand_check(data: dict) -> bool:
    return len(data["brand"]["stores"]) == len(STORES)


def scenarios(url: str, brand_code: str, member_token: str) -> list[Scenario]:
    graphql = f"{url}/graphql"
    visitor = {**JSON_HEADERS, "X-Brand": brand_code}
    member = authorized(member_token)

    def target(query: str, headers: dict[str, str]) -> Target:
        return Target(graphql, graphql_body(query), headers)

    return [
        Scenario(f"`{TYPENAME}`", target(TYPENAME, JSON_HEADERS), lambda data: bool(data)),
        Scenario("catalog page, visitor (X-Brand)", target(CATALOG, visitor),
                 catalog_check(member=False)),
        Scenario("catalog page, MEMBER", target(CATALOG, member), catalog_check(member=True)),
        Scenario("member page, MEMBER", target(MEMBER_PAGE, member), member_page_check),
        Scenario("`brand { name stores { name } }`, visitor", target(BRAND, visitor),
                 brand_check),
    ]  # fmt: skip


async def checked(scenario: Scenario) -> None:
    answer = await probe(scenario.target)
    if not scenario.check(answer["data"]):
        raise RuntimeError(f"{scenario.name} answered wrongly: {answer}")


# --- The run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    seconds: float
    workers: int
    connections: int
    runs: int


async def measure(
    scenario: Scenario, url: str, db: asyncpg.Connection, options: Options
) -> MeasuredLoad:
    connections = options.connections
    await load(scenario.target, seconds=WARMUP_SECONDS, connections=connections)
    measured = await measured_load(
        scenario.target, url, db, seconds=options.seconds, connections=connections
    )
    await checked(scenario)  # still right after the load
    return measured


def row_of(name: str, measured: MeasuredLoad, baseline_rate: float) -> Row:
    result = measured.result
    cpu = cpu_ms(measured.app_cpu, measured.database_cpu, requests=result.requests)
    return load_row(name, result, ratio=result.rate / baseline_rate, cpu_ms=cpu)


def median_row(rows: list[Row]) -> Row:
    """Each figure's median over the runs (rates, latencies, ratios and CPU each on its own)."""

    def median(values: list[float]) -> float:
        return statistics.median(values)

    cpu = [row.cpu_ms for row in rows if row.cpu_ms is not None]
    return Row(
        rows[0].name,
        median([row.rate or 0.0 for row in rows]),
        median([row.p50_ms for row in rows]),
        median([row.p99_ms for row in rows]),
        sum(row.errors for row in rows),
        median([row.ratio or 0.0 for row in rows]),
        tuple(median(list(parts)) for parts in zip(*cpu, strict=True)) if cpu else None,
    )


async def main(options: Options) -> None:
    print(
        f"{options.workers} uvicorn workers, {options.connections} connections, "
        f"{options.seconds:g} s per scenario, {options.runs} run(s); {load_average()}"
    )
    runs: list[list[Row]] = []
    async with own_backends() as backends:
        brand_code = new_brand_code()
        async with database(backends.database_url):
            _, tier_ids = await seed_brand(brand_code)
        db = await asyncpg.connect(backends.database_url)
        try:
            # No job runs in the middle of a measure.
            env = backends.service_env(scheduler=False)
            secret = env["POINTSMALL_JWT_SECRET"]
            admin = brand_token(secret, brand_code, "ADMIN", "bench-admin")
            serving = serve(SERVICE_FACTORY, workers=options.workers, env=env)
            async with serving as url:
                async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                    member_id = await seed_over_graphql(client, admin, tier_ids)
                token = brand_token(secret, brand_code, "MEMBER", member_id)
                await db.execute("ANALYZE")
                chosen = scenarios(url, brand_code, token)
                for scenario in chosen:
                    await checked(scenario)
                for number in range(1, options.runs + 1):
                    print(f"\nrun {number} of {options.runs}; {load_average()}")
                    rows: list[Row] = []
                    baseline_rate = 0.0
                    for scenario in chosen:
                        measured = await measure(scenario, url, db, options)
                        baseline_rate = baseline_rate or measured.result.rate
                        rows.append(row_of(scenario.name, measured, baseline_rate))
                        print(describe_row(rows[-1]), flush=True)
                    runs.append(rows)
        finally:
            await db.close()

    medians = [median_row(list(rows)) for rows in zip(*runs, strict=True)]
    print(f"\nAt the end, {load_average()}.")
    print("wrk, the servers and PostgreSQL share this machine's cores.")
    if options.runs > 1:
        print("\nRatios to `{ __typename }`, run by run:")
        for rows in zip(*runs, strict=True):
            ratios = ", ".join(f"{row.ratio:.3f}" for row in rows)
            print(f"  {rows[0].name}: {ratios}")
    what = f"median of {options.runs} runs" if options.runs > 1 else "one run"
    print(
        f"\n{options.workers} uvicorn workers, {options.connections} connections, "
        f"{options.seconds:g} s each, {what}:\n"
    )
    print(rows_table(medians))


def cli() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reads",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_load_arguments(parser, seconds=8.0)
    parser.add_argument("--runs", type=int, default=1, help="runs of every scenario; medians")
    arguments = parser.parse_args()
    run(main(Options(**vars(arguments))))


if __name__ == "__main__":
    cli()
