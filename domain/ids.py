"""Relay global ids: base64 of "Type:pk", the ids the API and its webhooks show."""

from __future__ import annotations

import base64
import binascii


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
