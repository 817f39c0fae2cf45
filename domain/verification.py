"""Step-up verification of redemptions: above the brand's thresholds (points, or value in
money), or by a member with an open risk flag, a redemption needs a one-time code.

`request_code` makes a six-digit code, kept (as a digest) in Redis for CODE_TTL, and sends it as
a VERIFICATION_CODE notice through the brand's gateways (never the inbox); in development the
code is also answered, for trying it out. The redemption repeated with the code goes through:
a code is single-use, expires, and is gone after MAX_ATTEMPTS wrong tries.

Design: docs/ledger.md, "Fraud controls around a movement".
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from db.models import Brand, NoticeKind, RiskFlag, RiskFlagStatus, StepUpJson
from db.rate_limits import VERIFY_CODE_LUA
from domain.errors import DomainError, ErrorCode
from domain.idempotency import change_once, check_key
from domain.notices.outbox import NoticeDraft, publish_notices, record
from domain.principal import Principal
from domain.runtime import Backends

CODE_TTL = timedelta(minutes=5)
MAX_ATTEMPTS = 5
REQUEST_EVERY = timedelta(seconds=30)  # per member: codes cannot be asked for in a loop


def _digest(member_id: int, code: str) -> str:
    return hashlib.sha256(f"{member_id}:{code}".encode()).hexdigest()


def _code_key(rt: Backends, member_id: int) -> str:
    return rt.keys.key("verify", member_id)


async def request_code(rt: Backends, principal: Principal, key: str) -> str | None:
    """Send the calling member a new code (replacing any before); the code itself only where
    the deployment reveals codes (development). RATE_LIMITED more often than REQUEST_EVERY.
    The same idempotency key again, while its code lasts, sends nothing and answers as the
    first call did."""
    check_key(key)
    member_id = principal.member_id
    assert member_id is not None  # only a member asks (schema: IsMember)
    answered = rt.keys.key("verify", member_id, "key", hashlib.sha256(key.encode()).hexdigest())
    # The client decodes every answer (decode_responses): a string.
    if (first := cast(str | None, await rt.redis.get(answered))) is not None:
        return first or None
    gate = rt.keys.key("verify", member_id, "asked")
    if not await rt.redis.set(gate, "1", nx=True, px=int(REQUEST_EVERY.total_seconds() * 1000)):
        wait = max(1, -(-int(await rt.redis.pttl(gate)) // 1000))
        raise DomainError(
            ErrorCode.RATE_LIMITED, f"A code was sent just now; ask again in {wait} s.",
            retry_after=wait,
        )  # fmt: skip
    code = f"{secrets.randbelow(10**6):06d}"
    key = _code_key(rt, member_id)
    async with rt.redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        pipe.hset(key, mapping={"digest": _digest(member_id, code), "attempts": 0})
        pipe.pexpire(key, int(CODE_TTL.total_seconds() * 1000))
        await pipe.execute()
    now = rt.clock.now()
    async with in_transaction() as connection:
        brand = await Brand.get(id=principal.brand_id, using_db=connection)
        draft = NoticeDraft(
            member_id, NoticeKind.VERIFICATION_CODE, f"code:{secrets.token_hex(8)}",
            {"code": code, "minutes": int(CODE_TTL.total_seconds() // 60)},
        )  # fmt: skip
        notices = await record(connection, brand, now, [draft])
    await publish_notices(rt, notices)
    shown = code if rt.reveal_codes else None
    await rt.redis.set(answered, shown or "", px=int(CODE_TTL.total_seconds() * 1000))
    return shown


async def use_code(rt: Backends, member_id: int, code: str) -> None:
    """Consume the member's code; VERIFICATION_REQUIRED if it is wrong, spent or expired."""
    script = rt.helpers.get("verify_code")
    if script is None:
        script = rt.helpers["verify_code"] = rt.redis.register_script(VERIFY_CODE_LUA)
    verdict = await script(
        keys=[_code_key(rt, member_id)], args=[_digest(member_id, code.strip()), MAX_ATTEMPTS]
    )
    verdict = verdict.decode() if isinstance(verdict, bytes) else verdict
    if verdict != "OK":
        message = {
            "WRONG": "That code is not right; try again.",
            "SPENT": "Too many wrong codes: ask for a new one.",
            "NONE": "No code is waiting (or it expired): ask for a new one.",
        }[verdict]
        raise DomainError(ErrorCode.VERIFICATION_REQUIRED, message, ["verificationCode"])


@dataclass(frozen=True)
class StepUp:
    enabled: bool
    points_above: int | None
    value_above: Decimal | None
    flagged_members: bool

    @classmethod
    def of(cls, brand: Brand) -> StepUp:
        step_up = brand.step_up
        if step_up is None:
            return cls(False, None, None, False)
        value = step_up["value"]
        return cls(
            True, step_up["points"], Decimal(value) if value is not None else None,
            step_up["flagged"],
        )  # fmt: skip


def threshold_passed(brand: Brand, points: int, cash: Decimal) -> bool:
    step_up = brand.step_up
    if step_up is None:
        return False
    above_points, above_value = step_up["points"], step_up["value"]
    value = Decimal(points) * brand.point_value + cash
    return (above_points is not None and points > above_points) or (
        above_value is not None and value > Decimal(above_value)
    )


async def verify_redemption(
    rt: Backends,
    connection: BaseDBAsyncClient,
    brand: Brand,
    member_id: int,
    points: int,
    cash: Decimal,
    code: str | None,
) -> None:
    """Inside a redemption: nothing for a brand without step-up, else VERIFICATION_REQUIRED
    unless a good code comes with a redemption that needs one."""
    step_up = brand.step_up
    if not step_up:
        return
    needed = threshold_passed(brand, points, cash) or (
        step_up.get("flagged")
        and await RiskFlag.filter(member_id=member_id, status=RiskFlagStatus.OPEN)
        .using_db(connection)
        .exists()
    )
    if not needed:
        return
    if code is None:
        raise DomainError(
            ErrorCode.VERIFICATION_REQUIRED,
            "This redemption needs a code: ask for one (requestVerification), then send it.",
            ["verificationCode"],
        )
    await use_code(rt, member_id, code)


async def set_step_up(principal: Principal, settings: dict[str, Any] | None, key: str) -> Brand:
    """The brand's step-up thresholds (None: off), given as `points`, `value` (money) and
    `flagged`; once per idempotency key."""
    stored: StepUpJson | None = None
    if settings is not None:
        points, value = settings.get("points"), settings.get("value")
        if (points is not None and points < 0) or (value is not None and value < 0):
            raise DomainError(ErrorCode.INVALID_INPUT, "Thresholds are not negative.")
        stored = {"points": points, "value": None if value is None else str(value),
                  "flagged": bool(settings.get("flagged"))}  # fmt: skip

    async def save(connection: BaseDBAsyncClient) -> Brand:
        brand = await Brand.get(id=principal.brand_id, using_db=connection)
        brand.step_up = stored
        await brand.save(using_db=connection, update_fields=["step_up"])
        return brand

    return await change_once(
        principal, "setStepUpVerification", key, {"settings": stored}, Brand, save
    )
