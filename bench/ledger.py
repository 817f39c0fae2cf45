"""The ledger under load: recordPurchase through the whole stack against the same transaction on
bare asyncpg, and balance reads for a member whose ledger is a million rows long.

    python -m bench.ledger [--seconds 10] [--workers 2] [--connections 64] [--members 1000]
                           [--ledger-rows 1000000] [--expired-share 0.5]

Scenarios, in one run, on a database and Redis prefix of the run's own:
  baseline   the recordPurchase transaction as plain SQL through asyncpg pools, one process per
             uvicorn worker, each with the service's pool size, random members, no HTTP;
  purchase   recordPurchase over HTTP GraphQL (uvicorn workers), loaded by wrk with a Lua script
             that gives every request its own orderRef and idempotencyKey and a random member;
  balance    `member(id) { points { available version } }` (wrk, a fixed body) for a member
             with ~10 ledger rows and for one with --ledger-rows rows, seeded with SQL;
  one at a   recordPurchase sent one by one (a Python client) for those members, before and
  time       after the long ledger is seeded: what a purchase costs as the tables grow.
After each write scenario, domain.ledger.audit checks every member's books and the entries
written are counted against the responses.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg

from bench.backends import Backends, database, own_backends
from bench.bare_book import Book, append_entry, claim_key, close, open_book, store_outcome
from bench.baselines import BaselinePlan, baseline_load
from bench.checks import check_books, settled_count
from bench.cli import add_load_arguments, run
from bench.cpu import measured_load
from bench.graphql import authorized, graphql_body, purchase_body
from bench.load import WARMUP_SECONDS, Target, load, lua_string, one_at_a_time, probe
from bench.report import (
    Row,
    cpu_ms,
    describe_row,
    load_average,
    load_row,
    rows_table,
    sequential_row,
)
from bench.seed import (
    ANALYZE_LEDGER,
    brand_token,
    new_brand_code,
    seed_members,
    skip_foreign_key_checks,
)
from bench.servers import SERVICE_FACTORY, serve
from db.models import LedgerKind
from domain.brands import create_brand
from domain.ids import encode_id
from domain.ledger.book import INSERT_LOT_SQL
from domain.ledger.movements import INSERT_PURCHASE_SQL, LINK_LOTS_SQL
from domain.principal import Principal, Role
from domain.risk import MANY_PURCHASES_WITHIN
from domain.rules.config import LIVE_RULES_SQL, TIERS_SQL
from domain.rules.earning import FACTS_SQL
from domain.rules.engine import rate_text
from server.settings import Settings
from tests.support.factories import RECORD_PURCHASE

ADMIN = "bench-admin"  # the token's subject; idempotency records are scoped to "ADMIN:<it>"
TOTAL = Decimal("25.00")
EXPIRY = timedelta(days=731)  # about the brand's default: two years
SHORT_LEDGER_ROWS = 10
ONE_AT_A_TIME = 20  # requests per "one at a time" scenario


# --- Seeding, with SQL ----------------------------------------------------------------------

# Entry v of n, a minute apart up to now. The first `old` entries (a multiple of 10) are past
# history: nine EARNs of 1 point, then an EXPIRE of those 9; the rest are EARNs of 1 point
# whose lots expire in two years. So balance_after runs 1..9, 0, 1..9, 0, ..., then 1, 2, ...
SEED_ENTRIES = """
INSERT INTO ledger_entry (brand_id, member_id, kind, points, balance_after, version,
                          description, created_at, expires_at, breakdown, actor, shortfall)
SELECT $1, $2,
       CASE WHEN expiry THEN 'EXPIRE' ELSE 'EARN' END,
       CASE WHEN expiry THEN -9 ELSE 1 END,
       CASE WHEN v <= $4 THEN v % 10 ELSE v - $4 END,
       v,
       CASE WHEN expiry THEN '9 points expired' ELSE 'Seeded purchase' END,
       $5::timestamptz - ($3 - v + 1) * interval '1 minute',
       CASE WHEN expiry THEN NULL
            WHEN v <= $4 THEN $5::timestamptz - ($3 - (v + 10 - v % 10) + 1) * interval '1 minute'
            ELSE $5::timestamptz + interval '2 years' END,
       '[]', 'bench:seed', 0
FROM generate_series(1, $3) v, LATERAL (SELECT v <= $4 AND v % 10 = 0 AS expiry) e
"""
# One lot per EARN; those of the past history emptied by their EXPIRE entry.
SEED_LOTS = """
INSERT INTO lot (member_id, entry_id, points, remaining, earned_at, expires_at, expired_at)
SELECT member_id, id, 1, CASE WHEN version <= $2 THEN 0 ELSE 1 END, created_at, expires_at,
       CASE WHEN version <= $2 THEN expires_at END
FROM ledger_entry WHERE member_id = $1 AND kind = 'EARN'
"""
SEED_BALANCE = """
UPDATE balance SET available = $2, version = $3, lifetime_earned = $4 WHERE member_id = $1
"""
ENTRIES = "SELECT count(*) FROM ledger_entry"
RESET_LEDGER = """
TRUNCATE lot_consumption, lot, purchase, award, ledger_entry, idempotency_record CASCADE;
UPDATE balance SET available = 0, lifetime_earned = 0, lifetime_redeemed = 0, version = 0,
                   shortfall = 0;
"""


async def seed_ledger(
    db: asyncpg.Connection, brand_id: int, member_id: int, rows: int, expired_share: float
) -> tuple[int, int]:
    """Give a member with an empty ledger `rows` entries and their lots; (available, version).

    Foreign keys are not checked while seeding when the role may skip them (a superuser's
    session_replication_role): the rows are consistent by construction, and audited later.
    """
    old = int(rows * expired_share) // 10 * 10
    available, earned = rows - old, rows - old // 10
    async with db.transaction():
        await skip_foreign_key_checks(db)
        await db.execute(SEED_ENTRIES, brand_id, member_id, rows, old, datetime.now(UTC))
        await db.execute(SEED_LOTS, member_id, old)
        await db.execute(SEED_BALANCE, member_id, available, rows, earned)
    await db.execute(ANALYZE_LEDGER)
    return available, rows


# --- Baseline: the same transaction on bare asyncpg ------------------------------------------

# recordPurchase's statements are the domain's own, imported (bench/bare_book.py has the
# book's). The
# brand has its base tier and base rate rule only, and its members were referred by nobody (no
# referee award is looked up). The service keeps the brand's rules and tiers in-process until
# they change: the baseline reads the base rate once, before it starts, and no tiers, as every
# member is at the top one.


@dataclass(frozen=True)
class BaseRate:
    code: str
    rate: Decimal


async def assess(book: Book, base: BaseRate) -> tuple[int, list[dict]]:
    """assess_purchase: the member's facts (first purchase?, the day's earn for the cap); the
    points earned and the breakdown, by the base rate rule."""
    lately = book.now - MANY_PURCHASES_WITHIN
    await book.db.fetchrow(FACTS_SQL, book.member["id"], book.now.date(), lately)  # brand on UTC
    points = int(TOTAL * base.rate)
    description = f"{rate_text(base.rate)} on {TOTAL}"
    return points, [{"rule": base.code, "description": description, "points": points}]


async def credit(book: Book, points: int, breakdown: list[dict], ref: str) -> int:
    """MemberBook.credit of one lot: the balance, the EARN entry, its lot; the entry's id."""
    balance = book.balance
    balance["available"] += points
    balance["version"] += 1
    balance["lifetime_earned"] += points
    expires_at = book.now + EXPIRY
    entry_id = await append_entry(
        book, LedgerKind.EARN, points, "Purchase", expires_at=expires_at, breakdown=breakdown,
        order_ref=ref,
    )  # fmt: skip
    book.rollup.lot(expires_at, points)
    await book.db.execute(
        INSERT_LOT_SQL, book.member["id"], entry_id, None, points, book.now, expires_at, None
    )
    return entry_id


async def baseline_purchase(
    db: asyncpg.Connection, member_id: int, ref: str, *, brand_id: int, base: BaseRate
) -> None:
    """recordPurchase's statements, in the domain's order, in one transaction."""
    now = datetime.now(UTC)
    admin = Principal(Role.ADMIN, brand_id, "", ADMIN)
    payload = {"member": member_id, "order": ref, "total": str(TOTAL), "store": None}
    payload |= {"lines": [], "at": None}
    async with db.transaction():
        record_id = await claim_key(db, admin, "recordPurchase", ref, payload)
        book = await open_book(db, member_id, now, admin.idempotency_scope)
        points, breakdown = await assess(book, base)
        entry_id = await credit(book, points, breakdown, ref)
        purchase_id = await db.fetchval(
            INSERT_PURCHASE_SQL,
            *(brand_id, None, member_id, None, ref, TOTAL, now, now.date(), "{}", points),
            entry_id,
        )
        await db.execute(LINK_LOTS_SQL, entry_id, purchase_id)
        await close(book)
        outcome = {"entry_id": entry_id}
        await store_outcome(db, admin, record_id, "recordPurchase", payload, outcome)


# --- GraphQL ----------------------------------------------------------------------------------

# Every wrk thread numbers its requests; with the wrk run's run_id that makes each orderRef and
# idempotencyKey unique. The body is put together from the JSON around the varying values.
PURCHASE_SCRIPT = """
local members = {{{members}}}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end
function init(args)
  sent = 0
  math.randomseed(thread_id * 7919 + os.time())
end
function request()
  sent = sent + 1
  local ref = run_id .. "-" .. thread_id .. "-" .. sent
  local member = members[math.random(#members)]
  return wrk.format(nil, nil, nil, "{before_member}" .. member .. "{before_ref}" .. ref ..
    "{before_key}" .. ref .. "{after_key}")
end
"""


def purchase_target(url: str, headers: dict[str, str], member_gids: list[str]) -> Target:
    """recordPurchase for a random member, a new orderRef and idempotencyKey each time."""
    member, ref = "@member@", "@ref@"  # placeholders, split out of the JSON body
    template = json.dumps(
        {
            "query": RECORD_PURCHASE,
            "variables": {
                "input": {
                    "memberId": member,
                    "orderRef": ref,
                    "total": str(TOTAL),
                    "idempotencyKey": ref,
                }
            },
        }
    )
    before_member, rest = template.split(member)
    before_ref, before_key, after_key = rest.split(ref)
    parts = [before_member, before_ref, before_key, after_key]
    lua = dict(zip(("before_member", "before_ref", "before_key", "after_key"), parts, strict=True))
    script = PURCHASE_SCRIPT.format(
        members=", ".join(f'"{lua_string(gid.encode())}"' for gid in member_gids),
        **{name: lua_string(part.encode()) for name, part in lua.items()},
    )
    example = template.replace(member, member_gids[0]).replace(ref, "example")
    return Target(f"{url}/graphql", example.encode(), headers, script)


def balance_target(url: str, headers: dict[str, str], member_gid: str) -> Target:
    query = f'query {{ member(id: "{member_gid}") {{ points {{ available version }} }} }}'
    return Target(f"{url}/graphql", graphql_body(query), headers)


# --- The run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    seconds: float
    workers: int
    connections: int
    members: int
    ledger_rows: int
    expired_share: float


@dataclass
class LedgerBench:
    """One run's scenarios, sharing its database, brand, members and rows of figures."""

    options: Options
    backends: Backends
    db: asyncpg.Connection
    brand_id: int
    member_ids: list[int]
    rows: list[Row]

    def record(self, row: Row) -> None:
        self.rows.append(row)
        print(describe_row(row), flush=True)

    async def books(self) -> str:
        return await check_books(self.backends.database_url)

    async def baseline(self) -> Row:
        """(b) The transaction on asyncpg; then every ledger is emptied again."""
        options, pool_size = self.options, Settings().db_pool_max
        (rule,) = await self.db.fetch(LIVE_RULES_SQL, self.brand_id)
        if rule["kind"] != "BASE_RATE" or len(await self.db.fetch(TIERS_SQL, self.brand_id)) != 1:
            raise RuntimeError("the bench's brand has its base rate rule and base tier only")
        base = BaseRate(rule["code"], rule["rate"])
        plan = BaselinePlan(
            self.backends.database_url,
            functools.partial(baseline_purchase, brand_id=self.brand_id, base=base),
            self.member_ids,
            tasks=max(1, options.connections // options.workers),
            pool_size=pool_size,
            warmup=WARMUP_SECONDS,
            seconds=options.seconds,
        )
        runs = await baseline_load(plan, options.workers)
        result = runs.result
        name = f"baseline: the transaction on asyncpg, {options.workers} x {pool_size} conns"
        cpu = cpu_ms(runs.client_cpu, runs.database_cpu, requests=result.requests)
        self.record(load_row(name, result, ratio=1.0, cpu_ms=cpu))
        committed, written = runs.committed, await settled_count(self.db, ENTRIES)
        print(f"  {written:,} entries for {committed:,} commits (warm-up included); ", end="")
        print(f"{result.errors} failed; books {await self.books()}")
        if runs.first_error:
            print(f"  the first failure: {runs.first_error}")
        await self.db.execute(RESET_LEDGER)
        return self.rows[-1]

    async def purchases(self, url: str, headers: dict[str, str], base: Row) -> None:
        """(a) recordPurchase over GraphQL, loaded by wrk, with the entries it wrote counted."""
        gids = [encode_id("Member", pk) for pk in self.member_ids]
        target = purchase_target(url, headers, gids)
        connections = self.options.connections
        await load(target, seconds=WARMUP_SECONDS, connections=connections)
        before = await settled_count(self.db, ENTRIES)
        measured = await measured_load(
            target, url, self.db, seconds=self.options.seconds, connections=connections
        )
        result = measured.result
        written = await settled_count(self.db, ENTRIES) - before
        cpu = cpu_ms(measured.app_cpu, measured.database_cpu, requests=written)
        ratio = result.rate / (base.rate or 1)
        row = load_row("GraphQL recordPurchase (wrk)", result, ratio=ratio, cpu_ms=cpu)
        self.record(row)
        if base.cpu_ms:
            share = sum(base.cpu_ms) / sum(cpu)
            print(f"  CPU per purchase: the baseline's is {share:.3f} of this one's")
        print(f"  {measured.describe_cores()}")
        late = written - result.requests
        verdict = "" if 0 <= late <= self.options.connections else " MISMATCH: requests failed"
        print(
            f"  {written:,} entries for {result.requests:,} responses ({late:+,} finished after "
            f"wrk stopped){verdict}; {result.errors} HTTP errors; books {await self.books()}"
        )

    async def long_ledger(self, url: str, headers: dict[str, str]) -> None:
        """(c) Balance reads for a 10-row and a long ledger; purchases one at a time around it."""
        options = self.options
        first_id, short_id, long_id = await seed_members(self.db, self.brand_id, 3)
        seeded = {
            member_id: await seed_ledger(
                self.db, self.brand_id, member_id, SHORT_LEDGER_ROWS, options.expired_share
            )
            for member_id in (first_id, short_id)
        }
        short_gid, long_gid = encode_id("Member", short_id), encode_id("Member", long_id)
        first_gid = encode_id("Member", first_id)
        await self.one_at_a_time(url, headers, first_gid, f"{SHORT_LEDGER_ROWS}-row member")

        started = time.perf_counter()
        seeded[long_id] = await seed_ledger(
            self.db, self.brand_id, long_id, options.ledger_rows, options.expired_share
        )
        old = int(options.ledger_rows * options.expired_share) // 10 * 10
        print(
            f"  seeded {options.ledger_rows:,} entries and {options.ledger_rows - old // 10:,} "
            f"lots ({old - old // 10:,} of them expired) in {time.perf_counter() - started:.1f} s"
        )
        for member_id, gid in ((short_id, short_gid), (long_id, long_gid)):
            target = balance_target(url, headers, gid)
            points = (await probe(target))["data"]["member"]["points"]
            if (points["available"], points["version"]) != seeded[member_id]:
                raise RuntimeError(f"member {member_id} reads {points}, not {seeded[member_id]}")
            result = await load(target, seconds=options.seconds, connections=options.connections)
            name = f"balance query, {seeded[member_id][1]:,} ledger rows"
            self.record(load_row(name, result))

        await self.one_at_a_time(url, headers, short_gid, f"{SHORT_LEDGER_ROWS}-row member")
        await self.one_at_a_time(url, headers, long_gid, f"{options.ledger_rows:,}-row member")
        print(f"  books of every member: {await self.books()}")

    async def one_at_a_time(self, url: str, headers: dict[str, str], gid: str, who: str) -> None:
        lots = await self.db.fetchval("SELECT count(*) FROM lot")
        bodies = [
            purchase_body(gid, TOTAL, f"seq-{random.randrange(1 << 60):x}")
            for _ in range(ONE_AT_A_TIME)
        ]
        latencies = await one_at_a_time(f"{url}/graphql", bodies, headers)
        name = f"recordPurchase one at a time, {who}, {lots:,} lots"
        self.record(sequential_row(name, latencies))


async def main(options: Options) -> None:
    print(
        f"{options.workers} uvicorn workers, {options.connections} connections, "
        f"{options.seconds:g} s per scenario, {options.members:,} members; {load_average()}"
    )
    async with own_backends() as backends:
        brand_code = new_brand_code()
        async with database(backends.database_url):
            brand_id = (await create_brand(brand_code, "Bench Brand")).id
        db = await asyncpg.connect(backends.database_url)
        try:
            member_ids = await seed_members(db, brand_id, options.members)
            bench = LedgerBench(options, backends, db, brand_id, member_ids, [])
            base = await bench.baseline()

            # The expiry job would scan the lots in the middle of a measure: off.
            env = backends.service_env(scheduler=False)
            token = brand_token(env["POINTSMALL_JWT_SECRET"], brand_code, "ADMIN", ADMIN)
            headers = authorized(token)
            serving = serve(SERVICE_FACTORY, workers=options.workers, env=env)
            async with serving as url:
                await bench.purchases(url, headers, base)
                await bench.long_ledger(url, headers)
        finally:
            await db.close()

    print(f"\nAt the end, {load_average()}.")
    print(
        "wrk, the servers and PostgreSQL share this machine's cores; the 'one at a time' rows "
        f"are {ONE_AT_A_TIME} sequential requests from a Python client (httpx)."
    )
    print(
        f"\n{options.workers} uvicorn workers, {options.connections} connections, "
        f"{options.seconds:g} s each, {options.members:,} members; the long ledger is "
        f"{options.expired_share:.0%} expired history:\n"
    )
    print(rows_table(bench.rows))


def cli() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ledger",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_load_arguments(parser)
    parser.add_argument("--members", type=int, default=1000, help="members purchases go to")
    parser.add_argument(
        "--ledger-rows", type=int, default=1_000_000, help="ledger rows of the long member"
    )
    parser.add_argument(
        "--expired-share",
        type=float,
        default=0.5,
        help="share of the long ledger that is past, expired history (0 to 1)",
    )
    arguments = parser.parse_args()
    run(main(Options(**{k.replace("-", "_"): v for k, v in vars(arguments).items()})))


if __name__ == "__main__":
    cli()
