"""Counting what the code sends to PostgreSQL and Redis, for tests that pin those numbers (in
Django's `assertNumQueries` way): `async with recording() as calls: ...`, then
`calls.assert_counts(sql=5, redis=2)`.

Nothing is mocked: every statement and command still goes to the real server. The client
libraries' entry points are wrapped while a recording is open:
- SQL: asyncpg's `Connection.execute` (a script without arguments), `Connection._execute`
  (every statement with arguments, and every `fetch`, `fetchrow`, `fetchval`; Tortoise's
  queries and transactions' BEGIN / COMMIT / ROLLBACK all go through these) and
  `Connection._executemany` (one entry, marked with its number of rows). asyncpg's own look-up
  of unknown types on a fresh connection is recorded apart, as upkeep.
- Redis: redis-py's `send_packed_command`, the one place every command is written to the
  socket, alone or in a pipeline; what is written is split back into its commands, so a
  pipeline of three is three commands, and a transaction's MULTI and EXEC are two more (they
  are commands Redis runs). A connection's handshake and redis-py's health-check PING are
  recorded apart, as upkeep: they depend on the pool's state, not on the code under test.

A recording sees only what its own task sends, and the tasks that task starts while it is
open (a context variable marks them): background work of the process (the event bus's
listener, the scheduler, a test's other tasks) is never counted. Work a recorded task starts
that outlives the recording is counted only up to its end.

`_execute`, `_executemany` and `_introspect_types` are asyncpg's own names (0.29 to 0.32): a
release that renames them fails at the wrap (KeyError), and one that sends by another way
fails tests/performance's checks of the counter itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from asyncpg.connection import Connection as PgConnection
from redis.asyncio.connection import AbstractConnection as RedisConnection


@dataclass
class Recording:
    """The statements (SQL) and commands (Redis) sent while it was open, in order."""

    sql: list[str] = field(default_factory=list)
    redis: list[str] = field(default_factory=list)
    sql_upkeep: list[str] = field(default_factory=list)
    redis_upkeep: list[str] = field(default_factory=list)
    open: bool = True

    def report(self) -> str:
        """Every statement and command seen, numbered, for a failure's message."""
        lines = [f"{len(self.sql)} SQL statements:"]
        lines += [f"  {number}. {text}" for number, text in enumerate(self.sql, 1)]
        lines.append(f"{len(self.redis)} Redis commands:")
        lines += [f"  {number}. {text}" for number, text in enumerate(self.redis, 1)]
        if self.sql_upkeep or self.redis_upkeep:
            lines.append("not counted (connection upkeep):")
            lines += [f"  SQL   {text}" for text in self.sql_upkeep]
            lines += [f"  Redis {text}" for text in self.redis_upkeep]
        return "\n".join(lines)

    def assert_counts(self, *, sql: int, redis: int, case: str = "") -> None:
        """Fail, listing what was sent, unless exactly `sql` statements and `redis` commands
        were; `case` names what was counted in the message."""
        if (len(self.sql), len(self.redis)) != (sql, redis):
            raise AssertionError(
                f"{case + ': ' if case else ''}expected {sql} SQL statements and {redis} "
                f"Redis commands, saw {len(self.sql)} and {len(self.redis)}:\n{self.report()}"
            )


_recording: contextvars.ContextVar[Recording | None] = contextvars.ContextVar(
    "backend_calls_recording", default=None
)
_upkeep: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "backend_calls_upkeep", default=False
)

SHOWN_CHARACTERS = 160


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 1] + "…"


def _record_sql(text: str) -> None:
    recording = _recording.get()
    if recording is None or not recording.open:
        return
    (recording.sql_upkeep if _upkeep.get() else recording.sql).append(_shown(text))


def _record_redis(packed: bytes | str | Iterable[bytes]) -> None:
    recording = _recording.get()
    if recording is None or not recording.open:
        return
    target = recording.redis_upkeep if _upkeep.get() else recording.redis
    target.extend(_shown(" ".join(command)) for command in redis_commands(packed))


def redis_commands(packed: bytes | str | Iterable[bytes]) -> list[list[str]]:
    """The commands in what redis-py writes to the socket (RESP arrays of bulk strings), each
    as its arguments; long arguments (a script's body) shortened."""
    if isinstance(packed, str):
        data = packed.encode()
    elif isinstance(packed, bytes | bytearray | memoryview):
        data = bytes(packed)
    else:
        data = b"".join(bytes(chunk) for chunk in packed)
    commands: list[list[str]] = []
    position = 0
    while position < len(data):
        if data[position : position + 1] != b"*":
            raise ValueError(f"not a RESP array at byte {position}: {data[position:][:40]!r}")
        end = data.index(b"\r\n", position)
        count = int(data[position + 1 : end])
        position = end + 2
        arguments = []
        for _ in range(count):
            end = data.index(b"\r\n", position)
            length = int(data[position + 1 : end])
            argument = data[end + 2 : end + 2 + length]
            position = end + 2 + length + 2
            shown = argument[:40].decode(errors="replace")
            arguments.append(shown if length <= 40 else shown + "…")
        if arguments:
            arguments[0] = arguments[0].upper()
        commands.append(arguments)
    return commands


def _wrap(cls: type, name: str, make: Callable[[Any], Any]) -> Callable[[], None]:
    """Replace `cls.name` by `make(original)`; returns what puts it back."""
    original = cls.__dict__[name]
    setattr(cls, name, functools.wraps(original)(make(original)))
    return lambda: setattr(cls, name, original)


def _pg_execute(original):
    async def execute(self, query, *args, **kwargs):
        if not args:  # with arguments it goes through _execute, recorded there
            _record_sql(query)
        return await original(self, query, *args, **kwargs)

    return execute


def _pg_execute_one(original):
    async def _execute(self, query, args, *rest, **kwargs):
        _record_sql(query)
        return await original(self, query, args, *rest, **kwargs)

    return _execute


def _pg_execute_many(original):
    async def _executemany(self, query, args, *rest, **kwargs):
        rows = args if isinstance(args, list | tuple) else list(args)
        _record_sql(f"[executemany of {len(rows)} rows] {query}")
        return await original(self, query, rows, *rest, **kwargs)

    return _executemany


def _upkeep_of(original):
    async def upkeep(self, *args, **kwargs):
        token = _upkeep.set(True)
        try:
            return await original(self, *args, **kwargs)
        finally:
            _upkeep.reset(token)

    return upkeep


def _redis_send(original):
    async def send_packed_command(self, command, *args, **kwargs):
        _record_redis(command)
        return await original(self, command, *args, **kwargs)

    return send_packed_command


_PATCHES: tuple[tuple[type, str, Callable[[Any], Any]], ...] = (
    (PgConnection, "execute", _pg_execute),
    (PgConnection, "_execute", _pg_execute_one),
    (PgConnection, "_executemany", _pg_execute_many),
    (PgConnection, "_introspect_types", _upkeep_of),
    (RedisConnection, "send_packed_command", _redis_send),
    (RedisConnection, "on_connect_check_health", _upkeep_of),
    (RedisConnection, "check_health", _upkeep_of),
)
_installed: list[Callable[[], None]] = []
_open_recordings = 0


def _install() -> None:
    global _open_recordings
    if _open_recordings == 0:
        _installed.extend(_wrap(cls, name, make) for cls, name, make in _PATCHES)
    _open_recordings += 1


def _uninstall() -> None:
    global _open_recordings
    _open_recordings -= 1
    if _open_recordings == 0:
        while _installed:
            _installed.pop()()


@contextlib.asynccontextmanager
async def recording() -> AsyncIterator[Recording]:
    """Record what this task (and the tasks it starts meanwhile) sends until the block ends."""
    calls = Recording()
    token = _recording.set(calls)
    _install()
    try:
        yield calls
    finally:
        calls.open = False
        _recording.reset(token)
        _uninstall()
