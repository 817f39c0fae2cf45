"""Servers a benchmark starts: uvicorn serving an app factory, as `pointsmall serve` does, and
the processes each is made of."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

import httpx

from server.cli import WEBSOCKETS

SERVICE_FACTORY = "server.app:create_app_from_environment"
READY_TIMEOUT_SECONDS = 30.0
PROJECT_ROOT = Path(__file__).resolve().parent.parent

_servers: dict[str, int] = {}  # base URL -> pid of the uvicorn serving it
_logs: dict[str, IO[bytes]] = {}  # base URL -> the file its output goes to


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.asynccontextmanager
async def serve(
    factory: str, *, workers: int, env: dict[str, str] | None = None
) -> AsyncIterator[str]:
    """uvicorn serving the app factory with N workers on a free port; yields its base URL.

    Served like `pointsmall serve` does, less the access log, which would be measured too.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        *(sys.executable, "-m", "uvicorn", factory, "--factory"),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
        *("--log-level", "warning", "--no-access-log", "--ws-per-message-deflate", "false"),
        *("--ws", WEBSOCKETS),
    ]
    # A session of its own: Ctrl-C reaches the bench alone, which then stops the server.
    # Its logs go to a file, shown only if it fails to start, to keep the figures readable.
    with tempfile.TemporaryFile() as log:
        process = await asyncio.create_subprocess_exec(
            *command,
            env={**os.environ, **(env or {})},
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            await _wait_ready(url, process, log)
            _servers[url], _logs[url] = process.pid, log
            yield url
        finally:
            _servers.pop(url, None)
            _logs.pop(url, None)
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 15)
                except TimeoutError:
                    os.killpg(process.pid, signal.SIGKILL)  # the workers too: its session
                    await process.wait()


async def _wait_ready(url: str, process: asyncio.subprocess.Process, log: IO[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    async with httpx.AsyncClient(timeout=1) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    log.seek(0)
    tail = log.read().decode(errors="replace")[-3000:]
    raise RuntimeError(f"server at {url} did not become ready; its log ends:\n{tail}")


def server_log(url: str, chars: int = 3000) -> str:
    """The end of what the server at `url` has logged (read without moving the shared offset
    its processes write at)."""
    fd = _logs[url].fileno()
    size = os.fstat(fd).st_size
    start = max(0, size - chars)
    return os.pread(fd, size - start, start).decode(errors="replace")


def server_pids(url: str) -> list[int]:
    """The processes of the server at `url`: uvicorn and its workers."""
    return process_tree(_servers[url])


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, pending = [], [pid]
    while pending:
        tree.append(current := pending.pop())
        pending.extend(children.get(current, []))
    return tree
