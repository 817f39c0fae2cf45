"""A member's side of notices: the inbox, read marks, live arrivals, consents, reminders asked.

Live arrivals: each notice is published after its commit (outbox.publish_notices); a watcher
hands on what it has not handed on yet. One lost between commit and publish is announced by
the deployment's sweep (`announce_recent_notices`, with the balance sweep), and one lost while
the bus was away is read back when it returns: the watcher reads the ids it has not seen.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.queryset import QuerySet

from db.models import FlashSale, FlashSaleReminder, Member, Notice, NoticeChannel
from domain.errors import DomainError, ErrorCode
from domain.idempotency import change_once, run_once
from domain.notices.outbox import notice_channel, published
from domain.notices.templates import check_locale
from domain.pagination import Page, PageRequest, paginate
from domain.principal import Principal, Role
from domain.runtime import Backends
from subscriptions.bus import RESUBSCRIBED

MAX_IDS = 100


def inbox_of(member_id: int, unread_only: bool = False) -> QuerySet[Notice]:
    notices = Notice.filter(member_id=member_id, in_inbox=True)
    return notices.filter(read_at=None) if unread_only else notices


async def notices_page(member_id: int, unread_only: bool, request: PageRequest) -> Page[Notice]:
    """The member's inbox, newest first."""
    return await paginate(inbox_of(member_id, unread_only), request, ("id",), descending=True)


async def unread_count(member_id: int) -> int:
    return await inbox_of(member_id, unread_only=True).count()


async def mark_read(principal: Principal, ids: list[int] | None, now: datetime, key: str) -> int:
    """Mark the calling member's notices read: those named, or all (ids None); how many were
    unread (once per idempotency key). Others' notices are not theirs to mark: NOT_FOUND."""
    member_id = principal.member_id
    assert member_id is not None  # only a member marks their notices (schema: IsMember)
    if ids is not None and not 1 <= len(ids) <= MAX_IDS:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"Name 1 to {MAX_IDS} notices.", ["input", "ids"]
        )

    async def mark(connection: BaseDBAsyncClient) -> dict[str, Any]:
        unread = inbox_of(member_id, unread_only=True)
        if ids is not None:
            found = await Notice.filter(id__in=ids, member_id=member_id, in_inbox=True).count()
            if found != len(set(ids)):
                raise DomainError(ErrorCode.NOT_FOUND, "No such notice.", ["input", "ids"])
            unread = unread.filter(id__in=ids)
        return {"marked": await unread.using_db(connection).update(read_at=now)}

    outcome, _ = await run_once(principal, "markNoticesRead", key, {"ids": ids}, mark)
    return int(outcome["marked"])


@dataclass(frozen=True)
class NoticePreferences:
    """What a member changes of how they are told: consent per gateway channel (None: as
    it is), where the WeChat and push channels reach them, and their locale."""

    sms: bool | None = None
    email: bool | None = None
    wechat: bool | None = None
    push: bool | None = None
    wechat_open_id: str | None = None
    push_token: str | None = None
    locale: str | None = None


CONSENT_FIELDS = {
    "sms": "marketing_sms",
    "email": "marketing_email",
    "wechat": "marketing_wechat",
    "push": "marketing_push",
}


def _contact(value: str, field: str, longest: int) -> str | None:
    value = value.strip()
    if len(value) > longest:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Up to {longest} characters.", ["input", field])
    return value or None  # empty: forget it


async def update_preferences(
    principal: Principal, preferences: NoticePreferences, key: str | None = None
) -> Member:
    """The calling member's consents, contacts and locale; once per idempotency key."""
    values: dict[str, Any] = {
        column: getattr(preferences, name)
        for name, column in CONSENT_FIELDS.items()
        if getattr(preferences, name) is not None
    }
    if preferences.wechat_open_id is not None:
        values["wechat_open_id"] = _contact(preferences.wechat_open_id, "wechatOpenId", 64)
    if preferences.push_token is not None:
        values["push_token"] = _contact(preferences.push_token, "pushToken", 200)
    if preferences.locale is not None:
        values["locale"] = check_locale(preferences.locale)

    async def save(connection: BaseDBAsyncClient) -> Member:
        member = (
            await Member.select_for_update()
            .using_db(connection)
            .get_or_none(id=principal.member_id, brand_id=principal.brand_id)
        )
        if member is None:
            raise DomainError(ErrorCode.NOT_FOUND, "Your member record is not in this brand.")
        if values:
            member.update_from_dict(values)
            await member.save(using_db=connection, update_fields=list(values))
        return member

    request = asdict(preferences)
    return await change_once(principal, "updateMyNoticePreferences", key, request, Member, save)


async def visible_notice(principal: Principal, notice_id: int) -> Notice | None:
    """A notice by id: a member's own; any of the brand's for its staff and admins."""
    notices = Notice.filter(id=notice_id, brand_id=principal.brand_id, in_inbox=True)
    if principal.role is Role.MEMBER:
        notices = notices.filter(member_id=principal.member_id)
    elif principal.role not in (Role.STAFF, Role.ADMIN):
        return None
    return await notices.first()


def consents_of(member: Member) -> dict[NoticeChannel, bool]:
    return {
        NoticeChannel(name.upper()): getattr(member, column)
        for name, column in CONSENT_FIELDS.items()
    }


async def remind_me_of_flash_sale(
    principal: Principal, sale_id: int, now: datetime, key: str
) -> FlashSale:
    """Tell the calling member when the sale is about to start (a marketing notice: through
    the channels they consented to, and the inbox); asking twice is asking once."""
    sale = await FlashSale.get_or_none(id=sale_id, brand_id=principal.brand_id)
    if sale is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such flash sale.", ["input", "flashSaleId"])
    if sale.cancelled_at is not None or sale.starts_at <= now:
        raise DomainError(
            ErrorCode.ENDED, "The sale has started or was cancelled.", ["input", "flashSaleId"]
        )

    async def remember(connection: BaseDBAsyncClient) -> dict[str, Any]:
        await FlashSaleReminder.get_or_create(
            sale_id=sale.id, member_id=principal.member_id, defaults={"created_at": now},
            using_db=connection,
        )  # fmt: skip
        return {"sale_id": sale.id}

    await run_once(principal, "remindMeOfFlashSale", key, {"sale": sale.id}, remember)
    return sale


SEEN_KEPT = 1000  # ids a watcher remembers having handed on


async def watch_notices(
    rt: Backends, member: Member, still_allowed: Callable[[], bool] = lambda: True
) -> AsyncIterator[dict[str, Any]]:
    """The member's inbox notices from now on, each once (as published: see `published`)."""
    seen: OrderedDict[int, None] = OrderedDict()
    async with rt.bus.subscribe(notice_channel(member.id), hear_resubscriptions=True) as events:
        # Subscribed before noting where it starts: nothing committed after this is missed.
        started = rt.clock.now()
        while still_allowed():
            event = await anext(events, None)
            if event is None:
                return
            if event is RESUBSCRIBED:
                arrived = await _read(member.id, since=started)
            elif "ids" in event:  # the sweep's announcement
                missed = [notice_id for notice_id in event["ids"] if notice_id not in seen]
                arrived = await _read(member.id, since=started, ids=missed) if missed else []
            else:
                arrived = event["notices"]
            for notice in arrived:
                if notice["id"] in seen:
                    continue
                seen[notice["id"]] = None
                if len(seen) > SEEN_KEPT:
                    seen.popitem(last=False)
                yield notice


async def _read(
    member_id: int, *, since: datetime, ids: list[int] | None = None
) -> list[dict[str, Any]]:
    """The member's inbox notices made since the watch started (of `ids`, if given): one made
    before it is the inbox's, which the client read, not an arrival."""
    notices = inbox_of(member_id).filter(created_at__gte=since)
    if ids is not None:
        notices = notices.filter(id__in=ids)
    rows = (
        await notices.order_by("id")
        .limit(SEEN_KEPT)
        .values("id", "member_id", "kind", "variables", "in_inbox", "created_at")
    )
    return [published(row) for row in rows]


SWEEP_WINDOW = timedelta(seconds=25)  # as the balance sweep's: longer than its interval
RECENT_NOTICES_SQL = """
SELECT member_id, array_agg(id ORDER BY id) AS ids FROM notice
WHERE created_at >= $1 AND in_inbox
GROUP BY member_id
"""


async def announce_recent_notices(rt: Backends) -> int:
    """Announce the ids of each member's recent notices on their channel, so that a watcher
    that missed one reads it; how many members were announced. Its cost follows the notices
    made, not the watchers."""
    since = rt.clock.now() - SWEEP_WINDOW
    rows = await get_connection("default").execute_query_dict(RECENT_NOTICES_SQL, [since])
    await rt.bus.publish_all(
        [
            (notice_channel(row["member_id"]),
             {"memberId": row["member_id"], "ids": list(row["ids"])})
            for row in rows
        ]
    )  # fmt: skip
    return len(rows)
