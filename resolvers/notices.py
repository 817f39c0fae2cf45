"""Resolvers for member notices: the inbox, preferences, live arrivals, and the brand's
settings, wordings and gateways."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from domain.brands import brands_by_ids
from domain.errors import DomainError, ErrorCode
from domain.ledger import live
from domain.notices import admin, gateway, inbox, templates
from domain.notices.inbox import NoticePreferences
from domain.notices.kinds import KINDS, NoticeChannel, NoticeKind
from domain.notices.outbox import notice_of
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import principal_of
from resolvers.ids import decode_id
from resolvers.payloads import Payload, reports_user_errors


def _now(info: Any) -> Any:
    return info.context.backends.clock.now()


async def wordings_of(info: Any, brand_id: int) -> templates.Wordings:
    """The brand's wordings, read once per request (or subscription event)."""
    return await info.context.loaders.wordings_by_brand_id.load(brand_id)


async def member_locale(info: Any, notice: Any) -> str | None:
    member = await info.context.loaders.member_by_id.load(notice.member_id)
    return member.locale if member is not None else None


async def title_of(info: Any, notice: Any) -> str:
    wordings = await wordings_of(info, notice.brand_id)
    return wordings.title(notice.kind, await member_locale(info, notice))


async def text_of(info: Any, notice: Any) -> str:
    wordings = await wordings_of(info, notice.brand_id)
    locale = await member_locale(info, notice)
    return wordings.render(notice.kind, NoticeChannel.INBOX, locale, notice.variables)


async def notices_of(
    info: Any,
    member: Any,
    unread_only: bool,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> ConnectionView:
    page = await inbox.notices_page(
        member.id, unread_only, page_request(first, after, last, before)
    )
    return to_connection(page)


async def unread_count_of(member: Any) -> int:
    return await inbox.unread_count(member.id)


@reports_user_errors
async def mark_notices_read(info: Any, input: Any) -> Payload:
    principal = principal_of(info)
    if bool(input.all) == (input.ids is not None):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Name the notices (ids) or all: true.", ["input", "ids"]
        )
    ids = [decode_id(global_id, "Notice", "ids") for global_id in input.ids or []]
    marked = await inbox.mark_read(
        principal, ids if input.ids is not None else None, _now(info), input.idempotency_key
    )
    return Payload(marked=marked, unread_notice_count=await inbox.unread_count(principal.member_id))


@reports_user_errors
async def update_my_notice_preferences(info: Any, input: Any) -> Payload:
    preferences = NoticePreferences(
        sms=input.sms, email=input.email, wechat=input.wechat, push=input.push,
        wechat_open_id=input.wechat_open_id, push_token=input.push_token, locale=input.locale,
    )  # fmt: skip
    member = await inbox.update_preferences(principal_of(info), preferences, input.idempotency_key)
    return Payload(preferences=preferences_of(member))


@dataclass(frozen=True)
class ChannelConsentView:
    channel: NoticeChannel
    consented: bool


@dataclass(frozen=True)
class NoticePreferencesView:
    consents: list[ChannelConsentView]
    wechat_open_id: str | None
    push_token: str | None
    locale: str | None


def preferences_of(member: Any) -> NoticePreferencesView:
    return NoticePreferencesView(
        [ChannelConsentView(channel, consented) for channel, consented in
         inbox.consents_of(member).items()],
        member.wechat_open_id, member.push_token, member.locale,
    )  # fmt: skip


@reports_user_errors
async def remind_me_of_flash_sale(info: Any, input: Any) -> Payload:
    sale_id = decode_id(input.flash_sale_id, "FlashSale", "flashSaleId")
    sale = await inbox.remind_me_of_flash_sale(
        principal_of(info), sale_id, _now(info), input.idempotency_key
    )
    return Payload(flash_sale=sale)


async def notice_received(info: Any, member_id: str | None) -> AsyncIterator[Any]:
    """Check access first (a refusal is the subscription's error), then stream the notices."""
    principal = principal_of(info)
    wanted = decode_id(member_id, "Member", "memberId") if member_id is not None else None
    member = await live.watched_member(principal, wanted)

    async def arrivals() -> AsyncIterator[Any]:
        async for event in inbox.watch_notices(
            info.context.backends, member, principal.still_valid
        ):
            yield notice_of(event, member.brand_id)

    return arrivals()


# The brand's side.


@dataclass(frozen=True)
class ChannelSwitchView:
    channel: NoticeChannel
    enabled: bool


@dataclass(frozen=True)
class NoticeKindSettingView:
    kind: NoticeKind
    marketing: bool
    variables: list[str]
    channels: list[ChannelSwitchView]


@dataclass(frozen=True)
class NoticeSettingsView:
    locale: str
    quiet_hours_start: str
    quiet_hours_end: str
    expiry_reminder_days: list[int]
    kinds: list[NoticeKindSettingView]
    gateways: list[Any]
    templates: list[Any]


async def notice_settings(info: Any) -> NoticeSettingsView:
    brand_id = principal_of(info).brand_id
    brand = (await brands_by_ids([brand_id]))[brand_id]
    off = await admin.switched_off(brand_id)
    kinds = [
        NoticeKindSettingView(
            kind,
            spec.marketing,
            list(spec.variables),
            [ChannelSwitchView(channel, (kind, channel) not in off) for channel in NoticeChannel],
        )
        for kind, spec in KINDS.items()
    ]
    return NoticeSettingsView(
        brand.locale,
        admin.clock_of(brand.quiet_from_minute),
        admin.clock_of(brand.quiet_until_minute),
        list(brand.expiry_reminder_days),
        kinds,
        await admin.gateways_of(brand_id),
        await templates.templates_of(brand_id),
    )


@reports_user_errors
async def update_notice_settings(info: Any, input: Any) -> Payload:
    change = admin.NoticeSettingsChange(
        locale=input.locale, quiet_hours_start=input.quiet_hours_start,
        quiet_hours_end=input.quiet_hours_end, expiry_reminder_days=input.expiry_reminder_days,
    )  # fmt: skip
    await admin.update_settings(principal_of(info), change, input.idempotency_key)
    return Payload(settings=await notice_settings(info))


@reports_user_errors
async def set_notice_channel(info: Any, input: Any) -> Payload:
    await admin.switch_channel(
        principal_of(info), input.kind, input.channel, input.enabled, input.idempotency_key
    )
    return Payload(settings=await notice_settings(info))


@reports_user_errors
async def register_notice_gateway(info: Any, input: Any) -> Payload:
    registered, secret = await gateway.register_gateway(
        info.context.backends, principal_of(info), input.channel, input.url, input.idempotency_key
    )
    return Payload(gateway=registered, secret=secret)


@reports_user_errors
async def disable_notice_gateway(info: Any, input: Any) -> Payload:
    disabled = await gateway.disable_gateway(
        principal_of(info), input.channel, _now(info), input.idempotency_key
    )
    return Payload(gateway=disabled)


@reports_user_errors
async def save_notice_template(info: Any, input: Any) -> Payload:
    principal = principal_of(info)
    template = await templates.save_template(
        principal, input.kind, input.channel, input.locale, input.text, _now(info),
        input.idempotency_key,
    )  # fmt: skip
    preview = await templates.preview(principal, input.kind, input.channel, input.locale, None)
    return Payload(template=template, preview=preview)


@reports_user_errors
async def delete_notice_template(info: Any, input: Any) -> Payload:
    deleted = await templates.delete_template(
        principal_of(info), input.kind, input.channel, input.locale, input.idempotency_key
    )
    return Payload(deleted=deleted)


@reports_user_errors
async def preview_notice(
    info: Any, kind: NoticeKind, channel: NoticeChannel, locale: str, text: str | None
) -> Payload:
    rendered = await templates.preview(principal_of(info), kind, channel, locale, text)
    return Payload(text=rendered)


async def notice_deliveries(
    info: Any,
    status: Any,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> ConnectionView:
    page = await gateway.deliveries_page(
        principal_of(info), status, page_request(first, after, last, before)
    )
    return to_connection(page)


@reports_user_errors
async def redeliver_notice(info: Any, input: Any) -> Payload:
    delivery_id = decode_id(input.id, "NoticeDelivery", "id")
    delivery = await gateway.redeliver_notice(
        principal_of(info), delivery_id, _now(info), input.idempotency_key
    )
    return Payload(delivery=delivery)


async def channel_of_delivery(delivery: Any) -> NoticeChannel:
    return (await gateway.gateway_of(delivery)).channel


async def notice_of_delivery(delivery: Any) -> Any:
    return await gateway.notice_of(delivery)
