"""Importing members from another loyalty system, and exporting them.

    python -m bench.imports [--members 100000] [--runs 3] [--batch 5000] [--no-cli]

On a database and Redis prefix of the run's own: a CSV of --members members is written once
(UTF-8 with a BOM, as spreadsheets save it): each with a phone, an email, a birthday, a joined
date, one tier of three (BASE, SILVER, GOLD), and one opening lot or two (every other member:
1.5 lots a member), expiring 1 to 24 months from now. Each run imports the file into a brand
of its own (with the same tiers), in this process, through the functions the command runs:

  check   domain.member_import.plan_import: read and check every row (nothing written)
  write   domain.member_import.write_import: the batches (COPY, then INSERT ... SELECT)
  rerun   plan_import of the same file again: every member imported before, nothing to write
  export  domain.member_import.export_members to a file, through a server-side cursor

Members per second are of check + write, the import's whole work (target >= 5,000/s);
beside them, the CPU both took, here and in PostgreSQL, and how long they waited for a core
(the machine's other work), since the wall-clock figures follow the machine's load.
Checked after each run: the ledger audit finds the brand clean, and its balances and
expiry roll-up add up to the file's points. Then, unless --no-cli, `pointsmall import
members` imports the file once more into a new brand, timed end to end as a user runs it
(process start and the embedded-backend check included). Medians of --runs runs.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.backends import Backends, database, own_backends
from bench.cli import run
from bench.cpu import backend_pids, cpu_seconds, cpu_used, cpu_wait_seconds
from bench.report import load_average
from db.models import Brand
from domain.brands import create_brand
from domain.ledger.audit import audit
from domain.member_import import COLUMNS, export_members, plan_import, write_import
from domain.principal import Principal, Role
from domain.tiers import TierSpec, save_tier

TIERS = (("SILVER", 1, 1_000), ("GOLD", 2, 5_000))
POINTSMALL = Path(sys.executable).parent / "pointsmall"


def write_file(path: Path, members: int, today: date, seed: int = 7) -> tuple[int, int]:
    """The CSV to import; returns (lots, points) in it."""
    chooser = random.Random(seed)
    lots = points = 0
    with path.open("w", newline="", encoding="utf-8-sig") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        for number in range(members):
            member = [
                f"OLD-{number:07d}",
                f"Member {number}",
                f"+86139{number:08d}",
                f"member{number}@example.com",
                (date(1960, 1, 1) + timedelta(days=chooser.randrange(16_000))).isoformat(),
                chooser.choice(("", "BASE", "SILVER", "GOLD")),
                (today - timedelta(days=chooser.randrange(1, 3_000))).isoformat(),
            ]
            for lot in range(1 + number % 2):
                amount = chooser.randrange(1, 5_000)
                expires_on = today + timedelta(days=chooser.randrange(30, 730))
                # The member's columns on their first row only, as the README allows.
                writer.writerow(
                    [*(member if lot == 0 else [member[0], *[""] * 6]), amount, expires_on]
                )
                lots += 1
                points += amount
    return lots, points


async def new_brand(run: str) -> Brand:
    brand = await create_brand(f"imp{run}", "Imported Brand", timezone="Asia/Shanghai")
    admin = Principal(Role.ADMIN, brand.id, brand.code, "bench")
    for code, rank, threshold in TIERS:
        spec = TierSpec(code=code, name=code.title(), rank=rank, qualifying_points=threshold)
        await save_tier(admin, spec, uuid.uuid4().hex)
    return brand


async def checked_books(database_url: str, brand: Brand, lots: int, points: int) -> None:
    """The audit is clean, and the balances and expiry roll-up hold the file's points."""
    findings = await audit(brand_id=brand.id)
    assert not findings, findings[:3]
    db = await asyncpg.connect(database_url)
    try:
        held = await db.fetchval(
            "SELECT SUM(b.available) FROM balance b JOIN member m ON m.id = b.member_id"
            " WHERE m.brand_id = $1",
            brand.id,
        )
        rolled = await db.fetchval(
            "SELECT SUM(points) FROM expiry_rollup WHERE brand_id = $1", brand.id
        )
        written = await db.fetchval(
            "SELECT COUNT(*) FROM lot l JOIN member m ON m.id = l.member_id WHERE m.brand_id = $1",
            brand.id,
        )
    finally:
        await db.close()
    assert held == rolled == points, (held, rolled, points)
    assert written == lots, (written, lots)


async def cpu_snapshot(db: asyncpg.Connection) -> tuple[dict[int, float], ...]:
    """CPU and core-waiting seconds of this process and of the run database's backends."""
    backends = await backend_pids(db)
    return (
        cpu_seconds([os.getpid()]),
        cpu_seconds(backends),
        cpu_wait_seconds([os.getpid(), *backends]),
    )


def cpu_since(
    before: tuple[dict[int, float], ...], after: tuple[dict[int, float], ...]
) -> tuple[float, float, float]:
    """(this process's CPU, PostgreSQL's CPU, seconds both waited for a core) in between."""
    python, postgres, waited = (
        cpu_used(then, now) for then, now in zip(before, after, strict=True)
    )
    return python, postgres, waited


def cli_run(backends: Backends, path: Path, brand_code: str) -> tuple[float, str]:
    """`pointsmall import members` as a user runs it: wall seconds, and its summary with its
    peak memory (by GNU time, when the machine has it)."""
    env = {**os.environ, "DATABASE_URL": backends.database_url}
    command = [str(POINTSMALL), "import", "members", str(path), "--brand", brand_code]
    timer = ["/usr/bin/time", "-f", "%M"] if Path("/usr/bin/time").exists() else []
    started = time.monotonic()
    result = subprocess.run(
        [*timer, *command], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    if timer:
        peak = int(result.stderr.strip().splitlines()[-1]) / 1024
        summary += f" Peak memory {peak:,.0f} MB."
    return seconds, summary


async def main(arguments: argparse.Namespace) -> None:
    members = arguments.members
    async with own_backends() as backends, database(backends.database_url):
        with tempfile.TemporaryDirectory(prefix="pm-import-") as directory:
            path = Path(directory) / "members.csv"
            today = datetime.now(UTC).date()
            lots, points = write_file(path, members, today)
            size = path.stat().st_size / 1e6
            print(f"{members:,} members, {lots:,} lots, {points:,} points; {size:.1f} MB")
            figures: dict[str, list[float]] = {
                "check": [], "write": [], "members/s": [], "rerun": [], "export": [],
                "CPU ms per 1,000: Python": [], "CPU ms per 1,000: PostgreSQL": [],
                "waiting for a core, s": [],
            }  # fmt: skip
            db = await asyncpg.connect(backends.database_url)
            for run in range(arguments.runs):
                brand = await new_brand(f"{uuid.uuid4().hex[:8]}")
                cpu_before = await cpu_snapshot(db)
                started = time.monotonic()
                with path.open("rb") as source:
                    plan = await plan_import(brand, source, datetime.now(UTC), path.name)
                checked = time.monotonic()
                assert not plan.bad_rows, plan.bad_rows[:3]
                outcome = await write_import(plan, batch_members=arguments.batch)
                written = time.monotonic()
                python_cpu, postgres_cpu, waited = cpu_since(cpu_before, await cpu_snapshot(db))
                assert outcome.members == members, outcome
                await checked_books(backends.database_url, brand, lots, points)
                rerun_started = time.monotonic()
                with path.open("rb") as source:
                    again = await plan_import(brand, source, datetime.now(UTC), path.name)
                rerun = time.monotonic() - rerun_started
                assert again.imported_before == members and not again.members
                export_started = time.monotonic()
                with (Path(directory) / "export.csv").open("w", newline="") as stream:
                    exported = await export_members(brand, stream, datetime.now(UTC))
                export = time.monotonic() - export_started
                assert exported == members
                row = {
                    "check": checked - started,
                    "write": written - checked,
                    "members/s": members / (written - started),
                    "rerun": rerun,
                    "export": export,
                    "CPU ms per 1,000: Python": python_cpu * 1e6 / members,
                    "CPU ms per 1,000: PostgreSQL": postgres_cpu * 1e6 / members,
                    "waiting for a core, s": waited,
                }
                for name, value in row.items():
                    figures[name].append(value)
                print(
                    f"run {run + 1}: check {row['check']:.2f} s, write {row['write']:.2f} s, "
                    f"{row['members/s']:,.0f} members/s; rerun {rerun:.2f} s; "
                    f"export {export:.2f} s; CPU {python_cpu:.1f} s here, {postgres_cpu:.1f} s "
                    f"in PostgreSQL, {waited:.1f} s waiting for a core; {load_average()}"
                )
            await db.close()
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"peak memory of this process: {peak:,.0f} MB (its runs, reruns and exports)")
            print("\n| measure | median | runs |\n|---|---:|---|")
            for name, values in figures.items():
                unit = " s" if name in ("check", "write", "rerun", "export") else ""
                shown = ", ".join(f"{value:,.2f}" for value in values)
                print(f"| {name} | {statistics.median(values):,.2f}{unit} | {shown} |")
            if not arguments.no_cli:
                brand = await new_brand(f"{uuid.uuid4().hex[:8]}")
                seconds, summary = cli_run(backends, path, brand.code)
                await checked_books(backends.database_url, brand, lots, points)
                print(f"\npointsmall import members: {seconds:.1f} s wall ({summary})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=5_000, help="members per transaction")
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI run")
    run(main(parser.parse_args()))
