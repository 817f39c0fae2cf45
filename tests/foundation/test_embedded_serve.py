"""`pointsmall serve --demo` as a newcomer runs it: no DATABASE_URL, no REDIS_URL, embedded both.

One data dir for the module: the demo server starts once, answers, runs the README's Try-it
walk-through, lends its backends to the CLI's jobs, refuses a second `serve` on its data dir,
stops on Ctrl-C with nothing left running, and comes back with its data, seeded once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import psutil
import pytest

from server.cli import PREVIEW_QUERY
from tests.support.commands import POINTSMALL
from tests.support.factories import Staff
from tests.support.live import api, connected, free_port, receive

BACKEND_VARIABLES = ("DATABASE_URL", "REDIS_URL")
START_TIMEOUT = 60
STOP_TIMEOUT = 30

DEMO_QUERY = "{ brand { name stores { name } } tiers { name } }"
TOKEN_LINE = re.compile(
    r"^\s+(ADMIN|STAFF|ANALYST|MEMBER|GOLD|PARTNER|visitor)\s+(\{.*\})\s*$", re.MULTILINE
)
README = Path(__file__).resolve().parents[2] / "README.md"
# A Try-it document: a graphql block whose first line names the printed headers it runs with.
TRY_IT_DOCUMENT = re.compile(r"```graphql\n# (\w+)\n(.+?)\n```", re.DOTALL)
DEMO_CONTENTS_QUERY = """{
  catalog(first: 20) { edges { node { sku kind cashPrice minTier { code } } } }
  flashSales(last: 5) { edges { node { id startsAt pointsPrice item { sku } } } }
  earningRules(kind: TASK) { code }
  partners { code }
}"""
ASSET_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
ABSOLUTE_URL = re.compile(r"""\b(?:https?|wss?)://([^\s"'<>/)]+)""")
CSS_URL = re.compile(r"""url\(\s*["']?([^"')\s]+)""")


class Serve:
    """One `pointsmall serve` in its own process group, its output collected as it comes."""

    def __init__(self, data_dir: Path, cwd: Path, temporary: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/graphql"
        self.launched_at = datetime.now(UTC)
        environment = {
            name: value
            for name, value in os.environ.items()
            if name not in BACKEND_VARIABLES and not name.startswith("POINTSMALL_")
        }
        # Its temporary files (the metrics' directory, which a killed serve cannot remove)
        # where pytest removes them.
        environment["TMPDIR"] = str(temporary)
        self.process = subprocess.Popen(
            [
                str(POINTSMALL),
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(self.port),
                *args,
            ],
            env=environment,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._reader.join(5)
                pytest.fail(f"serve exited ({self.process.returncode}):\n{self.output}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        pytest.fail(f"serve was not ready within {START_TIMEOUT}s:\n{self.output}")

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not exit within {timeout}s:\n{self.output}")
        self._reader.join(5)
        return code

    def ctrl_c(self) -> None:
        """What a terminal does on Ctrl-C: SIGINT to the whole foreground process group."""
        os.killpg(self.process.pid, signal.SIGINT)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Launcher:
    def __init__(self, data_dir: Path, cwd: Path, temporary: Path) -> None:
        self.data_dir = data_dir
        self.cwd = cwd
        self.temporary = temporary
        self.launched: list[Serve] = []

    def start(self, *args: str) -> Serve:
        serve = Serve(self.data_dir, self.cwd, self.temporary, *args)
        self.launched.append(serve)
        return serve

    def leftovers(self) -> list[psutil.Process]:
        """Processes still running from the data dir: named on their command line, or inside it."""
        found = []
        for process in psutil.process_iter(["cmdline", "cwd"]):
            if process.pid == os.getpid():
                continue
            cmdline = " ".join(process.info["cmdline"] or ())
            cwd = process.info["cwd"] or ""
            if str(self.data_dir) in cmdline or cwd.startswith(str(self.data_dir)):
                found.append(process)
        return found

    def close(self) -> None:
        for serve in self.launched:
            serve.kill()
        for process in self.leftovers():
            process.kill()
        psutil.wait_procs(self.leftovers(), timeout=10)
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    """Whatever happens, nothing started here outlives the module and the data dir goes."""
    # Unix sockets need short paths: the data dir is short, under /tmp.
    launcher = Launcher(
        Path(f"/tmp/pms-{uuid.uuid4().hex[:8]}"),
        tmp_path_factory.mktemp("cwd"),
        tmp_path_factory.mktemp("tmp"),
    )
    try:
        yield launcher
    finally:
        launcher.close()


@pytest.fixture(scope="module")
def demo(launcher: Launcher) -> tuple[Serve, dict[str, dict[str, str]]]:
    """The demo server, ready, and the headers it printed for each role."""
    serve = launcher.start("--demo")
    serve.wait_ready()
    headers = {role: json.loads(text) for role, text in TOKEN_LINE.findall(serve.output)}
    assert set(headers) == {"ADMIN", "STAFF", "ANALYST", "MEMBER", "GOLD", "PARTNER", "visitor"}, (
        serve.output
    )
    return serve, headers


def ask(serve: Serve, headers: dict[str, str], query: str = DEMO_QUERY) -> dict:
    response = httpx.post(
        f"{serve.url}/graphql", json={"query": query}, headers=headers, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def assert_demo_brand(body: dict) -> None:
    assert "errors" not in body, body
    assert body["data"]["brand"]["name"] == "Demo Coffee"
    assert len(body["data"]["brand"]["stores"]) == 3
    assert len(body["data"]["tiers"]) == 4


def demo_contents(serve: Serve, headers: dict[str, str]) -> dict:
    body = ask(serve, headers, DEMO_CONTENTS_QUERY)
    assert "errors" not in body, body
    return body["data"]


def assert_nothing_left(launcher: Launcher) -> None:
    assert launcher.leftovers() == []
    assert not (launcher.data_dir / "postgres" / "postmaster.pid").exists()


def test_the_printed_tokens_read_the_demo_brand(demo):
    serve, headers = demo
    for role in ("ADMIN", "STAFF", "ANALYST", "visitor"):
        assert_demo_brand(ask(serve, headers[role]))
    assert DEMO_QUERY in serve.output


def test_the_demo_members_earn_3_and_5_points_per_100_by_their_tier(demo):
    serve, headers = demo
    assert PREVIEW_QUERY in serve.output
    payloads = {
        who: ask(serve, headers[who], PREVIEW_QUERY)["data"]["previewEarn"]
        for who in ("MEMBER", "GOLD")
    }
    assert [payload["userErrors"] for payload in payloads.values()] == [[], []], payloads
    previews = {who: payload["preview"] for who, payload in payloads.items()}
    assert previews["MEMBER"] == {
        "points": 8,
        "breakdown": [
            {"rule": "BASE", "description": "3 points per 100 spent on 268.00", "points": 8}
        ],
    }
    assert previews["GOLD"] == {
        "points": 13,
        "breakdown": [
            {"rule": "GOLD_RATE", "description": "5 points per 100 spent on 268.00", "points": 13}
        ],
    }


def test_the_demo_seeds_a_catalog_a_flash_sale_a_task_and_a_partner(demo):
    serve, headers = demo
    contents = demo_contents(serve, headers["ADMIN"])
    items = [edge["node"] for edge in contents["catalog"]["edges"]]
    kinds = {item["kind"] for item in items}
    assert {"PHYSICAL", "COUPON"} <= kinds, items
    assert any(item["cashPrice"] != "0.00" for item in items), "no points + cash item"
    assert [item["minTier"] for item in items if item["minTier"]] == [{"code": "GOLD"}]
    (sale,) = [edge["node"] for edge in contents["flashSales"]["edges"]]
    opens = datetime.fromisoformat(sale["startsAt"])
    assert (
        serve.launched_at + timedelta(minutes=2)
        <= opens
        <= datetime.now(UTC) + timedelta(minutes=2)
    )
    assert contents["earningRules"], "no earning task"
    assert [partner["code"] for partner in contents["partners"]] == ["lanes-bakery"]
    assert ask(serve, headers["PARTNER"], "{ brand { code } }") == {
        "data": {"brand": {"code": "demo"}}
    }


def try_it_documents() -> list[tuple[str, str]]:
    """(whose headers, document) of each document in the README's Try-it section, in order."""
    text = README.read_text()
    start = text.index("## Try it")
    section = text[start : text.index("\n## ", start)]
    return TRY_IT_DOCUMENT.findall(section)


async def test_the_readme_walk_through_runs_against_the_demo_as_shown(demo):
    """Earn, redeem, the flash sale, the live balance: each README document as written, its
    placeholders replaced by the ids the earlier answers show, as the reader does."""
    serve, headers = demo
    documents = try_it_documents()
    assert [role for role, _ in documents] == [
        "MEMBER", "MEMBER", "MEMBER", "MEMBER", "GOLD", "GOLD", "MEMBER", "PARTNER"
    ]  # fmt: skip
    ids: dict[str, str] = {}
    answers = []
    for role, document in documents[:-2]:
        for placeholder, value in ids.items():
            document = document.replace(f'"{placeholder}"', f'"{value}"')
        body = ask(serve, headers[role], document)
        assert "errors" not in body, (document, body)
        (answer,) = body["data"].values()
        assert not answer.get("userErrors"), (document, answer)
        answers.append(answer)
        if "me" in body["data"]:
            ids["MEMBER_ID"] = answer["id"]
        if "catalog" in body["data"]:
            (ids["COUPON_ID"],) = [
                edge["node"]["id"] for edge in answer["edges"] if edge["node"]["kind"] == "COUPON"
            ]
        if "flashSales" in body["data"]:
            ids["SALE_ID"] = answer["edges"][0]["node"]["id"]
    me, checked_in, _, redeemed, _, entered = answers
    assert checked_in["member"]["points"]["available"] == me["points"]["available"] + 2
    assert redeemed["redemption"]["status"] == "CONFIRMED"
    assert redeemed["redemption"]["coupon"]["code"]
    assert entered["redemption"] == {"status": "CONFIRMED", "pointsSpent": 99}

    (_, subscription), (_, purchase) = documents[-2:]
    async with connected(serve, headers["MEMBER"]) as socket:
        await socket.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": subscription}})
        )
        await _until_live(serve, headers["ADMIN"], ids["MEMBER_ID"], socket)
        body = ask(serve, headers["PARTNER"], purchase.replace("MEMBER_ID", ids["MEMBER_ID"]))
        assert body["data"]["recordPurchase"]["userErrors"] == [], body
        change = (await receive(socket))["payload"]["data"]["balanceChanged"]
        assert change["entry"]["description"] == "Purchase", change


async def _until_live(serve: Serve, admin: dict[str, str], member_id: str, socket) -> None:
    """Adjust the member's points until the subscription reports it: from then on it is live
    (without sinceVersion it starts at a moment the client cannot see)."""
    async with api(serve) as gql:
        staff = Staff(gql, admin["Authorization"].removeprefix("Bearer "))
        for _ in range(40):
            await staff.adjust(member_id, 1)
            try:
                await receive(socket, 1)
            except TimeoutError:
                continue
            while True:  # drain what the earlier adjustments sent
                try:
                    await receive(socket, 0.5)
                except TimeoutError:
                    return
    pytest.fail("the subscription reported none of 40 adjustments")


def test_the_clis_jobs_use_the_backends_of_the_running_serve(launcher, demo):
    serve, headers = demo
    member_id = ask(serve, headers["MEMBER"], "{ me { id } }")["data"]["me"]["id"]
    base = {k: v for k, v in os.environ.items() if k not in BACKEND_VARIABLES}
    base = {k: v for k, v in base.items() if not k.startswith("POINTSMALL_")}

    def job(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(POINTSMALL), *args, "--data-dir", str(launcher.data_dir)],
            env=base, cwd=launcher.cwd, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    expired = job("expire", "--brand", "demo")
    assert expired.returncode == 0, expired.stderr
    assert "Expired 0 points" in expired.stdout  # the demo brand is found: its database
    audited = job("audit", "--member", member_id)
    assert audited.returncode == 0, audited.stderr
    minted = job("token", "--role", "MEMBER", "--brand", "demo", "--sub", member_id)
    assert minted.returncode == 0, minted.stderr
    assert f"the secret in {launcher.data_dir / 'jwt-secret'}" in minted.stderr
    bearer = {"Authorization": f"Bearer {minted.stdout.strip()}"}
    assert ask(serve, bearer, "{ me { id } }") == {"data": {"me": {"id": member_id}}}


def test_graphiql_loads_only_from_this_server(demo):
    serve, _ = demo
    page = httpx.get(f"{serve.url}/graphql", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # Inline data: URIs (a blank favicon) load from nowhere.
    assets = [url for url in ASSET_REFERENCE.findall(page.text) if not url.startswith("data:")]
    assert len(assets) >= 4, page.text
    assert all(asset.startswith("/static/graphiql/") for asset in assets), assets
    host = urlsplit(serve.url).netloc
    assert [found for found in ABSOLUTE_URL.findall(page.text) if found != host] == []
    for asset in assets:
        response = httpx.get(urljoin(serve.url, asset), timeout=10)
        assert response.status_code == 200, asset
        assert response.content, asset
        if asset.endswith(".css"):
            external = [
                url for url in CSS_URL.findall(response.text) if not url.startswith("data:")
            ]
            assert external == [], asset


def test_a_second_serve_on_the_same_data_dir_is_refused(launcher, demo):
    serve, headers = demo
    second = launcher.start()
    assert second.wait_exit() != 0
    assert "Another `pointsmall serve`" in second.output
    assert_demo_brand(ask(serve, headers["ADMIN"]))


def test_ctrl_c_stops_everything_and_the_data_survives(launcher, demo):
    """Runs last: it stops the module's demo server."""
    serve, headers = demo
    assert {"postgres", "redis-server"} <= {process.name() for process in launcher.leftovers()}
    serve.ctrl_c()
    assert serve.wait_exit() == 0, serve.output
    assert_nothing_left(launcher)

    again = launcher.start("--demo")
    again.wait_ready()
    assert_demo_brand(ask(again, headers["ADMIN"]))
    # Seeded again, nothing twice: the sale not open yet is kept, or one is planned anew.
    contents = demo_contents(again, headers["ADMIN"])
    assert len(contents["catalog"]["edges"]) == 5
    assert len(contents["partners"]) == 1
    sales = [edge["node"] for edge in contents["flashSales"]["edges"]]
    assert len(sales) in (1, 2)
    assert datetime.fromisoformat(sales[-1]["startsAt"]) > again.launched_at
    # Only the key printed last works.
    new_key = json.loads(dict(TOKEN_LINE.findall(again.output))["PARTNER"])
    assert ask(again, new_key, "{ brand { code } }")["data"] == {"brand": {"code": "demo"}}
    refused = httpx.post(
        f"{again.url}/graphql", json={"query": "{ brand { code } }"}, headers=headers["PARTNER"]
    )
    assert refused.status_code == 401
    again.process.terminate()
    assert again.wait_exit() == 0, again.output
    assert_nothing_left(launcher)
    assert list(launcher.cwd.iterdir()) == []
