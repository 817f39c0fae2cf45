"""Partner brands and their API keys: created by the brand's admins, each key shown once,
stored as a hash, named by a prefix, with the scopes it may use; revoked keys stop at once."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError

from db.models import ApiKey, Brand, Partner
from db.rate_limits import TOKEN_BUCKET_LUA
from domain.errors import DomainError, ErrorCode
from domain.ledger.policy import add_months, start_of_day
from domain.principal import Principal, Role
from domain.runtime import Backends

SCOPES = frozenset(
    {"offers:write", "points:earn", "coupons:verify", "webhooks:manage", "members:register"}
)
PARTNER_CODE = re.compile(r"^[a-z0-9-]{2,32}$")
KEY_SHAPE = re.compile(r"^pm_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$")
PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: `secret` is the whole key, shown this once and never stored."""

    api_key: ApiKey
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_partner(
    principal: Principal, code: str, name: str, point_value: Decimal, now: datetime
) -> Partner:
    code = code.strip().lower()
    if not PARTNER_CODE.match(code):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Code: 2 to 32 of a-z, 0-9 and -.", ["input", "code"]
        )
    if not 1 <= len(name.strip()) <= 120:
        raise DomainError(ErrorCode.INVALID_INPUT, "Name: 1 to 120 characters.", ["input", "name"])
    if not 0 <= point_value <= Decimal("1000"):
        raise DomainError(ErrorCode.INVALID_INPUT, "From 0 to 1000.", ["input", "pointValue"])
    try:
        return await Partner.create(
            brand_id=principal.brand_id,
            code=code,
            name=name.strip(),
            point_value=point_value,
            created_at=now,
        )
    except IntegrityError:
        raise DomainError(
            ErrorCode.DUPLICATE, "Another partner has this code.", ["input", "code"]
        ) from None


async def partner_of_brand(principal: Principal, partner_id: int) -> Partner:
    partner = await Partner.get_or_none(id=partner_id, brand_id=principal.brand_id)
    if partner is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such partner.", ["input", "partnerId"])
    return partner


def _checked_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - SCOPES)
    if unknown or not scopes:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"Scopes: one or more of {', '.join(sorted(SCOPES))}"
            + (f" (not {', '.join(unknown)})." if unknown else "."),
            ["input", "scopes"],
        )
    return sorted(set(scopes))


async def _new_key(partner_id: int, scopes: list[str], now: datetime) -> IssuedKey:
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(12))
    secret = f"pm_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = await ApiKey.create(
        partner_id=partner_id, prefix=prefix, secret_hash=_hash(secret), scopes=scopes,
        created_at=now,
    )  # fmt: skip
    return IssuedKey(api_key, secret)


async def issue_key(
    principal: Principal, partner_id: int, scopes: list[str], now: datetime
) -> IssuedKey:
    partner = await partner_of_brand(principal, partner_id)
    return await _new_key(partner.id, _checked_scopes(scopes), now)


async def _key_of_brand(principal: Principal, key_id: int) -> ApiKey:
    api_key = await ApiKey.get_or_none(id=key_id, partner__brand_id=principal.brand_id)
    if api_key is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such API key.", ["input", "id"])
    return api_key


async def revoke_key(principal: Principal, key_id: int, now: datetime) -> ApiKey:
    """The key stops working with the next request; revoking twice changes nothing."""
    api_key = await _key_of_brand(principal, key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = now
        await api_key.save(update_fields=["revoked_at"])
    return api_key


async def rotate_key(principal: Principal, key_id: int, now: datetime) -> IssuedKey:
    """A new key with the same scopes; the old one is revoked at once."""
    old = await _key_of_brand(principal, key_id)
    if old.revoked_at is not None:
        raise DomainError(ErrorCode.CONFLICT, "This key was revoked.", ["input", "id"])
    issued = await _new_key(old.partner_id, old.scopes, now)
    await revoke_key(principal, old.id, now)
    return issued


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


async def take_token(rt: Backends, prefix: str, per_second: float, burst: int) -> float | None:
    """One request's token from the key's bucket: None when allowed, else seconds to wait."""
    script = rt.helpers.get("token_bucket")
    if script is None:
        script = rt.helpers["token_bucket"] = rt.redis.register_script(TOKEN_BUCKET_LUA)
    allowed, wait_ms = await script(keys=[rt.keys.key("apikey", prefix, "bucket")],
                                    args=[burst, per_second])  # fmt: skip
    return None if allowed else int(wait_ms) / 1000


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
    """'2026-11' as the month's first day."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m").date()
    except ValueError:
        raise DomainError(ErrorCode.INVALID_INPUT, "Month: YYYY-MM.", ["month"]) from None


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
