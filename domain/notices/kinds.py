# ruff: noqa: RUF001 (Chinese wording uses full-width punctuation)
"""What each kind of notice says: its variables, whether it is marketing, its built-in wording
in zh-CN and en, and how a wording is checked and rendered.

A wording names variables in braces (`{points}`); the variables a notice stores are raw values
(integers, ISO dates), formatted for the locale when rendered.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from db.models import NoticeChannel, NoticeKind
from domain.errors import DomainError, ErrorCode

__all__ = ["KINDS", "NoticeChannel", "NoticeKind"]  # the enums re-exported for the schema

LOCALES = ("zh-CN", "en")
MAX_TEXT = 1000


@dataclass(frozen=True)
class KindSpec:
    variables: tuple[str, ...]
    marketing: bool  # only with the member's consent, and never in quiet hours
    title: dict[str, str]
    text: dict[str, str]


K = NoticeKind
KINDS: dict[NoticeKind, KindSpec] = {
    K.POINTS_EARNED: KindSpec(
        ("points", "balance", "reason"), False,
        {"zh-CN": "积分到账", "en": "Points earned"},
        {"zh-CN": "您获得了 {points} 积分（{reason}），当前积分 {balance}。",
         "en": "You earned {points} points ({reason}). Your balance is {balance}."},
    ),
    K.POINTS_SPENT: KindSpec(
        ("points", "balance", "reason"), False,
        {"zh-CN": "积分使用", "en": "Points spent"},
        {"zh-CN": "您使用了 {points} 积分（{reason}），当前积分 {balance}。",
         "en": "You spent {points} points ({reason}). Your balance is {balance}."},
    ),
    K.POINTS_ADJUSTED: KindSpec(
        ("points", "balance", "reason"), False,
        {"zh-CN": "积分调整", "en": "Points adjusted"},
        {"zh-CN": "您的积分调整了 {points}（{reason}），当前积分 {balance}。",
         "en": "Your points were adjusted by {points} ({reason}). Your balance is {balance}."},
    ),
    K.POINTS_EXPIRED: KindSpec(
        ("points", "balance"), False,
        {"zh-CN": "积分过期", "en": "Points expired"},
        {"zh-CN": "您有 {points} 积分已过期，当前积分 {balance}。",
         "en": "{points} of your points expired. Your balance is {balance}."},
    ),
    K.POINTS_EXPIRING: KindSpec(
        ("points", "expiresAt", "days"), True,
        {"zh-CN": "积分即将过期", "en": "Points expiring soon"},
        {"zh-CN": "您有 {points} 积分将于 {expiresAt} 过期，快去积分商城看看能换什么吧。",
         "en": "{points} points expire on {expiresAt}: see what they buy in the mall."},
    ),
    K.TIER_UP: KindSpec(
        ("tier", "previousTier"), False,
        {"zh-CN": "会员升级", "en": "New tier"},
        {"zh-CN": "恭喜！您已升级为{tier}会员。", "en": "Congratulations, you are {tier} now."},
    ),
    K.TIER_DOWN: KindSpec(
        ("tier", "previousTier"), False,
        {"zh-CN": "会员等级变更", "en": "Tier changed"},
        {"zh-CN": "您的会员等级已从{previousTier}变为{tier}。",
         "en": "Your tier changed from {previousTier} to {tier}."},
    ),
    K.TIER_LAPSING: KindSpec(
        ("tier", "pointsNeeded", "by"), True,
        {"zh-CN": "会员等级即将到期", "en": "Keep your tier"},
        {"zh-CN": "在 {by} 前再获得 {pointsNeeded} 积分即可保持{tier}会员。",
         "en": "Earn {pointsNeeded} more points by {by} to stay {tier}."},
    ),
    K.REDEMPTION_CONFIRMED: KindSpec(
        ("item", "quantity", "points"), False,
        {"zh-CN": "兑换成功", "en": "Redemption confirmed"},
        {"zh-CN": "您已成功兑换 {quantity} 件{item}，使用 {points} 积分。",
         "en": "Your redemption of {quantity} x {item} for {points} points is confirmed."},
    ),
    K.REDEMPTION_SHIPPED: KindSpec(
        ("item", "quantity", "trackingReference"), False,
        {"zh-CN": "兑换商品已发货", "en": "Your order shipped"},
        {"zh-CN": "您兑换的{item}已发货，运单号 {trackingReference}。",
         "en": "Your {item} is on its way: tracking {trackingReference}."},
    ),
    K.REDEMPTION_CANCELLED: KindSpec(
        ("item", "quantity", "points", "reason"), False,
        {"zh-CN": "兑换已取消", "en": "Redemption cancelled"},
        {"zh-CN": "您兑换的 {quantity} 件{item}已取消（{reason}），{points} 积分已退回。",
         "en": "Your redemption of {quantity} x {item} was cancelled ({reason}); "
               "{points} points are back."},
    ),
    K.PAYMENT_WINDOW_CLOSING: KindSpec(
        ("item", "cash", "dueAt"), False,
        {"zh-CN": "请尽快支付", "en": "Payment due soon"},
        {"zh-CN": "您兑换的{item}还需支付 {cash}，请在 {dueAt} 前完成支付。",
         "en": "Pay {cash} for your {item} by {dueAt}, or the redemption is cancelled."},
    ),
    K.COUPON_EXPIRING: KindSpec(
        ("item", "code", "expiresAt"), True,
        {"zh-CN": "优惠券即将过期", "en": "Coupon expiring soon"},
        {"zh-CN": "您的{item}优惠券（{code}）将于 {expiresAt} 过期。",
         "en": "Your {item} coupon ({code}) expires on {expiresAt}."},
    ),
    K.BIRTHDAY_GIFT: KindSpec(
        ("points", "balance"), True,
        {"zh-CN": "生日快乐", "en": "Happy birthday"},
        {"zh-CN": "生日快乐！送您 {points} 积分，当前积分 {balance}。",
         "en": "Happy birthday! Here are {points} points; your balance is {balance}."},
    ),
    K.FLASH_SALE_STARTING: KindSpec(
        ("item", "points", "startsAt"), True,
        {"zh-CN": "秒杀即将开始", "en": "Flash sale starting"},
        {"zh-CN": "{item} 秒杀将于 {startsAt} 开始，仅需 {points} 积分。",
         "en": "The flash sale of {item} starts at {startsAt}: {points} points."},
    ),
    K.VERIFICATION_CODE: KindSpec(
        ("code", "minutes"), False,
        {"zh-CN": "验证码", "en": "Your code"},
        {"zh-CN": "您的验证码是 {code}，{minutes} 分钟内有效。请勿告诉他人。",
         "en": "Your code is {code}, valid for {minutes} minutes. Never share it."},
    ),
}  # fmt: skip

# Variables holding a moment or a day, formatted in the brand's timezone.
MOMENTS = {"dueAt", "startsAt"}
DAYS = {"expiresAt", "by"}
NUMBERS = {"points", "balance", "pointsNeeded", "quantity", "days", "minutes"}
# Security kinds: never in the inbox, and sent with the contact their channel needs, consent
# or not (a code reaches the member only so).
SECURITY = {NoticeKind.VERIFICATION_CODE}


def fields_of(text: str) -> list[str]:
    """The variables a wording names; INVALID_INPUT for a brace that is not one."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as error:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"Unbalanced braces: {error}.", ["text"]
        ) from None
    named = [(name, spec, conversion) for _, name, spec, conversion in parts if name is not None]
    names = [name for name, _, _ in named]
    if any(spec or conversion or not name.isidentifier() for name, spec, conversion in named):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "A variable is written {name}, nothing more.", ["text"]
        )
    return names


def check_text(kind: NoticeKind, text: str) -> str:
    """A brand's wording of `kind`, trimmed: not empty, and naming only the kind's variables."""
    text = text.strip()
    if not 1 <= len(text) <= MAX_TEXT:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Text: 1 to {MAX_TEXT} characters.", ["text"])
    allowed = KINDS[kind].variables
    unknown = sorted({name for name in fields_of(text) if name not in allowed})
    if unknown:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"{kind.value} has no variable {', '.join(unknown)}; it has {', '.join(allowed)}.",
            ["text"],
        )
    return text


def formatted(name: str, value: Any, locale: str, timezone: str) -> str:
    """One variable's value as the member reads it."""
    if value is None:
        return ""
    if name in NUMBERS and isinstance(value, int):
        return f"{value:,}"
    if name in MOMENTS:
        moment = datetime.fromisoformat(value).astimezone(ZoneInfo(timezone))
        return (
            f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M}"
            if locale == "zh-CN"
            else f"{moment.day} {moment:%B %Y %H:%M}"
        )
    if name in DAYS:
        day = (
            datetime.fromisoformat(value).astimezone(ZoneInfo(timezone)).date()
            if "T" in value
            else date.fromisoformat(value)
        )
        return (
            f"{day.year}年{day.month}月{day.day}日"
            if locale == "zh-CN"
            else f"{day.day} {day:%B %Y}"
        )
    return str(value)


def render(text: str, variables: dict[str, Any], locale: str, timezone: str) -> str:
    """A wording with the notice's variables in place (a variable it lacks renders empty)."""
    values = {
        name: formatted(name, variables.get(name), locale, timezone) for name in fields_of(text)
    }
    return text.format_map(values)
