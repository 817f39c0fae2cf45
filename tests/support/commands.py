"""The `pointsmall` command, run as its own process: with a clean environment, or against the
test's backends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

POINTSMALL = Path(sys.executable).parent / "pointsmall"
BACKEND_VARIABLES = ("DATABASE_URL", "REDIS_URL")


def clean_environment() -> dict[str, str]:
    """This process's environment without backends and without any POINTSMALL_* setting."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("POINTSMALL_") and name not in BACKEND_VARIABLES
    }


def environment_on(settings: Any) -> dict[str, str]:
    """A clean environment naming the test's database, Redis and key prefix."""
    return {
        **clean_environment(),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "POINTSMALL_REDIS_PREFIX": settings.redis_prefix,
    }


def pointsmall(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`pointsmall ARGS` run to its end with a clean environment and `env`, its output kept."""
    return subprocess.run(
        [str(POINTSMALL), *args],
        env={**clean_environment(), **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def pointsmall_on(settings: Any, *args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    """`pointsmall ARGS` run to its end on the test's backends, its output kept unless `options`
    (for subprocess.run) send it elsewhere."""
    if "stdout" not in options and "stderr" not in options:
        options.setdefault("capture_output", True)
    return subprocess.run(
        [str(POINTSMALL), *args],
        env=environment_on(settings),
        text=True,
        timeout=120,
        check=False,
        **options,
    )


def pointsmall_process(settings: Any, *arguments: str) -> subprocess.Popen:
    """`pointsmall ARGUMENTS` started on the test's backends, its output piped."""
    return subprocess.Popen(
        [str(POINTSMALL), *arguments],
        env=environment_on(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
