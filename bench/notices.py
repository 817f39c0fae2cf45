"""Member notices at scale: the points-expiring reminder job over 100,000 members, the gateway
delivery job posting their notices, and the inbox read under load.

    python -m bench.notices [--members 100000] [--tokens 2000] [--inbox 20]
                            [--seconds 10] [--workers 2] [--connections 64]

In one run, on a database and Redis prefix of the run's own, one brand (UTC, quiet hours off,
reminders 30 and 7 days before expiry) and --members members are seeded with SQL: each with
a phone, SMS consent, and one lot or two (every other member) expiring 1 to 28 days from now,
with their EARN entries and balance. The brand's SMS gateway is a local receiver in a uvicorn
process of its own (a bare ASGI app, below), registered before the job runs, as in production.

  reminders  domain.notices.reminders.send_reminders for the brand, timed end to end, in this
             process: members per second (target >= 2,000/s: one set-based statement per batch
             of members). Checked: one POINTS_EXPIRING notice and one SMS delivery per member.
  delivery   domain.notices.gateway.deliver_due_notices, timed until every delivery is posted:
             notices per second. Checked: the receiver got each notice's event id exactly once,
             and one post's signature verifies with the gateway's secret.
  inbox      `me { unreadNoticeCount notices(first: 20) ... }` over HTTP (uvicorn workers),
             loaded by wrk, each request with a random one of --tokens members' tokens (their
             inbox filled to --inbox notices first), beside `{ __typename }` on the same server
             in the same run: req/s, p50, p99, the ratio of rates and CPU per request.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from bench.backends import own_backends
from bench.cli import add_load_arguments, run
from bench.cpu import MeasuredLoad, backend_pids, cpu_seconds, cpu_used, measured_load
from bench.graphql import JSON_HEADERS, authorized, graphql_body
from bench.load import WARMUP_SECONDS, Target, load, lua_string, probe
from bench.report import cpu_ms, load_average
from bench.seed import ANALYZE_LEDGER, member_token, new_brand_code, seed_members
from bench.servers import SERVICE_FACTORY, serve, server_pids
from db.models import Brand, NoticeChannel
from domain.brands import create_brand
from domain.notices.gateway import deliver_due_notices, register_gateway
from domain.notices.reminders import send_reminders
from domain.principal import Principal, Role
from domain.runtime import Backends, WebhookPolicy, close_backends, open_backends
from domain.webhooks import sign

POINTS_PER_LOT = 500
INBOX = """
{ me { unreadNoticeCount notices(first: 20) { edges { node { id kind title text createdAt } } } } }
"""
TYPENAME = "{ __typename }"


# --- The gateway's side: a bare ASGI app in a uvicorn process of its own ---------------------


class GatewayReceiver:
    """Answers 200 at once to every post and keeps its event id; GET /received tells them,
    with the first post's signature headers and body (for the bench to verify)."""

    def __init__(self) -> None:
        self.event_ids: list[str] = []
        self.first: dict[str, str] | None = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["method"] == "POST":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            headers = {name.decode(): value.decode() for name, value in scope["headers"]}
            self.event_ids.append(headers["x-pointsmall-event-id"])
            if self.first is None:
                self.first = {**headers, "body": body.decode()}
            answer = b""
        elif scope["path"] == "/received":
            answer = json.dumps({"eventIds": self.event_ids, "first": self.first}).encode()
        else:  # /readyz, which bench.servers.serve waits for
            answer = b"{}"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def create_receiver() -> GatewayReceiver:
    """The factory uvicorn calls (`bench.notices:create_receiver`), with one worker: the ids
    it keeps are in that one process."""
    return GatewayReceiver()


# --- Seeding, with SQL -----------------------------------------------------------------------

# Each member's lot or two (every other member): the first expires 1 to 20 days from now, the
# second 8 days after it. Their EARN entries (versions 1 and 2) were made two years before, as
# the brand's rolling 24-month expiry has it; the balance sums them.
SEED_LOTS = """
WITH earned AS (
    SELECT m.id AS member_id, n AS version,
           now() + make_interval(days => 1 + m.id % 20 + 8 * (n - 1)) AS expires_at
    FROM unnest($2::int[]) AS m(id)
    CROSS JOIN LATERAL generate_series(1, 1 + m.id % 2) AS n
),
entries AS (
    INSERT INTO ledger_entry (brand_id, member_id, kind, points, balance_after, version,
                              description, created_at, expires_at, breakdown, actor, shortfall)
    SELECT $1, member_id, 'EARN', $3, $3 * version, version, 'Seeded points',
           expires_at - interval '2 years', expires_at, '[]', 'bench:seed', 0
    FROM earned
    RETURNING id, member_id, points, created_at, expires_at
)
INSERT INTO lot (member_id, entry_id, points, remaining, earned_at, expires_at)
SELECT member_id, id, points, points, created_at, expires_at FROM entries
"""
SEED_BALANCES = """
UPDATE balance SET available = $2 * (1 + member_id % 2),
                   lifetime_earned = $2 * (1 + member_id % 2), version = 1 + member_id % 2
WHERE member_id = ANY($1::int[])
"""
QUIET_HOURS_OFF = "UPDATE brand SET quiet_from_minute = 0, quiet_until_minute = 0 WHERE id = $1"
# Older notices filling a member's inbox to a full page, made before the reminder.
SEED_INBOX = """
INSERT INTO notice (brand_id, member_id, kind, dedupe_key, variables, marketing, in_inbox,
                    created_at)
SELECT $1, m.id, 'POINTS_EARNED', 'POINTS_EARNED:' || m.id || ':bench:' || n,
       jsonb_build_object('points', 10 * n, 'balance', 1000 + 10 * n, 'reason', 'Purchase'),
       false, true, now() - make_interval(days => n)
FROM unnest($2::int[]) AS m(id) CROSS JOIN generate_series(1, $3) AS n
"""


async def seed(db: asyncpg.Connection, brand_id: int, members: int) -> list[int]:
    """The brand's members, each with a phone, SMS consent and lots expiring within 30 days;
    the brand's quiet hours off."""
    async with db.transaction():
        member_ids = await seed_members(db, brand_id, members, sms=True)
        await db.execute(SEED_LOTS, brand_id, member_ids, POINTS_PER_LOT)
        await db.execute(SEED_BALANCES, member_ids, POINTS_PER_LOT)
        await db.execute(QUIET_HOURS_OFF, brand_id)
    await db.execute(f"ANALYZE member; {ANALYZE_LEDGER}")
    return member_ids


# --- Checks ----------------------------------------------------------------------------------

NOTICES_PER_MEMBER = """
SELECT count(*) AS notices, count(DISTINCT member_id) AS members FROM notice
WHERE brand_id = $1 AND kind = 'POINTS_EXPIRING'
"""
DELIVERIES = """
SELECT d.status, count(*) AS count FROM notice_delivery d
JOIN notice n ON n.id = d.notice_id WHERE n.brand_id = $1 GROUP BY d.status
"""
EVENT_IDS = """
SELECT 'ntc_' || d.notice_id || '_sms' AS event_id FROM notice_delivery d
JOIN notice n ON n.id = d.notice_id WHERE n.brand_id = $1
"""


async def deliveries_by_status(db: asyncpg.Connection, brand_id: int) -> dict[str, int]:
    return {row["status"]: row["count"] for row in await db.fetch(DELIVERIES, brand_id)}


def received_once(expected: set[str], event_ids: list[str]) -> str:
    """Whether each expected event id arrived exactly once, and nothing else did."""
    arrived = set(event_ids)
    duplicates = len(event_ids) - len(arrived)
    missing, unknown = len(expected - arrived), len(arrived - expected)
    verdict = "each once" if not (duplicates or missing or unknown) else "MISMATCH"
    return (
        f"{len(event_ids):,} posts for {len(expected):,} deliveries: {duplicates:,} repeated, "
        f"{missing:,} missing, {unknown:,} unknown: {verdict}"
    )


def signature_check(first: dict[str, str] | None, secret: str) -> str:
    if first is None:
        return "no post to verify"
    expected = sign(secret, first["x-pointsmall-timestamp"], first["body"].encode())
    return "signature verifies" if first["x-pointsmall-signature"] == expected else "BAD SIGNATURE"


# --- Load on the inbox -----------------------------------------------------------------------

# A random member's token in each request; answers counted: ok (the inbox, no errors) or not,
# with the first that was not ok kept as a sample.
INBOX_SCRIPT = """
local tokens = {{{tokens}}}
local threads = {{}}
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end
function init(args)
  ok, failed, sample = 0, 0, ""
  math.randomseed(thread_id * 7919 + os.time())
  member_headers = {{}}
  for i, token in ipairs(tokens) do
    member_headers[i] = {{["Content-Type"] = "application/json",
                         ["Authorization"] = "Bearer " .. token}}
  end
end
function request()
  return wrk.format(nil, nil, member_headers[math.random(#member_headers)])
end
function response(status, headers, body)
  if status == 200 and body:find('"unreadNoticeCount":', 1, true)
      and not body:find('"errors":', 1, true) then
    ok = ok + 1
    return
  end
  failed = failed + 1
  if sample == "" then sample = status .. " " .. body:sub(1, 400) end
end
function report()
  local ok_total, failed_total, note = 0, 0, ""
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    failed_total = failed_total + thread:get("failed")
    if note == "" then note = thread:get("sample") end
  end
  io.write(string.format("BENCH_COUNT ok=%d\\nBENCH_COUNT failed=%d\\n", ok_total, failed_total))
  if note ~= "" then io.write("BENCH_NOTE " .. (note:gsub("\\n", " ")) .. "\\n") end
end
"""


def inbox_target(url: str, tokens: list[str]) -> Target:
    script = INBOX_SCRIPT.format(
        tokens=", ".join(f'"{lua_string(token.encode())}"' for token in tokens)
    )
    return Target(f"{url}/graphql", graphql_body(INBOX), authorized(tokens[0]), script)


# --- The run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    members: int
    tokens: int
    inbox: int
    seconds: float
    workers: int
    connections: int


@dataclass(frozen=True)
class Figure:
    """One line of the table: a job's rate, or a load's rate and latencies."""

    name: str
    rate: float
    unit: str
    p50_ms: float | None = None
    p99_ms: float | None = None
    ratio: float | None = None
    note: str = ""


def describe(figure: Figure) -> str:
    latency = (
        f"p50 {figure.p50_ms:7.2f} ms  p99 {figure.p99_ms:7.2f} ms"
        if figure.p99_ms is not None
        else " " * 34
    )
    ratio = f"  x{figure.ratio:.3f}" if figure.ratio is not None else ""
    return (
        f"{figure.name:<44} {figure.rate:>9,.0f} {figure.unit:<10} {latency}{ratio}  {figure.note}"
    )


def table(figures: list[Figure]) -> str:
    lines = [
        "| measure | rate | p50 ms | p99 ms | ratio | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for figure in figures:
        p50 = f"{figure.p50_ms:.1f}" if figure.p50_ms is not None else "-"
        p99 = f"{figure.p99_ms:.1f}" if figure.p99_ms is not None else "-"
        ratio = f"{figure.ratio:.3f}" if figure.ratio is not None else "-"
        lines.append(
            f"| {figure.name} | {figure.rate:,.0f} {figure.unit} | {p50} | {p99} | {ratio} "
            f"| {figure.note} |"
        )
    return "\n".join(lines)


@dataclass
class NoticesBench:
    """One run's measures, sharing its brand, its members and the table's figures."""

    options: Options
    rt: Backends
    db: asyncpg.Connection
    brand: Brand
    figures: list[Figure]

    def record(self, figure: Figure) -> None:
        self.figures.append(figure)
        print(describe(figure), flush=True)

    async def database_cpu(self) -> dict[int, float]:
        return cpu_seconds(await backend_pids(self.db))

    async def reminders(self, members: int) -> None:
        """The job over every member, timed; one POINTS_EXPIRING notice per member."""
        database_cpu, own_cpu = await self.database_cpu(), time.process_time()
        started = time.perf_counter()
        told = await send_reminders(self.rt, brand_code=self.brand.code)
        seconds = time.perf_counter() - started
        own_cpu = time.process_time() - own_cpu
        database_cpu = cpu_used(database_cpu, await self.database_cpu())
        note = (
            f"{members:,} members in {seconds:.1f} s; CPU: PostgreSQL {database_cpu:.1f} s, "
            f"this process {own_cpu:.1f} s"
        )
        self.record(Figure("reminder job (send_reminders)", members / seconds, "members/s",
                           note=note))  # fmt: skip
        counted = await self.db.fetchrow(NOTICES_PER_MEMBER, self.brand.id)
        deliveries = await deliveries_by_status(self.db, self.brand.id)
        each = counted["notices"] == counted["members"] == members == told
        print(
            f"  {told:,} told; {counted['notices']:,} POINTS_EXPIRING notices for "
            f"{counted['members']:,} members: {'one each' if each else 'MISMATCH'}; "
            f"SMS deliveries {deliveries}"
        )

    async def delivery(self, receiver_url: str, secret: str) -> None:
        """The delivery job until every delivery is posted, timed; each received once."""
        pending = (await deliveries_by_status(self.db, self.brand.id)).get("PENDING", 0)
        receiver_pids = server_pids(receiver_url)
        database_cpu, own_cpu = await self.database_cpu(), time.process_time()
        receiver_cpu = cpu_seconds(receiver_pids)
        started = time.perf_counter()
        delivered = await deliver_due_notices(self.rt)
        seconds = time.perf_counter() - started
        own_cpu = time.process_time() - own_cpu
        database_cpu = cpu_used(database_cpu, await self.database_cpu())
        receiver_cpu = cpu_used(receiver_cpu, cpu_seconds(receiver_pids))
        note = (
            f"{delivered:,} of {pending:,} in {seconds:.1f} s; CPU: this process "
            f"{own_cpu:.1f} s, PostgreSQL {database_cpu:.1f} s, receiver {receiver_cpu:.1f} s"
        )
        self.record(Figure("gateway delivery (deliver_due_notices, SMS)", delivered / seconds,
                           "notices/s", note=note))  # fmt: skip
        async with httpx.AsyncClient(timeout=60) as client:
            received = (await client.get(f"{receiver_url}/received")).json()
        expected = {row["event_id"] for row in await self.db.fetch(EVENT_IDS, self.brand.id)}
        print(
            f"  deliveries {await deliveries_by_status(self.db, self.brand.id)}; "
            f"{received_once(expected, received['eventIds'])}; "
            f"{signature_check(received['first'], secret)}"
        )

    async def inbox(self, url: str, tokens: list[str]) -> None:
        """The inbox query under load beside `{ __typename }`, on the same server."""
        options = self.options
        measure = {"seconds": options.seconds, "connections": options.connections}
        typename = Target(f"{url}/graphql", graphql_body(TYPENAME), JSON_HEADERS)
        await probe(typename)
        await load(typename, seconds=WARMUP_SECONDS, connections=options.connections)
        base = await measured_load(typename, url, self.db, **measure)
        self.record(self.load_figure(f"GraphQL {TYPENAME} (wrk)", base, base))

        target = inbox_target(url, tokens)
        me = (await probe(target))["data"]["me"]
        kinds = {edge["node"]["kind"] for edge in me["notices"]["edges"]}
        page = len(me["notices"]["edges"])
        if (me["unreadNoticeCount"], page) != (options.inbox, min(options.inbox, 20)) or (
            "POINTS_EXPIRING" not in kinds
        ):
            raise RuntimeError(f"the inbox is not as seeded: {me}")
        await load(target, seconds=WARMUP_SECONDS, connections=options.connections)
        measured = await measured_load(target, url, self.db, **measure)
        self.record(self.load_figure("GraphQL me { unreadNoticeCount notices(first: 20) } (wrk)",
                                     measured, base))  # fmt: skip
        counts = measured.result.counts
        print(f"  answers: {counts['ok']:,} ok, {counts['failed']:,} failed")
        print(f"  {measured.describe_cores()}")
        for note in measured.result.notes:
            print(f"  e.g. {note}")

    @staticmethod
    def load_figure(name: str, measured: MeasuredLoad, base: MeasuredLoad) -> Figure:
        result = measured.result
        app_ms, database_ms = cpu_ms(
            measured.app_cpu, measured.database_cpu, requests=result.requests
        )
        errors = f"{result.errors:,} ERRORS; " if result.errors else ""
        note = f"{errors}CPU/req {app_ms:.2f} ms app + {database_ms:.2f} ms PostgreSQL"
        return Figure(name, result.rate, "req/s", result.p50_ms, result.p99_ms,
                      result.rate / base.result.rate, note)  # fmt: skip


async def main(options: Options) -> None:
    print(
        f"{options.members:,} members; {options.workers} uvicorn workers, {options.connections} "
        f"connections, {options.seconds:g} s per load; {load_average()}"
    )
    async with own_backends() as backends:
        # Gateways on this machine: plain HTTP to a loopback address, as tests allow.
        rt = await open_backends(
            backends.database_url,
            backends.redis_url,
            backends.redis_prefix,
            webhooks=WebhookPolicy(require_https=False, allow_private=True),
        )
        db = await asyncpg.connect(backends.database_url)
        try:
            brand_code = new_brand_code()
            brand = await create_brand(brand_code, "Bench Brand")
            started = time.perf_counter()
            member_ids = await seed(db, brand.id, options.members)
            lots = await db.fetchval("SELECT count(*) FROM lot")
            print(f"  seeded {len(member_ids):,} members and {lots:,} lots in "
                  f"{time.perf_counter() - started:.1f} s")  # fmt: skip
            bench = NoticesBench(options, rt, db, brand, [])

            async with serve("bench.notices:create_receiver", workers=1) as receiver:
                admin = Principal(Role.ADMIN, brand.id, brand_code, "bench-admin")
                _, secret = await register_gateway(
                    rt, admin, NoticeChannel.SMS, f"{receiver}/gateway"
                )
                assert secret is not None
                await bench.reminders(len(member_ids))
                await bench.delivery(receiver, secret)

            loaded = random.sample(member_ids, min(options.tokens, len(member_ids)))
            if options.inbox > 1:
                await db.execute(SEED_INBOX, brand.id, loaded, options.inbox - 1)
                await db.execute("ANALYZE notice")
            # The expiry job would scan the lots in the middle of a measure: off.
            env = backends.service_env(scheduler=False)
            secret = env["POINTSMALL_JWT_SECRET"]
            tokens = [member_token(secret, brand_code, pk) for pk in loaded]
            serving = serve(SERVICE_FACTORY, workers=options.workers, env=env)
            async with serving as url:
                await bench.inbox(url, tokens)
        finally:
            await db.close()
            await close_backends(rt)

    print(f"\nAt the end, {load_average()}.")
    print(
        "The jobs run in this process; wrk, the servers and PostgreSQL share the machine's cores."
    )
    print(
        f"\n{options.members:,} members; the inbox loaded with {len(tokens):,} members' tokens, "
        f"{options.inbox} notices each; {options.workers} uvicorn workers, "
        f"{options.connections} connections, {options.seconds:g} s:\n"
    )
    print(table(bench.figures))


def cli() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.notices",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_load_arguments(parser)
    parser.add_argument("--members", type=int, default=100_000, help="members with lots expiring")
    parser.add_argument("--tokens", type=int, default=2000, help="members whose inbox is loaded")
    parser.add_argument(
        "--inbox", type=int, default=20, help="notices in each loaded member's inbox (>= 1)"
    )
    arguments = parser.parse_args()
    run(main(Options(**vars(arguments))))


if __name__ == "__main__":
    cli()
