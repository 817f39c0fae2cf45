"""Lua of limits: the token bucket behind API keys' rate limits (one hash per bucket), the
counters of brands' velocity limits (domain/velocity.py), and one-time codes
(domain/verification.py)."""

from __future__ import annotations

from pathlib import Path

TOKEN_BUCKET_LUA = (Path(__file__).parent / "lua" / "token_bucket.lua").read_text()
VELOCITY_LUA = (Path(__file__).parent / "lua" / "velocity.lua").read_text()
VERIFY_CODE_LUA = (Path(__file__).parent / "lua" / "verify_code.lua").read_text()
