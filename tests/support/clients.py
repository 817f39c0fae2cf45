"""The clients our users run, from the tests: the npm graphql-ws client subscribed in a Node
process (tests/clients/subscribe.mjs), and the example operations the typed-client compilers
(graphql-codegen, relay-compiler) compile."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    OperationDefinitionNode,
    parse,
    print_ast,
    visit,
)
from graphql.language import Visitor

from schema.documents import sha256_of
from tests.support.live import TIMEOUT, bearer
from tests.support.node import PROJECT, ensure_node_clients, run_bin

SUBSCRIBE = PROJECT / "tests" / "clients" / "subscribe.mjs"
EXAMPLES = PROJECT / "examples"

BALANCE_CHANGED = """
subscription ($sinceVersion: Int) {
  balanceChanged(sinceVersion: $sinceVersion) {
    available
    version
    entry { kind points balanceAfter version }
  }
}
"""


class NodeClient:
    """The Node client's process: what it printed is read line by line, as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self) -> dict:
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT)
        except TimeoutError:
            pytest.fail(f"the client printed nothing for {TIMEOUT} s")
        if not line:
            await self.process.wait()
            stderr = (await self.process.stderr.read()).decode()[-2000:]
            pytest.fail(f"the client exited ({self.process.returncode}): {stderr}")
        return json.loads(line)

    async def result(self) -> dict:
        """The data of the next result; fails on anything else."""
        message = await self.line()
        assert "next" in message, f"the client got no result but {message}"
        assert "errors" not in message["next"], message
        return message["next"]["data"]

    async def results(self, count: int) -> list[dict]:
        return [await self.result() for _ in range(count)]

    async def ended(self) -> None:
        """The client received all it was asked for and closed."""
        assert await self.line() == {"done": True}
        assert await self.process.wait() == 0


@asynccontextmanager
async def node_client(
    server: Any,
    token: str,
    query: str | None,
    variables: dict | None = None,
    count: int | None = None,
    *,
    payload: dict | None = None,
) -> AsyncIterator[NodeClient]:
    """The Node client subscribed (or subscribing) with the token, to `query` or to the
    document `payload` names without its text; stopped on leaving."""
    await asyncio.to_thread(ensure_node_clients)  # npm ci, on a fresh clone
    process = await asyncio.create_subprocess_exec(
        "node",
        str(SUBSCRIBE),
        cwd=PROJECT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    request = {
        "url": server.ws_url,
        "connectionParams": bearer(token),
        "query": query,
        "variables": variables or {},
        "payload": payload,
        "count": count,
    }
    process.stdin.write(json.dumps(request).encode())
    process.stdin.close()
    try:
        yield NodeClient(process)
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


def entry_of(payload: dict) -> dict:
    """A movement's entry, as balanceChanged shows it."""
    assert payload["userErrors"] == [], payload
    return {key: payload["entry"][key] for key in ("kind", "points", "balanceAfter", "version")}


def entries_in(results: list[dict]) -> list[dict]:
    changes = [result["balanceChanged"] for result in results]
    for change in changes:
        assert change["available"] == change["entry"]["balanceAfter"], change
        assert change["version"] == change["entry"]["version"], change
    return [change["entry"] for change in changes]


def definitions() -> list[OperationDefinitionNode | FragmentDefinitionNode]:
    return [
        definition
        for path in sorted((EXAMPLES / "operations").glob("*.graphql"))
        for definition in parse(path.read_text(encoding="utf-8")).definitions
    ]


def documents() -> dict[str, str]:
    """Each operation's name, and a document of it and the fragments it spreads."""
    fragments = {d.name.value: d for d in definitions() if isinstance(d, FragmentDefinitionNode)}

    class Spreads(Visitor):
        def __init__(self) -> None:
            super().__init__()
            self.names: set[str] = set()

        def enter_fragment_spread(self, node: FragmentSpreadNode, *_) -> None:
            if node.name.value not in self.names:
                self.names.add(node.name.value)
                visit(fragments[node.name.value], self)

    found = {}
    for operation in definitions():
        if isinstance(operation, OperationDefinitionNode):
            spreads = Spreads()
            visit(operation, spreads)
            used = [fragments[name] for name in sorted(spreads.names)]
            found[operation.name.value] = print_ast(DocumentNode(definitions=[operation, *used]))
    return found


def assert_clean(run) -> None:
    """The compiler succeeded and said nothing of unknown types or anything else amiss."""
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "[WARN]" not in output and "Unknown type" not in output, output


def run_codegen(tmp_path, monkeypatch) -> Path:
    """graphql-codegen with codegen.ts, writing into `tmp_path`: the operations' types, and
    the client preset's output with its persisted-documents.json."""
    monkeypatch.setenv("POINTSMALL_CODEGEN_OUT", str(tmp_path / "operations.ts"))
    monkeypatch.setenv("POINTSMALL_CODEGEN_CLIENT_OUT", f"{tmp_path / 'client'}/")
    assert_clean(run_bin("graphql-codegen", "--config", "codegen.ts"))
    return tmp_path


def operation_names(manifest: Path) -> dict[str, str]:
    """Each operation's name in a {"<sha256>": "<text>"} manifest, and its hash."""
    documents = json.loads(manifest.read_text(encoding="utf-8"))
    named = {}
    for digest, text in documents.items():
        assert sha256_of(text) == digest
        (operation,) = [
            d for d in parse(text).definitions if isinstance(d, OperationDefinitionNode)
        ]
        named[operation.name.value] = digest
    return named
