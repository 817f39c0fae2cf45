"""Relay global ids: base64 of "Type:pk"."""

from __future__ import annotations

import base64
import binascii

from domain.errors import DomainError, ErrorCode


def encode_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def parse_id(global_id: str) -> tuple[str, int] | None:
    """(type name, pk) of a well-formed global id, else None."""
    try:
        type_name, _, pk = base64.b64decode(global_id, validate=True).decode().partition(":")
        return (type_name, int(pk)) if type_name and pk.isdigit() else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def decode_id(global_id: str, expected_type: str, field: str) -> int:
    """The pk of a global id of `expected_type`; an INVALID_INPUT user error otherwise."""
    parsed = parse_id(global_id)
    if parsed is None or parsed[0] != expected_type:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{field} is not a {expected_type} id.", [field])
    return parsed[1]
