"""Exporting members in the columns an import reads: a brand's export imports into another
brand as it is, and that brand's export is the same file; each member's available points by
expiry date, closed members and due points left out; streamed, with its progress."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

from db.models import Balance, Lot, Member
from domain.brands import create_brand
from domain.ledger.audit import audit
from domain.member_import import COLUMNS, export_members, plan_import, write_import
from resolvers.ids import encode_id
from tests.support.catalog import create_catalog_item, redeem_item
from tests.support.commands import pointsmall_on
from tests.support.factories import Staff, unique_code
from tests.support.ledger import pk
from tests.support.members import SHANGHAI, csv_file, gold_tier, imported, member_of, today


async def exported(brand, clock, progress=None) -> str:
    stream = io.StringIO()
    await export_members(brand, stream, clock.now(), progress)
    return stream.getvalue()


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_an_export_imports_into_another_brand_and_exports_the_same(
    brand, staff, clock, gql, make_token
):
    await gold_tier(staff)
    day = today(clock)
    first, second = day + timedelta(days=20), day + timedelta(days=200)
    await imported(
        brand,
        clock,
        csv_file(
            f"OLD-1,Lin Wei,13800138000,lin@example.com,1990-05-04,GOLD,2019-03-01,300,{second}",
            f"OLD-1,,,,,,,200,{first}",
            f"OLD-1,,,,,,,50,{first}",  # the same day as the line before: one row in the export
            "OLD-2,Nobody,,,,,,,",
            f"OLD-3,Due Soon,,,,,,40,{day}",  # due by the time of the export
        ),
    )
    registered = await staff.register("Ada", phone="13900000001", email="ada@example.com")
    await staff.purchase(registered["id"], "120.00")
    await staff.adjust(registered["id"], 30)  # the same expiry day as the purchase
    spender = await member_of(brand, "OLD-1")
    spender_token = make_token(brand, "MEMBER", encode_id("Member", spender.id))
    item = await create_catalog_item(staff, pointsPrice=220)
    assert (await redeem_item(gql, spender_token, item["id"]))["userErrors"] == []
    closed = await staff.register("Gone", phone="13900000002")
    await staff.purchase(closed["id"], "10.00")
    closed_status = await staff.set_status(closed["id"], "CLOSED", "asked to leave")
    assert closed_status["userErrors"] == [], closed_status
    clock.advance(timedelta(days=1))  # OLD-3's lot is due, its expiry not yet written

    text = await exported(brand, clock)
    rows = rows_of(text)
    assert rows[0] == list(COLUMNS)
    registered_row = [
        registered["id"], "Ada", "13900000001", "ada@example.com", "", "BASE",
        (await Member.get(id=pk(registered["id"]))).joined_at.astimezone(SHANGHAI).isoformat(
            timespec="seconds"
        ),
        "150", str(await _expiry_day(registered["id"])),
    ]  # fmt: skip
    lin = ["OLD-1", "Lin Wei", "13800138000", "lin@example.com", "1990-05-04", "GOLD",
           "2019-03-01T00:00:00+08:00"]  # fmt: skip
    assert rows[1:] == [
        [*lin, "30", str(first)],  # 250 less the 220 spent, the sooner lot first
        [*lin, "300", str(second)],
        ["OLD-2", "Nobody", "", "", "", "BASE", rows[3][6], "", ""],
        ["OLD-3", "Due Soon", "", "", "", "BASE", rows[4][6], "", ""],
        registered_row,
    ]

    other = await create_brand(unique_code(), "Merged Brand", timezone="Asia/Shanghai")
    await gold_tier(Staff(gql, make_token(other, "ADMIN", "admin-2")))
    plan, outcome = await imported(other, clock, io.BytesIO(text.encode()))
    assert plan.bad_rows == []
    assert (outcome.members, outcome.points) == (4, 480)
    assert await audit(brand_id=other.id) == []
    assert await exported(other, clock) == text
    moved = await member_of(other, registered["id"])
    assert (await Balance.get(member_id=moved.id)).available == 150


PENDING_DAYS = """
mutation ($input: UpdateBrandSettingsInput!) {
  updateBrandSettings(input: $input) { userErrors { code } }
}
"""


async def test_points_held_pending_are_not_exported_until_their_release(brand, staff, clock):
    later = today(clock) + timedelta(days=300)
    await imported(brand, clock, csv_file(f"H-1,Hu,,,,,,10,{later}"))
    member = await member_of(brand, "H-1")
    assert (await staff.call(PENDING_DAYS, {"pendingDays": 2}))["userErrors"] == []
    await staff.purchase(encode_id("Member", member.id), "7.00")  # 7 points, held two days

    def points_of_h1(text: str) -> int:
        return sum(int(row[7]) for row in rows_of(text)[1:] if row[0] == "H-1" and row[7])

    assert points_of_h1(await exported(brand, clock)) == 10
    clock.advance(timedelta(days=2, seconds=1))
    assert points_of_h1(await exported(brand, clock)) == 17
    assert await audit(brand_id=brand.id) == []


async def test_the_command_streams_the_export_to_a_file_or_stdout(brand, clock, settings, tmp_path):
    # The command's clock is the real one, the export's here the tests' (which may run ahead).
    later = datetime.now(UTC).date() + timedelta(days=3650)
    await imported(brand, clock, csv_file(f"X-1,Xu,,,,,,10,{later}", "X-2,Yan,,,,,,,"))
    expected = await exported(brand, clock)
    path = tmp_path / "members.csv"
    to_file = pointsmall_on(
        settings, "export", "members", "--brand", brand.code, "--output", str(path)
    )
    assert to_file.returncode == 0, to_file.stderr
    assert path.read_bytes() == expected.encode()  # CSV's own CRLF line ends
    assert to_file.stderr == f"Exported 2 members to {path}.\n"
    to_stdout = pointsmall_on(settings, "export", "members", "--brand", brand.code)
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert to_stdout.stdout == expected.replace("\r\n", "\n")  # read as text
    unknown = pointsmall_on(settings, "export", "members", "--brand", "no-such-brand")
    assert unknown.returncode == 2 and "No brand 'no-such-brand'." in unknown.stderr


async def test_the_export_tells_its_progress_as_members_stream_out(brand, clock):
    rows = [f"M-{n},Member {n},,,,,,,," for n in range(2_500)]
    source = csv_file(*(row.removesuffix(",") for row in rows))
    plan = await plan_import(brand, source, clock.now())
    assert plan.bad_rows == []
    await write_import(plan)
    seen: list[tuple[int, int]] = []
    text = await exported(brand, clock, lambda done, total: seen.append((done, total)))
    assert seen == [(1_000, 2_500), (2_000, 2_500), (2_500, 2_500)]
    assert len(rows_of(text)) == 2_501


async def _expiry_day(global_id: str) -> date:
    """The last local day the member's lots (all expiring together) count."""
    (expires_at,) = set(
        await Lot.filter(member_id=pk(global_id)).values_list("expires_at", flat=True)
    )
    return (expires_at.astimezone(SHANGHAI) - timedelta(days=1)).date()
