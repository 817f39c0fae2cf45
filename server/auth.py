"""Authentication: a bearer JWT (or an X-Brand header for visitors) becomes a Principal.

Design: docs/decisions.md, "Per-brand signing keys derived from one deployment secret".
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field

import jwt

from domain import partners
from domain.brands import BrandDirectory, BrandKeys
from domain.principal import Principal, Role
from domain.runtime import Backends
from resolvers.ids import parse_id

TOKEN_ROLES = {Role.MEMBER, Role.STAFF, Role.ADMIN, Role.ANALYST}
REQUIRED_CLAIMS = ["sub", "role", "brand", "iss", "exp"]


def brand_signing_secret(deployment_secret: str, brand_code: str) -> str:
    """The HS256 key of a brand without a key of its own, derived from the deployment's secret.

    Each brand gets a different key, so an identity service that signs for one brand can
    never sign for another, even when many brands share one deployment secret.
    """
    message = f"pointsmall/brand/{brand_code}".encode()
    return hmac.new(deployment_secret.encode(), message, hashlib.sha256).hexdigest()


VERIFIED_TOKENS_KEPT = 50_000


class AuthenticationFailed(Exception):
    """The credentials were sent but are not good: answered as UNAUTHENTICATED."""


class RateLimited(Exception):
    """An API key sent more requests than its rate allows: answered as RATE_LIMITED."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Too many requests; retry after {retry_after:.1f} s.")
        self.retry_after = retry_after


@dataclass
class Authenticator:
    """Checks tokens against their brand's own key, or its key derived from the deployment's."""

    brands: BrandDirectory
    default_secret: str
    issuer: str
    backends: Backends | None = None  # for partners' rate limits
    partner_rate_per_second: float = 20.0
    partner_burst: int = 40
    # Tokens verified lately: a client sends the same token with every request, and checking
    # its signature each time is most of a small request's cost. An entry holds while its
    # brand's key is the one it was verified with (the directory rereads keys every few
    # seconds, so a changed key takes effect as soon) and never past the token's exp.
    # Keyed by the token's digest: a key never holds more than a few dozen bytes of what a
    # caller sent.
    _verified: dict[tuple[bytes, str | None], tuple[BrandKeys, Principal]] = field(
        default_factory=dict, repr=False
    )

    async def authenticate(
        self, authorization: str | None, brand_code: str | None, api_key: str | None = None
    ) -> Principal | None:
        """The caller, an anonymous visitor of the named brand, or None when nothing was sent.
        (A partner's operations are paid for separately: `charge`.)"""
        if api_key:
            return await self._from_api_key(api_key, brand_code)
        if authorization:
            return await self._from_token(authorization, brand_code)
        if brand_code:
            brand = await self.brands.find(brand_code)
            if brand is None:
                raise AuthenticationFailed(f"Unknown brand {brand_code!r}.")
            return Principal(Role.ANONYMOUS, brand.id, brand.code, "anonymous")
        return None

    async def _from_api_key(self, secret: str, brand_code: str | None) -> Principal:
        """A partner by its API key (partners have no JWTs); a revoked key fails at once."""
        holder = await partners.holder_of(secret)
        if holder is None:
            raise AuthenticationFailed("The API key is not valid.")
        brand = holder.partner.brand
        if brand_code and brand_code != brand.code:
            raise AuthenticationFailed("X-Brand does not match the API key's brand.")
        return Principal(
            Role.PARTNER,
            brand.id,
            brand.code,
            f"partner:{holder.partner.id}",  # not the key: idempotency outlives a rotation
            partner_id=holder.partner.id,
            partner_code=holder.partner.code,
            scopes=frozenset(holder.api_key.scopes),
            api_key_prefix=holder.api_key.prefix,
        )

    async def charge(self, principal: Principal | None, operations: int) -> None:
        """A partner's key pays one token of its rate per operation it runs (each of a batch's,
        each sent over a socket); RateLimited when its bucket has too few. Nothing for others."""
        if principal is None or principal.api_key_prefix is None or self.backends is None:
            return
        wait = await partners.take_tokens(
            self.backends, principal.api_key_prefix, self.partner_rate_per_second,
            self.partner_burst, operations,
        )  # fmt: skip
        if wait is not None:
            raise RateLimited(wait)

    async def _from_token(self, authorization: str, brand_code: str | None) -> Principal:
        cache_key = (hashlib.sha256(authorization.encode()).digest(), brand_code)
        cached = self._verified.get(cache_key)
        if cached is not None and cached[1].still_valid():
            keys, principal = cached
            if await self.brands.find(principal.brand_code) == keys:
                return principal  # verified with the key the brand still has
        keys, principal = await self._verify_token(authorization, brand_code)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            self._verified.clear()
        self._verified[cache_key] = (keys, principal)
        return principal

    async def _verify_token(
        self, authorization: str, brand_code: str | None
    ) -> tuple[BrandKeys, Principal]:
        """The caller a token names, and the brand keys that verified it."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("Authorization must be 'Bearer <token>'.")
        try:
            unverified = jwt.decode(token.strip(), options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthenticationFailed("The token is malformed.") from None
        claimed_brand = unverified.get("brand")
        brand = await self.brands.find(claimed_brand) if isinstance(claimed_brand, str) else None
        if brand is None:
            raise AuthenticationFailed("The token names no known brand.")
        if brand_code and brand_code != brand.code:
            raise AuthenticationFailed("X-Brand does not match the token's brand.")
        algorithm = brand.jwt_algorithm or "HS256"
        key = brand.jwt_key or brand_signing_secret(self.default_secret, brand.code)
        try:
            claims = jwt.decode(
                token.strip(),
                key,
                algorithms=[algorithm],
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationFailed("The token has expired.") from None
        except jwt.PyJWTError as error:
            raise AuthenticationFailed(f"The token is not valid: {error}.") from None
        try:
            role = Role(claims["role"])
        except ValueError:
            role = None
        if role not in TOKEN_ROLES:
            raise AuthenticationFailed(f"Unknown role {claims['role']!r}.")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise AuthenticationFailed("The token's subject is empty.")
        member_id = None
        if role is Role.MEMBER:
            parsed = parse_id(subject)
            if parsed is None or parsed[0] != "Member":
                raise AuthenticationFailed("A member's token must name the member's global id.")
            member_id = parsed[1]
        principal = Principal(role, brand.id, brand.code, subject, member_id, float(claims["exp"]))
        return brand, principal


def mint_token(
    secret: str,
    *,
    role: str,
    brand: str,
    subject: str,
    issuer: str,
    ttl_seconds: int = 3600,
    algorithm: str = "HS256",
) -> str:
    """A signed token as the brand's identity service would issue it (for development and tests)."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "role": role,
        "brand": brand,
        "iss": issuer,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, secret, algorithm=algorithm)
