"""Importing members from another loyalty system: a clean import leaves each member as
movements would (audit clean, balances, lots and roll-ups right, spendable over GraphQL, expired
by the job on their date); a file with bad rows is reported row by row and writes nothing
(unless the members of those rows are skipped); a rerun writes each member once, even after a
run that failed halfway; and `pointsmall import members` says so as a user sees it."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest

from db.models import (
    AuditEntry,
    Balance,
    Brand,
    ExpiryRollup,
    LedgerEntry,
    LedgerKind,
    Lot,
    Member,
    MemberDay,
    Notice,
    Tier,
    TierMetric,
)
from domain.errors import DomainError, ErrorCode
from domain.insights.rollups import SHARDS
from domain.ledger.audit import audit
from domain.ledger.expiry import run_expiry
from domain.ledger.policy import add_months, expiry_of
from domain.member_import import COLUMNS, plan_import, write_import
from domain.tiers import evaluate_member
from resolvers.ids import encode_id
from tests.support.catalog import create_catalog_item, redeem_item
from tests.support.commands import pointsmall_on
from tests.support.members import HEADER, SHANGHAI, csv_file, gold_tier, imported, member_of, today

MY_POINTS = """
{ me { id tier { code } points { available version expiring(withinDays: 3650) { points expiresAt } }
       ledger(first: 5) { edges { node { kind points description } } } } }
"""


def last_moment_of(day: date) -> datetime:
    """When points lasting through `day` (Shanghai) stop counting: the next local midnight."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), SHANGHAI).astimezone(UTC)


async def brand_counts(brand) -> tuple[int, int, int]:
    """Members, entries and lots of the brand."""
    return (
        await Member.filter(brand_id=brand.id).count(),
        await LedgerEntry.filter(brand_id=brand.id).count(),
        await Lot.filter(member__brand_id=brand.id).count(),
    )


# A clean import.


async def test_a_clean_import_leaves_each_member_as_movements_would(brand, staff, clock):
    await gold_tier(staff)
    day = today(clock)
    soon, later = day + timedelta(days=40), day + timedelta(days=400)
    source = csv_file(
        f"OLD-1,Lin Wei,138-0013-8000,Lin@Example.com,1990-05-04,gold,2019-03-01,300,{later}",
        f"OLD-1,,,,,,,200,{soon}",
        "OLD-2,Mei Chen,,,,,,,",
        "OLD-3,Bo,+8613900000003,,,BASE,2021-06-01T09:30:00,50,",
    )
    plan, outcome = await imported(brand, clock, source)
    assert plan.bad_rows == [] and plan.rows == 4
    assert (outcome.members, outcome.lots, outcome.points) == (3, 3, 550)
    assert (outcome.imported_before, outcome.left_out) == (0, 0)
    assert await audit(brand_id=brand.id) == []

    lin = await member_of(brand, "OLD-1")
    gold = await Tier.get(brand_id=brand.id, code="GOLD")
    assert (lin.display_name, lin.phone, lin.email, lin.birthday) == (
        "Lin Wei", "13800138000", "lin@example.com", date(1990, 5, 4)
    )  # fmt: skip
    assert lin.tier_id == gold.id
    assert lin.joined_at == datetime(2019, 3, 1, tzinfo=SHANGHAI)
    assert lin.birthday_set_at == plan.now  # no birthday bonus for 30 days: no double gift
    balance = await Balance.get(member_id=lin.id)
    assert (balance.available, balance.version, balance.lifetime_earned) == (500, 1, 500)
    (entry,) = await LedgerEntry.filter(member_id=lin.id)
    assert (entry.kind, entry.points, entry.balance_after, entry.version) == (
        LedgerKind.ADJUST, 500, 500, 1
    )  # fmt: skip
    assert entry.description == "Opening balance" and "opening balance" in entry.reason.lower()
    assert entry.actor == "system:import" and entry.expires_at == last_moment_of(soon)
    lots = await Lot.filter(member_id=lin.id).order_by("expires_at")
    assert [(lot.points, lot.remaining, lot.expires_at, lot.entry_id) for lot in lots] == [
        (200, 200, last_moment_of(soon), entry.id),
        (300, 300, last_moment_of(later), entry.id),
    ]
    # Tiers qualify on what is earned here: the opening balance is not, but the tier Lin
    # brings is held for one window (12 months), as a bought tier is: a floor
    # (test_the_daily_evaluation_keeps_an_imported_tier_for_a_window).
    assert await MemberDay.filter(member_id=lin.id).count() == 0
    assert (lin.tier_floor_id, lin.tier_floor_until) == (gold.id, months_after(plan.now, 12))

    mei = await member_of(brand, "OLD-2")
    assert (await Balance.get(member_id=mei.id)).version == 0
    assert await LedgerEntry.filter(member_id=mei.id).count() == 0
    assert (await Tier.get(id=mei.tier_id)).code == "BASE"
    assert mei.joined_at == plan.now
    assert (mei.tier_floor_id, mei.tier_floor_until) == (None, None)  # the base tier: no floor

    bo = await member_of(brand, "OLD-3")
    assert bo.joined_at == datetime(2021, 6, 1, 9, 30, tzinfo=SHANGHAI)  # its brand's time
    (bo_lot,) = await Lot.filter(member_id=bo.id)
    assert bo_lot.expires_at == expiry_of(brand, plan.now)  # the brand's policy, from now

    # The roll-ups a movement keeps: the live points by month of expiry.
    rolled = await ExpiryRollup.filter(brand_id=brand.id, points__gt=0)
    by_month: dict[date, int] = {}
    for row in rolled:
        by_month[row.month] = by_month.get(row.month, 0) + row.points
    expected: dict[date, int] = {}
    for lot in [*lots, bo_lot]:
        month = lot.expires_at.astimezone(SHANGHAI).date().replace(day=1)
        expected[month] = expected.get(month, 0) + lot.points
    assert by_month == expected
    assert {row.shard for row in rolled if row.month == soon.replace(day=1)} == {lin.id % SHARDS}
    # No member is told (no notice per opening balance); the import is in the audit trail.
    assert await Notice.filter(member_id__in=[lin.id, mei.id, bo.id]).count() == 0
    (trail,) = await AuditEntry.filter(brand_id=brand.id, operation="importMembers")
    assert trail.actor == "system:import"
    assert trail.input == {"file": "members.csv", "members": 3, "lots": 3, "points": 550}


@pytest.mark.parametrize("metric", [TierMetric.POINTS, TierMetric.SPEND])
async def test_the_daily_evaluation_keeps_an_imported_tier_for_a_window(
    brand, staff, clock, runtime, metric
):
    await gold_tier(staff)
    await Brand.filter(id=brand.id).update(tier_metric=metric)
    await imported(brand, clock, csv_file("OLD-G,Gold Member,,,,GOLD,,10,"))
    member = await member_of(brand, "OLD-G")
    assert await evaluate_member(runtime, member.id) is None  # no change: still Gold
    assert await tier_code_of(member) == "GOLD"
    # Once the window has passed without their qualifying, down one tier, as anyone.
    clock.advance(member.tier_floor_until - clock.now() + timedelta(seconds=1))
    assert await evaluate_member(runtime, member.id) is not None
    assert await tier_code_of(member) == "BASE"


async def tier_code_of(member: Member) -> str:
    return (await Tier.get(id=(await Member.get(id=member.id)).tier_id)).code


def months_after(moment: datetime, months: int) -> datetime:
    day = add_months(moment.date(), months)
    return moment.replace(year=day.year, month=day.month, day=day.day)


async def test_imported_members_log_in_and_spend_their_points_first_to_expire_first(
    brand, staff, clock, gql, make_token
):
    day = today(clock)
    await imported(
        brand,
        clock,
        csv_file(
            f"OLD-9,Ada,,,,,,300,{day + timedelta(days=300)}",
            f"OLD-9,,,,,,,80,{day + timedelta(days=30)}",
        ),
    )
    member = await member_of(brand, "OLD-9")
    token = make_token(brand, "MEMBER", encode_id("Member", member.id))
    body = await gql(MY_POINTS, token=token)
    assert "errors" not in body, body
    me = body["data"]["me"]
    assert me["points"]["available"] == 380 and me["points"]["version"] == 1
    assert [group["points"] for group in me["points"]["expiring"]] == [80, 300]
    assert me["ledger"]["edges"][0]["node"] == {
        "kind": "ADJUST", "points": 380, "description": "Opening balance"
    }  # fmt: skip

    item = await create_catalog_item(staff, pointsPrice=100)
    redeemed = await redeem_item(gql, token, item["id"])
    assert redeemed["userErrors"] == [], redeemed
    assert redeemed["member"]["points"]["available"] == 280
    lots = await Lot.filter(member_id=member.id).order_by("expires_at")
    assert [lot.remaining for lot in lots] == [0, 280]  # the sooner lot first
    assert await audit(brand_id=brand.id) == []


async def test_the_expiry_job_expires_imported_points_on_their_date(brand, clock, runtime):
    day = today(clock)
    await imported(
        brand,
        clock,
        csv_file(
            f"OLD-E,Eve,,,,,,70,{day + timedelta(days=3)}",
            f"OLD-E,,,,,,,30,{day + timedelta(days=90)}",
        ),
    )
    member = await member_of(brand, "OLD-E")
    assert await run_expiry(runtime, brand_code=brand.code) == (0, 0)  # not yet
    clock.advance(last_moment_of(day + timedelta(days=3)) - clock.now() + timedelta(seconds=1))
    assert await run_expiry(runtime, brand_code=brand.code) == (1, 70)
    balance = await Balance.get(member_id=member.id)
    assert (balance.available, balance.version) == (30, 2)
    assert await audit(brand_id=brand.id) == []


async def test_an_expiry_today_is_taken_and_lasts_through_the_day(brand, clock):
    plan, outcome = await imported(brand, clock, csv_file(f"OLD-T,Tia,,,,,,5,{today(clock)}"))
    assert plan.bad_rows == [] and outcome.points == 5
    (lot,) = await Lot.filter(member__brand_id=brand.id)
    assert lot.expires_at == last_moment_of(today(clock))


# Bad rows.


async def test_every_bad_row_is_reported_with_its_line_and_column_and_nothing_is_written(
    brand, staff, clock
):
    taken = await staff.register("Taken", email="taken@example.com", phone="13700000000")
    day = today(clock)
    yesterday, later = day - timedelta(days=1), day + timedelta(days=100)
    source = csv_file(
        f"OK-1,Good,13800000001,,,,,10,{later}",  # 2: fine, but nothing is written
        "B-2,Bad Phone,12,,,,,,",  # 3
        "B-3,Bad Email,,not-an-email,,,,,",  # 4
        "B-4,Bad Birthday,,,1990-13-01,,,,",  # 5
        "B-5,Unknown Tier,,,,PLATINUM,,,",  # 6
        "B-6,Future,,,,,2999-01-01,,",  # 7
        f"B-7,Past Expiry,,,,,,10,{yesterday}",  # 8
        f"B-8,Zero Points,,,,,,0,{later}",  # 9
        f"B-9,Not Points,,,,,,ten,{later}",  # 10
        f"B-10,No Points,,,,,,,{later}",  # 11
        "B-11,Dup Phone,13800000001,,,,,,",  # 12: OK-1's phone
        "B-12,Existing Email,,TAKEN@example.com,,,,,",  # 13: a member's of the brand
        ",No Id,,,,,,,",  # 14
        "B-14,,,,,,,,",  # 15: no name on any row
        "B-15,Short Row",  # 16
        "B-16,Bad Date,,,,,,,2027-02-30",  # 17
        "B-17,First,,,,,,,",  # 18
        "B-17,Second,,,,,,,",  # 19: differs from line 18
    )
    plan = await plan_import(brand, source, clock.now(), "members.csv")
    found = [(bad.line, bad.external_id, bad.column) for bad in plan.bad_rows]
    assert found == [
        (2, "OK-1", "phone"),
        (3, "B-2", "phone"),
        (4, "B-3", "email"),
        (5, "B-4", "birthday"),
        (6, "B-5", "tier"),
        (7, "B-6", "joined_at"),
        (8, "B-7", "expires_on"),
        (9, "B-8", "points"),
        (10, "B-9", "points"),
        (11, "B-10", "points"),
        (12, "B-11", "phone"),
        (13, "B-12", "email"),
        (14, "", "external_id"),
        (15, "B-14", "display_name"),
        (16, "B-15", ""),
        (17, "B-16", "points"),
        (17, "B-16", "expires_on"),
        (19, "B-17", "display_name"),
    ]
    reasons = {(bad.line, bad.column): bad.reason for bad in plan.bad_rows}
    assert reasons[(2, "phone")] == "also the phone of external id B-11 (line 12)"
    assert reasons[(12, "phone")] == "also the phone of external id OK-1 (line 2)"
    assert reasons[(6, "tier")] == "no such tier; the brand's are BASE"
    assert reasons[(7, "joined_at")] == "in the future"
    assert reasons[(8, "expires_on")].startswith(f"in the past (today is {day}")
    assert reasons[(9, "points")] == "points must be positive"
    assert reasons[(10, "points")] == "not a whole number of points"
    assert reasons[(11, "points")] == "an expiry needs points"
    assert reasons[(13, "email")] == f"already member {taken['id']}'s"
    assert reasons[(16, "")] == "2 fields where the header has 9"
    assert reasons[(17, "expires_on")] == "not a date (YYYY-MM-DD)"
    assert reasons[(19, "display_name")] == "differs from line 18 of the same external id"
    assert plan.bad_rows[0].describe() == (
        "line 2 (external id OK-1), phone '13800000001': also the phone of external id B-11 "
        "(line 12)"
    )

    before = await brand_counts(brand)
    with pytest.raises(DomainError) as refused:
        await write_import(plan)
    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert await brand_counts(brand) == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", [(1, "", "the file is empty: a header row is needed")]),
        (
            b"external_id,name,points\r\nA,Ann,5\r\n",
            [
                (1, "name", "unknown column; the columns are " + ", ".join(COLUMNS)),
                (1, "display_name", "this column is required"),
            ],
        ),
        (
            b"external_id,display_name,external_id\r\n",
            [(1, "external_id", "the column is named twice")],
        ),
        (
            "external_id,display_name\r\nA,Ann\r\nB,Bé\r\n".encode("latin-1"),
            [(3, "", "not UTF-8 text; save the file as CSV UTF-8")],
        ),
        (
            b'external_id,display_name\r\nA,"Ann"x\r\n',
            [(2, "", "not CSV: ',' expected after '\"'")],
        ),
    ],
    ids=["empty", "unknown-and-missing", "twice", "latin-1", "quotes"],
)
async def test_a_file_that_cannot_be_read_is_one_bad_row_saying_why(
    brand, clock, content, expected
):
    plan = await plan_import(brand, io.BytesIO(content), clock.now())
    assert [(bad.line, bad.column, bad.reason) for bad in plan.bad_rows] == expected
    # What was read before the fault is not imported either, --skip-bad or not: the rest of
    # the file was never read.
    assert plan.members == [] and not plan.whole
    with pytest.raises(DomainError):
        await write_import(plan, skip_bad=True)
    assert await Member.filter(brand_id=brand.id).count() == 0


async def test_columns_may_come_in_any_order_and_the_optional_ones_may_be_left_out(brand, clock):
    source = io.BytesIO(b"Display_Name , EXTERNAL_ID\nNo BOM,OLD-Q\n")  # nor CRLF
    plan, outcome = await imported(brand, clock, source)
    assert plan.bad_rows == [] and outcome.members == 1
    assert (await member_of(brand, "OLD-Q")).display_name == "No BOM"


async def test_skip_bad_imports_the_others_and_leaves_out_every_row_of_a_bad_member(brand, clock):
    later = today(clock) + timedelta(days=100)
    source = csv_file(
        f"S-1,Good,,,,,,10,{later}",
        f"S-2,Half Bad,,,,,,20,{later}",
        "S-2,,,,,,,x,",  # a bad lot: S-2 is left out whole, not with half a balance
        "S-3,Also Good,,,,,,,",
    )
    plan, outcome = await imported(brand, clock, source, skip_bad=True)
    assert [(bad.line, bad.column) for bad in plan.bad_rows] == [(4, "points")]
    assert (outcome.members, outcome.points, outcome.left_out) == (2, 10, 1)
    assert await Member.filter(brand_id=brand.id, external_id="S-2").count() == 0
    assert await audit(brand_id=brand.id) == []


# Reruns.


async def test_a_rerun_of_the_same_file_writes_nothing_new(brand, clock):
    later = today(clock) + timedelta(days=100)
    rows = (f"R-1,Ann,13600000001,,,,,10,{later}", f"R-2,Ben,,ben@example.com,,,,20,{later}")
    await imported(brand, clock, csv_file(*rows))
    before = await brand_counts(brand)
    plan, outcome = await imported(brand, clock, csv_file(*rows))
    assert plan.bad_rows == []  # their own phone and email are no duplicates of theirs
    assert (plan.imported_before, plan.members) == (2, [])
    assert (outcome.members, outcome.imported_before) == (0, 2)
    assert await brand_counts(brand) == before
    assert await audit(brand_id=brand.id) == []


async def test_a_rerun_after_skipping_bad_rows_imports_the_corrected_members_once(brand, clock):
    later = today(clock) + timedelta(days=100)
    await imported(
        brand, clock, csv_file(f"C-1,Ann,,,,,,10,{later}", "C-2,Ben,bad-phone,,,,,,"), skip_bad=True
    )
    plan, outcome = await imported(
        brand, clock, csv_file(f"C-1,Ann,,,,,,10,{later}", "C-2,Ben,13600000002,,,,,,")
    )
    assert (plan.imported_before, outcome.members) == (1, 1)
    assert await Member.filter(brand_id=brand.id).count() == 2
    assert await audit(brand_id=brand.id) == []


async def test_a_run_that_failed_halfway_is_finished_by_a_rerun_each_member_once(
    brand, staff, clock
):
    later = today(clock) + timedelta(days=100)
    rows = [f"P-{n},Member {n},1350000{n:04d},,,,,{n + 1},{later}" for n in range(12)]
    plan = await plan_import(brand, csv_file(*rows), clock.now(), "members.csv")
    assert plan.bad_rows == []
    # Between the check and the write, a member registers with P-9's phone: the batch of P-9
    # fails, whatever was committed before stays.
    newcomer = await staff.register("Newcomer", phone="13500000009")
    with pytest.raises(DomainError) as failed:
        await write_import(plan, batch_members=2)
    assert failed.value.code is ErrorCode.DUPLICATE
    assert "Run the import again" in failed.value.message
    written = await Member.filter(brand_id=brand.id, external_id__isnull=False).count()
    assert written < 12
    assert await audit(brand_id=brand.id) == []

    again = await plan_import(brand, csv_file(*rows), clock.now(), "members.csv")
    assert again.imported_before == written
    assert [(bad.external_id, bad.reason) for bad in again.bad_rows] == [
        ("P-9", f"already member {newcomer['id']}'s")
    ]
    outcome = await write_import(again, skip_bad=True)
    assert outcome.members == 11 - written
    imported_ids = await Member.filter(brand_id=brand.id, external_id__isnull=False).values_list(
        "external_id", flat=True
    )
    assert sorted(imported_ids) == sorted(f"P-{n}" for n in range(12) if n != 9)
    assert await audit(brand_id=brand.id) == []


async def test_two_runs_at_once_write_each_member_once(brand, clock):
    import asyncio

    later = today(clock) + timedelta(days=100)
    rows = [f"T-{n},Member {n},,,,,,{n + 1},{later}" for n in range(40)]
    plans = [
        await plan_import(brand, csv_file(*rows), clock.now(), "members.csv") for _ in range(2)
    ]
    outcomes = await asyncio.gather(*(write_import(plan, batch_members=7) for plan in plans))
    assert sum(outcome.members for outcome in outcomes) == 40
    assert await Member.filter(brand_id=brand.id).count() == 40
    assert await Lot.filter(member__brand_id=brand.id).count() == 40
    assert await audit(brand_id=brand.id) == []


# The command.


async def test_the_command_reports_bad_rows_and_exits_1_writing_nothing(brand, settings, tmp_path):
    later = datetime.now(UTC).date() + timedelta(days=400)  # the command's clock is the real one
    path = tmp_path / "members.csv"
    path.write_bytes(csv_file(f"K-1,Kim,,,,,,10,{later}", "K-2,Bad,,nope,,,,,").getvalue())
    report = tmp_path / "bad.csv"
    result = pointsmall_on(settings, "import", "members", str(path), "--brand", brand.code,
                           "--report", str(report))  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Checked 2 rows: 2 new members, 0 imported before, 1 bad rows." in result.stdout
    assert "line 3 (external id K-2), email 'nope': Email is not a valid address." in result.stderr
    assert "Nothing written" in result.stderr
    assert report.read_text().splitlines() == [
        "line,external_id,column,value,reason",
        "3,K-2,email,nope,Email is not a valid address.",
    ]
    assert await Member.filter(brand_id=brand.id).count() == 0

    dry = pointsmall_on(settings, "import", "members", str(path), "--brand", brand.code,
                        "--skip-bad", "--dry-run")  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "Would import 1 members (1 lots, 10 points); 1 skipped for bad rows." in dry.stdout
    assert await Member.filter(brand_id=brand.id).count() == 0

    done = pointsmall_on(settings, "import", "members", str(path), "--brand", brand.code,
                         "--skip-bad")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Imported 1 members (1 lots, 10 points)" in done.stdout
    assert "0 imported before, 1 skipped for bad rows." in done.stdout

    again = pointsmall_on(settings, "import", "members", str(path), "--brand", brand.code,
                          "--skip-bad")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "Nothing new: every member of the file was imported before (1 skipped" in again.stdout
    assert await Member.filter(brand_id=brand.id).count() == 1


def test_the_command_refuses_an_unknown_brand_or_a_missing_file(settings, tmp_path):
    path = tmp_path / "members.csv"
    path.write_text(HEADER + "\n")
    unknown = pointsmall_on(settings, "import", "members", str(path), "--brand", "no-such-brand")
    assert unknown.returncode == 2 and "No brand 'no-such-brand'." in unknown.stderr
    missing = pointsmall_on(settings, "import", "members", str(tmp_path / "x.csv"), "--brand", "b")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
