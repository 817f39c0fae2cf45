"""The token bucket behind per-key rate limits: one Lua script, one hash per bucket."""

from __future__ import annotations

from pathlib import Path

TOKEN_BUCKET_LUA = (Path(__file__).parent / "lua" / "token_bucket.lua").read_text()
