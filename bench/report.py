"""What the benchmarks print: rows of figures (rate, latency, ratio to a baseline, CPU per
request), as lines while they run and as markdown tables at the end."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.load import PYTHON_GENERATOR, LoadResult, percentile

CPU_PARTS = ("app", "PostgreSQL")  # whose CPU a row's cpu_ms holds, unless a table says more
PYTHON_NOTE = (
    "Load from a Python process (wrk not installed): it competes with the servers "
    "for the same cores, so rates are understated; `apt-get install wrk` for real figures."
)


def load_average() -> str:
    """The machine's 1-minute load average and cores: other work skews every figure."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


# --- Loads against one baseline scenario -----------------------------------------------------


def describe(name: str, result: LoadResult, baseline: LoadResult) -> str:
    """One scenario's figures on a line, with its rate as a ratio to the baseline's."""
    errors = f", {result.errors} ERRORS" if result.errors else ""
    return (
        f"{name:<34} {result.rate:>9,.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
        f"p99 {result.p99_ms:7.2f} ms  x{result.rate / baseline.rate:.3f} of baseline"
        f"  ({result.requests:,} requests in {result.seconds:.1f} s{errors})"
    )


def markdown_table(results: dict[str, LoadResult], baseline: str) -> str:
    """scenario | req/s | p50 ms | p99 ms | ratio to the baseline scenario's rate."""
    base = results[baseline].rate
    lines = [
        "| scenario | req/s | p50 ms | p99 ms | ratio to baseline |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {name} | {r.rate:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.rate / base:.3f} |"
            for name, r in results.items()
        ),
    ]
    return "\n".join(lines)


def generator_note(results: dict[str, LoadResult]) -> str:
    """How the load was generated, to print with the figures."""
    if any(r.generator == PYTHON_GENERATOR for r in results.values()):
        return PYTHON_NOTE
    return "Load from wrk on the same machine (it takes a little of the servers' CPU too)."


# --- Rows of figures: rate, latency, ratio and CPU per request -------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    rate: float | None  # None for requests sent one at a time
    p50_ms: float
    p99_ms: float
    errors: int = 0
    ratio: float | None = None  # rate as a share of the baseline's
    cpu_ms: tuple[float, ...] | None = None  # CPU ms per request: application, PostgreSQL, ...
    of: str | None = None  # which baseline the ratio is to, where a table has several


def load_row(name: str, result: LoadResult, **notes: Any) -> Row:
    return Row(name, result.rate, result.p50_ms, result.p99_ms, result.errors, **notes)


def sequential_row(name: str, latencies: list[float]) -> Row:
    return Row(name, None, percentile(latencies, 50), percentile(latencies, 99))


def cpu_ms(*seconds: float, requests: int) -> tuple[float, ...]:
    """CPU seconds (application, PostgreSQL, ...) as ms per request."""
    return tuple(part * 1000 / max(requests, 1) for part in seconds)


def _ratio(row: Row) -> str:
    if row.ratio is None:
        return "-"
    return f"{row.ratio:.3f}" + (f" of {row.of}" if row.of else "")


def describe_row(row: Row, cpu_parts: Sequence[str] = CPU_PARTS) -> str:
    rate = f"{row.rate:>9,.0f}/s" if row.rate is not None else " " * 11
    notes = [f"p50 {row.p50_ms:8.2f} ms", f"p99 {row.p99_ms:8.2f} ms"]
    if row.ratio is not None:
        notes.append(f"x{_ratio(row)}" if row.of else f"x{row.ratio:.3f} of baseline")
    if row.cpu_ms is not None:
        named = zip(row.cpu_ms, cpu_parts, strict=True)
        parts = " + ".join(f"{ms:.2f} ms {part}" for ms, part in named)
        notes.append(f"CPU/req {parts}")
    if row.errors:
        notes.append(f"{row.errors:,} ERRORS")
    return f"{row.name:<58} {rate}  " + "  ".join(notes)


def rows_table(rows: list[Row], cpu_parts: Sequence[str] = CPU_PARTS) -> str:
    lines = [
        "| scenario | per s | p50 ms | p99 ms | ratio to baseline | CPU ms/req: "
        + " + ".join(cpu_parts)
        + " |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        name = f"{row.name} ({row.errors:,} errors)" if row.errors else row.name
        rate = f"{row.rate:,.0f}" if row.rate is not None else "-"
        cpu = " + ".join(f"{ms:.2f}" for ms in row.cpu_ms) if row.cpu_ms else "-"
        lines.append(
            f"| {name} | {rate} | {row.p50_ms:.1f} | {row.p99_ms:.1f} | {_ratio(row)} | {cpu} |"
        )
    return "\n".join(lines)
