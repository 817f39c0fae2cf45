"""Relay global ids: base64 of "Type:pk"."""

from __future__ import annotations

import base64
import binascii

from domain.errors import DomainError, ErrorCode


def encode_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


# Types whose primary keys are 64-bit; every other table's are 32-bit.
BIGINT_TYPES = frozenset({"LedgerEntry"})


def parse_id(global_id: str) -> tuple[str, int] | None:
    """(type name, pk) of a well-formed global id whose pk its table can hold, else None."""
    try:
        type_name, _, digits = base64.b64decode(global_id, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not type_name or not digits.isascii() or not digits.isdigit() or len(digits) > 19:
        return None
    pk = int(digits)
    ceiling = 2**63 - 1 if type_name in BIGINT_TYPES else 2**31 - 1
    return (type_name, pk) if 0 < pk <= ceiling else None


def decode_id(global_id: str, expected_type: str, field: str) -> int:
    """The pk of a global id of `expected_type`; an INVALID_INPUT user error otherwise."""
    parsed = parse_id(global_id)
    if parsed is None or parsed[0] != expected_type:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{field} is not a {expected_type} id.", [field])
    return parsed[1]
