"""The session's backend servers, and databases of a test's own on its PostgreSQL server."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg


@dataclass(frozen=True)
class Backends:
    postgres_server_url: str  # the server; each run makes its own database on it
    redis_url: str


def database_url_named(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def on_server(server_url: str, statement: str) -> None:
    """Run one statement on the server's maintenance database (CREATE/DROP DATABASE)."""
    connection = await asyncpg.connect(database_url_named(server_url, "postgres"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def create_database(server_url: str, name: str) -> str:
    await on_server(server_url, f'CREATE DATABASE "{name}"')
    return database_url_named(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    await on_server(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
