"""GraphQL requests as the benchmarks send them: bodies, headers, and the purchases they record."""

from __future__ import annotations

import json
from decimal import Decimal

from tests.support.factories import RECORD_PURCHASE

JSON_HEADERS = {"Content-Type": "application/json"}


def graphql_body(query: str, variables: dict | None = None) -> bytes:
    return json.dumps({"query": query, "variables": variables or {}}).encode()


def authorized(token: str) -> dict[str, str]:
    """JSON headers with the token as the bearer's credentials."""
    return {**JSON_HEADERS, "Authorization": f"Bearer {token}"}


def purchase_body(member_gid: str, total: Decimal | str, ref: str) -> bytes:
    """recordPurchase of `total` for the member, `ref` its orderRef and idempotencyKey."""
    purchase = {"memberId": member_gid, "orderRef": ref, "total": str(total)}
    return graphql_body(RECORD_PURCHASE, {"input": {**purchase, "idempotencyKey": ref}})
