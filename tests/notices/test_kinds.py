"""Every kind of member notice, end to end over GraphQL.

Each kind is made the way users make it (a mutation as member or admin, or a job called as
`serve` calls it, with the session's clock moved forward), reaches the member's inbox, and is
posted, signed, to the brand's gateway at a real local receiver: marketing kinds only with the
member's consent to the gateway's channel and not in the brand's quiet hours, the others at
once and regardless, and no kind to a channel the brand switched it off on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from db.models import NoticeKind
from domain.ledger.expiry import run_expiry
from domain.notices.gateway import deliver_due_notices
from domain.notices.kinds import SECURITY
from domain.notices.reminders import send_reminders, send_soon_reminders
from domain.rules.birthdays import give_birthday_bonuses
from domain.tiers import evaluate_tiers
from tests.support.factories import key, with_key
from tests.support.receiver import verify

ZONE = ZoneInfo("Asia/Shanghai")  # the `brand` fixture's timezone
PHONE = "13800138000"
EMAIL = "lin@example.com"
MARKETING = {
    NoticeKind.POINTS_EXPIRING,
    NoticeKind.TIER_LAPSING,
    NoticeKind.COUPON_EXPIRING,
    NoticeKind.BIRTHDAY_GIFT,
    NoticeKind.FLASH_SALE_STARTING,
}
# Security notices (one-time codes) never reach the inbox: tests/rules/test_step_up.py.
KINDS = [kind for kind in NoticeKind if kind not in SECURITY]
MARKETING_KINDS = [kind for kind in KINDS if kind in MARKETING]
TRANSACTIONAL_KINDS = [kind for kind in KINDS if kind not in MARKETING]
ADDRESS = {
    "recipient": "Lin Wei",
    "phone": PHONE,
    "line1": "1 Nanjing Road",
    "city": "Shanghai",
    "country": "CN",
}

INBOX = """
{ me { unreadNoticeCount notices(first: 50) {
    totalCount pageInfo { hasNextPage } edges { node { kind title text read } } } } }
"""
PREFERENCES = """
mutation ($input: UpdateMyNoticePreferencesInput!) {
  updateMyNoticePreferences(input: $input) {
    preferences { consents { channel consented } } userErrors { code field }
  }
}
"""
PROFILE = """
mutation ($input: UpdateMyProfileInput!) {
  updateMyProfile(input: $input) { member { birthday } userErrors { code field } }
}
"""
SETTINGS = """
mutation ($input: UpdateNoticeSettingsInput!) {
  updateNoticeSettings(input: $input) {
    settings { quietHoursStart quietHoursEnd } userErrors { code field }
  }
}
"""
SWITCH = """
mutation ($input: SetNoticeChannelInput!) {
  setNoticeChannel(input: $input) {
    settings { kinds { kind channels { channel enabled } } } userErrors { code field }
  }
}
"""
GATEWAY = """
mutation ($input: RegisterNoticeGatewayInput!) {
  registerNoticeGateway(input: $input) { gateway { channel url } secret userErrors { code } }
}
"""
CREATE_RULE = """
mutation ($input: EarningRuleInput!) {
  createEarningRule(input: $input) { rule { id } userErrors { code field } }
}
"""
SAVE_TIER = """
mutation ($input: SaveTierInput!) {
  saveTier(input: $input) { tier { code } userErrors { code field } }
}
"""
CREATE_ITEM = """
mutation ($input: CreateCatalogItemInput!) {
  createCatalogItem(input: $input) { item { id name } userErrors { code field } }
}
"""
REDEEM = """
mutation ($input: RedeemInput!) {
  redeem(input: $input) {
    redemption { id status paymentDueAt coupon { code expiresAt } }
    userErrors { code field }
  }
}
"""
FULFIL = """
mutation ($input: FulfilRedemptionInput!) {
  fulfilRedemption(input: $input) { redemption { status } userErrors { code field } }
}
"""
CANCEL = """
mutation ($input: CancelRedemptionInput!) {
  cancelRedemption(input: $input) { redemption { status } userErrors { code field } }
}
"""
CREATE_SALE = """
mutation ($input: CreateFlashSaleInput!) {
  createFlashSale(input: $input) { flashSale { id startsAt } userErrors { code field } }
}
"""
REMIND = """
mutation ($input: RemindMeOfFlashSaleInput!) {
  remindMeOfFlashSale(input: $input) { flashSale { id } userErrors { code field } }
}
"""


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


def day_in(value: datetime, locale: str) -> str:
    """The brand-local day of a moment, as a notice writes it in the locale."""
    day: date = value.astimezone(ZONE).date()
    return (
        f"{day.year}年{day.month}月{day.day}日" if locale == "zh-CN" else f"{day.day} {day:%B %Y}"
    )


def clock_in(value: datetime) -> str:
    return f"{value.astimezone(ZONE):%H:%M}"


def missing_from(text: str, figures: tuple[str, ...]) -> list[str]:
    """The figures the text does not name (a number only whole: 12 is not in 120 or 1.2)."""
    return [
        figure
        for figure in figures
        if not re.search(rf"(?<![\d.,]){re.escape(figure)}(?!\d|[.,]\d)", text)
    ]


async def nothing() -> None:
    pass


@dataclass
class World:
    """A brand (its admin, the jobs' backends, the session's clock) and one member of it, with
    a phone and an email; `about_to_tell` runs right before what makes the notice."""

    staff: Any
    gql: Callable[..., Awaitable[dict]]
    brand: Any
    clock: Any
    runtime: Any
    member: dict
    token: str
    about_to_tell: Callable[[], Awaitable[None]] = nothing
    quiet_ends: datetime | None = None

    async def admin(self, document: str, **input: Any) -> dict:
        payload = await self.staff.call(document, input)
        assert payload["userErrors"] == [], payload
        return payload

    async def as_member(self, document: str, **input: Any) -> dict:
        body = await self.gql(document, {"input": with_key(document, input)}, token=self.token)
        assert "errors" not in body, body
        (payload,) = body["data"].values()
        assert payload["userErrors"] == [], payload
        return payload

    async def consent(self, **channels: bool) -> None:
        await self.as_member(PREFERENCES, **channels)

    async def purchase(self, total: str, **fields: Any) -> dict:
        payload = await self.staff.purchase(self.member["id"], total, **fields)
        assert payload["userErrors"] == [], payload
        return payload["entry"]

    async def adjust(self, points: int, reason: str) -> None:
        payload = await self.staff.adjust(self.member["id"], points, reason)
        assert payload["userErrors"] == [], payload

    async def item(self, name: str, points: int, **fields: Any) -> dict:
        """A catalog item: a points-only coupon unless told."""
        spec = {"kind": "COUPON", "category": "general", **fields}
        payload = await self.admin(
            CREATE_ITEM, sku=f"SKU-{key()[:12]}", name=name, pointsPrice=points, **spec
        )
        return payload["item"]

    async def redeem(self, item: dict, quantity: int = 1, **fields: Any) -> dict:
        payload = await self.as_member(REDEEM, itemId=item["id"], quantity=quantity, **fields)
        return payload["redemption"]

    def advance_to(self, when: datetime) -> None:
        """Move the shared clock forward (never back) to `when`."""
        assert when > self.clock.now(), "the session's clock only moves forward"
        self.clock.advance(when - self.clock.now())

    async def quiet_from_now(self) -> None:
        """Quiet hours from five minutes ago to an hour from now, brand-local (`quiet_ends`)."""
        local = self.clock.now().astimezone(ZONE).replace(second=0, microsecond=0)
        self.quiet_ends = local + timedelta(hours=1)
        await self.admin(
            SETTINGS,
            quietHoursStart=f"{local - timedelta(minutes=5):%H:%M}",
            quietHoursEnd=f"{self.quiet_ends:%H:%M}",
        )

    async def inbox(self, kind: NoticeKind) -> list[dict]:
        """The member's inbox notices of `kind`, read over GraphQL with their token."""
        body = await self.gql(INBOX, token=self.token)
        assert "errors" not in body, body
        me = body["data"]["me"]
        notices = [edge["node"] for edge in me["notices"]["edges"]]
        assert not me["notices"]["pageInfo"]["hasNextPage"]
        assert me["unreadNoticeCount"] == me["notices"]["totalCount"] == len(notices)
        assert all(notice["title"] and not notice["read"] for notice in notices)
        return [notice for notice in notices if notice["kind"] == kind.value]


@pytest.fixture
async def world(staff, gql, brand, clock, runtime, make_token) -> World:
    """The brand without quiet hours (by default 21:00 to 09:00, whatever the time of day the
    tests run at), and its member Lin."""
    member = await staff.register("Lin", phone=PHONE, email=EMAIL)
    token = make_token(brand, "MEMBER", member["id"])
    world = World(staff, gql, brand, clock, runtime, member, token)
    await world.admin(SETTINGS, quietHoursStart="00:00", quietHoursEnd="00:00")
    return world


@dataclass
class Gateways:
    """The brand's gateways, all at one local receiver, with the secrets they sign with."""

    staff: Any
    runtime: Any
    receiver: Any
    secrets: dict[str, str] = field(default_factory=dict)

    async def register(self, channel: str) -> None:
        payload = await self.staff.call(GATEWAY, {"channel": channel, "url": self.receiver.url})
        assert payload["userErrors"] == [] and payload["secret"], payload
        self.secrets[channel] = payload["secret"]

    async def deliver(self, member: dict, kind: NoticeKind) -> list[dict]:
        """Run the delivery job; the data of every post of `kind` to the member so far, each
        signature checked with the secret of its channel's gateway."""
        await deliver_due_notices(self.runtime)
        posted = []
        for headers, body in self.receiver.received:
            event = json.loads(body)
            data = event.get("data")
            if not isinstance(data, dict) or data.get("memberId") != member["id"]:
                continue  # another test's, on a port used again
            assert verify(self.secrets[data["channel"]], headers, body), headers
            assert headers["x-pointsmall-event-id"] == event["id"]
            if data["kind"] == kind.value:
                posted.append(data)
        return posted


@pytest.fixture
def gateways(staff, runtime, receiver) -> Gateways:
    return Gateways(staff, runtime, receiver)


# How each kind is made. A trigger sets the world up, runs `about_to_tell`, makes the notice, and
# answers the figures its text must name in a locale.

Figures = Callable[[str], tuple[str, ...]]


async def points_earned(world: World) -> Figures:
    await world.adjust(40, "welcome gift")
    await world.about_to_tell()
    await world.purchase("128.00")
    return lambda locale: ("128", "168")


async def stocked_mugs(world: World) -> dict:
    """A member with 500 points and a 60-point mug to redeem."""
    await world.purchase("500.00")
    return await world.item("Travel Mug", 60)


async def points_spent(world: World) -> Figures:
    mugs = await stocked_mugs(world)
    await world.about_to_tell()
    await world.redeem(mugs, quantity=2)
    return lambda locale: ("120", "380", "Travel Mug")


async def redemption_confirmed(world: World) -> Figures:
    mugs = await stocked_mugs(world)
    await world.about_to_tell()
    assert (await world.redeem(mugs, quantity=2))["status"] == "CONFIRMED"
    return lambda locale: ("2", "Travel Mug", "120")


async def points_adjusted(world: World) -> Figures:
    await world.purchase("500.00")
    await world.about_to_tell()
    await world.adjust(-35, "damaged goods")
    return lambda locale: ("-35", "465", "damaged goods")


async def short_lived_bonus(world: World, days: int) -> datetime:
    """A first-purchase bonus of 30 points expiring after `days` days, earned on a 100.00
    purchase; when the bonus expires."""
    await world.admin(
        CREATE_RULE, code="FIRST", name="First purchase", kind="FIRST_PURCHASE_BONUS",
        points=30, expiryDays=days,
    )  # fmt: skip
    entry = await world.purchase("100.00")
    assert entry["points"] == 130, entry
    return moment(entry["expiresAt"])


async def points_expired(world: World) -> Figures:
    expires_at = await short_lived_bonus(world, days=1)
    world.advance_to(expires_at + timedelta(minutes=1))
    await world.about_to_tell()
    await run_expiry(world.runtime, brand_code=world.brand.code)
    return lambda locale: ("30", "100")


async def points_expiring(world: World) -> Figures:
    expires_at = await short_lived_bonus(world, days=20)  # within the 30 days' reminder
    await world.about_to_tell()
    await send_reminders(world.runtime, brand_code=world.brand.code)
    return lambda locale: ("30", day_in(expires_at, locale))


async def silver_at_1000(world: World) -> None:
    await world.admin(SAVE_TIER, code="SILVER", name="Silver", rank=1, qualifyingPoints=1000)


async def tier_up(world: World) -> Figures:
    await silver_at_1000(world)
    await world.about_to_tell()
    await world.purchase("1200.00")
    return lambda locale: ("Silver",)


async def tier_down(world: World) -> Figures:
    await silver_at_1000(world)
    await world.admin(SAVE_TIER, code="GOLD", name="Gold", rank=2, qualifyingPoints=5000)
    await world.purchase("6000.00", orderRef="ORDER-6000")  # up to Gold
    refunded = await world.staff.reverse(world.member["id"], "ORDER-6000", "2000.00")
    assert refunded["userErrors"] == [], refunded  # 4,000 qualifying points: Silver's
    await world.about_to_tell()
    await evaluate_tiers(world.runtime, brand_code=world.brand.code)
    return lambda locale: ("Gold", "Silver")


async def tier_lapsing(world: World) -> Figures:
    await silver_at_1000(world)
    await world.purchase("1200.00")
    # Within a month the purchase leaves the 12-month window: nothing is left to keep Silver.
    world.clock.advance(timedelta(days=340))
    await world.about_to_tell()
    by = world.clock.now() + timedelta(days=30)
    await evaluate_tiers(world.runtime, brand_code=world.brand.code)
    return lambda locale: ("1,000", "Silver", day_in(by, locale))


async def redemption_shipped(world: World) -> Figures:
    await world.purchase("500.00")
    mug = await world.item("Ceramic Mug", 80, kind="PHYSICAL")
    redemption = await world.redeem(mug, shippingAddress=ADDRESS)
    await world.about_to_tell()
    await world.admin(FULFIL, redemptionId=redemption["id"], trackingReference="SF7788")
    return lambda locale: ("Ceramic Mug", "SF7788")


async def redemption_cancelled(world: World) -> Figures:
    redemption = await world.redeem(await stocked_mugs(world), quantity=2)
    await world.about_to_tell()
    await world.as_member(CANCEL, redemptionId=redemption["id"], reason="changed my mind")
    return lambda locale: ("2", "Travel Mug", "changed my mind", "120")


async def payment_window_closing(world: World) -> Figures:
    await world.purchase("500.00")
    box = await world.item(
        "Gift Box", 200, cashPrice="9.90", couponValue="50.00", couponValidDays=7, stock=5
    )
    redemption = await world.redeem(box, quantity=2)
    assert redemption["status"] == "AWAITING_PAYMENT"
    due = moment(redemption["paymentDueAt"])
    world.advance_to(due - timedelta(minutes=5))
    await world.about_to_tell()
    await send_soon_reminders(world.runtime)
    return lambda locale: ("Gift Box", "19.80", day_in(due, locale), clock_in(due))


async def coupon_expiring(world: World) -> Figures:
    await world.purchase("500.00")
    item = await world.item("Coffee Coupon", 100, couponValue="20.00", couponValidDays=10)
    coupon = (await world.redeem(item))["coupon"]
    expires_at = moment(coupon["expiresAt"])
    world.advance_to(expires_at - timedelta(days=6))
    await world.about_to_tell()
    await send_reminders(world.runtime, brand_code=world.brand.code)
    return lambda locale: ("Coffee Coupon", coupon["code"], day_in(expires_at, locale))


async def birthday_gift(world: World) -> Figures:
    await world.admin(
        SAVE_TIER, code="BASE", name="Member", rank=0, qualifyingPoints=0, birthdayBonusPoints=88
    )
    await world.purchase("50.00")
    # A birthday a month away, given now: celebrated once it is no longer a new one.
    birthday = world.clock.now().astimezone(ZONE).date() + timedelta(days=31)
    await world.as_member(PROFILE, birthday=date(2000, birthday.month, birthday.day).isoformat())
    world.advance_to(world.clock.now() + timedelta(days=31))
    await world.about_to_tell()
    await give_birthday_bonuses(world.runtime, brand_code=world.brand.code)
    return lambda locale: ("88", "138")


async def flash_sale_starting(world: World) -> Figures:
    cup = await world.item("Espresso Cup", 100)
    starts_at = world.clock.now() + timedelta(hours=1)
    sale = await world.admin(
        CREATE_SALE, itemId=cup["id"], pointsPrice=66, startsAt=starts_at.isoformat(),
        endsAt=(starts_at + timedelta(hours=1)).isoformat(), totalStock=5,
    )  # fmt: skip
    await world.as_member(REMIND, flashSaleId=sale["flashSale"]["id"])
    world.advance_to(starts_at - timedelta(minutes=10))
    await world.about_to_tell()
    await send_soon_reminders(world.runtime)
    return lambda locale: ("Espresso Cup", "66", day_in(starts_at, locale), clock_in(starts_at))


TRIGGERS: dict[NoticeKind, Callable[[World], Awaitable[Figures]]] = {
    NoticeKind.POINTS_EARNED: points_earned,
    NoticeKind.POINTS_SPENT: points_spent,
    NoticeKind.POINTS_ADJUSTED: points_adjusted,
    NoticeKind.POINTS_EXPIRED: points_expired,
    NoticeKind.POINTS_EXPIRING: points_expiring,
    NoticeKind.TIER_UP: tier_up,
    NoticeKind.TIER_DOWN: tier_down,
    NoticeKind.TIER_LAPSING: tier_lapsing,
    NoticeKind.REDEMPTION_CONFIRMED: redemption_confirmed,
    NoticeKind.REDEMPTION_SHIPPED: redemption_shipped,
    NoticeKind.REDEMPTION_CANCELLED: redemption_cancelled,
    NoticeKind.PAYMENT_WINDOW_CLOSING: payment_window_closing,
    NoticeKind.COUPON_EXPIRING: coupon_expiring,
    NoticeKind.BIRTHDAY_GIFT: birthday_gift,
    NoticeKind.FLASH_SALE_STARTING: flash_sale_starting,
}


def kind_id(kind: NoticeKind) -> str:
    return kind.value


# Every kind: inbox and gateway, with and without consent ------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=kind_id)
@pytest.mark.parametrize("consents_to_sms", [True, False], ids=["sms-consent", "email-only"])
async def test_each_kind_reaches_the_inbox_and_the_gateway_as_consent_allows(
    world, gateways, kind, consents_to_sms
):
    await gateways.register("SMS")
    await world.consent(sms=consents_to_sms, email=True)  # email: not the gateway's channel

    figures = await TRIGGERS[kind](world)

    (notice,) = await world.inbox(kind)
    assert missing_from(notice["text"], figures("zh-CN")) == [], notice  # the brand's locale
    posted = await gateways.deliver(world.member, kind)
    if kind in MARKETING and not consents_to_sms:
        assert posted == []
        return
    (data,) = posted
    assert (data["channel"], data["marketing"]) == ("SMS", kind in MARKETING)
    for locale in ("zh-CN", "en"):
        assert missing_from(data["texts"][locale], figures(locale)) == [], (locale, data)
    assert data["contact"] == ({"phoneNumber": PHONE} if consents_to_sms else None)


# Quiet hours ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MARKETING_KINDS, ids=kind_id)
async def test_a_marketing_notice_made_in_quiet_hours_is_posted_once_they_end(
    world, gateways, kind
):
    await gateways.register("SMS")
    await world.consent(sms=True)
    world.about_to_tell = world.quiet_from_now
    await TRIGGERS[kind](world)

    assert len(await world.inbox(kind)) == 1  # the inbox has no quiet hours
    assert await gateways.deliver(world.member, kind) == []
    world.advance_to(world.quiet_ends - timedelta(minutes=1))
    assert await gateways.deliver(world.member, kind) == []
    world.advance_to(world.quiet_ends + timedelta(minutes=1))
    assert len(await gateways.deliver(world.member, kind)) == 1


@pytest.mark.parametrize("kind", TRANSACTIONAL_KINDS, ids=kind_id)
async def test_a_transactional_notice_is_posted_at_once_in_quiet_hours(world, gateways, kind):
    await gateways.register("SMS")
    world.about_to_tell = world.quiet_from_now
    await TRIGGERS[kind](world)
    assert len(await gateways.deliver(world.member, kind)) == 1


async def test_consent_withdrawn_while_a_marketing_notice_waits_out_quiet_hours_stops_it(
    world, gateways
):
    """Consent is the member's when the notice goes, not only when it was made."""
    await gateways.register("SMS")
    await world.consent(sms=True)
    world.about_to_tell = world.quiet_from_now
    await points_expiring(world)
    await world.consent(sms=False)
    world.advance_to(world.quiet_ends + timedelta(minutes=1))
    assert await gateways.deliver(world.member, NoticeKind.POINTS_EXPIRING) == []


async def test_registering_the_gateway_again_does_not_end_quiet_hours(world, gateways):
    """A new address or secret sends what waited on the old one, but not before it is due."""
    await gateways.register("SMS")
    await world.consent(sms=True)
    world.about_to_tell = world.quiet_from_now
    await points_expiring(world)
    await gateways.register("SMS")  # the brand rotates its secret
    assert await gateways.deliver(world.member, NoticeKind.POINTS_EXPIRING) == []


# Channels switched off ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=kind_id)
async def test_a_kind_switched_off_on_a_channel_does_not_go_there(world, gateways, kind):
    await gateways.register("SMS")
    await gateways.register("EMAIL")
    await world.consent(sms=True, email=True)
    for channel in ("INBOX", "SMS"):
        await world.admin(SWITCH, kind=kind.value, channel=channel, enabled=False)

    await TRIGGERS[kind](world)

    assert await world.inbox(kind) == []
    posted = await gateways.deliver(world.member, kind)
    assert [data["channel"] for data in posted] == ["EMAIL"]
