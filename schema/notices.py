"""Member notices: the inbox and its live arrivals, a member's consents, and the brand's
settings, wordings and gateways."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import strawberry

from domain import records
from domain.notices import gateway, kinds
from resolvers import notices as resolve
from resolvers.connections import ConnectionView
from resolvers.context import Info
from schema.errors import UserError
from schema.flash_sales import FlashSale
from schema.permissions import HasBrand, IsBrandAdmin, IsMember
from schema.relay import Connection, Node

NoticeKind = kinds.NoticeKind
strawberry.enum(
    NoticeKind,
    name="NoticeKind",
    description="What a notice tells. Marketing kinds (POINTS_EXPIRING, TIER_LAPSING, "
    "COUPON_EXPIRING, BIRTHDAY_GIFT, FLASH_SALE_STARTING) reach a gateway channel only with the "
    "member's consent to it, and wait out the brand's quiet hours; the others go regardless.",
)
NoticeChannel = kinds.NoticeChannel
strawberry.enum(
    NoticeChannel,
    name="NoticeChannel",
    description="INBOX: the in-app inbox (me.notices, noticeReceived). SMS, WECHAT, PUSH, "
    "EMAIL: posted to the brand's gateway for the channel, which sends them.",
)
DeliveryStatus = gateway.DeliveryStatus
strawberry.enum(
    DeliveryStatus,
    name="DeliveryStatus",
    description="PENDING: to be posted (again); DELIVERED: the gateway answered 2xx; DEAD: "
    "given up after a day of retries (redeliverNotice sends it again).",
)


@strawberry.type(description="Something told to a member, rendered in their locale.")
class Notice(Node):
    kind: NoticeKind
    created_at: datetime
    read_at: datetime | None

    @strawberry.field
    async def title(self, info: Info, notice: strawberry.Parent[records.Notice]) -> str:
        return await resolve.title_of(info, notice)

    @strawberry.field(description="The brand's wording of the kind for the inbox.")
    async def text(self, info: Info, notice: strawberry.Parent[records.Notice]) -> str:
        return await resolve.text_of(info, notice)

    @strawberry.field
    def read(self, notice: strawberry.Parent[records.Notice]) -> bool:
        return notice.read_at is not None


@strawberry.type
class ChannelConsent:
    channel: NoticeChannel
    consented: bool


@strawberry.type(
    description="How a member is told: consent per gateway channel, where the "
    "WeChat and push channels reach them, and their locale (null: the brand's)."
)
class NoticePreferences:
    consents: list[ChannelConsent]
    wechat_open_id: str | None
    push_token: str | None
    locale: str | None


@strawberry.type
class NoticeChannelSwitch:
    channel: NoticeChannel
    enabled: bool


@strawberry.type
class NoticeKindSetting:
    kind: NoticeKind
    marketing: bool
    variables: list[str] = strawberry.field(
        description="What its wording may name, in braces: {points}."
    )
    channels: list[NoticeChannelSwitch]


@strawberry.type(description="The brand's gateway for a channel; its secret is shown once.")
class NoticeGateway:
    channel: NoticeChannel
    url: str
    created_at: datetime
    disabled_at: datetime | None


@strawberry.type(description="The brand's own wording of a kind on a channel in a locale.")
class NoticeTemplate:
    kind: NoticeKind
    channel: NoticeChannel
    locale: str
    text: str
    updated_at: datetime


@strawberry.type
class NoticeSettings:
    locale: str = strawberry.field(description="What a missing locale falls back to.")
    quiet_hours_start: str = strawberry.field(description="HH:MM in the brand's timezone.")
    quiet_hours_end: str
    expiry_reminder_days: list[int] = strawberry.field(
        description="Members are reminded this many days before points expire."
    )
    kinds: list[NoticeKindSetting]
    gateways: list[NoticeGateway]
    templates: list[NoticeTemplate]


@strawberry.type(description="One notice to one gateway, retried until delivered or dead.")
class NoticeDelivery(Node):
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime

    @strawberry.field
    async def channel(self, delivery: strawberry.Parent[records.NoticeDelivery]) -> NoticeChannel:
        return await resolve.channel_of_delivery(delivery)

    @strawberry.field(graphql_type=Notice)
    async def notice(self, delivery: strawberry.Parent[records.NoticeDelivery]) -> records.Notice:
        return await resolve.notice_of_delivery(delivery)


@strawberry.type
class NoticePreview:
    text: str | None
    user_errors: list[UserError]


@strawberry.input(description="Name the notices, or all: true for every unread one.")
class MarkNoticesReadInput:
    ids: list[strawberry.ID] | None = None
    all: bool | None = None
    idempotency_key: str


@strawberry.type
class MarkNoticesReadPayload:
    marked: int | None = strawberry.field(description="How many were unread.")
    unread_notice_count: int | None
    user_errors: list[UserError]


@strawberry.input(
    description="Consent per channel, contacts and locale; omitted: unchanged, "
    "an empty wechatOpenId or pushToken forgets it."
)
class UpdateMyNoticePreferencesInput:
    sms: bool | None = None
    email: bool | None = None
    wechat: bool | None = None
    push: bool | None = None
    wechat_open_id: str | None = None
    push_token: str | None = None
    locale: str | None = None
    idempotency_key: str


@strawberry.type
class UpdateMyNoticePreferencesPayload:
    preferences: NoticePreferences | None
    user_errors: list[UserError]


@strawberry.input
class RemindMeOfFlashSaleInput:
    flash_sale_id: strawberry.ID
    idempotency_key: str


@strawberry.type
class RemindMeOfFlashSalePayload:
    flash_sale: FlashSale | None
    user_errors: list[UserError]


@strawberry.input(description="Omitted: unchanged. Equal start and end: no quiet hours.")
class UpdateNoticeSettingsInput:
    locale: str | None = None
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None
    expiry_reminder_days: list[int] | None = None
    idempotency_key: str


@strawberry.input
class SetNoticeChannelInput:
    kind: NoticeKind
    channel: NoticeChannel
    enabled: bool
    idempotency_key: str


@strawberry.type
class NoticeSettingsPayload:
    settings: NoticeSettings | None
    user_errors: list[UserError]


@strawberry.input
class RegisterNoticeGatewayInput:
    channel: NoticeChannel
    url: str
    idempotency_key: str


@strawberry.type
class NoticeGatewayPayload:
    gateway: NoticeGateway | None
    secret: str | None = strawberry.field(
        description="The signing secret, shown this once: verify X-Pointsmall-Signature with it "
        "(null when a repeated idempotencyKey answers the first call, or on disabling)."
    )
    user_errors: list[UserError]


@strawberry.input
class DisableNoticeGatewayInput:
    channel: NoticeChannel
    idempotency_key: str


@strawberry.input(description="Variables in braces, only the kind's (noticeSettings.kinds).")
class SaveNoticeTemplateInput:
    kind: NoticeKind
    channel: NoticeChannel
    locale: str
    text: str
    idempotency_key: str


@strawberry.type
class SaveNoticeTemplatePayload:
    template: NoticeTemplate | None
    preview: str | None = strawberry.field(description="The saved wording with sample values.")
    user_errors: list[UserError]


@strawberry.input
class DeleteNoticeTemplateInput:
    kind: NoticeKind
    channel: NoticeChannel
    locale: str
    idempotency_key: str


@strawberry.type
class DeleteNoticeTemplatePayload:
    deleted: bool | None = strawberry.field(description="Whether the brand had one.")
    user_errors: list[UserError]


@strawberry.input
class RedeliverNoticeInput:
    id: strawberry.ID
    idempotency_key: str


@strawberry.type
class NoticeDeliveryPayload:
    delivery: NoticeDelivery | None
    user_errors: list[UserError]


@strawberry.type
class NoticeQueries:
    @strawberry.field(permission_classes=[IsBrandAdmin], graphql_type=NoticeSettings)
    async def notice_settings(self, info: Info) -> resolve.NoticeSettingsView:
        return await resolve.notice_settings(info)

    @strawberry.field(
        permission_classes=[IsBrandAdmin],
        description="A wording (given, or the one in use) rendered with sample values; a given "
        "one is checked as saveNoticeTemplate checks it.",
        graphql_type=NoticePreview,
    )
    async def preview_notice(
        self,
        info: Info,
        kind: NoticeKind,
        channel: NoticeChannel,
        locale: str,
        text: str | None = None,
    ) -> resolve.NoticePreviewView:
        return await resolve.preview_notice(info, kind, channel, locale, text)

    @strawberry.field(
        permission_classes=[IsBrandAdmin],
        description="The brand's notice deliveries to its gateways, newest first.",
        graphql_type=Connection[NoticeDelivery],
    )
    async def notice_deliveries(
        self,
        info: Info,
        status: DeliveryStatus | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> ConnectionView[records.NoticeDelivery]:
        return await resolve.notice_deliveries(info, status, first, after, last, before)


@strawberry.type
class NoticeMutations:
    @strawberry.mutation(permission_classes=[IsMember], graphql_type=MarkNoticesReadPayload)
    async def mark_notices_read(
        self, info: Info, input: MarkNoticesReadInput
    ) -> resolve.MarkNoticesReadPayloadView:
        return await resolve.mark_notices_read(info, input)

    @strawberry.mutation(
        permission_classes=[IsMember], graphql_type=UpdateMyNoticePreferencesPayload
    )
    async def update_my_notice_preferences(
        self, info: Info, input: UpdateMyNoticePreferencesInput
    ) -> resolve.UpdateMyNoticePreferencesPayloadView:
        return await resolve.update_my_notice_preferences(info, input)

    @strawberry.mutation(
        permission_classes=[IsMember],
        description="Be told shortly before the sale starts (a marketing notice).",
        graphql_type=RemindMeOfFlashSalePayload,
    )
    async def remind_me_of_flash_sale(
        self, info: Info, input: RemindMeOfFlashSaleInput
    ) -> resolve.RemindMeOfFlashSalePayloadView:
        return await resolve.remind_me_of_flash_sale(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=NoticeSettingsPayload)
    async def update_notice_settings(
        self, info: Info, input: UpdateNoticeSettingsInput
    ) -> resolve.NoticeSettingsPayloadView:
        return await resolve.update_notice_settings(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=NoticeSettingsPayload)
    async def set_notice_channel(
        self, info: Info, input: SetNoticeChannelInput
    ) -> resolve.NoticeSettingsPayloadView:
        return await resolve.set_notice_channel(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=NoticeGatewayPayload)
    async def register_notice_gateway(
        self, info: Info, input: RegisterNoticeGatewayInput
    ) -> resolve.NoticeGatewayPayloadView:
        return await resolve.register_notice_gateway(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=NoticeGatewayPayload)
    async def disable_notice_gateway(
        self, info: Info, input: DisableNoticeGatewayInput
    ) -> resolve.NoticeGatewayPayloadView:
        return await resolve.disable_notice_gateway(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=SaveNoticeTemplatePayload)
    async def save_notice_template(
        self, info: Info, input: SaveNoticeTemplateInput
    ) -> resolve.SaveNoticeTemplatePayloadView:
        return await resolve.save_notice_template(info, input)

    @strawberry.mutation(
        permission_classes=[IsBrandAdmin], graphql_type=DeleteNoticeTemplatePayload
    )
    async def delete_notice_template(
        self, info: Info, input: DeleteNoticeTemplateInput
    ) -> resolve.DeleteNoticeTemplatePayloadView:
        return await resolve.delete_notice_template(info, input)

    @strawberry.mutation(permission_classes=[IsBrandAdmin], graphql_type=NoticeDeliveryPayload)
    async def redeliver_notice(
        self, info: Info, input: RedeliverNoticeInput
    ) -> resolve.NoticeDeliveryPayloadView:
        return await resolve.redeliver_notice(info, input)


@strawberry.type
class NoticeSubscriptions:
    @strawberry.subscription(
        permission_classes=[HasBrand],
        description="Inbox notices as they are made, each once. Access as balanceChanged: a "
        "MEMBER their own; STAFF/ADMIN pass memberId.",
        graphql_type=Notice,
    )
    async def notice_received(
        self, info: Info, member_id: strawberry.ID | None = None
    ) -> AsyncIterator[records.Notice]:
        return await resolve.notice_received(info, member_id)
