"""Partner brands and their API keys: created by the brand's admins, each key shown once,
stored as a hash, named by a prefix, with the scopes it may use; revoked keys stop at once."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection

from db.models import ApiKey, Brand, Member, Partner
from db.rate_limits import TOKEN_BUCKET_LUA
from domain.errors import DomainError, ErrorCode, refused_as_duplicate
from domain.idempotency import change_once
from domain.ledger.policy import YEARS, add_months, start_of_day
from domain.members import clean_phone, find_by_code
from domain.principal import Principal, Role
from domain.runtime import Backends


class Scope(Enum):
    """What an API key may do; the value is the name stored with the key."""

    OFFERS_WRITE = "offers:write"
    POINTS_EARN = "points:earn"
    COUPONS_VERIFY = "coupons:verify"
    WEBHOOKS_MANAGE = "webhooks:manage"
    MEMBERS_REGISTER = "members:register"
    MEMBERS_LOOKUP = "members:lookup"


PARTNER_CODE = re.compile(r"^[a-z0-9-]{2,32}$")
KEY_SHAPE = re.compile(r"^pm_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$")
PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: `secret` is the whole key, shown this once and never stored (None when a
    repeated idempotency key answers the first call's key)."""

    api_key: ApiKey
    secret: str | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_partner(
    principal: Principal,
    code: str,
    name: str,
    point_value: Decimal,
    now: datetime,
    key: str | None = None,
) -> Partner:
    """A partner of the brand, named by a code of its own; once per idempotency key."""
    code, name = code.strip().lower(), name.strip()
    if not PARTNER_CODE.match(code):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Code: 2 to 32 of a-z, 0-9 and -.", ["input", "code"]
        )
    if not 1 <= len(name) <= 120:
        raise DomainError(ErrorCode.INVALID_INPUT, "Name: 1 to 120 characters.", ["input", "name"])
    if not 0 <= point_value <= Decimal("1000"):
        raise DomainError(ErrorCode.INVALID_INPUT, "From 0 to 1000.", ["input", "pointValue"])

    async def create(connection: BaseDBAsyncClient) -> Partner:
        with refused_as_duplicate("Another partner has this code.", ["input", "code"]):
            return await Partner.create(
                brand_id=principal.brand_id, code=code, name=name, point_value=point_value,
                created_at=now, using_db=connection,
            )  # fmt: skip

    request = {"code": code, "name": name, "pointValue": point_value}
    return await change_once(principal, "createPartner", key, request, Partner, create)


async def partner_of_brand(principal: Principal, partner_id: int) -> Partner:
    partner = await Partner.get_or_none(id=partner_id, brand_id=principal.brand_id)
    if partner is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such partner.", ["input", "partnerId"])
    return partner


def _checked_scopes(scopes: Collection[Scope]) -> list[str]:
    if not scopes:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give the key a scope.", ["input", "scopes"])
    return sorted({scope.value for scope in scopes})


async def _new_key(
    connection: BaseDBAsyncClient, partner_id: int, scopes: list[str], now: datetime
) -> tuple[ApiKey, str]:
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(12))
    secret = f"pm_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = await ApiKey.create(
        partner_id=partner_id, prefix=prefix, secret_hash=_hash(secret), scopes=scopes,
        created_at=now, using_db=connection,
    )  # fmt: skip
    return api_key, secret


async def issue_key(
    principal: Principal,
    partner_id: int,
    scopes: Collection[Scope],
    now: datetime,
    key: str | None = None,
) -> IssuedKey:
    """A new key for the partner; once per idempotency key, and a repeat answers the key
    without its secret, which is never stored."""
    checked = _checked_scopes(scopes)
    shown: list[str] = []

    async def issue(connection: BaseDBAsyncClient) -> ApiKey:
        partner = await partner_of_brand(principal, partner_id)
        api_key, secret = await _new_key(connection, partner.id, checked, now)
        shown.append(secret)
        return api_key

    request = {"partnerId": partner_id, "scopes": checked}
    api_key = await change_once(principal, "issueApiKey", key, request, ApiKey, issue)
    return IssuedKey(api_key, shown[0] if shown else None)


async def _locked_key_of_brand(
    connection: BaseDBAsyncClient, principal: Principal, key_id: int
) -> ApiKey:
    """The brand's key, locked: a rotation and a revocation of it wait for each other."""
    api_key = (
        await ApiKey.filter(id=key_id, partner__brand_id=principal.brand_id)
        .select_for_update()
        .using_db(connection)
        .first()
    )
    if api_key is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such API key.", ["input", "id"])
    return api_key


async def _revoke(connection: BaseDBAsyncClient, api_key: ApiKey, now: datetime) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = now
        await api_key.save(using_db=connection, update_fields=["revoked_at"])
    return api_key


async def revoke_key(
    principal: Principal, key_id: int, now: datetime, key: str | None = None
) -> ApiKey:
    """The key stops working with the next request; revoking twice changes nothing."""

    async def revoke(connection: BaseDBAsyncClient) -> ApiKey:
        api_key = await _locked_key_of_brand(connection, principal, key_id)
        return await _revoke(connection, api_key, now)

    return await change_once(principal, "revokeApiKey", key, {"id": key_id}, ApiKey, revoke)


async def rotate_key(
    principal: Principal, key_id: int, now: datetime, key: str | None = None
) -> IssuedKey:
    """A new key with the same scopes; the old one is revoked at once. Once per idempotency
    key: a repeat rotates nothing and answers the new key without its secret."""
    shown: list[str] = []

    async def rotate(connection: BaseDBAsyncClient) -> ApiKey:
        old = await _locked_key_of_brand(connection, principal, key_id)
        if old.revoked_at is not None:
            raise DomainError(ErrorCode.CONFLICT, "This key was revoked.", ["input", "id"])
        api_key, secret = await _new_key(connection, old.partner_id, old.scopes, now)
        await _revoke(connection, old, now)
        shown.append(secret)
        return api_key

    api_key = await change_once(principal, "rotateApiKey", key, {"id": key_id}, ApiKey, rotate)
    return IssuedKey(api_key, shown[0] if shown else None)


async def partners_of(principal: Principal) -> list[Partner]:
    return await Partner.filter(brand_id=principal.brand_id).order_by("code")


async def keys_of(partner_id: int) -> list[ApiKey]:
    return await ApiKey.filter(partner_id=partner_id).order_by("id")


@dataclass(frozen=True, slots=True)
class KeyHolder:
    api_key: ApiKey
    partner: Partner


async def holder_of(secret: str) -> KeyHolder | None:
    """The live key and its partner that `secret` is, or None."""
    shape = KEY_SHAPE.match(secret.strip())
    if shape is None:
        return None
    api_key = await ApiKey.get_or_none(prefix=shape.group(1), revoked_at=None).prefetch_related(
        "partner__brand"
    )
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, _hash(secret.strip())):
        return None
    return KeyHolder(api_key, api_key.partner)


async def take_tokens(
    rt: Backends, prefix: str, per_second: float, burst: int, cost: int = 1
) -> float | None:
    """`cost` tokens (one per operation; at most `burst`) from the key's bucket, all or none:
    None when allowed, else seconds to wait."""
    script = rt.helpers.get("token_bucket")
    if script is None:
        script = rt.helpers["token_bucket"] = rt.redis.register_script(TOKEN_BUCKET_LUA)
    allowed, wait_ms = await script(keys=[rt.keys.key("apikey", prefix, "bucket")],
                                    args=[burst, per_second, cost])  # fmt: skip
    return None if allowed else int(wait_ms) / 1000


@dataclass(frozen=True, slots=True)
class MemberMatch:
    """All a partner learns of a member it looks up: whom to earn for, and a name to confirm."""

    member_id: int
    display_name: str


async def look_up_member(
    principal: Principal, member_code: str | None, phone: str | None
) -> MemberMatch:
    """The brand's member with this member code (the card they show) or phone; exactly one of
    the two. NOT_FOUND when no member of the caller's brand has it."""
    if (member_code is None) == (phone is None):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Give either a memberCode or a phone.", ["memberCode"]
        )
    if member_code is not None:
        member, field = await find_by_code(principal, member_code), "memberCode"
    else:
        number = clean_phone(phone)
        member = await Member.get_or_none(brand_id=principal.brand_id, phone=number)
        field = "phone"
    if member is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"No member has this {field}.", [field])
    return MemberMatch(member.id, member.display_name)


SETTLEMENT_SQL = """
SELECT
  COALESCE(SUM(points) FILTER (WHERE kind IN ('EARN', 'REVERSAL')), 0) AS issued,
  -COALESCE(SUM(points) FILTER (WHERE kind IN ('REDEEM', 'REFUND')), 0) AS redeemed,
  COUNT(*) AS movements
FROM ledger_entry
WHERE partner_id = $1 AND created_at >= $2 AND created_at < $3
"""


@dataclass(frozen=True, slots=True)
class Settlement:
    """A partner's month: the points issued through it (its purchases' earns less their
    reversals) and redeemed on its offers (less refunds of cancels), valued at the agreed
    point value; `net` is what the partner owes the brand (negative: the brand owes)."""

    partner: Partner
    month: date
    points_issued: int
    points_redeemed: int
    movements: int

    @property
    def amount_issued(self) -> Decimal:
        return (self.points_issued * self.partner.point_value).quantize(Decimal("0.01"))

    @property
    def amount_redeemed(self) -> Decimal:
        return (self.points_redeemed * self.partner.point_value).quantize(Decimal("0.01"))

    @property
    def net(self) -> Decimal:
        return self.amount_issued - self.amount_redeemed

    def csv_row(self) -> list[str]:
        return [
            self.partner.code, f"{self.month:%Y-%m}", str(self.points_issued),
            str(self.points_redeemed), f"{self.partner.point_value.normalize():f}",
            f"{self.amount_issued:.2f}", f"{self.amount_redeemed:.2f}", f"{self.net:.2f}",
        ]  # fmt: skip


CSV_HEADER = [
    "partner", "month", "points_issued", "points_redeemed", "point_value", "amount_issued",
    "amount_redeemed", "net_owed_by_partner",
]  # fmt: skip


def month_of(text: str) -> date:
    """'2026-11' as the month's first day; years outside YEARS are refused."""
    refusal = DomainError(
        ErrorCode.INVALID_INPUT, f"Month: YYYY-MM, from {YEARS[0]} to {YEARS[-1]}.", ["month"]
    )
    try:
        month = datetime.strptime(text.strip(), "%Y-%m").date()
    except ValueError:
        raise refusal from None
    if month.year not in YEARS:
        raise refusal
    return month


async def settlement(principal: Principal, partner_id: int, month: date) -> Settlement:
    """One partner's settlement for a month of the brand's calendar (its timezone). A partner
    may read only its own; admins any of their brand's."""
    if principal.role is Role.PARTNER and principal.partner_id != partner_id:
        raise DomainError(ErrorCode.NOT_FOUND, "No such partner.", ["partnerId"])
    partner = await Partner.get_or_none(id=partner_id, brand_id=principal.brand_id)
    if partner is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such partner.", ["partnerId"])
    brand = await Brand.get(id=partner.brand_id)
    zone = ZoneInfo(brand.timezone)
    start = start_of_day(month.replace(day=1), zone)
    end = start_of_day(add_months(month.replace(day=1), 1), zone)
    rows = await get_connection("default").execute_query_dict(
        SETTLEMENT_SQL, [partner.id, start, end]
    )
    row = rows[0]
    return Settlement(
        partner, month.replace(day=1), int(row["issued"]), int(row["redeemed"]),
        int(row["movements"]),
    )  # fmt: skip


async def settlement_by_code(brand_code: str, partner_code: str, month: date) -> Settlement:
    """For `pointsmall settlement`: the partner named by its brand's and its own code."""
    partner = await Partner.get_or_none(code=partner_code, brand__code=brand_code)
    if partner is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such partner of that brand.", ["partner"])
    brand = await Brand.get(id=partner.brand_id)
    admin = Principal(Role.ADMIN, brand.id, brand.code, "cli:settlement")
    return await settlement(admin, partner.id, month)
