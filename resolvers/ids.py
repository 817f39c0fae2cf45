"""Relay global ids for the GraphQL layer: encoded in domain.ids, decoded here into user errors."""

from __future__ import annotations

from typing import Protocol

import strawberry

from domain.errors import DomainError, ErrorCode
from domain.ids import encode_id, parse_id

__all__ = ["ByIdFields", "decode_id", "encode_id", "parse_id"]


class ByIdFields(Protocol):
    """An input that names one record by its global id, with the call's idempotency key."""

    id: strawberry.ID
    idempotency_key: str


def decode_id(global_id: str, expected_type: str, field: str) -> int:
    """The pk of a global id of `expected_type`; an INVALID_INPUT user error otherwise."""
    parsed = parse_id(global_id)
    if parsed is None or parsed[0] != expected_type:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{field} is not a {expected_type} id.", [field])
    return parsed[1]
