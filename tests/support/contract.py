"""The public contract (tests/contract/contract.graphql), as a schema."""

from __future__ import annotations

from graphql import build_schema

from tests.support.node import PROJECT

CONTRACT = build_schema(
    (PROJECT / "tests" / "contract" / "contract.graphql").read_text(encoding="utf-8")
)
