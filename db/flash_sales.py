"""A flash sale's state in Redis: its keys, all under one hash tag, and the Lua scripts that
change them atomically. redis-py's Script sends each by SHA (EVALSHA), loading it on a miss."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from redis.commands.core import AsyncScript

from db.keys import RedisKeys
from db.redis import RedisClient

LUA = Path(__file__).parent / "lua"


@dataclass(frozen=True, slots=True)
class SaleKeys:
    """The keys of one sale. The `{fs:<id>}` hash tag puts them in one Redis Cluster slot, so
    one script may touch them all."""

    meta: str
    stock: str
    buyers: str
    holds: str
    holddata: str
    outcomes: str
    publish_gate: str
    prefix: str

    @classmethod
    def of(cls, keys: RedisKeys, sale_id: int) -> SaleKeys:
        return _sale_keys(keys.prefix, sale_id)

    def attempts(self, member_id: int) -> str:
        return f"{self.prefix}:attempts:{member_id}"


@lru_cache(maxsize=1024)  # every attempt of a stampede names the same few sales
def _sale_keys(prefix: str, sale_id: int) -> SaleKeys:
    keys, tag = RedisKeys(prefix), f"{{fs:{sale_id}}}"
    return SaleKeys(
        meta=keys.key(tag, "meta"),
        stock=keys.key(tag, "stock"),
        buyers=keys.key(tag, "buyers"),
        holds=keys.key(tag, "holds"),
        holddata=keys.key(tag, "holddata"),
        outcomes=keys.key(tag, "outcomes"),
        publish_gate=keys.key(tag, "pubgate"),
        prefix=keys.key(tag),
    )


class FlashScripts:
    """The scripts, registered once per Redis client."""

    def __init__(self, redis: RedisClient) -> None:
        self.enter: AsyncScript = redis.register_script((LUA / "flash_enter.lua").read_text())
        self.resolve: AsyncScript = redis.register_script((LUA / "flash_resolve.lua").read_text())
        self.load: AsyncScript = redis.register_script((LUA / "flash_load.lua").read_text())
