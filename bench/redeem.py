"""Redemptions under load: the `redeem` mutation through the whole stack against the same
transaction on bare asyncpg, for an item with unlimited stock and one with a limited stock.

    python -m bench.redeem [--seconds 10] [--workers 2] [--connections 64] [--members 1000]

Two items of the brand, both points-only PARTNER_OFFERs (a coupon a unit, no address):
  unlimited  stock null; its stock update still runs (it counts the item's redemptions);
  limited    a large limited stock and a per-member limit, so the conditional stock update
             takes stock and the member's earlier redemptions of the item are summed.
For each item, in one run, on a database and Redis prefix of the run's own:
  baseline   redeem's transaction as plain SQL through asyncpg pools, one process per uvicorn
             worker, each with the service's pool size, random members, no HTTP;
  GraphQL    `redeem` over HTTP (uvicorn workers), loaded by wrk with a Lua script that gives
             every request its own idempotencyKey and a random member's MEMBER token, and
             counts the answers: redeemed, refused (userErrors) and failed.
Members are seeded with SQL, each with one lot large enough for the whole run. After each
scenario, domain.ledger.audit checks every member's books, the redemptions written are counted
against the successful answers, and each item's stock and redeemed count against its
redemptions.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg

from bench.backends import Backends, database, own_backends
from bench.bare_book import (
    INSERT_REDEMPTION,
    claim_key,
    close,
    committed_with,
    debit,
    issue_coupon,
    open_book,
    store_outcome,
    tell_redeemed,
)
from bench.baselines import BaselinePlan, Refused, baseline_load
from bench.checks import check_books, settled_count
from bench.cli import add_load_arguments, run
from bench.cpu import measured_load
from bench.graphql import authorized
from bench.load import WARMUP_SECONDS, LoadResult, Target, load, lua_string, probe
from bench.report import Row, cpu_ms, describe_row, load_average, load_row, rows_table
from bench.seed import member_token, new_brand_code, seed_members, seed_points
from bench.servers import SERVICE_FACTORY, serve, server_log
from domain.brands import create_brand
from domain.catalog.items import ItemKind, ItemSpec, create_item, member_price
from domain.catalog.redemptions import REDEEMED_BEFORE_SQL, TAKE_STOCK_SQL
from domain.ids import encode_id
from domain.principal import Principal, Role
from domain.rules.config import TIERS_SQL
from server.settings import Settings

PRICE = 10  # points per unit; the base tier has no discount
QUANTITY = 1
SEED_POINTS = 100_000_000  # each member's one lot: ten million redemptions' worth
LIMITED_STOCK = 10_000_000  # the most an item may hold
PER_MEMBER_LIMIT = 1_000  # the highest limit an item may set
REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) {
    redemption { id status pointsSpent }
    member { points { available version } }
    userErrors { field message code }
  }
}
"""


# --- Checks, with SQL ------------------------------------------------------------------------

REDEMPTIONS = "SELECT count(*) FROM redemption WHERE item_id = $1"
ITEM_COUNTS = """
SELECT i.stock, i.redeemed_count,
       (SELECT COALESCE(SUM(quantity), 0) FROM redemption r
        WHERE r.item_id = i.id AND r.status <> 'CANCELLED') AS units
FROM catalog_item i WHERE i.id = $1
"""


@dataclass(frozen=True)
class Item:
    id: int
    label: str  # for the figures
    stock: int | None

    @property
    def gid(self) -> str:
        return encode_id("CatalogItem", self.id)


async def create_items(brand_id: int, brand_code: str) -> list[Item]:
    """The unlimited and the limited item, made by the brand's admin (ORM opened by caller)."""
    admin = Principal(Role.ADMIN, brand_id, brand_code, "bench-admin")
    now = datetime.now(UTC)
    specs = {
        "unlimited stock": ItemSpec("BENCH-UNLIMITED", "Bench offer", ItemKind.PARTNER_OFFER,
                                    "bench", PRICE),
        f"stock {LIMITED_STOCK:,}, {PER_MEMBER_LIMIT:,} per member": ItemSpec(
            "BENCH-LIMITED", "Bench limited offer", ItemKind.PARTNER_OFFER, "bench", PRICE,
            stock=LIMITED_STOCK, per_member_limit=PER_MEMBER_LIMIT),
    }  # fmt: skip
    return [
        Item((await create_item(admin, spec, now)).id, label, spec.stock)
        for label, spec in specs.items()
    ]


async def stock_check(db: asyncpg.Connection, item: Item) -> str:
    """Whether the item's stock and redeemed count agree with its redemptions' units."""
    row = await db.fetchrow(ITEM_COUNTS, item.id)
    units = row["units"]
    expected_stock = None if item.stock is None else item.stock - units
    stock = "unlimited" if row["stock"] is None else f"{row['stock']:,}"
    agree = row["stock"] == expected_stock and row["redeemed_count"] == units
    verdict = "agree" if agree else "MISMATCH"
    return f"stock {stock}, redeemed count {row['redeemed_count']:,}, {units:,} units: {verdict}"


# --- Baseline: the same transaction on bare asyncpg ------------------------------------------

# The statements redeem sends, in its order (bench/bare_book.py has those of every movement).
# REDEEMED_BEFORE_SQL and TAKE_STOCK_SQL are the domain's own; the item is read as the ORM's
# get() reads it; the member's tier comes from the brand's tiers, which the service keeps
# in-process.
ITEM = "SELECT * FROM catalog_item WHERE id = $1 AND brand_id = $2 LIMIT 2"


async def baseline_redeem(
    db: asyncpg.Connection,
    member_id: int,
    key: str,
    *,
    brand_id: int,
    item_id: int,
    discount_percent: int,
) -> None:
    """redeem's statements, in the domain's order, in one transaction: the item's stock is
    taken last, after the debit, the redemption and its coupon, with the COMMIT in one message."""
    now = datetime.now(UTC)
    member = Principal(Role.MEMBER, brand_id, "", encode_id("Member", member_id), member_id)
    payload = {"item": item_id, "quantity": QUANTITY, "address": None}
    async with committed_with(db) as last:
        record_id = await claim_key(db, member, "redeem", key, payload)
        book = await open_book(db, member_id, now, member.idempotency_scope)
        item = await db.fetchrow(ITEM, item_id, brand_id)
        if item["per_member_limit"] is not None:
            before = await db.fetchval(REDEEMED_BEFORE_SQL, member_id, item_id)
            if before + QUANTITY > item["per_member_limit"]:
                raise Refused("LIMIT_REACHED")
        points = member_price(item["points_price"], discount_percent) * QUANTITY
        if book.balance["available"] < points:
            raise Refused("INSUFFICIENT_POINTS")
        entry_id = await debit(book, points, f"Redeemed {QUANTITY} x {item['name']}")
        redemption_id = await db.fetchval(
            INSERT_REDEMPTION,
            *(None, QUANTITY, points, Decimal("0.00"), "CONFIRMED", None, None, None, "[]"),
            *(None, now, None, None, None, None, now, brand_id, None, item_id, member_id),
            entry_id,
        )
        await issue_coupon(db, item, redemption_id, now)
        tell_redeemed(book, redemption_id, QUANTITY, points, item["name"])
        await close(book)
        outcome = {"redemption_id": redemption_id, "entry_id": entry_id}
        await store_outcome(db, member, record_id, "redeem", payload, outcome)
        last.append(TAKE_STOCK_SQL.format(item_id=item_id, quantity=QUANTITY))


# --- GraphQL ----------------------------------------------------------------------------------

# Every wrk thread numbers its requests; with the wrk run's run_id that makes each
# idempotencyKey unique. A random member's token goes in Authorization. Answers are counted:
# ok (userErrors empty, no errors), refused (a user error) and failed (anything else), with
# the first answer that was not ok kept as a sample. The service writes compact JSON.
REDEEM_SCRIPT = """
local tokens = {{{tokens}}}
local threads = {{}}
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end
function init(args)
  sent, ok, refused, failed, sample = 0, 0, 0, 0, ""
  math.randomseed(thread_id * 7919 + os.time())
  member_headers = {{}}
  for i, token in ipairs(tokens) do
    member_headers[i] = {{["Content-Type"] = "application/json",
                         ["Authorization"] = "Bearer " .. token}}
  end
end
function request()
  sent = sent + 1
  local key = run_id .. "-" .. thread_id .. "-" .. sent
  return wrk.format(nil, nil, member_headers[math.random(#member_headers)],
    "{before_key}" .. key .. "{after_key}")
end
function response(status, headers, body)
  if status == 200 and body:find('"userErrors":[]', 1, true)
      and not body:find('"errors":', 1, true) then
    ok = ok + 1
    return
  end
  if status == 200 and body:find('"userErrors":[{{', 1, true) then
    refused = refused + 1
  else
    failed = failed + 1
  end
  if sample == "" then sample = status .. " " .. body:sub(1, 400) end
end
function report()
  local counts = {{ok = 0, refused = 0, failed = 0}}
  local note = ""
  for _, thread in ipairs(threads) do
    for name, count in pairs(counts) do counts[name] = count + thread:get(name) end
    if note == "" then note = thread:get("sample") end
  end
  for name, count in pairs(counts) do
    io.write(string.format("BENCH_COUNT %s=%d\\n", name, count))
  end
  if note ~= "" then io.write("BENCH_NOTE " .. (note:gsub("\\n", " ")) .. "\\n") end
end
"""


def redeem_target(url: str, item: Item, tokens: list[str]) -> Target:
    """redeem of one unit of the item by a random member, a new idempotencyKey each time."""
    key = "@key@"  # a placeholder, split out of the JSON body
    variables = {"input": {"itemId": item.gid, "quantity": QUANTITY, "idempotencyKey": key}}
    template = json.dumps({"query": REDEEM, "variables": variables})
    before_key, after_key = template.split(key)
    script = REDEEM_SCRIPT.format(
        tokens=", ".join(f'"{lua_string(token.encode())}"' for token in tokens),
        before_key=lua_string(before_key.encode()),
        after_key=lua_string(after_key.encode()),
    )
    example = template.replace(key, f"probe-{item.id}-{random.randrange(1 << 60):x}")
    return Target(f"{url}/graphql", example.encode(), authorized(tokens[0]), script)


def answers(result: LoadResult) -> str:
    """What the wrk script counted, and a sample of an answer that was not ok."""
    counts = result.counts
    text = f"{counts['ok']:,} redeemed, {counts['refused']:,} refused, {counts['failed']:,} failed"
    return text + "".join(f"\n  e.g. {note}" for note in result.notes)


# --- The run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    seconds: float
    workers: int
    connections: int
    members: int


@dataclass
class RedeemBench:
    """One run's scenarios, sharing its database, brand, members and rows of figures."""

    options: Options
    backends: Backends
    db: asyncpg.Connection
    brand_id: int
    member_ids: list[int]
    rows: list[Row]

    def record(self, row: Row) -> Row:
        self.rows.append(row)
        print(describe_row(row), flush=True)
        return row

    async def checks(self, item: Item) -> str:
        books = await check_books(self.backends.database_url)
        return f"books {books}; {await stock_check(self.db, item)}"

    async def baseline(self, item: Item) -> Row:
        """redeem's transaction on asyncpg pools, for random members."""
        options, pool_size = self.options, Settings().db_pool_max
        # The service keeps the brand's tiers in-process: the baseline reads them once too.
        (tier,) = await self.db.fetch(TIERS_SQL, self.brand_id)
        redeem = functools.partial(
            baseline_redeem,
            brand_id=self.brand_id,
            item_id=item.id,
            discount_percent=tier["discount_percent"],
        )
        plan = BaselinePlan(
            self.backends.database_url,
            redeem,
            self.member_ids,
            tasks=max(1, options.connections // options.workers),
            pool_size=pool_size,
            warmup=WARMUP_SECONDS,
            seconds=options.seconds,
        )
        before = await self.db.fetchval(REDEMPTIONS, item.id)
        runs = await baseline_load(plan, options.workers)
        result = runs.result
        name = f"baseline: asyncpg, {options.workers} x {pool_size} conns, {item.label}"
        cpu = cpu_ms(runs.client_cpu, runs.database_cpu, requests=result.requests)
        row = self.record(load_row(name, result, ratio=1.0, cpu_ms=cpu))
        written = await settled_count(self.db, REDEMPTIONS, item.id) - before
        verdict = "" if written == runs.committed else " MISMATCH"
        print(
            f"  {written:,} redemptions for {runs.committed:,} commits (warm-up included)"
            f"{verdict}; {result.errors:,} failed; {await self.checks(item)}"
        )
        if runs.first_error:
            print(f"  the first failure: {runs.first_error}")
        return row

    async def graphql(self, url: str, item: Item, tokens: list[str], base: Row) -> None:
        """redeem over GraphQL, loaded by wrk, with the redemptions it wrote counted."""
        target = redeem_target(url, item, tokens)
        try:
            payload = (await probe(target))["data"]["redeem"]
        except RuntimeError as failure:
            log = server_log(url)
            raise RuntimeError(f"{failure}\nthe server's log ends:\n{log}") from None
        if payload["userErrors"]:
            raise RuntimeError(f"redeem refused: {payload['userErrors']}")
        connections = self.options.connections
        await load(target, seconds=WARMUP_SECONDS, connections=connections)
        before = await settled_count(self.db, REDEMPTIONS, item.id)
        measured = await measured_load(
            target, url, self.db, seconds=self.options.seconds, connections=connections
        )
        result = measured.result
        written = await settled_count(self.db, REDEMPTIONS, item.id) - before
        cpu = cpu_ms(measured.app_cpu, measured.database_cpu, requests=written)
        name = f"GraphQL redeem (wrk), {item.label}"
        ratio = result.rate / (base.rate or 1)
        self.record(load_row(name, result, ratio=ratio, cpu_ms=cpu))
        if base.cpu_ms:
            share = sum(base.cpu_ms) / sum(cpu)
            print(f"  CPU per redemption: the baseline's is {share:.3f} of this one's")
        print(f"  {measured.describe_cores()}")
        print(f"  answers: {answers(result)}")
        late = written - result.counts["ok"]
        verdict = "" if 0 <= late <= connections else " MISMATCH"
        print(
            f"  {written:,} redemptions for {result.counts['ok']:,} ok answers ({late:+,} "
            f"finished after wrk stopped){verdict}; {result.errors:,} HTTP errors; "
            f"{await self.checks(item)}"
        )


async def main(options: Options) -> None:
    print(
        f"{options.workers} uvicorn workers, {options.connections} connections, "
        f"{options.seconds:g} s per scenario, {options.members:,} members; "
        f"{load_average()}"
    )
    async with own_backends() as backends:
        brand_code = new_brand_code()
        async with database(backends.database_url):
            brand_id = (await create_brand(brand_code, "Bench Brand")).id
            items = await create_items(brand_id, brand_code)
        db = await asyncpg.connect(backends.database_url)
        try:
            member_ids = await seed_members(db, brand_id, options.members)
            await seed_points(db, brand_id, member_ids, SEED_POINTS)
            bench = RedeemBench(options, backends, db, brand_id, member_ids, [])

            # The expiry job would scan the lots in the middle of a measure: off.
            env = backends.service_env(scheduler=False)
            secret = env["POINTSMALL_JWT_SECRET"]
            tokens = [member_token(secret, brand_code, pk) for pk in member_ids]
            serving = serve(SERVICE_FACTORY, workers=options.workers, env=env)
            async with serving as url:
                for item in items:
                    base = await bench.baseline(item)
                    await bench.graphql(url, item, tokens, base)
        finally:
            await db.close()

    print(f"\nAt the end, {load_average()}.")
    print("wrk, the servers, the baseline's processes and PostgreSQL share this machine's cores.")
    print(
        f"\n{options.workers} uvicorn workers, {options.connections} connections, "
        f"{options.seconds:g} s each, {options.members:,} members, {QUANTITY} unit of "
        f"{PRICE} points a redemption:\n"
    )
    print(rows_table(bench.rows))


def cli() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.redeem",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_load_arguments(parser)
    parser.add_argument(
        "--members",
        type=int,
        default=1000,
        help=f"members who redeem (the limited item allows {PER_MEMBER_LIMIT:,} each)",
    )
    arguments = parser.parse_args()
    run(main(Options(**vars(arguments))))


if __name__ == "__main__":
    cli()
