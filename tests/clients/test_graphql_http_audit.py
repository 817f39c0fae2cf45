"""The GraphQL-over-HTTP conformance audit of the npm graphql-http package (the reference
implementation's `serverAudits`) against a live server: every audit passes, the MUSTs and the
SHOULDs and MAYs alike (tests/clients/graphql_http_audit.mjs runs them)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tests.support.node import run_node

AUDIT = Path(__file__).with_name("graphql_http_audit.mjs")
MUST_AUDITS = 13  # in graphql-http 1.23, as the lock file pins it


def test_the_server_passes_every_graphql_over_http_audit(live_server):
    run = run_node(AUDIT, input={"url": f"{live_server.url}/graphql"})
    assert run.returncode == 0, run.stderr
    results = [json.loads(line) for line in run.stdout.splitlines()]
    failed = [result for result in results if result["status"] != "ok"]
    for result in failed:
        print(f"{result['name']}: {result['reason']}")
    levels = Counter(result["name"].split()[0] for result in results)
    assert levels["MUST"] == MUST_AUDITS, levels  # the audit ran them all
    assert failed == [], "\n".join(f"{r['name']}: {r['reason']}" for r in failed)
