"""Segments: the brand's admins tag members, by ids or by a filter (given, or saved by code), and
rules may be limited to tags (domain/rules/engine.py `Rule.tag_codes`).

A filter names tiers, RFM segments (as the insights job last scored them), a joining period,
tags (any of them) and a search text; a member matches every part given. Tagging is one
statement whatever the number of members, and tagging twice, or untagging one not tagged,
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from db.models import FilterSpecJson, Member, MemberFilter, MemberSegment, MemberTag, Tier
from domain.errors import DomainError, ErrorCode
from domain.idempotency import change_once, run_once
from domain.insights.reports import SEGMENTS
from domain.members import search
from domain.principal import Principal
from domain.rules.admin import TAG

MAX_IDS = 1000  # members named by id in one call; a filter reaches any number

TAG_SQL = """
INSERT INTO member_tag (member_id, brand_id, tag, tagged_at)
SELECT id, $2, $3, $4 FROM unnest($1::int[]) AS id
ON CONFLICT (member_id, tag) DO NOTHING
RETURNING member_id
"""
UNTAG_SQL = """
DELETE FROM member_tag WHERE brand_id = $2 AND tag = $3 AND member_id = ANY($1::int[])
RETURNING member_id
"""


@dataclass(frozen=True)
class FilterSpec:
    """Which of the brand's members; every part given must hold."""

    tier_codes: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    joined_from: datetime | None = None
    joined_to: datetime | None = None
    tags: tuple[str, ...] = ()
    search: str | None = None

    def as_json(self) -> FilterSpecJson:
        return {
            "tier_codes": list(self.tier_codes),
            "segments": list(self.segments),
            "joined_from": self.joined_from.isoformat() if self.joined_from else None,
            "joined_to": self.joined_to.isoformat() if self.joined_to else None,
            "tags": list(self.tags),
            "search": self.search,
        }

    @classmethod
    def of_json(cls, stored: FilterSpecJson) -> FilterSpec:
        return cls(
            tier_codes=tuple(stored["tier_codes"]),
            segments=tuple(stored["segments"]),
            joined_from=_moment(stored["joined_from"]),
            joined_to=_moment(stored["joined_to"]),
            tags=tuple(stored["tags"]),
            search=stored["search"],
        )


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def check_tag(tag: str, field: list[str]) -> str:
    tag = tag.strip().upper()
    if not TAG.match(tag):
        raise DomainError(ErrorCode.INVALID_INPUT, "A tag: 1 to 40 of A-Z, 0-9, _ and -.", field)
    return tag


async def check_filter(brand_id: int, spec: FilterSpec, field: list[str]) -> FilterSpec:
    """The filter with its codes normalised, or INVALID_INPUT / NOT_FOUND naming the part."""
    tiers = tuple(sorted({code.strip().upper() for code in spec.tier_codes}))
    known = await Tier.filter(brand_id=brand_id, code__in=tiers).values_list("code", flat=True)
    if unknown := sorted(set(tiers) - set(known)):
        raise DomainError(
            ErrorCode.NOT_FOUND, f"No such tier: {', '.join(unknown)}.", [*field, "tierCodes"]
        )
    segments = tuple(sorted({name.strip().upper() for name in spec.segments}))
    if unknown := sorted(set(segments) - set(SEGMENTS)):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"No such segment: {', '.join(unknown)}.",
            [*field, "segments"],
        )
    if spec.joined_from and spec.joined_to and spec.joined_from >= spec.joined_to:
        message = "joinedTo must be after joinedFrom."
        raise DomainError(ErrorCode.INVALID_INPUT, message, [*field, "joinedTo"])
    tags = tuple(sorted({check_tag(tag, [*field, "tags"]) for tag in spec.tags}))
    text = spec.search.strip() if spec.search else None
    if text is not None and len(text) > 100:
        message = "Search: at most 100 characters."
        raise DomainError(ErrorCode.INVALID_INPUT, message, [*field, "search"])
    return FilterSpec(tiers, segments, spec.joined_from, spec.joined_to, tags, text or None)


def matching(principal: Principal, spec: FilterSpec) -> QuerySet[Member]:
    """The brand's members the filter (checked) selects."""
    members = search(principal, spec.search)
    if spec.tier_codes:
        members = members.filter(tier__code__in=spec.tier_codes)
    if spec.segments:
        scored = MemberSegment.filter(brand_id=principal.brand_id, segment__in=spec.segments)
        members = members.filter(id__in=Subquery(scored.values("member_id")))
    if spec.joined_from:
        members = members.filter(joined_at__gte=spec.joined_from)
    if spec.joined_to:
        members = members.filter(joined_at__lt=spec.joined_to)
    if spec.tags:
        tagged = MemberTag.filter(brand_id=principal.brand_id, tag__in=spec.tags)
        members = members.filter(id__in=Subquery(tagged.values("member_id")))
    return members


async def saved_filter(principal: Principal, code: str) -> FilterSpec:
    stored = await MemberFilter.get_or_none(brand_id=principal.brand_id, code=code.strip().upper())
    if stored is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such saved filter.", ["input", "filterCode"])
    return FilterSpec.of_json(stored.spec)


async def tag_members(
    principal: Principal,
    tag: str,
    *,
    member_ids: list[int] | None,
    spec: FilterSpec | None,
    filter_code: str | None,
    remove: bool,
    now: datetime,
    key: str,
) -> int:
    """Tag (or, with `remove`, untag) the members named by ids, by a filter or by a saved
    filter's code (exactly one of them); once per key. Returns how many members it changed."""
    tag = check_tag(tag, ["input", "tag"])
    if sum(given is not None for given in (member_ids, spec, filter_code)) != 1:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "Name the members by memberIds, by filter or by filterCode: one of them.",
            ["input"],
        )
    if member_ids is not None and len(member_ids) > MAX_IDS:
        message = f"At most {MAX_IDS} memberIds; use a filter for more."
        raise DomainError(ErrorCode.INVALID_INPUT, message, ["input", "memberIds"])
    if spec is not None:
        spec = await check_filter(principal.brand_id, spec, ["input", "filter"])
    elif filter_code is not None:
        spec = await saved_filter(principal, filter_code)

    async def change(connection: BaseDBAsyncClient) -> dict[str, Any]:
        if spec is not None:
            ids = await matching(principal, spec).using_db(connection).values_list("id", flat=True)
        else:
            named = Member.filter(brand_id=principal.brand_id, id__in=member_ids or [])
            ids = await named.using_db(connection).values_list("id", flat=True)
            if missing := set(member_ids or ()) - set(ids):
                raise DomainError(
                    ErrorCode.NOT_FOUND,
                    f"No such member: {len(missing)} of the ids.",
                    ["input", "memberIds"],
                )
        statement = UNTAG_SQL if remove else TAG_SQL
        arguments = [list(ids), principal.brand_id, tag] + ([] if remove else [now])
        changed = await connection.execute_query_dict(statement, arguments)
        return {"changed": len(changed)}

    request = {
        "tag": tag, "remove": remove, "ids": sorted(member_ids) if member_ids else None,
        "filter": spec.as_json() if spec else None, "filterCode": filter_code,
    }  # fmt: skip
    outcome, _ = await run_once(principal, "tagMembers", key, request, change)
    return int(outcome["changed"])


async def save_filter(
    principal: Principal, code: str, name: str, spec: FilterSpec, now: datetime, key: str
) -> MemberFilter:
    """Save (or replace) the brand's filter of this code; once per key."""
    code = check_tag(code, ["input", "code"])
    name = name.strip()
    if not 1 <= len(name) <= 120:
        raise DomainError(ErrorCode.INVALID_INPUT, "Name: 1 to 120 characters.", ["input", "name"])
    spec = await check_filter(principal.brand_id, spec, ["input", "filter"])

    async def change(connection: BaseDBAsyncClient) -> MemberFilter:
        saved, _ = await MemberFilter.update_or_create(
            {"name": name, "spec": spec.as_json(), "updated_at": now},
            brand_id=principal.brand_id,
            code=code,
            using_db=connection,
        )
        return saved

    request = {"code": code, "name": name, "filter": spec.as_json()}
    return await change_once(principal, "saveMemberFilter", key, request, MemberFilter, change)


async def member_filters(principal: Principal) -> list[MemberFilter]:
    return await MemberFilter.filter(brand_id=principal.brand_id).order_by("code")


async def tags(member_id: int) -> list[str]:
    """The member's tags, in order."""
    return sorted(tagged.tag for tagged in await MemberTag.filter(member_id=member_id))
