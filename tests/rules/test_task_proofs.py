"""Task proofs ("no free points"): each TASK rule declares what shows its task was done. SELF
is the member's word, as before; a STAFF task is completed by staff for the member; a SIGNED
task needs a proof the brand's own system signs with its task secret, each reference counting
once per member and task, whatever the races."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import datetime, timedelta

import pytest

from db.models import Award, LedgerEntry
from resolvers.ids import parse_id
from tests.support.factories import key

RULE_FIELDS = "id code kind taskCode proof"
CREATE_RULE = f"""
mutation ($input: EarningRuleInput!) {{
  createEarningRule(input: $input) {{ rule {{ {RULE_FIELDS} }} userErrors {{ field code }} }}
}}
"""
UPDATE_RULE = f"""
mutation ($input: UpdateEarningRuleInput!) {{
  updateEarningRule(input: $input) {{ rule {{ {RULE_FIELDS} }} userErrors {{ field code }} }}
}}
"""
TASK_RULES = f"{{ earningRules(kind: TASK) {{ {RULE_FIELDS} }} }}"
ISSUE_SECRET = """
mutation ($input: IssueTaskSigningSecretInput!) {
  issueTaskSigningSecret(input: $input) { brand { code } secret userErrors { code } }
}
"""
COMPLETE_TASK = """
mutation ($input: CompleteTaskInput!) {
  completeTask(input: $input) {
    entry { id points description }
    member { points { available } }
    userErrors { field message code }
  }
}
"""


# Helpers.


def sign(secret: str, signed_at: datetime, member: dict, task_code: str, reference: str) -> str:
    """A proof's signature as the brand's system makes it, from the documented recipe."""
    message = f"{int(signed_at.timestamp())}.{member['id']}.{task_code}.{reference}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def proof_of(
    secret: str, member: dict, task_code: str, reference: str, signed_at: datetime
) -> dict:
    return {
        "reference": reference,
        "signedAt": signed_at.isoformat(),
        "signature": sign(secret, signed_at, member, task_code, reference),
    }


async def create_task(staff, code: str, task_code: str, proof: str | None, **fields) -> dict:
    rule = {"code": code, "name": code.title(), "kind": "TASK", "taskCode": task_code}
    if proof is not None:
        rule["proof"] = proof
    payload = await staff.call(CREATE_RULE, {**rule, "points": 10, **fields})
    assert payload["userErrors"] == [], payload
    return payload["rule"]


async def issue_secret(staff, idempotency_key: str | None = None) -> str | None:
    payload = await staff.call(ISSUE_SECRET, {"idempotencyKey": idempotency_key or key()})
    assert payload["userErrors"] == [], payload
    return payload["secret"]


async def complete(
    gql, token: str, task_code: str, member: dict | None = None, proof: dict | None = None,
    idempotency_key: str | None = None,
) -> dict:  # fmt: skip
    """completeTask's payload, for the caller of `token` (naming `member` when given)."""
    task = {"taskCode": task_code, "idempotencyKey": idempotency_key or key()}
    if member is not None:
        task["memberId"] = member["id"]
    if proof is not None:
        task["proof"] = proof
    body = await gql(COMPLETE_TASK, {"input": task}, token=token)
    assert "errors" not in body, body
    return body["data"]["completeTask"]


def codes(payload: dict) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]


async def written_for(member: dict) -> tuple[int, int]:
    """(ledger entries, awards) stored for the member."""
    member_pk = parse_id(member["id"])[1]
    return (
        await LedgerEntry.filter(member_id=member_pk).count(),
        await Award.filter(member_id=member_pk).count(),
    )


@pytest.fixture
def clerk_token(brand, make_token) -> str:
    """A STAFF (not ADMIN) token of the brand."""
    return make_token(brand, "STAFF", "clerk-1")


# Declaring the proof.


async def test_a_task_declares_its_proof_self_by_default(staff, gql):
    share = await create_task(staff, "SHARE", "SHARE_POST", None)
    await create_task(staff, "REVIEW", "WRITE_REVIEW", "SIGNED")
    changed = await staff.call(
        UPDATE_RULE,
        {"id": share["id"], "code": "SHARE", "name": "Share", "kind": "TASK",
         "taskCode": "SHARE_POST", "points": 10, "proof": "STAFF"},
    )  # fmt: skip
    assert changed["rule"]["proof"] == "STAFF"

    body = await gql(TASK_RULES, token=staff.token)
    assert "errors" not in body, body
    proofs = {rule["code"]: rule["proof"] for rule in body["data"]["earningRules"]}
    assert proofs == {"SHARE": "STAFF", "REVIEW": "SIGNED"}


async def test_only_a_task_takes_a_proof(staff):
    payload = await staff.call(
        CREATE_RULE, {"code": "WELCOME", "name": "Welcome", "kind": "REGISTRATION_BONUS",
                      "points": 50, "proof": "STAFF"},
    )  # fmt: skip
    assert payload["rule"] is None
    assert payload["userErrors"] == [{"field": ["input", "proof"], "code": "INVALID_INPUT"}]


# SELF: as before.


async def test_a_self_task_is_still_the_members_word(staff, gql, member_token):
    await create_task(staff, "SHARE", "SHARE_POST", "SELF")
    member = await staff.register()
    done = await complete(gql, member_token(member), "share_post")
    assert done["userErrors"] == []
    assert done["entry"]["points"] == 10
    assert done["member"]["points"] == {"available": 10}


# STAFF.


async def test_a_member_cannot_claim_a_staff_task_and_staff_complete_it_for_them(
    staff, gql, member_token, clerk_token
):
    await create_task(staff, "VISIT", "STORE_VISIT", "STAFF")
    member = await staff.register()

    claimed = await complete(gql, member_token(member), "STORE_VISIT")
    assert claimed["entry"] is None
    assert [(e["code"], e["field"]) for e in claimed["userErrors"]] == [
        ("VERIFICATION_REQUIRED", ["taskCode"])
    ]
    assert "Staff" in claimed["userErrors"][0]["message"]
    assert await written_for(member) == (0, 0)

    confirmed = await complete(gql, clerk_token, "STORE_VISIT", member)
    assert confirmed["userErrors"] == []
    assert confirmed["member"]["points"] == {"available": 10}
    assert await written_for(member) == (1, 1)


# SIGNED.


async def test_a_signed_task_refuses_a_missing_wrong_or_stale_proof(
    staff, gql, member_token, clock
):
    await create_task(staff, "REVIEW", "WRITE_REVIEW", "SIGNED")
    await create_task(staff, "SHARE", "SHARE_POST", "SIGNED")
    ada, bea = await staff.register("Ada"), await staff.register("Bea")
    token = member_token(ada)

    no_secret_yet = proof_of("tsk_guessed", ada, "WRITE_REVIEW", "r-1", clock.now())
    secret = await issue_secret(staff)
    assert secret.startswith("tsk_")
    now = clock.now()
    good = proof_of(secret, ada, "WRITE_REVIEW", "r-1", now)
    refused = {
        "no proof": None,
        "a guessed secret": no_secret_yet,
        "a bad signature": {**good, "signature": "0" * 64},
        "not hex": {**good, "signature": "é" * 64},
        "another reference": {**good, "reference": "r-2"},
        "another member's": proof_of(secret, bea, "WRITE_REVIEW", "r-1", now),
        "another task's": proof_of(secret, ada, "SHARE_POST", "r-1", now),
        "signed 6 minutes ago": proof_of(
            secret, ada, "WRITE_REVIEW", "r-1", now - timedelta(minutes=6)
        ),
        "signed 6 minutes ahead": proof_of(
            secret, ada, "WRITE_REVIEW", "r-1", now + timedelta(minutes=6)
        ),
    }
    for case, proof in refused.items():
        payload = await complete(gql, token, "WRITE_REVIEW", proof=proof)
        assert payload["entry"] is None, case
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("VERIFICATION_REQUIRED", ["proof"])
        ], case
    assert await written_for(ada) == (0, 0)

    # Staff and admins are held to the proof too; within 5 minutes either way it holds.
    unsigned = await complete(gql, staff.token, "WRITE_REVIEW", ada)
    assert codes(unsigned) == ["VERIFICATION_REQUIRED"]
    slightly_old = proof_of(secret, ada, "WRITE_REVIEW", "r-1", now - timedelta(minutes=4))
    done = await complete(gql, token, "WRITE_REVIEW", proof=slightly_old)
    assert done["userErrors"] == []
    assert done["entry"]["points"] == 10


async def test_a_proof_signed_with_the_secret_before_rotation_is_refused(
    staff, gql, member_token, clock
):
    await create_task(staff, "REVIEW", "WRITE_REVIEW", "SIGNED")
    member = await staff.register()
    rotation = key()
    old = await issue_secret(staff)
    new = await issue_secret(staff, rotation)
    assert new != old
    # A repeated key answers without the secret and rotates nothing.
    assert await issue_secret(staff, rotation) is None

    stale = proof_of(old, member, "WRITE_REVIEW", "r-1", clock.now())
    refused = await complete(gql, member_token(member), "WRITE_REVIEW", proof=stale)
    assert codes(refused) == ["VERIFICATION_REQUIRED"]
    current = proof_of(new, member, "WRITE_REVIEW", "r-1", clock.now())
    done = await complete(gql, member_token(member), "WRITE_REVIEW", proof=current)
    assert done["userErrors"] == []


async def test_only_admins_issue_the_task_secret(gql, clerk_token):
    body = await gql(ISSUE_SECRET, {"input": {"idempotencyKey": key()}}, token=clerk_token)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_reference_earns_once_per_member_and_task(staff, gql, member_token, clock):
    await create_task(staff, "REVIEW", "WRITE_REVIEW", "SIGNED")
    await create_task(staff, "SHARE", "SHARE_POST", "SIGNED")
    secret = await issue_secret(staff)
    ada, bea = await staff.register("Ada"), await staff.register("Bea")
    token = member_token(ada)
    proof = proof_of(secret, ada, "WRITE_REVIEW", "order-7", clock.now())
    first_key = key()

    first = await complete(gql, token, "WRITE_REVIEW", proof=proof, idempotency_key=first_key)
    assert first["userErrors"] == []
    assert first["member"]["points"] == {"available": 10}
    retried = await complete(gql, token, "WRITE_REVIEW", proof=proof, idempotency_key=first_key)
    assert retried["entry"]["id"] == first["entry"]["id"]  # the same call, answered again

    replayed = await complete(gql, token, "WRITE_REVIEW", proof=proof)
    resigned = proof_of(secret, ada, "WRITE_REVIEW", "order-7", clock.now() + timedelta(seconds=2))
    for again in (replayed, await complete(gql, token, "WRITE_REVIEW", proof=resigned)):
        assert again["entry"] is None
        assert [(e["code"], e["field"]) for e in again["userErrors"]] == [
            ("DUPLICATE", ["proof", "reference"])
        ]
    assert await written_for(ada) == (1, 1)

    # The same reference names something else for another task or another member.
    shared = proof_of(secret, ada, "SHARE_POST", "order-7", clock.now())
    assert (await complete(gql, token, "SHARE_POST", proof=shared))["userErrors"] == []
    bea_review = proof_of(secret, bea, "WRITE_REVIEW", "order-7", clock.now())
    assert (await complete(gql, member_token(bea), "WRITE_REVIEW", proof=bea_review))[
        "userErrors"
    ] == []


async def test_concurrent_calls_with_one_proof_earn_once(staff, gql, member_token, clock):
    await create_task(staff, "REVIEW", "WRITE_REVIEW", "SIGNED")
    secret = await issue_secret(staff)
    member = await staff.register()
    proof = proof_of(secret, member, "WRITE_REVIEW", "order-9", clock.now())

    results = await asyncio.gather(
        *(complete(gql, member_token(member), "WRITE_REVIEW", proof=proof) for _ in range(6))
    )
    assert sorted(tuple(codes(result)) for result in results) == [()] + [("DUPLICATE",)] * 5
    assert await written_for(member) == (1, 1)
    assert await staff.balance(member["id"]) == {
        "available": 10,
        "version": 1,
        "lifetimeEarned": 10,
        "lifetimeRedeemed": 0,
    }
