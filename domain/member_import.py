"""Members imported from another loyalty system (`pointsmall import members`), and exported in
the same columns (`pointsmall export members`), so that one brand's export imports into another.

An import reads the whole file first and checks every row; with any bad row nothing is
written unless the caller skips the members those rows belong to. Then it writes in batches,
each in one transaction of a few set-based statements, never a statement per member: the ids
are drawn ahead and each table's rows are COPYed in (a batch some of whose members a
concurrent run wrote meanwhile is written again, skipping those). Each member is left as
movements would leave them: the member, their balance, their opening balance as one ADJUST
entry (version 1) with a lot per expiry date, and the roll-ups a movement keeps
(`expiry_rollup`). The member's `external_id` (unique per brand) makes a rerun skip whoever a
run before imported, whether it finished or not.

What an import does not do, on purpose: it tells no member (no notice per opening balance) and
publishes no balance event (nobody watches a member who did not exist; the balance sweep
announces the new entries anyway); nothing caches a member who did not exist, and members
already there are left untouched. Opening balances do not qualify for tiers (they were not
earned here), but the tier a member brings is held for one qualification window from the
import, as a tier bought with points is (the member's tier floor, domain/tiers.py): no
evaluation takes them below it before then, whatever the brand's tiers qualify on.

Design: docs/ledger.md, "Opening balances (imports)".
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import re
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, BinaryIO, TextIO
from zoneinfo import ZoneInfo

import asyncpg
import orjson
from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

from db.models import Brand, LedgerKind, MemberStatus, Tier
from db.tortoise_internals import transaction_connection
from domain.errors import DomainError, ErrorCode
from domain.ids import encode_id
from domain.insights.rollups import SHARDS, month_of
from domain.ledger.book import MAX_BALANCE
from domain.ledger.policy import YEARS, add_months, expiry_of, start_of_day
from domain.members import (
    CODE_ALPHABET,
    CODE_DRAWS,
    clean_birthday,
    clean_display_name,
    clean_email,
    clean_phone,
    latest_today,
)

COLUMNS = (
    "external_id", "display_name", "phone", "email", "birthday", "tier", "joined_at", "points",
    "expires_on",
)  # fmt: skip
REQUIRED_COLUMNS = ("external_id", "display_name")
# A member's own columns: given on their first row, blank or the same on their other rows.
MEMBER_COLUMNS = ("display_name", "phone", "email", "birthday", "tier", "joined_at")
ACTOR = "system:import"
OPERATION = "importMembers"
DESCRIPTION = "Opening balance"
REASON = "Opening balance imported from another loyalty system"
BATCH_MEMBERS = 5_000
# Batches written at once, each on a connection of its own: PostgreSQL's work per row (its
# indexes and foreign keys) is most of an import's, and one batch's commit need not wait for
# the next one's rows to be built.
WRITERS = 2
EXTERNAL_ID_LENGTH = 64
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
WHOLE_NUMBER = re.compile(r"^[+-]?\d+$")
REPEATED_COLUMNS = frozenset({"birthday", "tier", "joined_at"})
UNIQUE_COLUMNS = ("phone", "email")  # per brand
Progress = Callable[[int, int], None]
_UNKNOWN = object()
ACTIVE = MemberStatus.ACTIVE.value
ADJUST = LedgerKind.ADJUST.value


@dataclass(frozen=True, slots=True)
class BadRow:
    """Why one row (or the header, line 1) cannot be imported."""

    line: int
    external_id: str  # '' when the row has none
    column: str  # '' for the row as a whole
    value: str
    reason: str

    def describe(self) -> str:
        whose = f" (external id {self.external_id})" if self.external_id else ""
        where = f", {self.column} {self.value!r}" if self.column else ""
        return f"line {self.line}{whose}{where}: {self.reason}"


@dataclass(slots=True)
class StagedMember:
    """One member of the file as they will be written, from their rows."""

    external_id: str
    line: int  # of their first row
    values: dict[str, Any] = field(default_factory=dict)  # column -> cleaned value
    lines: dict[str, int] = field(default_factory=dict)  # column -> line it was given on
    lots: list[tuple[int, datetime, int]] = field(default_factory=list)  # points, expiry, line
    points: int = 0  # of its lots


@dataclass
class ImportPlan:
    """What an import of a file would write, checked: its members new to the brand, the bad
    rows, and how many of the file's members were imported before."""

    brand: Brand
    now: datetime
    source: str
    rows: int = 0
    staged: list[StagedMember] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)
    imported_before: int = 0
    tiers: dict[int, Tier] = field(default_factory=dict)
    # False when the file could not be read to its end (not UTF-8, not CSV, a bad header):
    # then nothing is written, --skip-bad or not.
    whole: bool = True

    @property
    def members(self) -> list[StagedMember]:
        """The members to write: new, and without a bad row."""
        if not self.whole:
            return []
        bad = {row.external_id for row in self.bad_rows}
        return [member for member in self.staged if member.external_id not in bad]

    @property
    def members_left_out(self) -> int:
        """Members of the file that bad rows keep out (with --skip-bad)."""
        return len(self.staged) - len(self.members)


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    members: int  # written now
    lots: int
    points: int
    imported_before: int  # of the file's members, already the brand's (by external id)
    left_out: int  # members with bad rows, skipped


# --- Reading and checking ------------------------------------------------------------------


class _Refused(Exception):
    """A value that cannot be taken, and why."""


def _day(value: str) -> date:
    if not DAY.match(value):
        raise _Refused("not a date (YYYY-MM-DD)")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise _Refused("not a date (YYYY-MM-DD)") from None
    if day.year not in YEARS:
        raise _Refused(f"the year must be {YEARS.start} to {YEARS.stop - 1}")
    return day


def _moment(value: str, zone: ZoneInfo, now: datetime) -> datetime:
    """A date or an ISO 8601 date-time; without an offset, in the brand's timezone."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Refused(
            "not a date or date-time (ISO 8601, e.g. 2024-05-01T10:30:00+08:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    if moment.year not in YEARS:
        raise _Refused(f"the year must be {YEARS.start} to {YEARS.stop - 1}")
    if moment > now:
        raise _Refused("in the future")
    return moment.astimezone(UTC)


def _points(value: str) -> int:
    if not WHOLE_NUMBER.match(value):
        raise _Refused("not a whole number of points")
    points = int(value)
    if points <= 0:
        raise _Refused("points must be positive")
    if points > MAX_BALANCE:
        raise _Refused(f"at most {MAX_BALANCE} points")
    return points


class _Checker:
    """Reads rows into staged members, keeping every bad row."""

    def __init__(self, plan: ImportPlan, tiers: list[Tier]) -> None:
        self.plan = plan
        self.zone = ZoneInfo(plan.brand.timezone)
        self.today = plan.now.astimezone(self.zone).date()
        self.latest_today = latest_today(plan.now)
        self.default_expiry = expiry_of(plan.brand, plan.now)
        self.base_tier = min(tiers, key=lambda tier: tier.rank)
        self.tiers = {tier.code: tier for tier in tiers}
        self.members: dict[str, StagedMember] = {}
        # Where each column is in a row, once the header is read.
        self.width = 0
        self.at: dict[str, int] = {}
        self.member_columns: list[tuple[str, int]] = []
        # Values many members share (dates, tiers), cleaned once each: (column, text) -> value.
        self.known: dict[tuple[str, str], Any] = {}
        self.expiries: dict[str, datetime] = {}  # expires_on text -> when the points stop

    def bad(self, line: int, external_id: str, column: str, value: str, reason: str) -> None:
        self.plan.bad_rows.append(BadRow(line, external_id, column, value, reason))

    def header(self, record: list[str]) -> bool:
        """Whether the header names known columns, once each, the required ones among them;
        then where each column is in a row."""
        names = [name.strip().lower() for name in record]
        known = ", ".join(COLUMNS)
        for index, name in enumerate(names):
            if name not in COLUMNS:
                self.bad(1, "", name, record[index], f"unknown column; the columns are {known}")
            elif name in names[:index]:
                self.bad(1, "", name, record[index], "the column is named twice")
        for name in REQUIRED_COLUMNS:
            if name not in names:
                self.bad(1, "", name, "", "this column is required")
        if self.plan.bad_rows:
            return False
        self.width = len(names)
        self.at = {name: index for index, name in enumerate(names)}
        self.member_columns = [(name, self.at[name]) for name in MEMBER_COLUMNS if name in self.at]
        return True

    def row(self, line: int, record: list[str]) -> None:
        at = self.at
        external_id = record[at["external_id"]].strip() if len(record) > at["external_id"] else ""
        if len(record) != self.width:
            reason = f"{len(record)} fields where the header has {self.width}"
            self.bad(line, external_id, "", "", reason)
            return
        if "\x00" in "".join(record):
            self.bad(line, external_id, "", "", "a NUL character")
            return
        if not external_id:
            self.bad(line, "", "external_id", "", "required")
            return
        if len(external_id) > EXTERNAL_ID_LENGTH or not external_id.isprintable():
            reason = f"1 to {EXTERNAL_ID_LENGTH} printable characters"
            self.bad(line, external_id, "external_id", external_id, reason)
            return
        member = self.members.get(external_id)
        if member is None:
            member = self.members[external_id] = StagedMember(external_id, line)
        for column, index in self.member_columns:
            value = record[index].strip()
            if value:
                self.member_value(member, line, column, value)
        points = record[at["points"]].strip() if "points" in at else ""
        expires_on = record[at["expires_on"]].strip() if "expires_on" in at else ""
        self.lot(member, line, points, expires_on)

    def member_value(self, member: StagedMember, line: int, column: str, value: str) -> None:
        key = (column, value)
        cleaned = self.known.get(key, _UNKNOWN)
        if cleaned is _UNKNOWN:
            try:
                cleaned = self.clean(column, value)
            except (_Refused, DomainError) as error:
                reason = error.message if isinstance(error, DomainError) else str(error)
                self.bad(line, member.external_id, column, value, reason)
                return
            if column in REPEATED_COLUMNS:
                self.known[key] = cleaned
        if column not in member.values:
            member.values[column] = cleaned
            member.lines[column] = line
        elif member.values[column] != cleaned:
            self.bad(
                line,
                member.external_id,
                column,
                value,
                f"differs from line {member.lines[column]} of the same external id",
            )

    def clean(self, column: str, value: str) -> Any:
        if column == "display_name":
            return clean_display_name(value)
        if column == "phone":
            return clean_phone(value)
        if column == "email":
            return clean_email(value)
        if column == "birthday":
            return clean_birthday(_day(value), self.latest_today)
        if column == "tier":
            tier = self.tiers.get(value.upper())
            if tier is None:
                raise _Refused(f"no such tier; the brand's are {', '.join(self.tiers)}")
            return tier.id
        return _moment(value, self.zone, self.plan.now)  # joined_at

    def lot(self, member: StagedMember, line: int, points: str, expires_on: str) -> None:
        amount = expires_at = None
        if points:
            try:
                amount = _points(points)
            except _Refused as error:
                self.bad(line, member.external_id, "points", points, str(error))
        elif expires_on:
            self.bad(line, member.external_id, "points", "", "an expiry needs points")
        if expires_on:
            try:
                expires_at = self.expiry(expires_on)
            except _Refused as error:
                self.bad(line, member.external_id, "expires_on", expires_on, str(error))
                return
        if amount is None:
            return
        if member.points + amount > MAX_BALANCE:
            reason = f"the member's points would pass {MAX_BALANCE}"
            self.bad(line, member.external_id, "points", points, reason)
            return
        member.lots.append((amount, expires_at or self.default_expiry, line))
        member.points += amount

    def expiry(self, expires_on: str) -> datetime:
        """The moment points lasting through that local day stop counting."""
        known = self.expiries.get(expires_on)
        if known is not None:
            return known
        day = _day(expires_on)
        if day < self.today:
            raise _Refused(f"in the past (today is {self.today} in {self.zone.key})")
        if day.year + 1 not in YEARS:
            raise _Refused(f"the year must be {YEARS.start} to {YEARS.stop - 2}")
        expires_at = start_of_day(day + timedelta(days=1), self.zone)
        self.expiries[expires_on] = expires_at
        return expires_at

    def finish(self) -> list[StagedMember]:
        """Every member read, each with a name, defaults filled in."""
        staged = []
        for member in self.members.values():
            if "display_name" not in member.values:
                self.bad(member.line, member.external_id, "display_name", "", "required")
            member.values.setdefault("tier", self.base_tier.id)
            member.values.setdefault("joined_at", self.plan.now)
            staged.append(member)
        return staged


class _Lines:
    """A file's lines as text, decoded one at a time (a BOM before the first left out), so
    that a line that is not UTF-8 is named by its number."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.read = 0  # lines read so far

    def __iter__(self) -> Iterator[str]:
        for raw in self._source:
            self.read += 1
            yield (raw.removeprefix(codecs.BOM_UTF8) if self.read == 1 else raw).decode()


def _records(source: BinaryIO, checker: _Checker) -> Iterator[tuple[int, list[str]]]:
    """(line, fields) of each non-blank record, the header first; a file that is not UTF-8
    or not CSV ends with a bad row saying so."""
    lines = _Lines(source)
    reader = csv.reader(lines, strict=True)
    line = 1
    try:
        for record in reader:
            if record:
                yield line, record
            line = reader.line_num + 1
    except UnicodeDecodeError:
        checker.plan.whole = False
        checker.bad(lines.read, "", "", "", "not UTF-8 text; save the file as CSV UTF-8")
    except csv.Error as error:
        checker.plan.whole = False
        checker.bad(line, "", "", "", f"not CSV: {error}")


EXISTING_IDS_SQL = """
SELECT external_id FROM member WHERE brand_id = $1 AND external_id = ANY($2::text[])
"""
TAKEN_SQL = """
SELECT id, phone, email FROM member
WHERE brand_id = $1 AND (phone = ANY($2::text[]) OR email = ANY($3::text[]))
"""


async def plan_import(brand: Brand, source: BinaryIO, now: datetime, name: str = "") -> ImportPlan:
    """Read and check a whole file (UTF-8, with or without a BOM; a header row naming
    COLUMNS), writing nothing: what an import would write, and every bad row."""
    plan = ImportPlan(brand, now, name)
    tiers = await Tier.filter(brand_id=brand.id).order_by("rank")
    plan.tiers = {tier.id: tier for tier in tiers}
    checker = _Checker(plan, tiers)
    records = _records(source, checker)
    first = next(records, None)
    if first is None:
        if not plan.bad_rows:
            checker.bad(1, "", "", "", "the file is empty: a header row is needed")
        plan.whole = False
        return plan
    if not checker.header(first[1]):
        plan.whole = False
        return plan
    for line, record in records:
        plan.rows += 1
        checker.row(line, record)
    staged = checker.finish()
    connection = get_connection("default")
    existing = {
        row["external_id"]
        for row in await connection.execute_query_dict(
            EXISTING_IDS_SQL, [brand.id, [member.external_id for member in staged]]
        )
    }
    plan.imported_before = len(existing)
    # Rows of a member imported before are not theirs to judge: the rerun writes nothing.
    plan.bad_rows = [row for row in plan.bad_rows if row.external_id not in existing]
    plan.staged = [member for member in staged if member.external_id not in existing]
    await _check_unique(plan, checker)
    order = {column: index for index, column in enumerate(COLUMNS)}
    plan.bad_rows.sort(key=lambda row: (row.line, order.get(row.column, -1)))
    return plan


async def _check_unique(plan: ImportPlan, checker: _Checker) -> None:
    """Phones and emails: each one member's, within the file and in the brand."""
    owners: dict[tuple[str, str], list[StagedMember]] = defaultdict(list)
    for member in plan.staged:
        values = member.values
        for column in UNIQUE_COLUMNS:
            value = values.get(column)
            if value is not None:
                owners[column, value].append(member)
    for (column, value), members in owners.items():
        for member in members if len(members) > 1 else ():
            others = ", ".join(
                f"external id {other.external_id} (line {other.lines[column]})"
                for other in members
                if other is not member
            )
            reason = f"also the {column} of {others}"
            checker.bad(member.lines[column], member.external_id, column, value, reason)
    if not owners:
        return
    given = {
        column: [value for name, value in owners if name == column] for column in UNIQUE_COLUMNS
    }
    rows = await get_connection("default").execute_query_dict(
        TAKEN_SQL, [plan.brand.id, given["phone"], given["email"]]
    )
    for row in rows:
        owner = encode_id("Member", row["id"])
        for column in UNIQUE_COLUMNS:
            for member in owners.get((column, row[column]), ()):
                reason = f"already member {owner}'s"
                checker.bad(member.lines[column], member.external_id, column, row[column], reason)


# --- Writing ---------------------------------------------------------------------------------

# A batch's members are copied straight into `member`. Only when a concurrent run of the same
# file wrote one of them meanwhile (their external id's unique constraint) is the batch written
# again through a temporary table, skipping those (ON CONFLICT DO NOTHING).
MEMBER_TABLE_COLUMNS = (
    "id", "brand_id", "external_id", "display_name", "phone", "email", "birthday",
    "birthday_set_at", "referral_code", "member_code", "status", "marketing_email",
    "marketing_sms", "marketing_push", "marketing_wechat", "joined_at", "tier_id",
    "tier_floor_id", "tier_floor_until",
)  # fmt: skip
STAGE_SQL = "CREATE TEMPORARY TABLE import_member (LIKE member INCLUDING DEFAULTS) ON COMMIT DROP"
# Ids drawn ahead, so that every row is written knowing its member's and entry's.
NEW_IDS_SQL = """
SELECT ARRAY(SELECT nextval(pg_get_serial_sequence('member', 'id'))
             FROM generate_series(1, $1)) AS members,
       ARRAY(SELECT nextval(pg_get_serial_sequence('ledger_entry', 'id'))
             FROM generate_series(1, $2)) AS entries
"""
INSERT_MEMBERS_SQL = f"""
INSERT INTO member ({", ".join(MEMBER_TABLE_COLUMNS)})
SELECT {", ".join(MEMBER_TABLE_COLUMNS)} FROM import_member ORDER BY id
ON CONFLICT (brand_id, external_id) DO NOTHING
RETURNING id
"""
BALANCE_COLUMNS = (
    "member_id", "available", "lifetime_earned", "lifetime_redeemed", "version", "shortfall",
)  # fmt: skip
ENTRY_COLUMNS = (
    "id", "brand_id", "member_id", "kind", "points", "balance_after", "version", "description",
    "created_at", "actor", "expires_at", "breakdown", "reason", "shortfall", "tier_id",
)  # fmt: skip
LOT_COLUMNS = ("member_id", "entry_id", "points", "remaining", "earned_at", "expires_at")
AUDIT_SQL = """
INSERT INTO audit_entry (brand_id, actor, operation, targets, input, request_id, created_at)
VALUES ($1, $2, $3, '[]', $4::jsonb, '-', $5)
"""
# Last, so the rows that movements of the brand's other members write too are held for the
# commit alone; in key order, as movements write them (domain/insights/rollups.py).
EXPIRY_ROLLUP_SQL = """
INSERT INTO expiry_rollup AS x (brand_id, month, shard, points)
SELECT $1, month, shard, points FROM unnest($2::date[], $3::smallint[], $4::bigint[])
    AS added (month, shard, points)
ORDER BY month, shard
ON CONFLICT (brand_id, month, shard) DO UPDATE SET points = x.points + excluded.points
"""


@dataclass(frozen=True, slots=True)
class _Written:
    members: int
    lots: int
    points: int


async def write_import(
    plan: ImportPlan,
    *,
    skip_bad: bool = False,
    progress: Progress | None = None,
    batch_members: int = BATCH_MEMBERS,
) -> ImportOutcome:
    """Write the plan's members, a batch per transaction. With bad rows, nothing unless
    `skip_bad` (then their members are left out), and nothing of a file not read whole. A
    member a run before imported (or a concurrent run imports meanwhile) is skipped."""
    if not plan.whole:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "The file could not be read whole: nothing written.", ["file"]
        )
    if plan.bad_rows and not skip_bad:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"{len(plan.bad_rows)} bad rows: nothing written.", ["file"]
        )
    members = plan.members
    batches = iter([members[start : start + batch_members]
                    for start in range(0, len(members), batch_members)])  # fmt: skip
    written = _Written(0, 0, 0)
    done = 0
    failures: list[BaseException] = []

    async def writer() -> None:
        nonlocal written, done
        for batch in batches:  # shared: each batch is taken by one writer
            if failures:
                return  # no new batch once one failed; one under way finishes
            try:
                made = await _write_batch(plan, batch)
            except BaseException as failure:
                failures.append(failure)
                return
            written = _Written(
                written.members + made.members,
                written.lots + made.lots,
                written.points + made.points,
            )
            done += len(batch)
            if progress is not None:
                progress(done, len(members))

    await asyncio.gather(*(writer() for _ in range(WRITERS)))
    if failures:
        raise failures[0]
    return ImportOutcome(
        members=written.members,
        lots=written.lots,
        points=written.points,
        imported_before=plan.imported_before + len(members) - written.members,
        left_out=plan.members_left_out,
    )


async def _write_batch(plan: ImportPlan, batch: list[StagedMember]) -> _Written:
    """One transaction: again, skipping members a concurrent run imported meanwhile, or with
    new codes where another member took one meanwhile."""
    careful, draws_left = False, CODE_DRAWS
    while True:
        try:
            return await _write_once(plan, batch, careful=careful)
        except asyncpg.UniqueViolationError as error:
            constraint = error.constraint_name or ""
            if constraint == "member_external_id" and not careful:
                careful = True
            elif constraint in ("member_member_code", "member_referral_code") and draws_left > 1:
                draws_left -= 1
            elif constraint in ("member_brand_phone", "member_brand_email"):
                column = constraint.removeprefix("member_brand_")
                raise DomainError(
                    ErrorCode.DUPLICATE,
                    f"The members of lines {batch[0].line} to {batch[-1].line} were not "
                    f"written: a member registered meanwhile has one of their {column}s. Run "
                    "the import again: it skips whom it imported and checks the rest.",
                    [column],
                ) from None
            else:
                raise


# A byte's low five bits pick one of CODE_ALPHABET's 32 characters, evenly.
_CODE_OF_BYTE = bytes(CODE_ALPHABET[byte % 32].encode()[0] for byte in range(256))


def _codes(count: int) -> list[str]:
    """`count` distinct member or referral codes, drawn as domain/members.py `new_code` draws
    them (eight of CODE_ALPHABET's characters), many at once."""
    drawn: set[str] = set()
    while len(drawn) < count:
        text = secrets.token_bytes(8 * (count - len(drawn))).translate(_CODE_OF_BYTE).decode()
        drawn.update(text[start : start + 8] for start in range(0, len(text), 8))
    return list(drawn)


@dataclass(slots=True)
class _Rows:
    """One member's rows, as they are copied into each table."""

    member: tuple[Any, ...]
    balance: tuple[Any, ...]
    entry: tuple[Any, ...] | None = None
    lots: list[tuple[Any, ...]] = field(default_factory=list)


def _months_after(moment: datetime, months: int) -> datetime:
    """The same moment `months` later (the day clamped to the month's end)."""
    day = add_months(moment.date(), months)
    return moment.replace(year=day.year, month=day.month, day=day.day)


def _rows_of(plan: ImportPlan, batch: list[StagedMember], ids: asyncpg.Record) -> list[_Rows]:
    brand, now = plan.brand, plan.now
    held_until = _months_after(now, brand.tier_window_months)
    codes = _codes(2 * len(batch))
    member_ids, entry_ids = iter(ids["members"]), iter(ids["entries"])
    written = []
    for number, member in enumerate(batch):
        values, member_id, points = member.values, next(member_ids), member.points
        tier = plan.tiers[values["tier"]]
        floor = (tier.id, held_until) if tier.rank > 0 else (None, None)
        birthday = values.get("birthday")
        rows = _Rows(
            member=(
                member_id, brand.id, member.external_id, values["display_name"],
                values.get("phone"), values.get("email"), birthday, now if birthday else None,
                codes[2 * number], codes[2 * number + 1], ACTIVE, False, False, False, False,
                values["joined_at"], tier.id, *floor,
            ),
            balance=(member_id, points, points, 0, 1 if points else 0, 0),
        )  # fmt: skip
        if points:
            entry_id = next(entry_ids)
            lots = sorted(member.lots, key=lambda lot: lot[1])
            breakdown = [{"rule": "import", "description": DESCRIPTION, "points": points}]
            rows.entry = (
                entry_id, brand.id, member_id, ADJUST, points, points, 1,
                DESCRIPTION, now, ACTOR, lots[0][1], orjson.dumps(breakdown).decode(), REASON,
                0, tier.id,
            )  # fmt: skip
            rows.lots = [(member_id, entry_id, lot[0], lot[0], now, lot[1]) for lot in lots]
        written.append(rows)
    return written


async def _write_once(plan: ImportPlan, batch: list[StagedMember], *, careful: bool) -> _Written:
    brand, now = plan.brand, plan.now
    zone = ZoneInfo(brand.timezone)
    async with in_transaction() as transaction:
        connection: asyncpg.Connection = transaction_connection(transaction)
        with_points = sum(1 for member in batch if member.lots)
        ids = await connection.fetchrow(NEW_IDS_SQL, len(batch), with_points)
        assert ids is not None  # one row: the two arrays
        rows = _rows_of(plan, batch, ids)
        members = [one.member for one in rows]
        if careful:
            await connection.execute(STAGE_SQL)
            await connection.copy_records_to_table(
                "import_member", records=members, columns=MEMBER_TABLE_COLUMNS
            )
            made = {row["id"] for row in await connection.fetch(INSERT_MEMBERS_SQL)}
            rows = [one for one in rows if one.member[0] in made]  # the others are theirs
        else:
            await connection.copy_records_to_table(
                "member", records=members, columns=MEMBER_TABLE_COLUMNS
            )
        entries = [one.entry for one in rows if one.entry is not None]
        lots = [lot for one in rows for lot in one.lots]
        tables = (
            ("balance", [one.balance for one in rows], BALANCE_COLUMNS),
            ("ledger_entry", entries, ENTRY_COLUMNS),
            ("lot", lots, LOT_COLUMNS),
        )
        for table, records, columns in tables:
            if records:
                await connection.copy_records_to_table(table, records=records, columns=columns)
        points = sum(entry[4] for entry in entries)
        audit_input = {"file": plan.source, "members": len(rows), "lots": len(lots),
                       "points": points}  # fmt: skip
        await connection.execute(
            AUDIT_SQL, brand.id, ACTOR, OPERATION, orjson.dumps(audit_input).decode(), now
        )
        expiring: dict[tuple[date, int], int] = defaultdict(int)
        for member_id, _, lot_points, _, _, expires_at in lots:
            expiring[month_of(expires_at, zone), member_id % SHARDS] += lot_points
        if expiring:
            keys = sorted(expiring)
            await connection.execute(
                EXPIRY_ROLLUP_SQL, brand.id, [month for month, _ in keys],
                [shard for _, shard in keys], [expiring[key] for key in keys],
            )  # fmt: skip
    return _Written(len(rows), len(lots), points)


# --- Exporting -------------------------------------------------------------------------------

COUNT_SQL = "SELECT COUNT(*) AS members FROM member WHERE brand_id = $1 AND status <> $2"
# A member's available points by the last local day they count (a lot expiring at local
# midnight counts through the day before), one row per day; a member without any, one row.
# Points held pending are not available until their release (domain/ledger/reads.py).
EXPORT_SQL = """
SELECT m.id, m.external_id, m.display_name, m.phone, m.email, m.birthday, t.code AS tier,
       m.joined_at, lots.expires_on, lots.points
FROM member m
JOIN tier t ON t.id = m.tier_id
LEFT JOIN LATERAL (
    SELECT ((expires_at - interval '1 microsecond') AT TIME ZONE $2)::date AS expires_on,
           SUM(remaining) AS points
    FROM lot
    WHERE member_id = m.id AND expired_at IS NULL AND remaining > 0 AND expires_at > $3
      AND (held_until IS NULL OR held_until <= $3)
    GROUP BY 1
) lots ON true
WHERE m.brand_id = $1 AND m.status <> $4
ORDER BY m.id, lots.expires_on
"""
PROGRESS_EVERY = 1_000


async def export_members(
    brand: Brand, stream: TextIO, now: datetime, progress: Progress | None = None
) -> int:
    """Write the brand's members (closed ones left out) in COLUMNS, a row per expiry date of
    their available points, through a server-side cursor; how many members were written.
    A member registered here (without an external id) is named by their global id."""
    zone = ZoneInfo(brand.timezone)
    writer = csv.writer(stream)
    writer.writerow(COLUMNS)
    closed = MemberStatus.CLOSED.value
    async with in_transaction() as transaction:
        connection: asyncpg.Connection = transaction_connection(transaction)
        total = await connection.fetchval(COUNT_SQL, brand.id, closed)
        done, last = 0, None
        cursor = connection.cursor(EXPORT_SQL, brand.id, brand.timezone, now, closed, prefetch=2000)
        async for row in cursor:
            if row["id"] != last:
                last = row["id"]
                done += 1
                if progress is not None and done % PROGRESS_EVERY == 0:
                    progress(done, total)
            writer.writerow(
                (
                    row["external_id"] or encode_id("Member", row["id"]),
                    row["display_name"],
                    row["phone"] or "",
                    row["email"] or "",
                    row["birthday"].isoformat() if row["birthday"] else "",
                    row["tier"],
                    row["joined_at"].astimezone(zone).isoformat(timespec="seconds"),
                    row["points"] if row["points"] is not None else "",
                    row["expires_on"].isoformat() if row["expires_on"] else "",
                )
            )
    if progress is not None:
        progress(done, total)
    return done
