"""Resolvers for member notices: the inbox, preferences, live arrivals, and the brand's
settings, wordings and gateways."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import strawberry

from domain import records
from domain.brands import brands_by_ids
from domain.errors import DomainError, ErrorCode
from domain.ledger import live
from domain.notices import admin, gateway, inbox, templates
from domain.notices.inbox import NoticePreferences
from domain.notices.kinds import KINDS, NoticeChannel, NoticeKind
from domain.notices.outbox import notice_of
from resolvers.connections import ConnectionView, page_request, to_connection
from resolvers.context import Info, now_of, principal_of
from resolvers.ids import ByIdFields, decode_id
from resolvers.payloads import PayloadView, reports_user_errors


class MarkNoticesReadFields(Protocol):
    ids: list[strawberry.ID] | None
    all: bool | None
    idempotency_key: str


class UpdateMyNoticePreferencesFields(Protocol):
    sms: bool | None
    email: bool | None
    wechat: bool | None
    push: bool | None
    wechat_open_id: str | None
    push_token: str | None
    locale: str | None
    idempotency_key: str


class RemindMeOfFlashSaleFields(Protocol):
    flash_sale_id: strawberry.ID
    idempotency_key: str


class UpdateNoticeSettingsFields(Protocol):
    locale: str | None
    quiet_hours_start: str | None
    quiet_hours_end: str | None
    expiry_reminder_days: list[int] | None
    idempotency_key: str


class SetNoticeChannelFields(Protocol):
    kind: NoticeKind
    channel: NoticeChannel
    enabled: bool
    idempotency_key: str


class RegisterNoticeGatewayFields(Protocol):
    channel: NoticeChannel
    url: str
    idempotency_key: str


class DisableNoticeGatewayFields(Protocol):
    channel: NoticeChannel
    idempotency_key: str


class DeleteNoticeTemplateFields(Protocol):
    kind: NoticeKind
    channel: NoticeChannel
    locale: str
    idempotency_key: str


class SaveNoticeTemplateFields(DeleteNoticeTemplateFields, Protocol):
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticePreviewView(PayloadView):
    text: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkNoticesReadPayloadView(PayloadView):
    marked: int | None
    unread_notice_count: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateMyNoticePreferencesPayloadView(PayloadView):
    preferences: NoticePreferencesView | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RemindMeOfFlashSalePayloadView(PayloadView):
    flash_sale: records.FlashSale | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticeSettingsPayloadView(PayloadView):
    settings: NoticeSettingsView | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticeGatewayPayloadView(PayloadView):
    gateway: records.NoticeGateway | None
    secret: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveNoticeTemplatePayloadView(PayloadView):
    template: records.NoticeTemplate | None
    preview: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteNoticeTemplatePayloadView(PayloadView):
    deleted: bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticeDeliveryPayloadView(PayloadView):
    delivery: records.NoticeDelivery | None


async def wordings_of(info: Info, brand_id: int) -> templates.Wordings:
    """The brand's wordings, read once per request (or subscription event)."""
    return await info.context.loaders.wordings_by_brand_id.load(brand_id)


async def member_locale(info: Info, notice: records.Notice) -> str | None:
    member = await info.context.loaders.member_by_id.load(notice.member_id)
    return member.locale if member is not None else None


async def title_of(info: Info, notice: records.Notice) -> str:
    wordings = await wordings_of(info, notice.brand_id)
    return wordings.title(notice.kind, await member_locale(info, notice))


async def text_of(info: Info, notice: records.Notice) -> str:
    wordings = await wordings_of(info, notice.brand_id)
    locale = await member_locale(info, notice)
    return wordings.render(notice.kind, NoticeChannel.INBOX, locale, notice.variables)


async def notices_of(
    member: records.Member,
    unread_only: bool,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> ConnectionView[records.Notice]:
    page = await inbox.notices_page(
        member.id, unread_only, page_request(first, after, last, before)
    )
    return to_connection(page)


async def unread_count_of(member: records.Member) -> int:
    return await inbox.unread_count(member.id)


@reports_user_errors(MarkNoticesReadPayloadView)
async def mark_notices_read(info: Info, input: MarkNoticesReadFields) -> MarkNoticesReadPayloadView:
    principal = principal_of(info)
    if bool(input.all) == (input.ids is not None):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Name the notices (ids) or all: true.", ["input", "ids"]
        )
    ids = [decode_id(global_id, "Notice", "ids") for global_id in input.ids or []]
    marked = await inbox.mark_read(
        principal, ids if input.ids is not None else None, now_of(info), input.idempotency_key
    )
    member_id = principal.member_id
    assert member_id is not None  # only a member marks their notices (schema: IsMember)
    unread = await inbox.unread_count(member_id)
    return MarkNoticesReadPayloadView(marked=marked, unread_notice_count=unread)


@reports_user_errors(UpdateMyNoticePreferencesPayloadView)
async def update_my_notice_preferences(
    info: Info, input: UpdateMyNoticePreferencesFields
) -> UpdateMyNoticePreferencesPayloadView:
    preferences = NoticePreferences(
        sms=input.sms, email=input.email, wechat=input.wechat, push=input.push,
        wechat_open_id=input.wechat_open_id, push_token=input.push_token, locale=input.locale,
    )  # fmt: skip
    member = await inbox.update_preferences(principal_of(info), preferences, input.idempotency_key)
    return UpdateMyNoticePreferencesPayloadView(preferences=preferences_of(member))


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


def preferences_of(member: records.Member) -> NoticePreferencesView:
    return NoticePreferencesView(
        [ChannelConsentView(channel, consented) for channel, consented in
         inbox.consents_of(member).items()],
        member.wechat_open_id, member.push_token, member.locale,
    )  # fmt: skip


@reports_user_errors(RemindMeOfFlashSalePayloadView)
async def remind_me_of_flash_sale(
    info: Info, input: RemindMeOfFlashSaleFields
) -> RemindMeOfFlashSalePayloadView:
    sale_id = decode_id(input.flash_sale_id, "FlashSale", "flashSaleId")
    sale = await inbox.remind_me_of_flash_sale(
        principal_of(info), sale_id, now_of(info), input.idempotency_key
    )
    return RemindMeOfFlashSalePayloadView(flash_sale=sale)


async def notice_received(info: Info, member_id: str | None) -> AsyncIterator[records.Notice]:
    """Check access first (a refusal is the subscription's error), then stream the notices."""
    principal = principal_of(info)
    wanted = decode_id(member_id, "Member", "memberId") if member_id is not None else None
    member = await live.watched_member(principal, wanted)

    async def arrivals() -> AsyncIterator[records.Notice]:
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
    gateways: list[records.NoticeGateway]
    templates: list[records.NoticeTemplate]


async def notice_settings(info: Info) -> NoticeSettingsView:
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


@reports_user_errors(NoticeSettingsPayloadView)
async def update_notice_settings(
    info: Info, input: UpdateNoticeSettingsFields
) -> NoticeSettingsPayloadView:
    change = admin.NoticeSettingsChange(
        locale=input.locale, quiet_hours_start=input.quiet_hours_start,
        quiet_hours_end=input.quiet_hours_end, expiry_reminder_days=input.expiry_reminder_days,
    )  # fmt: skip
    await admin.update_settings(principal_of(info), change, input.idempotency_key)
    return NoticeSettingsPayloadView(settings=await notice_settings(info))


@reports_user_errors(NoticeSettingsPayloadView)
async def set_notice_channel(
    info: Info, input: SetNoticeChannelFields
) -> NoticeSettingsPayloadView:
    await admin.switch_channel(
        principal_of(info), input.kind, input.channel, input.enabled, input.idempotency_key
    )
    return NoticeSettingsPayloadView(settings=await notice_settings(info))


@reports_user_errors(NoticeGatewayPayloadView)
async def register_notice_gateway(
    info: Info, input: RegisterNoticeGatewayFields
) -> NoticeGatewayPayloadView:
    registered, secret = await gateway.register_gateway(
        info.context.backends, principal_of(info), input.channel, input.url, input.idempotency_key
    )
    return NoticeGatewayPayloadView(gateway=registered, secret=secret)


@reports_user_errors(NoticeGatewayPayloadView)
async def disable_notice_gateway(
    info: Info, input: DisableNoticeGatewayFields
) -> NoticeGatewayPayloadView:
    disabled = await gateway.disable_gateway(
        principal_of(info), input.channel, now_of(info), input.idempotency_key
    )
    return NoticeGatewayPayloadView(gateway=disabled, secret=None)


@reports_user_errors(SaveNoticeTemplatePayloadView)
async def save_notice_template(
    info: Info, input: SaveNoticeTemplateFields
) -> SaveNoticeTemplatePayloadView:
    principal = principal_of(info)
    template = await templates.save_template(
        principal, input.kind, input.channel, input.locale, input.text, now_of(info),
        input.idempotency_key,
    )  # fmt: skip
    preview = await templates.preview(principal, input.kind, input.channel, input.locale, None)
    return SaveNoticeTemplatePayloadView(template=template, preview=preview)


@reports_user_errors(DeleteNoticeTemplatePayloadView)
async def delete_notice_template(
    info: Info, input: DeleteNoticeTemplateFields
) -> DeleteNoticeTemplatePayloadView:
    deleted = await templates.delete_template(
        principal_of(info), input.kind, input.channel, input.locale, input.idempotency_key
    )
    return DeleteNoticeTemplatePayloadView(deleted=deleted)


@reports_user_errors(NoticePreviewView)
async def preview_notice(
    info: Info, kind: NoticeKind, channel: NoticeChannel, locale: str, text: str | None
) -> NoticePreviewView:
    rendered = await templates.preview(principal_of(info), kind, channel, locale, text)
    return NoticePreviewView(text=rendered)


async def notice_deliveries(
    info: Info,
    status: gateway.DeliveryStatus | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> ConnectionView[records.NoticeDelivery]:
    page = await gateway.deliveries_page(
        principal_of(info), status, page_request(first, after, last, before)
    )
    return to_connection(page)


@reports_user_errors(NoticeDeliveryPayloadView)
async def redeliver_notice(info: Info, input: ByIdFields) -> NoticeDeliveryPayloadView:
    delivery_id = decode_id(input.id, "NoticeDelivery", "id")
    delivery = await gateway.redeliver_notice(
        principal_of(info), delivery_id, now_of(info), input.idempotency_key
    )
    return NoticeDeliveryPayloadView(delivery=delivery)


async def channel_of_delivery(delivery: records.NoticeDelivery) -> NoticeChannel:
    return (await gateway.gateway_of(delivery)).channel


async def notice_of_delivery(delivery: records.NoticeDelivery) -> records.Notice:
    return await gateway.notice_of(delivery)
