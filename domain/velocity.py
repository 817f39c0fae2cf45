"""Velocity limits, set per brand: how many earns and redemptions a member, purchases a store or
a staff member, registrations a referrer's code may make per hour or day. Past a limit the
movement is refused (RATE_LIMITED, with the seconds until the window ends) or goes through with
a risk flag for review, as the brand chooses.

Each limit is a counter in Redis per window (fixed, in UTC: the hour, the day); one script checks
and takes every counter of a movement at once, so two processes never both pass the last
place. A movement taken that then fails or replays gives its places back.

Design: docs/ledger.md, "Fraud controls around a movement".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from db.models import Brand
from db.rate_limits import VELOCITY_LUA
from domain.errors import DomainError, ErrorCode
from domain.idempotency import run_once
from domain.principal import Principal
from domain.runtime import Backends


class VelocityKind(Enum):
    EARNS_PER_MEMBER = "EARNS_PER_MEMBER"
    REDEMPTIONS_PER_MEMBER = "REDEMPTIONS_PER_MEMBER"
    PURCHASES_PER_STORE = "PURCHASES_PER_STORE"
    PURCHASES_PER_ACTOR = "PURCHASES_PER_ACTOR"
    REGISTRATIONS_PER_REFERRER = "REGISTRATIONS_PER_REFERRER"


class VelocityWindow(Enum):
    HOUR = "HOUR"
    DAY = "DAY"


class VelocityAction(Enum):
    REFUSE = "REFUSE"
    FLAG = "FLAG"


WINDOW_SECONDS = {VelocityWindow.HOUR: 3600, VelocityWindow.DAY: 86400}
MAX_LIMITS = 20


@dataclass(frozen=True)
class VelocityLimit:
    kind: VelocityKind
    window: VelocityWindow
    limit: int
    action: VelocityAction

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "window": self.window.value, "limit": self.limit,
                "action": self.action.value}  # fmt: skip


def limits_of(brand: Brand) -> list[VelocityLimit]:
    return [
        VelocityLimit(
            VelocityKind(item["kind"]),
            VelocityWindow(item["window"]),
            int(item["limit"]),
            VelocityAction(item["action"]),
        )
        for item in brand.velocity_limits or []
    ]


async def set_limits(
    principal: Principal, limits: list[VelocityLimit], key: str
) -> list[VelocityLimit]:
    """The brand's velocity limits, replaced whole (one per kind and window); once per
    idempotency key."""
    if len(limits) > MAX_LIMITS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Up to {MAX_LIMITS} limits.", ["limits"])
    seen = set()
    for index, item in enumerate(limits):
        if not 1 <= item.limit <= 1_000_000:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "A limit of 1 to 1,000,000.", ["limits", str(index)]
            )
        if (item.kind, item.window) in seen:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "One limit per kind and window.",
                ["limits", str(index)],
            )
        seen.add((item.kind, item.window))
    stored = [item.as_json() for item in limits]

    async def save(connection: BaseDBAsyncClient) -> dict[str, Any]:
        await (
            Brand.filter(id=principal.brand_id).using_db(connection).update(velocity_limits=stored)
        )
        return {}

    await run_once(principal, "setVelocityLimits", key, {"limits": stored}, save)
    return limits


@dataclass
class Admission:
    """The places a movement took (given back if it does not happen), and the limits it
    passed that only flag."""

    rt: Backends | None = None
    keys: list[str] = field(default_factory=list)
    flagged: list[VelocityLimit] = field(default_factory=list)

    async def give_back(self) -> None:
        if self.rt is None or not self.keys:
            return
        async with self.rt.redis.pipeline(transaction=False) as pipe:
            for key in self.keys:
                pipe.decr(key)
            await pipe.execute()
        self.keys = []


def _window_key(
    rt: Backends, brand_id: int, item: VelocityLimit, subject: str, now: datetime
) -> tuple[str, int]:
    seconds = WINDOW_SECONDS[item.window]
    start = int(now.timestamp()) // seconds * seconds
    # One hash tag per brand: a movement's counters are one script's keys on a Redis Cluster.
    key = rt.keys.key(f"{{vel:{brand_id}}}", item.kind.value, item.window.value, subject, start)
    return key, (start + seconds - int(now.timestamp())) * 1000


async def admit(
    rt: Backends, brand: Brand, counted: dict[VelocityKind, str], now: datetime
) -> Admission:
    """Take the movement's place under each of the brand's limits on what it counts
    (`counted`: kind -> whose it is, e.g. the member's id); RATE_LIMITED if a refusing limit
    is full (nothing taken)."""
    applicable = [item for item in limits_of(brand) if item.kind in counted]
    if not applicable:
        return Admission()
    keys, arguments = [], []
    for item in applicable:
        key, ttl_ms = _window_key(rt, brand.id, item, counted[item.kind], now)
        keys.append(key)
        arguments += [item.limit, ttl_ms, int(item.action is VelocityAction.REFUSE)]
    script = rt.helpers.get("velocity")
    if script is None:
        script = rt.helpers["velocity"] = rt.redis.register_script(VELOCITY_LUA)
    verdict = await script(keys=keys, args=arguments)
    outcome = verdict[0].decode() if isinstance(verdict[0], bytes) else verdict[0]
    if outcome == "REFUSED":
        item = applicable[int(verdict[1]) - 1]
        retry_after = max(1, -(-int(verdict[2]) // 1000))
        raise DomainError(
            ErrorCode.RATE_LIMITED,
            f"At most {item.limit} {item.kind.value.lower().replace('_', ' ')} per "
            f"{item.window.value.lower()}; try again in {retry_after} s.",
            ["velocity", item.kind.value],
            retry_after=retry_after,
        )
    flagged = [applicable[int(index) - 1] for index in verdict[1:]]
    return Admission(rt, keys, flagged)
