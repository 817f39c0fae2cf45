"""Members: registration, profiles, status, and who may see which member."""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from db.columns import fits
from db.models import (
    AwardKind,
    Balance,
    Brand,
    Member,
    MemberStatus,
    MemberStatusChange,
    RuleKind,
    Tier,
)
from db.rows import model_of
from domain.errors import DomainError, ErrorCode
from domain.idempotency import change_once, run_once
from domain.ledger.book import MemberBook
from domain.ledger.movements import close_books, publish_books
from domain.member_facts import forget_facts
from domain.pagination import Page, PageRequest, paginate
from domain.principal import Principal
from domain.risk import FlagDraft, record_flags, shared_registration
from domain.rules.bonuses import pay_one_off
from domain.runtime import Backends
from domain.velocity import Admission, VelocityKind, admit

PHONE = re.compile(r"^\+?[0-9]{6,15}$")
PHONE_SEPARATORS = re.compile(r"[\s\-()]")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# No 0/O or 1/I: codes are read aloud and typed from screens.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
UNIQUE_FIELDS = {
    "member_brand_phone": "phone",
    "member_brand_email": "email",
    "member_referral_code": "referralCode",
    "member_member_code": "memberCode",
}
GENERATED_FIELDS = {"referralCode", "memberCode"}
CODE_DRAWS = 5


@dataclass(frozen=True, slots=True)
class NewMember:
    display_name: str
    phone: str | None = None
    email: str | None = None
    birthday: date | None = None
    referral_code: str | None = None
    device_id: str | None = None  # the app's identifier of the device


@dataclass(frozen=True, slots=True)
class ProfileChange:
    """Fields a member changes on their own profile; None leaves a field as it is."""

    display_name: str | None = None
    email: str | None = None
    birthday: date | None = None
    marketing_email: bool | None = None
    marketing_sms: bool | None = None


def new_code(length: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def clean_display_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 120:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Display name: 1 to 120 characters.", ["displayName"]
        )
    return name


def clean_phone(phone: str | None) -> str | None:
    if phone is None:
        return None
    normalised = PHONE_SEPARATORS.sub("", phone)
    if not PHONE.match(normalised):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Phone: 6 to 15 digits, optionally after a +.", ["phone"]
        )
    return normalised


def clean_email(email: str | None) -> str | None:
    if email is None:
        return None
    email = email.strip().lower()
    if len(email) > 254 or not EMAIL.match(email):
        raise DomainError(ErrorCode.INVALID_INPUT, "Email is not a valid address.", ["email"])
    return email


def clean_device_id(device_id: str | None) -> str | None:
    """The app's device identifier, trimmed (blank: none given)."""
    device_id = (device_id or "").strip()
    if len(device_id) > 128 or not device_id.isprintable():
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Device id: up to 128 printable characters.", ["deviceId"]
        )
    return device_id or None


def latest_today(now: datetime) -> date:
    """Today's date where it is latest on Earth (UTC+14): a birthday may be today anywhere."""
    return (now + timedelta(hours=14)).date()


def clean_birthday(birthday: date | None, today: date) -> date | None:
    if birthday is not None and not date(1900, 1, 1) <= birthday <= today:
        raise DomainError(ErrorCode.INVALID_INPUT, "Birthday must be a past date.", ["birthday"])
    return birthday


async def register(rt: Backends, principal: Principal, new: NewMember, key: str) -> Member:
    """Register a member of the caller's brand, on its base tier, with a zero balance."""
    today = latest_today(rt.clock.now())
    values = {
        "display_name": clean_display_name(new.display_name),
        "phone": clean_phone(new.phone),
        "email": clean_email(new.email),
        "birthday": clean_birthday(new.birthday, today),
        "device_id": clean_device_id(new.device_id),
    }
    referrer = None
    if new.referral_code:
        referrer = await Member.get_or_none(
            brand_id=principal.brand_id, referral_code=new.referral_code.strip().upper()
        )
        if referrer is None:
            raise DomainError(
                ErrorCode.NOT_FOUND, "No member has this referral code.", ["referralCode"]
            )

    async def create(connection: BaseDBAsyncClient) -> dict[str, Any]:
        base_tier = (
            await Tier.filter(brand_id=principal.brand_id)
            .using_db(connection)
            .order_by("rank")
            .first()
        )
        assert base_tier is not None  # every brand is made with its base tier
        member = await Member.create(
            brand_id=principal.brand_id,
            referred_by_id=referrer.id if referrer else None,
            referral_code=new_code(8),
            member_code=new_code(8),
            tier_id=base_tier.id,
            joined_at=rt.clock.now(),
            birthday_set_at=rt.clock.now() if values["birthday"] else None,
            using_db=connection,
            **values,
        )
        await Balance.create(member_id=member.id, using_db=connection)
        actor = principal.idempotency_scope
        book = await MemberBook.open(connection, member.id, member.joined_at, actor)
        brand = await Brand.get(id=principal.brand_id, using_db=connection)
        shared = await shared_registration(
            connection, member.brand_id, member.phone, member.device_id, book.now
        )
        flags = [
            FlagDraft(member.brand_id, member.id, None, reason, details)
            for reason, details in shared
        ]
        if referrer is not None:  # a new registration (a replay never gets here) counts
            counted = {VelocityKind.REGISTRATIONS_PER_REFERRER: str(referrer.id)}
            admitted.append(await admit(rt, brand, counted, book.now))
            flags += [
                FlagDraft(member.brand_id, referrer.id, None, "VELOCITY", limit.as_json())
                for limit in admitted[-1].flagged
            ]
        await record_flags(connection, flags, book.now)
        await pay_one_off(
            book, brand, RuleKind.REGISTRATION_BONUS, AwardKind.REGISTRATION, "welcome",
            "Welcome bonus",
        )  # fmt: skip
        return {"member_id": member.id, "books": await close_books(book)}

    payload = {**values, "birthday": str(values["birthday"]), "referrer": referrer and referrer.id}
    if payload["device_id"] is None:
        del payload["device_id"]  # a call without one is the same request it always was
    admitted: list[Admission] = []  # places taken by attempts that did not commit go back
    draws_left = CODE_DRAWS
    while True:
        try:
            outcome, replayed = await run_once(principal, "registerMember", key, payload, create)
            if not replayed:
                await publish_books(rt, outcome["books"])
            return await Member.get(id=outcome["member_id"])
        except DomainError:
            await _give_back(admitted)
            raise
        except IntegrityError as error:
            await _give_back(admitted)
            draws_left -= 1
            # A generated code that is taken is no fault of the caller's: `create` draws anew.
            if not draws_left or duplicate_field(error) not in GENERATED_FIELDS:
                raise duplicate_error(error) from None


async def _give_back(admitted: list[Admission]) -> None:
    while admitted:
        await admitted.pop().give_back()


def duplicate_field(error: IntegrityError) -> str:
    """The field whose uniqueness a failed insert broke; the error again for another cause."""
    text = str(error)
    field = next((name for constraint, name in UNIQUE_FIELDS.items() if constraint in text), None)
    if field is None:
        raise error
    return field


def duplicate_error(error: IntegrityError) -> DomainError:
    """The field whose uniqueness a failed insert broke, as a DUPLICATE user error."""
    field = duplicate_field(error)
    return DomainError(ErrorCode.DUPLICATE, f"Another member already has this {field}.", [field])


# Most requests read a member by id: building that query through the ORM costs several times
# the read, so these are our own SQL, loaded into the same models.
MEMBERS_BY_IDS_SQL = "SELECT * FROM member WHERE id = ANY($1)"
MEMBER_OF_BRAND_SQL = "SELECT * FROM member WHERE id = $1 AND brand_id = $2"


async def members_by_ids(ids: list[int]) -> dict[int, Member]:
    rows = await get_connection("default").execute_query_dict(MEMBERS_BY_IDS_SQL, [ids])
    return {row["id"]: model_of(Member, row) for row in rows}


async def brand_member(brand_id: int, member_id: int) -> Member | None:
    """The brand's member with this id, if there is one."""
    rows = await get_connection("default").execute_query_dict(
        MEMBER_OF_BRAND_SQL, [member_id, brand_id]
    )
    return model_of(Member, rows[0]) if rows else None


async def member_of_brand(principal: Principal, member_id: int) -> Member:
    """A member of the caller's brand, for a movement or a change; NOT_FOUND otherwise."""
    member = await brand_member(principal.brand_id, member_id)
    if member is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such member.", ["memberId"])
    return member


async def visible_member(principal: Principal, member_id: int) -> Member | None:
    """The member if the caller may see them: themself, or their brand's staff."""
    if principal.member_id == member_id or principal.reads_members:
        return await brand_member(principal.brand_id, member_id)
    return None


async def me(principal: Principal) -> Member | None:
    if principal.member_id is None:
        return None
    return await brand_member(principal.brand_id, principal.member_id)


async def search_page(principal: Principal, text: str | None, request: PageRequest) -> Page[Member]:
    """A page of the brand's members matching a name, phone, email, referral or member code."""
    return await paginate(search(principal, text), request)


def search(principal: Principal, text: str | None) -> QuerySet[Member]:
    """The brand's members matching a name, phone, email, referral or member code."""
    members = Member.filter(brand_id=principal.brand_id)
    if text and (text := text.strip()):
        code = text.upper()
        matches = Q(display_name__icontains=text) | Q(email__icontains=text)
        if fits(Member, "member_code", code) and fits(Member, "referral_code", code):
            matches |= Q(referral_code=code) | Q(member_code=code)
        # Separators alone leave an empty fragment, which would match every phone.
        if phone := PHONE_SEPARATORS.sub("", text):
            matches |= Q(phone__contains=phone)
        members = members.filter(matches)
    return members


async def find_by_code(principal: Principal, member_code: str) -> Member | None:
    """The member a cashier scanned: by the short code on their QR."""
    code = member_code.strip().upper()
    if not fits(Member, "member_code", code):
        return None
    return await Member.get_or_none(brand_id=principal.brand_id, member_code=code)


async def set_status(
    rt: Backends,
    principal: Principal,
    member_id: int,
    status: MemberStatus,
    reason: str,
    key: str | None = None,
) -> Member:
    """Freeze, close or reopen a member; the reason and the actor are kept; once per
    idempotency key."""
    if not reason.strip():
        raise DomainError(ErrorCode.INVALID_INPUT, "Say why the status changes.", ["reason"])

    async def change(connection: BaseDBAsyncClient) -> Member:
        member = await member_of_brand(principal, member_id)
        # The balance row first, as every movement locks it: a freeze waits for a movement in
        # flight, and a movement that starts after it sees the new status.
        await Balance.select_for_update().using_db(connection).get(member_id=member.id)
        member = await Member.select_for_update().using_db(connection).get(id=member.id)
        if member.status is MemberStatus.CLOSED and status is not MemberStatus.CLOSED:
            raise DomainError(ErrorCode.INVALID_INPUT, "A closed member stays closed.", ["status"])
        if member.status is not status:
            await MemberStatusChange.create(
                member_id=member.id,
                previous=member.status,
                current=status,
                reason=reason.strip(),
                actor=principal.idempotency_scope,
                created_at=rt.clock.now(),
                using_db=connection,
            )
            member.status = status
            await member.save(using_db=connection, update_fields=["status"])
        return member

    async def forget(member: Member) -> None:
        await forget_facts(rt, member.id)

    request = {"memberId": member_id, "status": status, "reason": reason}
    return await change_once(
        principal, "setMemberStatus", key, request, Member, change, after=forget
    )


async def update_profile(
    rt: Backends, principal: Principal, change: ProfileChange, key: str | None = None
) -> Member:
    """A member changes their own profile; the birthday can be set once, never changed; once
    per idempotency key."""
    values: dict[str, object] = {}
    if change.display_name is not None:
        values["display_name"] = clean_display_name(change.display_name)
    if change.email is not None:
        values["email"] = clean_email(change.email)
    if change.birthday is not None:
        values["birthday"] = clean_birthday(change.birthday, latest_today(rt.clock.now()))
        values["birthday_set_at"] = rt.clock.now()
    if change.marketing_email is not None:
        values["marketing_email"] = change.marketing_email
    if change.marketing_sms is not None:
        values["marketing_sms"] = change.marketing_sms

    # Locked, and only the changed columns written: a status an admin sets meanwhile is not
    # undone, and of two concurrent first birthdays only one is kept.
    async def save(connection: BaseDBAsyncClient) -> Member:
        member = await me(principal)
        if member is None:
            raise DomainError(ErrorCode.NOT_FOUND, "Your member record is not in this brand.")
        member = await Member.select_for_update().using_db(connection).get(id=member.id)
        if "birthday" in values and member.birthday not in (None, values["birthday"]):
            raise DomainError(ErrorCode.INVALID_INPUT, "The birthday is set already.", ["birthday"])
        if member.birthday is not None:
            values.pop("birthday", None)  # the same again: when it was given stays
            values.pop("birthday_set_at", None)
        if values:
            member.update_from_dict(values)
            try:
                await member.save(using_db=connection, update_fields=list(values))
            except IntegrityError as error:
                raise duplicate_error(error) from None
        return member

    request = asdict(change)
    return await change_once(principal, "updateMyProfile", key, request, Member, save)
