"""The Node clients our users use (graphql-ws, graphql-http, the typed-client compilers), run
from the tests. `package.json` and its lock at the project's root name them; the first test that
needs them installs them with `npm ci`, so `pytest` on a fresh clone needs nothing else."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).resolve().parents[2]
NODE_MODULES = PROJECT / "node_modules"
LOCK = PROJECT / "package-lock.json"
INSTALLED_STAMP = NODE_MODULES / ".package-lock.json"  # npm writes it on every install


def ensure_node_clients() -> Path:
    """node_modules as the lock file names it; installed once, under a file lock."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("Node 20 and npm are needed for the client tests: install Node.js 20")
    with open(PROJECT / ".npm-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _installed():
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=PROJECT,
                check=True,
                timeout=600,
            )
    return NODE_MODULES


def _installed() -> bool:
    if not INSTALLED_STAMP.exists():
        return False
    return INSTALLED_STAMP.stat().st_mtime >= LOCK.stat().st_mtime


def run_node(
    script: Path | str,
    *args: str,
    input: Any = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run a Node script of the tests (ES module) with `input` as JSON on its standard input."""
    ensure_node_clients()
    return subprocess.run(
        ["node", str(script), *args],
        cwd=PROJECT,
        input=json.dumps(input) if input is not None else None,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def run_bin(name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a command that one of the Node packages installs (node_modules/.bin)."""
    ensure_node_clients()
    return subprocess.run(
        [str(NODE_MODULES / ".bin" / name), *args],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
