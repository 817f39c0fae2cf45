"""Tokens: every bad token is a clean 401 with code UNAUTHENTICATED, never a 500.

Choice documented in the README: a request whose credentials are present but bad is refused
as a whole with HTTP 401 and a GraphQL-shaped body; a request without credentials reaching a
field that needs them gets HTTP 200 with an UNAUTHENTICATED error on that field.
"""

from __future__ import annotations

import asyncio

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from db.models import Brand, JwtAlgorithm
from domain.brands import BrandDirectory, create_brand
from server.auth import AuthenticationFailed, Authenticator
from tests.support.backend_calls import recording
from tests.support.factories import unique_code
from tests.support.session import ISSUER, JWT_SECRET

BRAND_QUERY = "{ brand { code } }"


async def post(client, token: str, **headers: str):
    return await client.post(
        "/graphql",
        json={"query": BRAND_QUERY},
        headers={"Authorization": f"Bearer {token}", **headers},
    )


def assert_unauthenticated(response) -> str:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    return error["message"]


async def test_a_good_token_is_accepted(client, brand, make_token):
    response = await post(client, make_token(brand, "MEMBER", "TWVtYmVyOjE="))
    assert response.status_code == 200
    assert response.json() == {"data": {"brand": {"code": brand.code}}}


@pytest.mark.parametrize(
    "case",
    [
        "garbage",
        "expired",
        "wrong-secret",
        "unknown-role",
        "wrong-issuer",
        "unknown-brand",
        "no-exp",
        "alg-none",
        "empty-subject",
    ],
)
async def test_bad_tokens_are_refused(client, brand, make_token, case):
    claims = {"sub": "x", "role": "ADMIN", "brand": brand.code, "iss": ISSUER, "exp": 2**33}
    token = {
        "garbage": lambda: "not.a.jwt",
        "expired": lambda: make_token(brand, ttl_seconds=-5),
        "wrong-secret": lambda: make_token(brand, secret="another-secret-another-secret-xx"),
        "unknown-role": lambda: make_token(brand, role="ROOT"),
        "wrong-issuer": lambda: make_token(brand, issuer="someone-else"),
        "unknown-brand": lambda: make_token("no-such-brand"),
        "no-exp": lambda: jwt.encode({k: v for k, v in claims.items() if k != "exp"}, JWT_SECRET),
        "alg-none": lambda: jwt.encode(claims, None, algorithm="none"),
        "empty-subject": lambda: make_token(brand, subject=""),
    }[case]()
    assert_unauthenticated(await post(client, token))


async def test_authorization_must_be_a_bearer_token(client):
    response = await client.post(
        "/graphql", json={"query": BRAND_QUERY}, headers={"Authorization": "Basic dXNlcjpwdw=="}
    )
    assert "Bearer" in assert_unauthenticated(response)


async def test_x_brand_must_match_the_tokens_brand(client, brand, make_token):
    other = await create_brand(unique_code(), "Other")
    assert_unauthenticated(await post(client, make_token(brand), **{"X-Brand": other.code}))


async def test_an_unknown_x_brand_is_refused(client):
    response = await client.post(
        "/graphql", json={"query": BRAND_QUERY}, headers={"X-Brand": "no-such-brand"}
    )
    assert_unauthenticated(response)


async def test_a_brand_with_its_own_secret_refuses_tokens_signed_for_another(
    client, app, make_token
):
    own_secret = "brand-own-secret-brand-own-secret-0123"
    keyed = await create_brand(
        unique_code(), "Keyed", jwt_algorithm=JwtAlgorithm.HS256, jwt_key=own_secret
    )
    # Signed with the deployment secret (as for any brand without a key): refused.
    assert_unauthenticated(await post(client, make_token(keyed)))
    # Signed with this brand's key but claiming another brand: refused by that brand's key.
    plain = await create_brand(unique_code(), "Plain")
    assert_unauthenticated(await post(client, make_token(plain, secret=own_secret)))
    good = await post(client, make_token(keyed, secret=own_secret))
    assert good.json() == {"data": {"brand": {"code": keyed.code}}}


async def test_a_brand_with_an_rs256_public_key_accepts_tokens_from_its_private_key(
    client, app, make_token
):
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    keyed = await create_brand(
        unique_code(), "RSA", jwt_algorithm=JwtAlgorithm.RS256, jwt_key=public_pem
    )
    good = await post(client, make_token(keyed, secret=private_key, algorithm="RS256"))
    assert good.json() == {"data": {"brand": {"code": keyed.code}}}
    # An HS256 token is refused: the brand's key fixes the algorithm, whatever the header says.
    assert_unauthenticated(await post(client, make_token(keyed)))


async def test_brands_without_keys_cannot_sign_for_each_other(client, brand, make_token):
    """Each keyless brand verifies with its own key derived from the deployment's secret."""
    from server.auth import brand_signing_secret

    other = await create_brand(unique_code(), "Other keyless brand")
    forged = make_token(other, secret=brand_signing_secret(JWT_SECRET, brand.code))
    assert_unauthenticated(await post(client, forged))
    plain = make_token(brand, secret=JWT_SECRET)  # the deployment secret itself signs nothing
    assert_unauthenticated(await post(client, plain))


async def test_a_token_verified_before_stops_working_once_its_brand_changed_key(app, make_token):
    """Verified tokens are kept, each with the key that verified it: a brand's new key (read
    again by the directory after its ttl) refuses the tokens of the old one."""
    old, new = "brand-old-secret-brand-old-secret-01234", "brand-new-secret-brand-new-secret-01234"
    brand = await create_brand(
        unique_code(), "Rotating", jwt_algorithm=JwtAlgorithm.HS256, jwt_key=old
    )
    authenticator = Authenticator(BrandDirectory(ttl=0.05), JWT_SECRET, ISSUER)
    token = f"Bearer {make_token(brand, 'STAFF', 's-1', secret=old)}"
    assert (await authenticator.authenticate(token, None)).subject == "s-1"
    assert (await authenticator.authenticate(token, None)).subject == "s-1"  # kept
    await Brand.filter(id=brand.id).update(jwt_key=new)
    await asyncio.sleep(0.1)
    with pytest.raises(AuthenticationFailed):
        await authenticator.authenticate(token, None)
    fresh = f"Bearer {make_token(brand, 'STAFF', 's-2', secret=new)}"
    assert (await authenticator.authenticate(fresh, None)).subject == "s-2"


async def test_callers_finding_a_brand_at_once_share_one_read(brand):
    """Thousands of sockets checking their credentials when the brand's entry is due send one
    query, not one each."""
    directory = BrandDirectory(ttl=60)
    async with recording() as calls:
        found = await asyncio.gather(*(directory.find(brand.code) for _ in range(50)))
    assert {keys.id for keys in found} == {brand.id}
    calls.assert_counts(sql=1, redis=0, case="50 callers at once")
