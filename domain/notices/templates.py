"""The brand's wordings of its notices: its own where saved, the built-in ones otherwise.

A wording is looked up for a kind, channel and locale: the brand's own in that locale, else
the built-in one in that locale, else (a locale neither has) the brand's own or the built-in
one in the brand's locale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from db.models import Brand, NoticeChannel, NoticeKind, NoticeTemplate
from domain.errors import DomainError, ErrorCode
from domain.idempotency import change_once, run_once
from domain.notices.kinds import KINDS, LOCALES, check_text, render
from domain.principal import Principal

LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
# What a preview fills each variable with.
SAMPLES: dict[str, Any] = {
    "points": 1200,
    "balance": 3450,
    "reason": "Purchase at Flagship Store",
    "expiresAt": "2027-03-31",
    "days": 30,
    "tier": "Gold",
    "previousTier": "Silver",
    "pointsNeeded": 800,
    "by": "2027-03-31",
    "item": "Travel Mug",
    "quantity": 1,
    "trackingReference": "SF1234567890",
    "cash": "19.90",
    "dueAt": "2027-03-31T12:00:00+00:00",
    "code": "MUG-7Q2K",
    "startsAt": "2027-03-31T12:00:00+00:00",
}


def check_locale(locale: str) -> str:
    locale = locale.strip()
    if not LOCALE.match(locale) or len(locale) > 16:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "A locale such as zh-CN or en.", ["input", "locale"]
        )
    return locale


@dataclass(frozen=True)
class Wordings:
    """A brand's wordings, read once for a page of notices or a batch of deliveries."""

    brand: Brand
    saved: dict[tuple[str, str, str], str]

    def text(self, kind: NoticeKind, channel: NoticeChannel, locale: str | None) -> str:
        for wanted in (locale, self.brand.locale):
            if wanted is None:
                continue
            saved = self.saved.get((kind.value, channel.value, wanted))
            if saved is not None:
                return saved
            if wanted in LOCALES:
                return KINDS[kind].text[wanted]
        return KINDS[kind].text["en"]

    def title(self, kind: NoticeKind, locale: str | None) -> str:
        titles = KINDS[kind].title
        return titles.get(locale or "", titles.get(self.brand.locale, titles["en"]))

    def locales(self, kind: NoticeKind, channel: NoticeChannel) -> list[str]:
        """Every locale the kind is worded in on the channel."""
        own = {locale for (k, c, locale) in self.saved if k == kind.value and c == channel.value}
        return sorted(own | set(LOCALES))

    def render(
        self,
        kind: NoticeKind,
        channel: NoticeChannel,
        locale: str | None,
        variables: dict[str, Any],
    ) -> str:
        wording = self.text(kind, channel, locale)
        return render(wording, variables, locale or self.brand.locale, self.brand.timezone)


async def wordings_of(brand: Brand) -> Wordings:
    return (await wordings_by_brand_ids([brand.id], [brand]))[brand.id]


async def wordings_by_brand_ids(
    brand_ids: list[int], brands: list[Brand] | None = None
) -> dict[int, Wordings]:
    """The wordings of each brand (read, with the brands unless given, in two queries)."""
    brands = brands if brands is not None else await Brand.filter(id__in=brand_ids)
    rows = await NoticeTemplate.filter(brand_id__in=brand_ids).values_list(
        "brand_id", "kind", "channel", "locale", "text"
    )
    saved: dict[int, dict[tuple[str, str, str], str]] = {brand.id: {} for brand in brands}
    for brand_id, kind, channel, locale, text in rows:
        saved[brand_id][(kind, channel, locale)] = text
    return {brand.id: Wordings(brand, saved[brand.id]) for brand in brands}


async def templates_of(brand_id: int) -> list[NoticeTemplate]:
    return await NoticeTemplate.filter(brand_id=brand_id).order_by("kind", "channel", "locale")


async def save_template(
    principal: Principal,
    kind: NoticeKind,
    channel: NoticeChannel,
    locale: str,
    text: str,
    now: datetime,
    key: str,
) -> NoticeTemplate:
    """The brand's wording of a kind on a channel in a locale, checked: only the kind's
    variables, in braces. Saving again replaces it; once per idempotency key."""
    locale = check_locale(locale)
    text = check_text(kind, text)

    async def save(connection: BaseDBAsyncClient) -> NoticeTemplate:
        template, _ = await NoticeTemplate.update_or_create(
            {"text": text, "updated_at": now}, using_db=connection,
            brand_id=principal.brand_id, kind=kind, channel=channel, locale=locale,
        )  # fmt: skip
        return template

    request = {"kind": kind.value, "channel": channel.value, "locale": locale, "text": text}
    return await change_once(principal, "saveNoticeTemplate", key, request, NoticeTemplate, save)


async def delete_template(
    principal: Principal, kind: NoticeKind, channel: NoticeChannel, locale: str, key: str
) -> bool:
    """Back to the built-in wording; whether there was one of the brand's (once per key)."""
    locale = check_locale(locale)

    async def delete(connection: BaseDBAsyncClient) -> dict[str, Any]:
        deleted = (
            await NoticeTemplate.filter(
                brand_id=principal.brand_id, kind=kind, channel=channel, locale=locale
            )
            .using_db(connection)
            .delete()
        )
        return {"deleted": deleted > 0}

    request = {"kind": kind.value, "channel": channel.value, "locale": locale}
    outcome, _ = await run_once(principal, "deleteNoticeTemplate", key, request, delete)
    return bool(outcome["deleted"])


async def preview(
    principal: Principal,
    kind: NoticeKind,
    channel: NoticeChannel,
    locale: str,
    text: str | None,
) -> str:
    """A wording (given, or the one in use) rendered with sample values; a given one is checked
    as saving would."""
    locale = check_locale(locale)
    wordings = await wordings_of(await Brand.get(id=principal.brand_id))
    wording = check_text(kind, text) if text is not None else wordings.text(kind, channel, locale)
    return render(wording, SAMPLES, locale, wordings.brand.timezone)
