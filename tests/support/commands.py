"""The `pointsmall` command, run as its own process against the test's backends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

POINTSMALL = Path(sys.executable).parent / "pointsmall"


def pointsmall_process(settings: Any, *arguments: str) -> subprocess.Popen:
    """`pointsmall ARGUMENTS` started on the test's database, Redis and key prefix (no other
    POINTSMALL_* setting of the test's own environment)."""
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("POINTSMALL")},
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "POINTSMALL_REDIS_PREFIX": settings.redis_prefix,
    }
    return subprocess.Popen(
        [str(POINTSMALL), *arguments],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
