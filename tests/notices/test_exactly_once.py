"""Exactly once: a notice's key (member, kind, subject, threshold) is unique, so the reminder
job run by two processes at once, killed midway and rerun, or run again, a retried movement
and two delivery runs at once each tell and post a thing once; a rolled-back change tells
nothing, and a delivery whose worker died is posted by a later run under the same event id."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from tortoise.transactions import in_transaction

from db.models import DeliveryStatus, Notice, NoticeDelivery, NoticeKind
from domain.notices.gateway import CLAIM_SQL, deliver_due_notices
from domain.notices.outbox import NoticeDraft, record
from domain.notices.reminders import MEMBERS_PER_BATCH, send_reminders
from domain.webhooks import CLAIM_FOR, claim_due
from tests.support.commands import POINTSMALL
from tests.support.factories import RECORD_PURCHASE, key, unique_code
from tests.support.ledger import pk
from tests.support.live import service_environment
from tests.support.receiver import Receiver

THRESHOLDS = (30, 7)  # days before expiry: a brand's default expiry_reminder_days
TWO_BATCHES = MEMBERS_PER_BATCH + 1000
DEADLINE = 30  # seconds to wait for a state another process or task reaches

GATEWAY = """
mutation ($input: RegisterNoticeGatewayInput!) {
  registerNoticeGateway(input: $input) { gateway { channel } userErrors { code } }
}
"""
CREATE_ITEM = """
mutation ($input: CreateCatalogItemInput!) {
  createCatalogItem(input: $input) { item { id } userErrors { code } }
}
"""
REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) { redemption { id } userErrors { code field } }
}
"""
INBOX = "{ me { notices(first: 10) { totalCount edges { node { kind } } } } }"


async def until(reached: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await reached():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.05)


# --- Members with lots expiring soon, seeded with SQL ---------------------------------------

SEED_MEMBERS = """
INSERT INTO member (brand_id, display_name, referral_code, member_code, status, marketing_email,
                    marketing_sms, marketing_wechat, marketing_push, tier_id, joined_at)
SELECT $1, 'Member ' || i, 'R' || i, 'M' || i, 'ACTIVE', false, false, false, false,
       (SELECT id FROM tier WHERE brand_id = $1 ORDER BY rank LIMIT 1), $2
FROM generate_series(1, $3) i
RETURNING id
"""
SEED_ENTRIES = """
INSERT INTO ledger_entry (brand_id, member_id, kind, points, balance_after, version,
                          description, created_at, breakdown, actor, shortfall)
SELECT $1, id, 'EARN', points, points, 1, 'Seeded points', $2, '[]', 'test:seed', 0
FROM unnest($3::int[], $4::int[]) AS earned(id, points)
"""
SEED_LOTS = """
INSERT INTO lot (member_id, entry_id, points, remaining, earned_at, expires_at)
SELECT l.member_id, e.id, l.points, l.remaining, $1, l.expires_at
FROM unnest($2::int[], $3::int[], $4::int[], $5::timestamptz[])
    AS l(member_id, points, remaining, expires_at)
JOIN ledger_entry e ON e.member_id = l.member_id
RETURNING id, member_id, remaining, expires_at
"""
# What each member spent of their lots, as the ledger records it: the books balance (the
# ledger's audit, which other suites run over the whole database, finds nothing).
SEED_SPENDING = """
INSERT INTO ledger_entry (brand_id, member_id, kind, points, balance_after, version,
                          description, created_at, breakdown, actor, shortfall)
SELECT $1, member_id, 'REDEEM', sum(remaining) - sum(points), sum(remaining), 2,
       'Seeded spending', $2, '[]', 'test:seed', 0
FROM lot WHERE member_id = ANY($3::int[]) GROUP BY member_id
HAVING sum(remaining) < sum(points)
"""
SEED_BALANCES = """
INSERT INTO balance (member_id, available, lifetime_earned, lifetime_redeemed, version, shortfall)
SELECT member_id, sum(remaining), sum(points), sum(points) - sum(remaining),
       CASE WHEN sum(remaining) < sum(points) THEN 2 ELSE 1 END, 0
FROM lot WHERE member_id = ANY($1::int[]) GROUP BY member_id
"""


def lots_of(number: int, member_id: int, now: datetime) -> list[tuple[int, int, int, datetime]]:
    """(member, points, remaining, expires at) of the `number`th member's lots: one partly
    spent, due in 1 to 25 days (past both thresholds up to 6), every other member one due in
    20 days, and one due in 60 days (no reminder yet). An hour past the day, so that a job
    started seconds later sees the same thresholds crossed."""
    lots = [
        (member_id, 100, 40 + number % 61, now + timedelta(days=1 + number % 25, hours=1)),
        (member_id, 30, 30, now + timedelta(days=60)),
    ]
    if number % 2:
        lots.append((member_id, 50, 50, now + timedelta(days=20, hours=1)))
    return lots


@dataclass
class Seeded:
    """A brand's members and their lots, and what reminding them must write."""

    now: datetime
    member_ids: list[int]
    lots: list[asyncpg.Record]  # id, member_id, remaining, expires_at

    def reminders(self, members: Collection[int]) -> set[tuple[int, int]]:
        """(lot, days before) of each threshold the lots of `members` crossed."""
        return {
            (lot["id"], days)
            for lot in self.lots
            if lot["member_id"] in members
            for days in THRESHOLDS
            if lot["expires_at"] - self.now <= timedelta(days=days)
        }

    def told(self, members: Collection[int]) -> dict[int, tuple[int, int | None, int | None]]:
        """Per member of the brand, (POINTS_EXPIRING notices, their points, their days): one
        for each of `members`, with the points remaining in its due lots and the nearest
        threshold crossed; none for the others."""
        due: dict[int, list[tuple[int, int]]] = {}
        for lot_id, days in self.reminders(members):
            due.setdefault(lot_id, []).append(days)
        remaining = {lot["id"]: (lot["member_id"], lot["remaining"]) for lot in self.lots}
        told = {member_id: (0, None, None) for member_id in self.member_ids}
        for lot_id, crossed in due.items():
            member_id, points = remaining[lot_id]
            _, total, nearest = told[member_id]
            told[member_id] = (1, (total or 0) + points, min(nearest or 99, *crossed))
        return told


async def seed_expiring(db: asyncpg.Connection, brand_id: int, count: int, now: datetime) -> Seeded:
    async with db.transaction():
        member_ids = [row["id"] for row in await db.fetch(SEED_MEMBERS, brand_id, now, count)]
        planned = [
            lot
            for number, member_id in enumerate(member_ids)
            for lot in lots_of(number, member_id, now)
        ]
        earned = {member_id: 0 for member_id in member_ids}
        for member_id, points, _, _ in planned:
            earned[member_id] += points
        await db.execute(SEED_ENTRIES, brand_id, now, list(earned), list(earned.values()))
        lots = await db.fetch(
            SEED_LOTS, now, *(list(column) for column in zip(*planned, strict=True))
        )
        await db.execute(SEED_SPENDING, brand_id, now, member_ids)
        await db.execute(SEED_BALANCES, member_ids)
    return Seeded(now, member_ids, lots)


TOLD_SQL = """
SELECT m.id, count(n.id) AS notices, sum((n.variables->>'points')::int) AS points,
       min((n.variables->>'days')::int) AS days
FROM member m LEFT JOIN notice n ON n.member_id = m.id AND n.kind = 'POINTS_EXPIRING'
WHERE m.brand_id = $1
GROUP BY m.id
"""
REMINDED_SQL = """
SELECT r.lot_id, r.days_before
FROM lot_reminder r JOIN lot ON lot.id = r.lot_id JOIN member m ON m.id = lot.member_id
WHERE m.brand_id = $1
"""


async def told(
    db: asyncpg.Connection, brand_id: int
) -> dict[int, tuple[int, int | None, int | None]]:
    rows = await db.fetch(TOLD_SQL, brand_id)
    return {row["id"]: (row["notices"], row["points"], row["days"]) for row in rows}


async def reminded(db: asyncpg.Connection, brand_id: int) -> set[tuple[int, int]]:
    return {(row["lot_id"], row["days_before"]) for row in await db.fetch(REMINDED_SQL, brand_id)}


async def assert_told_once(
    db: asyncpg.Connection, brand_id: int, seeded: Seeded, members: Collection[int]
) -> None:
    """`members` told once each, of their due lots' remaining points; the brand's others not
    at all; each due lot of `members` reminded once per threshold crossed."""
    assert await told(db, brand_id) == seeded.told(members)
    assert await reminded(db, brand_id) == seeded.reminders(members)


# --- `pointsmall remind-expiring`, as processes ---------------------------------------------


def remind_command(settings, brand_code: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(POINTSMALL), "remind-expiring", "--brand", brand_code],
        env=service_environment(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def made_by(process: subprocess.Popen) -> int:
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    found = re.search(r"Made (\d+) notices", stdout)
    assert found, stdout
    return int(found[1])


async def test_two_reminder_processes_at_once_tell_each_member_once(brand, settings, db):
    seeded = await seed_expiring(db, brand.id, TWO_BATCHES, datetime.now(UTC))
    first, second = remind_command(settings, brand.code), remind_command(settings, brand.code)
    assert made_by(first) + made_by(second) == TWO_BATCHES
    await assert_told_once(db, brand.id, seeded, seeded.member_ids)
    due = [lot for lot in seeded.lots if lot["expires_at"] <= seeded.now + timedelta(days=30)]
    told_points = [points for _, points, _ in (await told(db, brand.id)).values()]
    assert sum(told_points) == sum(lot["remaining"] for lot in due)
    assert made_by(remind_command(settings, brand.code)) == 0


WAITING_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
  AND query LIKE '%INSERT INTO lot_reminder%'
"""
NOTICES_SQL = "SELECT count(*) FROM notice WHERE brand_id = $1 AND kind = 'POINTS_EXPIRING'"


async def test_a_killed_reminder_process_keeps_whole_batches_and_a_rerun_tells_the_rest(
    brand, settings, db
):
    seeded = await seed_expiring(db, brand.id, TWO_BATCHES, datetime.now(UTC))
    first_batch = [
        m for m in seeded.member_ids if m <= min(seeded.member_ids) - 1 + MEMBERS_PER_BATCH
    ]
    blocker = await asyncpg.connect(settings.database_url)
    try:
        # The second batch waits on a lot of its last member, locked here: the process is
        # killed in the middle of that batch's transaction, the first batch committed.
        async with blocker.transaction():
            await blocker.execute(
                "SELECT 1 FROM lot WHERE member_id = $1 FOR UPDATE", seeded.member_ids[-1]
            )
            process = remind_command(settings, brand.code)

            async def in_second_batch() -> bool:
                assert process.poll() is None, process.communicate()
                return await db.fetchval(NOTICES_SQL, brand.id) == len(first_batch) and (
                    await db.fetchval(WAITING_SQL) == 1
                )

            try:
                await until(in_second_batch, "the first batch is told and the second waits")
            finally:
                process.kill()  # SIGKILL: no cleanup of any kind
                process.communicate()
            await assert_told_once(db, brand.id, seeded, first_batch)

    finally:
        await blocker.close()
    assert made_by(remind_command(settings, brand.code)) == TWO_BATCHES - len(first_batch)
    await assert_told_once(db, brand.id, seeded, seeded.member_ids)


async def test_two_runs_at_once_in_one_process_tell_each_member_once_and_a_rerun_none(
    brand, runtime, clock, db
):
    seeded = await seed_expiring(db, brand.id, 1500, clock.now())
    made = await asyncio.gather(
        send_reminders(runtime, brand_code=brand.code),
        send_reminders(runtime, brand_code=brand.code),
    )
    assert sum(made) == 1500
    await assert_told_once(db, brand.id, seeded, seeded.member_ids)
    assert await send_reminders(runtime, brand_code=brand.code) == 0
    await assert_told_once(db, brand.id, seeded, seeded.member_ids)


# --- Movements: retried, rolled back --------------------------------------------------------


@pytest.fixture
async def sms_gateway(staff, receiver) -> None:
    """The brand's SMS gateway, posting to the test's receiver."""
    registered = await staff.call(GATEWAY, {"channel": "SMS", "url": receiver.url})
    assert registered["userErrors"] == [], registered


async def notices_of(member_id: str) -> list[tuple[str, int]]:
    """The member's notices, oldest first: (kind, deliveries)."""
    notices = await Notice.filter(member_id=pk(member_id)).order_by("id")
    return [
        (notice.kind.value, await NoticeDelivery.filter(notice_id=notice.id).count())
        for notice in notices
    ]


async def test_a_purchase_retried_and_raced_with_one_key_tells_its_member_once(staff, sms_gateway):
    retried, raced = await staff.register("Ada"), await staff.register("Bea")
    once = {"memberId": retried["id"], "orderRef": key(), "total": "50.00", "idempotencyKey": key()}
    answers = [await staff.call(RECORD_PURCHASE, once) for _ in range(2)]
    at_once = {
        "memberId": raced["id"],
        "orderRef": key(),
        "total": "60.00",
        "idempotencyKey": key(),
    }
    raced_answers = await asyncio.gather(*(staff.call(RECORD_PURCHASE, at_once) for _ in range(6)))

    for member, replies in ((retried, answers), (raced, raced_answers)):
        assert all(reply["userErrors"] == [] for reply in replies), replies
        assert len({reply["entry"]["id"] for reply in replies}) == 1
        assert await notices_of(member["id"]) == [("POINTS_EARNED", 1)]


async def test_a_redemption_refused_in_its_last_statement_tells_nothing(
    staff, sms_gateway, member_with_points, gql, db, runtime, receiver
):
    item = await staff.call(
        CREATE_ITEM,
        {
            "sku": unique_code("sku"),
            "name": "Mug",
            "kind": "COUPON",
            "category": "gifts",
            "pointsPrice": 100,
            "stock": 1,
        },
    )
    assert item["userErrors"] == [], item
    (ada, ada_token), (bea, bea_token) = [
        await member_with_points(100, name) for name in ("Ada", "Bea")
    ]

    # Both pass the stock check while the item's row is locked here, write their entry and
    # notices, then wait to take the last unit: one gets it, the other rolls everything back.
    async with db.transaction():
        await db.execute(
            "SELECT 1 FROM catalog_item WHERE id = $1 FOR NO KEY UPDATE", pk(item["item"]["id"])
        )
        redeeming = asyncio.gather(
            *(
                gql(
                    REDEEM,
                    {"input": {"itemId": item["item"]["id"], "idempotencyKey": key()}},
                    token=token,
                )
                for token in (ada_token, bea_token)
            )
        )

        async def both_waiting() -> bool:
            await db.execute("SELECT pg_stat_clear_snapshot()")  # read afresh in a transaction
            waiting = await db.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE '%UPDATE catalog_item SET stock%'"
            )
            return waiting == 2

        await until(both_waiting, "both redemptions wait to take the stock")
    answers = [body["data"]["redeem"]["userErrors"] for body in await redeeming]
    assert sorted(answers, key=len) == [[], [{"code": "OUT_OF_STOCK", "field": ["itemId"]}]]
    ada_refused = bool(answers[0])
    winner = bea if ada_refused else ada
    loser, loser_token = (ada, ada_token) if ada_refused else (bea, bea_token)

    assert await notices_of(winner["id"]) == [
        ("POINTS_EARNED", 1),
        ("POINTS_SPENT", 1),
        ("REDEMPTION_CONFIRMED", 1),
    ]
    assert await notices_of(loser["id"]) == [("POINTS_EARNED", 1)]
    inbox = (await gql(INBOX, token=loser_token))["data"]["me"]["notices"]
    assert inbox["totalCount"] == 1

    await deliver_due_notices(runtime)
    posted = [json.loads(body)["data"] for _, body in receiver.received]
    assert sorted(data["kind"] for data in posted if data["memberId"] == loser["id"]) == [
        "POINTS_EARNED"
    ]


# --- Deliveries: two runs at once, a worker that died -----------------------------------------


async def registered_gateways(staff, url: str, channels: Collection[str]) -> None:
    for channel in channels:
        registered = await staff.call(GATEWAY, {"channel": channel, "url": url})
        assert registered["userErrors"] == [], registered


def event_ids(receiver: Receiver) -> list[str]:
    return [headers["x-pointsmall-event-id"] for headers, _ in receiver.received]


async def test_two_delivery_runs_at_once_post_each_notice_once(staff, brand, db, runtime, receiver):
    await registered_gateways(staff, receiver.url, ("SMS", "PUSH"))
    await deliver_due_notices(runtime)  # what earlier tests left due
    member_ids = [
        row["id"] for row in await db.fetch(SEED_MEMBERS, brand.id, runtime.clock.now(), 150)
    ]
    async with in_transaction() as connection:
        notices = await record(
            connection,
            brand,
            runtime.clock.now(),
            [
                NoticeDraft(
                    member_id,
                    NoticeKind.POINTS_EARNED,
                    f"entry:{member_id}",
                    {"points": 10, "balance": 10, "reason": "test"},
                )
                for member_id in member_ids
            ],
        )
    assert len(notices) == 150

    # 300 deliveries, claimed 200 at a time: the two runs share them out.
    delivered = await asyncio.gather(deliver_due_notices(runtime), deliver_due_notices(runtime))
    assert sum(delivered) == 300
    sent = [json.loads(body) for _, body in receiver.received]
    assert len(sent) == 300
    assert len(set(event_ids(receiver))) == 300
    assert sorted(event_ids(receiver)) == sorted(event["id"] for event in sent)
    assert {(pk(event["data"]["noticeId"]), event["data"]["channel"]) for event in sent} == {
        (notice["id"], channel) for notice in notices for channel in ("SMS", "PUSH")
    }
    deliveries = await NoticeDelivery.filter(notice__brand_id=brand.id)
    assert {(d.status, d.attempts) for d in deliveries} == {(DeliveryStatus.DELIVERED, 1)}
    assert await deliver_due_notices(runtime) == 0
    assert len(receiver.received) == 300


async def purchase_to_deliver(staff, runtime) -> NoticeDelivery:
    """A member's purchase, its POINTS_EARNED notice's delivery pending, nothing else due."""
    await deliver_due_notices(runtime)
    member = await staff.register("Ada")
    await staff.purchase(member["id"], "20.00")
    (delivery,) = await NoticeDelivery.filter(notice__member_id=pk(member["id"]))
    return delivery


async def test_a_delivery_claimed_by_a_worker_that_died_is_posted_once_its_claim_lapses(
    staff, sms_gateway, runtime, clock, receiver
):
    delivery = await purchase_to_deliver(staff, runtime)
    assert delivery.id in await claim_due(runtime, CLAIM_SQL)  # and the worker dies

    await deliver_due_notices(runtime)
    assert receiver.received == []  # claimed: left alone
    clock.advance(CLAIM_FOR + timedelta(seconds=1))
    await deliver_due_notices(runtime)
    ((headers, body),) = receiver.received
    assert headers["x-pointsmall-event-id"] == json.loads(body)["id"]
    await delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)
    await deliver_due_notices(runtime)
    assert len(receiver.received) == 1


async def test_a_post_whose_worker_died_before_recording_it_comes_again_under_the_same_event_id(
    staff, sms_gateway, runtime, clock, receiver
):
    delivery = await purchase_to_deliver(staff, runtime)
    receiver.delay = 1.0
    posting = asyncio.create_task(deliver_due_notices(runtime))

    async def posted() -> bool:
        return bool(receiver.received)

    await until(posted, "the gateway gets the post")
    posting.cancel()  # the worker dies before the gateway answers
    with contextlib.suppress(asyncio.CancelledError):
        await posting
    await delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)

    receiver.delay = 0.0
    await deliver_due_notices(runtime)
    assert len(receiver.received) == 1  # still claimed by the dead worker
    clock.advance(CLAIM_FOR + timedelta(seconds=1))
    await deliver_due_notices(runtime)
    (first_headers, first_body), (again_headers, again_body) = receiver.received
    # The gateway drops the second as a duplicate by its event id.
    assert first_headers["x-pointsmall-event-id"] == again_headers["x-pointsmall-event-id"]
    assert json.loads(first_body) == json.loads(again_body)
    await delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)
