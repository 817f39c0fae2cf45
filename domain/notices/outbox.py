"""Notices written in the transaction of what they tell of, each once.

A notice goes to the member's inbox (unless the brand switched its kind off there) and, as a
delivery, to each of the brand's gateways whose channel the kind is on for; a marketing notice
only to channels the member consented to, and not before the brand's quiet hours end. The
notice's key (member, kind, subject, threshold) is unique in the brand: a retried movement, a
job run twice or two runs at once write it once, and a rolled-back change writes nothing (the
deliveries are the outbox the delivery job reads). After commit, inbox notices are published
to their member's channel for `noticeReceived`.

Design: docs/events.md, "The outboxes: webhooks and notice gateways".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient

from db.models import Brand, Notice, NoticeKind, Redemption
from db.rows import model_of
from db.sql import Sql
from domain.notices.kinds import KINDS
from domain.runtime import Backends

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NoticeDraft:
    """A notice to write: `subject` names what it is about (an entry, a redemption, a lot),
    so that the same thing told twice is one notice."""

    member_id: int
    kind: NoticeKind
    subject: str
    variables: dict[str, Any] = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        return f"{self.kind.value}:{self.member_id}:{self.subject}"


def quiet_until(brand: Brand, now: datetime) -> datetime:
    """When a marketing notice made `now` may be sent: now, or the end of the brand's quiet
    hours (in its timezone) if now is inside them."""
    start, end = brand.quiet_from_minute, brand.quiet_until_minute
    if start == end:
        return now
    zone = ZoneInfo(brand.timezone)
    local = now.astimezone(zone)
    minute = local.hour * 60 + local.minute
    quiet = (start <= minute < end) if start < end else (minute >= start or minute < end)
    if not quiet:
        return now
    day = local.date() if minute < end else local.date() + timedelta(days=1)
    return datetime.combine(day, time(end // 60, end % 60), zone)


# The inbox notice, and a delivery per gateway the kind is on for (marketing: with consent).
# `wanted` CTEs yield (member_id, kind, dedupe_key, variables, marketing); $1 the brand, $2 now,
# $3 when marketing notices may be sent.
NOTICES_SQL = """
WITH {wanted},
made AS (
    INSERT INTO notice (brand_id, member_id, kind, dedupe_key, variables, marketing, in_inbox,
                        created_at)
    SELECT $1, w.member_id, w.kind, w.dedupe_key, w.variables, w.marketing,
           w.kind <> 'VERIFICATION_CODE'  -- security codes never stay in an inbox
           AND NOT EXISTS (SELECT 1 FROM notice_switch s
                           WHERE s.brand_id = $1 AND s.kind = w.kind AND s.channel = 'INBOX'),
           $2
    FROM wanted w
    ON CONFLICT (brand_id, dedupe_key) DO NOTHING
    RETURNING id, member_id, kind, variables, marketing, in_inbox, created_at
),
sent AS (
    INSERT INTO notice_delivery (notice_id, gateway_id, status, attempts, next_attempt_at,
                                 created_at)
    SELECT made.id, g.id, 'PENDING', 0, CASE WHEN made.marketing THEN $3 ELSE $2 END, $2
    FROM made
    JOIN notice_gateway g ON g.brand_id = $1 AND g.disabled_at IS NULL
    JOIN member m ON m.id = made.member_id
    WHERE NOT EXISTS (SELECT 1 FROM notice_switch s
                      WHERE s.brand_id = $1 AND s.kind = made.kind AND s.channel = g.channel)
      AND (NOT made.marketing OR CASE g.channel WHEN 'SMS' THEN m.marketing_sms
                                                WHEN 'EMAIL' THEN m.marketing_email
                                                WHEN 'WECHAT' THEN m.marketing_wechat
                                                WHEN 'PUSH' THEN m.marketing_push END)
)
SELECT * FROM made
"""
DRAFTS_SQL = NOTICES_SQL.format(
    wanted="""wanted AS (
    SELECT member_id, kind, dedupe_key, variables::jsonb AS variables, marketing
    FROM unnest($4::int[], $5::text[], $6::text[], $7::text[], $8::bool[])
        AS w(member_id, kind, dedupe_key, variables, marketing)
)"""
)


async def record(
    connection: BaseDBAsyncClient, brand: Brand, now: datetime, drafts: Iterable[NoticeDraft]
) -> list[dict[str, Any]]:
    """Write the drafts (one statement), in the caller's transaction; the notices made, for
    `publish_notices` after commit (none for a draft written before)."""
    drafts = list(drafts)
    if not drafts:
        return []
    rows = await Sql(connection).fetch(DRAFTS_SQL, *drafts_arguments(brand, now, drafts))
    return [published(row) for row in rows]


def drafts_arguments(brand: Brand, now: datetime, drafts: list[NoticeDraft]) -> tuple[Any, ...]:
    """DRAFTS_SQL's arguments."""
    return (
        *(brand.id, now, quiet_until(brand, now)),
        [draft.member_id for draft in drafts],
        [draft.kind.value for draft in drafts],
        [draft.dedupe_key for draft in drafts],
        [orjson.dumps(draft.variables).decode() for draft in drafts],
        [KINDS[draft.kind].marketing for draft in drafts],
    )


def published(row: Any) -> dict[str, Any]:
    """A notice row as its event carries it."""
    variables = row["variables"]
    return {
        "id": row["id"],
        "memberId": row["member_id"],
        "kind": row["kind"],
        "variables": orjson.loads(variables) if isinstance(variables, str) else variables,
        "inInbox": row["in_inbox"],
        "createdAt": row["created_at"].isoformat(),
    }


def notice_of(event: dict[str, Any], brand_id: int) -> Notice:
    """The notice an event carried, as the ORM would load it (unread: it is new)."""
    return model_of(
        Notice,
        {
            "id": event["id"],
            "brand_id": brand_id,
            "member_id": event["memberId"],
            "kind": event["kind"],
            "dedupe_key": "",
            "variables": event["variables"],
            "marketing": False,
            "in_inbox": event["inInbox"],
            "created_at": datetime.fromisoformat(event["createdAt"]),
            "read_at": None,
        },
    )


def notice_channel(member_id: int) -> str:
    return f"notice:{member_id}"


async def publish_notices(rt: Backends, notices: list[dict[str, Any]]) -> None:
    """After commit, best effort: the inbox's new notices to their members' watchers, one
    message per member (one lost here is announced by the deployment's sweep,
    inbox.announce_recent_notices)."""
    by_member: dict[int, list[dict[str, Any]]] = {}
    for notice in notices:
        if notice["inInbox"]:
            by_member.setdefault(notice["memberId"], []).append(notice)
    try:
        await rt.bus.publish_all(
            [
                (notice_channel(member_id), {"memberId": member_id, "notices": told})
                for member_id, told in by_member.items()
            ]
        )
    except Exception:
        log.warning("notices of %d members not all published", len(by_member), exc_info=True)


def redemption_notice(
    kind: NoticeKind, redemption: Redemption, item_name: str, **extra: Any
) -> NoticeDraft:
    """The member's notice of what became of a redemption (confirmed, shipped, cancelled, …)."""
    return NoticeDraft(
        redemption.member_id,
        kind,
        f"redemption:{redemption.id}",
        {"item": item_name, "quantity": redemption.quantity, "points": redemption.points_spent}
        | extra,
    )


async def record_for_brand(
    connection: BaseDBAsyncClient, brand_id: int, now: datetime, drafts: list[NoticeDraft]
) -> list[dict[str, Any]]:
    """`record`, where the caller has not read the brand."""
    brand = await Brand.get(id=brand_id, using_db=connection)
    return await record(connection, brand, now, drafts)
