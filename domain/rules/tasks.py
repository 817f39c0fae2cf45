"""Tasks a member does (check-in, share, review, …), rewarded as their TASK rule says."""

from __future__ import annotations

from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient

from db.models import Award, AwardKind, LedgerEntry, LedgerKind, RuleKind, TaskProof
from domain.errors import DomainError, ErrorCode, refused_as_duplicate
from domain.ids import encode_id
from domain.ledger.book import MemberBook
from domain.ledger.movements import Movement, move
from domain.principal import Principal, Role
from domain.rules.bonuses import bonus_lots, record_award
from domain.rules.earning import live_rules, member_facts
from domain.rules.engine import (
    PROOF_USED,
    SignedProof,
    evaluate_task,
    proof_once_key,
    proof_refusal,
)
from domain.runtime import Backends
from domain.tiers import requalify
from domain.velocity import VelocityKind


async def complete_task(
    rt: Backends,
    principal: Principal,
    member_id: int,
    task_code: str,
    key: str,
    proof: SignedProof | None = None,
) -> Movement:
    """Reward a task the member did (check-in, share, review, …) as its rule says, within the
    rule's daily and lifetime limits and the brand's daily cap, once what the rule takes as
    proof holds: the caller's word (SELF), staff's (STAFF), or a proof signed by the brand's
    own system (SIGNED), each of whose references counts once per member and task."""
    task_code = task_code.strip().upper()

    async def write(book: MemberBook, connection: BaseDBAsyncClient) -> LedgerEntry:
        brand = book.brand
        zone = ZoneInfo(brand.timezone)
        day = book.now.astimezone(zone).date()
        facts = await member_facts(connection, brand, book.member, day)
        rules = [
            rule
            for rule in await live_rules(brand, connection)
            if rule.kind is RuleKind.TASK
            and rule.task_code == task_code
            and rule.applies(book.now, zone, None, facts.tier_code, tags=facts.tags)
        ]
        if not rules:
            raise DomainError(
                ErrorCode.NOT_FOUND, "No task with this code is open to the member.", ["taskCode"]
            )
        rule = min(rules, key=lambda rule: (-rule.priority, rule.id))
        done = Award.filter(member_id=book.member.id, kind=AwardKind.TASK, task_code=task_code)
        once_key = None
        if rule.proof is TaskProof.STAFF and principal.role not in (Role.STAFF, Role.ADMIN):
            raise DomainError(
                ErrorCode.VERIFICATION_REQUIRED,
                "Staff confirm this task: ask them to complete it for you.",
                ["taskCode"],
            )
        if rule.proof is TaskProof.SIGNED:
            member_global_id = encode_id("Member", book.member.id)
            refusal = proof_refusal(proof, brand.task_secret, member_global_id, task_code, book.now)
            if refusal is not None:
                raise DomainError(ErrorCode.VERIFICATION_REQUIRED, refusal, ["proof"])
            assert proof is not None  # proof_refusal refuses a missing proof
            once_key = proof_once_key(task_code, proof.reference)
            if await done.filter(once_key=once_key).using_db(connection).exists():
                raise DomainError(ErrorCode.DUPLICATE, PROOF_USED, ["proof", "reference"])
        if rule.daily_limit is not None and (
            await done.filter(local_day=day).using_db(connection).count() >= rule.daily_limit
        ):
            raise DomainError(
                ErrorCode.LIMIT_REACHED,
                f"This task earns points {rule.daily_limit} time(s) a day at most.",
                ["taskCode"],
            )
        if rule.lifetime_limit is not None and (
            await done.using_db(connection).count() >= rule.lifetime_limit
        ):
            raise DomainError(
                ErrorCode.LIMIT_REACHED,
                f"This task earns points {rule.lifetime_limit} time(s) at most.",
                ["taskCode"],
            )
        earn = evaluate_task(rule, facts)
        entry = await book.credit(
            LedgerKind.EARN,
            bonus_lots(brand, earn.components, book.now),
            f"Task: {rule.name}",
            breakdown=earn.breakdown(),
        )
        with refused_as_duplicate(PROOF_USED, ["proof", "reference"]):
            await record_award(
                connection, book.member.id, AwardKind.TASK, rule, entry, day, book.now,
                once_key=once_key, points=earn.points,
            )  # fmt: skip
        change = await requalify(
            connection, book.member, brand, book.now, may_go_down=False, notices=book.notices,
            unwritten=book.rollup.qualifying,
        )  # fmt: skip
        if change is not None:
            book.tier_changes.append(change.id)
        return entry

    payload: dict[str, Any] = {"member": member_id, "task": task_code}
    if proof is not None:
        signed_at = proof.signed_at.astimezone(UTC).isoformat()
        payload["proof"] = [proof.reference, signed_at, proof.signature]
    counted = {VelocityKind.EARNS_PER_MEMBER: str(member_id)}
    return await move(
        rt, principal, "completeTask", key, member_id, payload, write, counted=counted
    )
