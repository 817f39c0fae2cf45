"""The earning-rule engine in memory: each rule kind, how rules combine, the caps and the lots.

No database and no app: the engine is a pure function of the purchase, the member's facts and the
rules, so every case is a handful of dataclasses and an exact number of points.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from db.models import Rounding, RuleKind
from domain.rules.engine import (
    Component,
    Earn,
    MemberFacts,
    PurchaseLine,
    Rule,
    evaluate_bonus,
    evaluate_purchase,
    evaluate_task,
    lots_of,
    rate_text,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
AT = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)  # a Tuesday, in UTC and in Shanghai


def rule(rule_id: int, kind: RuleKind, **fields: object) -> Rule:
    """A rule with a code and name derived from its id unless given."""
    fields.setdefault("code", f"R{rule_id}")
    fields.setdefault("name", f"Rule {rule_id}")
    return Rule(id=rule_id, kind=kind, **fields)


def base_rate(rule_id: int, rate: str, **fields: object) -> Rule:
    return rule(rule_id, RuleKind.BASE_RATE, rate=Decimal(rate), **fields)


def facts(**fields: object) -> MemberFacts:
    fields.setdefault("zone", SHANGHAI)
    fields.setdefault("tier_code", "BASE")
    fields.setdefault("tier_name", "Base")
    return MemberFacts(**fields)


def earn(
    total: str,
    rules: list[Rule],
    member: MemberFacts | None = None,
    *,
    lines: tuple[PurchaseLine, ...] = (),
    store: str | None = "SH01",
    at: datetime = AT,
) -> Earn:
    return evaluate_purchase(Decimal(total), lines, store, at, member or facts(), rules)


def line(category: str, quantity: int, unit_price: str) -> PurchaseLine:
    return PurchaseLine(
        sku=f"SKU-{category}", category=category, quantity=quantity, unit_price=Decimal(unit_price)
    )


def points_by_rule(result: Earn) -> dict[str, int]:
    return {component.rule: component.points for component in result.components}


# --- base rate ---------------------------------------------------------------------------------


def test_base_rate_rounds_down_by_default() -> None:
    result = earn("268.00", [base_rate(1, "0.03")])

    assert result.components == (Component("R1", "3 points per 100 spent on 268.00", 8),)
    assert result.points == 8


@pytest.mark.parametrize(
    ("total", "rounding", "expected"),
    [
        ("250.00", Rounding.DOWN, 7),  # 7.5
        ("250.00", Rounding.NEAREST, 8),  # 7.5, half up
        ("250.00", Rounding.UP, 8),
        ("268.00", Rounding.DOWN, 8),  # 8.04
        ("268.00", Rounding.NEAREST, 8),
        ("268.00", Rounding.UP, 9),
        ("300.00", Rounding.UP, 9),  # exact: nothing to round up
    ],
)
def test_base_rate_rounds_as_the_rule_says(total: str, rounding: Rounding, expected: int) -> None:
    assert earn(total, [base_rate(1, "0.03", rounding=rounding)]).points == expected


def test_highest_priority_base_rate_wins_and_rates_do_not_stack() -> None:
    rules = [
        base_rate(1, "0.01"),
        base_rate(2, "0.05", priority=5),
        base_rate(3, "0.02", priority=1),
    ]

    result = earn("100.00", rules)

    assert points_by_rule(result) == {"R2": 5}


def test_base_rates_of_equal_priority_pick_the_lowest_id() -> None:
    rules = [base_rate(7, "0.02", priority=3), base_rate(3, "0.04", priority=3)]

    assert points_by_rule(earn("100.00", rules)) == {"R3": 4}


def test_tier_targeted_base_rate_applies_to_its_tier_only() -> None:
    rules = [
        base_rate(1, "0.03"),
        base_rate(2, "0.05", priority=10, tier_codes=frozenset({"GOLD"})),
    ]
    gold = facts(tier_code="GOLD", tier_name="Gold")

    assert points_by_rule(earn("268.00", rules, facts())) == {"R1": 8}
    assert points_by_rule(earn("268.00", rules, gold)) == {"R2": 13}


def test_tier_multiplier_applies_on_top_as_a_tier_component() -> None:
    rules = [
        base_rate(1, "0.03"),
        base_rate(2, "0.05", priority=10, tier_codes=frozenset({"GOLD"})),
    ]
    gold = facts(tier_code="GOLD", tier_name="Gold", tier_multiplier=Decimal("1.5"))

    result = earn("268.00", rules, gold)

    assert result.components == (
        Component("R2", "5 points per 100 spent on 268.00", 13),
        Component("tier", "Gold tier: x1.5", 6),  # floor(13 x 1.5) = 19
    )
    assert result.points == 19


def test_tier_multiplier_of_one_adds_no_component() -> None:
    result = earn("268.00", [base_rate(1, "0.03")], facts(tier_multiplier=Decimal("1.00")))

    assert [component.rule for component in result.components] == ["R1"]


def test_tier_multiplier_covers_campaigns_but_not_one_off_bonuses() -> None:
    rules = [
        base_rate(1, "0.10"),
        rule(2, RuleKind.CAMPAIGN, name="Launch", points=20),
        rule(3, RuleKind.FIRST_PURCHASE_BONUS, name="Welcome", points=100),
    ]
    member = facts(tier_multiplier=Decimal("2"), first_purchase=True)

    result = earn("100.00", rules, member)

    assert points_by_rule(result) == {"R1": 10, "R2": 20, "tier": 30, "R3": 100}
    assert result.points == 160


# --- category multiplier ---------------------------------------------------------------------


def test_category_multiplier_adds_the_extra_rate_on_its_lines() -> None:
    rules = [
        base_rate(1, "0.03"),
        rule(2, RuleKind.CATEGORY_MULTIPLIER, category="Beverages", multiplier=Decimal("3")),
    ]
    lines = (line("beverages", 2, "50.00"), line("Snacks", 1, "68.00"))

    result = earn("168.00", rules, lines=lines)

    assert result.components == (
        Component("R1", "3 points per 100 spent on 168.00", 5),  # 5.04
        Component("R2", "x3 on Beverages (100.00 spent)", 6),  # 100 x 0.03 x (3 - 1)
    )


def test_category_matches_case_insensitively() -> None:
    rules = [
        base_rate(1, "0.10"),
        rule(2, RuleKind.CATEGORY_MULTIPLIER, category="BEVERAGES", multiplier=Decimal("2")),
    ]
    lines = (line("Beverages", 1, "30.00"), line("beverages", 1, "20.00"), line("Tea", 1, "50"))

    assert points_by_rule(earn("100.00", rules, lines=lines)) == {"R1": 10, "R2": 5}


def test_category_spend_is_capped_at_the_purchase_total() -> None:
    rules = [
        base_rate(1, "0.03"),
        rule(2, RuleKind.CATEGORY_MULTIPLIER, category="Beverages", multiplier=Decimal("3")),
    ]
    lines = (line("Beverages", 2, "100.00"),)  # 200.00 of lines, 150.00 paid after a discount

    result = earn("150.00", rules, lines=lines)

    assert result.components[1] == Component("R2", "x3 on Beverages (150.00 spent)", 9)
    assert result.points == 4 + 9


def test_category_extra_rounds_like_the_base_rate() -> None:
    rules = [
        base_rate(1, "0.03", rounding=Rounding.UP),
        rule(2, RuleKind.CATEGORY_MULTIPLIER, category="Tea", multiplier=Decimal("1.5")),
    ]

    result = earn("10.00", rules, lines=(line("Tea", 1, "10.00"),))

    assert points_by_rule(result) == {"R1": 1, "R2": 1}  # 0.30 and 0.15, both rounded up


def test_category_multiplier_without_a_base_rate_gives_nothing() -> None:
    rules = [rule(2, RuleKind.CATEGORY_MULTIPLIER, category="Tea", multiplier=Decimal("5"))]

    result = earn("100.00", rules, lines=(line("Tea", 1, "100.00"),))

    assert result.components == ()
    assert result.points == 0


# --- threshold bonus -------------------------------------------------------------------------


THRESHOLDS = [
    rule(1, RuleKind.THRESHOLD_BONUS, threshold=Decimal("100"), points=10),
    rule(2, RuleKind.THRESHOLD_BONUS, threshold=Decimal("200"), points=30),
    rule(3, RuleKind.THRESHOLD_BONUS, threshold=Decimal("500"), points=100),
]


def test_only_the_highest_threshold_reached_pays() -> None:
    result = earn("268.00", THRESHOLDS)

    assert result.components == (Component("R2", "Spend 200.00 or more in one purchase", 30),)


def test_threshold_is_reached_at_exactly_its_amount() -> None:
    assert points_by_rule(earn("100.00", THRESHOLDS)) == {"R1": 10}


def test_below_every_threshold_nothing_is_paid() -> None:
    assert earn("99.99", THRESHOLDS).components == ()


# --- campaigns -------------------------------------------------------------------------------


def test_campaign_multiplier_multiplies_base_and_category_points_not_the_threshold_bonus() -> None:
    rules = [
        base_rate(1, "0.03"),
        rule(2, RuleKind.CATEGORY_MULTIPLIER, category="Tea", multiplier=Decimal("2")),
        rule(3, RuleKind.THRESHOLD_BONUS, threshold=Decimal("200"), points=30),
        rule(4, RuleKind.CAMPAIGN, name="Double days", multiplier=Decimal("2")),
    ]

    result = earn("268.00", rules, lines=(line("Tea", 1, "100.00"),))

    # spend points: 8 base + 3 category = 11; doubled adds 11; the threshold's 30 stays 30
    assert result.components[-1] == Component("R4", "Double days: x2", 11)
    assert result.points == 52


def test_campaign_multiplier_rounds_as_the_campaign_says() -> None:
    def campaign(rounding: Rounding) -> Rule:
        return rule(2, RuleKind.CAMPAIGN, multiplier=Decimal("1.5"), rounding=rounding)

    base = base_rate(1, "0.05")  # 268.00 -> 13; x1.5 adds 6.5
    assert points_by_rule(earn("268.00", [base, campaign(Rounding.DOWN)]))["R2"] == 6
    assert points_by_rule(earn("268.00", [base, campaign(Rounding.NEAREST)]))["R2"] == 7


def test_flat_campaign_adds_its_points_unmultiplied() -> None:
    rules = [
        base_rate(1, "0.03"),
        rule(2, RuleKind.CAMPAIGN, name="Double days", multiplier=Decimal("2")),
        rule(3, RuleKind.CAMPAIGN, name="Launch week", points=50),
    ]

    result = earn("268.00", rules)

    assert result.components == (
        Component("R1", "3 points per 100 spent on 268.00", 8),
        Component("R2", "Double days: x2", 8),
        Component("R3", "Launch week", 50),
    )
    assert result.points == 66


WINDOW_START = datetime(2026, 11, 1, tzinfo=UTC)
WINDOW_END = datetime(2026, 11, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "applies"),
    [
        (WINDOW_START - timedelta(microseconds=1), False),
        (WINDOW_START, True),
        (WINDOW_END - timedelta(microseconds=1), True),
        (WINDOW_END, False),
    ],
)
def test_campaign_window_starts_inclusive_and_ends_exclusive(at: datetime, applies: bool) -> None:
    rules = [
        base_rate(1, "0.10"),
        rule(
            2,
            RuleKind.CAMPAIGN,
            multiplier=Decimal("2"),
            starts_at=WINDOW_START,
            ends_at=WINDOW_END,
        ),
    ]

    assert earn("100.00", rules, at=at).points == (20 if applies else 10)


def test_campaign_weekdays_are_the_brands_local_weekdays() -> None:
    at = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # Friday in UTC, Saturday 01:00 in Shanghai
    rules = [
        base_rate(1, "0.10"),
        rule(
            2, RuleKind.CAMPAIGN, name="Saturdays", multiplier=Decimal("2"), weekdays=frozenset({6})
        ),
    ]

    assert earn("100.00", rules, facts(zone=SHANGHAI), at=at).points == 20
    assert earn("100.00", rules, facts(zone=ZoneInfo("UTC")), at=at).points == 10


# --- store and tier filters ------------------------------------------------------------------


@pytest.mark.parametrize(("store", "expected"), [("SH01", 10), ("BJ01", 0), (None, 0)])
def test_store_filter_excludes_rules_elsewhere(store: str | None, expected: int) -> None:
    rules = [base_rate(1, "0.10", store_codes=frozenset({"SH01"}))]

    assert earn("100.00", rules, store=store).points == expected


def test_tier_filter_excludes_rules_for_other_tiers() -> None:
    rules = [
        base_rate(1, "0.10"),
        rule(
            2,
            RuleKind.THRESHOLD_BONUS,
            threshold=Decimal("50"),
            points=25,
            tier_codes=frozenset({"GOLD", "PLATINUM"}),
        ),
    ]

    assert points_by_rule(earn("100.00", rules, facts(tier_code="BASE"))) == {"R1": 10}
    assert points_by_rule(earn("100.00", rules, facts(tier_code="GOLD"))) == {"R1": 10, "R2": 25}


# --- first purchase and referral ---------------------------------------------------------------


FIRST = rule(5, RuleKind.FIRST_PURCHASE_BONUS, name="Welcome gift", points=100)
REFERRAL = rule(6, RuleKind.REFERRAL_BONUS, name="Friends", points=50, referrer_points=80)


def test_first_purchase_bonus_is_paid_on_the_first_purchase() -> None:
    result = earn("100.00", [base_rate(1, "0.10"), FIRST], facts(first_purchase=True))

    assert result.components[-1] == Component("R5", "Welcome gift", 100)
    assert result.points == 110


def test_first_purchase_bonus_is_not_paid_on_later_purchases() -> None:
    result = earn("100.00", [base_rate(1, "0.10"), FIRST], facts(first_purchase=False))

    assert points_by_rule(result) == {"R1": 10}


def test_referral_bonus_is_paid_on_a_referred_members_first_purchase() -> None:
    result = earn("100.00", [FIRST, REFERRAL], facts(first_purchase=True, referred=True))

    assert result.components == (
        Component("R5", "Welcome gift", 100),
        Component("R6", "Friends: welcome from the member who invited you", 50),
    )
    assert result.referral is REFERRAL


@pytest.mark.parametrize(
    ("first_purchase", "referred"), [(True, False), (False, True), (False, False)]
)
def test_referral_bonus_needs_both_a_first_purchase_and_a_referrer(
    first_purchase: bool, referred: bool
) -> None:
    member = facts(first_purchase=first_purchase, referred=referred)

    result = earn("100.00", [base_rate(1, "0.10"), REFERRAL], member)

    assert points_by_rule(result) == {"R1": 10}
    assert result.referral is None


# --- caps --------------------------------------------------------------------------------------


def test_rule_cap_cuts_its_component_and_says_so() -> None:
    result = earn("268.00", [base_rate(1, "0.03", cap_points=5)])

    assert result.components == (
        Component("R1", "3 points per 100 spent on 268.00 (capped at 5)", 5),
    )


def test_rule_cap_above_the_points_changes_nothing() -> None:
    result = earn("268.00", [base_rate(1, "0.03", cap_points=8)])

    assert result.components == (Component("R1", "3 points per 100 spent on 268.00", 8),)


def test_capped_base_points_are_what_a_campaign_multiplies() -> None:
    rules = [
        base_rate(1, "0.10", cap_points=5),
        rule(2, RuleKind.CAMPAIGN, multiplier=Decimal("3")),
    ]

    assert points_by_rule(earn("100.00", rules)) == {"R1": 5, "R2": 10}


def test_brand_cap_per_purchase_adds_a_negative_component() -> None:
    result = earn("268.00", [base_rate(1, "0.05")], facts(cap_per_purchase=10))

    assert result.components[-1] == Component(
        "cap:purchase", "Capped at 10 points per purchase", -3
    )
    assert result.points == 10


def test_brand_cap_per_day_counts_what_was_earned_that_day() -> None:
    member = facts(cap_per_day=100, earned_that_day=95)

    result = earn("268.00", [base_rate(1, "0.05")], member)

    assert result.components[-1] == Component("cap:day", "Capped at 100 points per day", -8)
    assert result.points == 5


def test_brand_caps_per_purchase_then_per_day_both_cut() -> None:
    member = facts(cap_per_purchase=10, cap_per_day=100, earned_that_day=97)

    result = earn("268.00", [base_rate(1, "0.05")], member)

    assert [(c.rule, c.points) for c in result.components] == [
        ("R1", 13),
        ("cap:purchase", -3),
        ("cap:day", -7),
    ]
    assert result.points == 3


def test_day_already_over_its_cap_earns_zero_not_less() -> None:
    member = facts(cap_per_day=100, earned_that_day=120)

    result = earn("268.00", [base_rate(1, "0.05")], member)

    assert points_by_rule(result) == {"R1": 13, "cap:day": -13}
    assert result.points == 0


def test_brand_caps_cut_one_off_bonuses_too() -> None:
    member = facts(first_purchase=True, cap_per_purchase=50)

    result = earn("100.00", [base_rate(1, "0.10"), FIRST], member)

    assert points_by_rule(result) == {"R1": 10, "R5": 100, "cap:purchase": -60}
    assert result.points == 50


def test_earn_within_the_caps_has_no_cap_component() -> None:
    member = facts(cap_per_purchase=13, cap_per_day=100, earned_that_day=87)

    result = earn("268.00", [base_rate(1, "0.05")], member)

    assert points_by_rule(result) == {"R1": 13}


# --- tasks and one-off bonuses -----------------------------------------------------------------


CHECK_IN = rule(
    9,
    RuleKind.TASK,
    code="CHECKIN",
    name="Daily check-in",
    points=20,
    task_code="CHECK_IN",
    daily_limit=1,
)


def test_task_earns_its_rules_points() -> None:
    result = evaluate_task(CHECK_IN, facts())

    assert result.components == (Component("CHECKIN", "Daily check-in", 20),)
    assert result.referral is None


def test_task_is_cut_to_what_is_left_of_the_daily_cap() -> None:
    result = evaluate_task(CHECK_IN, facts(cap_per_day=100, earned_that_day=90))

    assert result.components == (
        Component("CHECKIN", "Daily check-in", 20),
        Component("cap:day", "Capped at 100 points per day", -10),
    )
    assert result.points == 10


def test_task_ignores_the_per_purchase_cap() -> None:
    assert evaluate_task(CHECK_IN, facts(cap_per_purchase=5)).points == 20


def test_task_respects_its_own_cap_and_carries_its_expiry() -> None:
    task = rule(9, RuleKind.TASK, name="Share", points=20, cap_points=15, expiry_days=30)

    assert evaluate_task(task, facts()).components == (
        Component("R9", "Share (capped at 15)", 15, expiry_days=30),
    )


BIRTHDAYS = [
    rule(1, RuleKind.BIRTHDAY_BONUS, name="Birthday", points=100),
    rule(
        2,
        RuleKind.BIRTHDAY_BONUS,
        name="Gold birthday",
        points=300,
        priority=5,
        tier_codes=frozenset({"GOLD"}),
    ),
    rule(3, RuleKind.REGISTRATION_BONUS, name="Welcome", points=999, priority=9),
    rule(
        4,
        RuleKind.BIRTHDAY_BONUS,
        name="Old birthday",
        points=500,
        priority=9,
        ends_at=datetime(2026, 1, 1, tzinfo=UTC),
    ),
]


def test_bonus_pays_the_highest_priority_applicable_rule_of_its_kind_only() -> None:
    chosen, result = evaluate_bonus(BIRTHDAYS, RuleKind.BIRTHDAY_BONUS, AT, facts(tier_code="GOLD"))

    assert chosen is BIRTHDAYS[1]
    assert result.components == (Component("R2", "Gold birthday", 300),)


def test_bonus_skips_rules_for_other_tiers() -> None:
    chosen, result = evaluate_bonus(BIRTHDAYS, RuleKind.BIRTHDAY_BONUS, AT, facts())

    assert chosen is BIRTHDAYS[0]
    assert result.points == 100


def test_bonus_without_an_applicable_rule_is_none_and_nothing() -> None:
    chosen, result = evaluate_bonus(BIRTHDAYS, RuleKind.FIRST_PURCHASE_BONUS, AT, facts())

    assert chosen is None
    assert result == Earn()


# --- lots --------------------------------------------------------------------------------------


DEFAULT_EXPIRY = datetime(2027, 12, 31, 16, 0, tzinfo=UTC)  # midnight 2028-01-01 in Shanghai
EARN_DAY = date(2026, 11, 28)


def test_points_of_default_expiry_share_one_lot() -> None:
    components = [Component("R1", "base", 8), Component("R2", "threshold", 30)]

    assert lots_of(components, DEFAULT_EXPIRY, EARN_DAY, SHANGHAI) == [(38, DEFAULT_EXPIRY)]


def test_rule_with_its_own_expiry_gets_a_lot_ending_at_local_midnight() -> None:
    components = [Component("R1", "base", 8), Component("R2", "campaign", 38, expiry_days=30)]

    lots = lots_of(components, DEFAULT_EXPIRY, EARN_DAY, SHANGHAI)

    # the end of 2026-12-28 (28 Nov + 30 days) in Shanghai is 16:00 UTC that day
    assert lots == [(38, datetime(2026, 12, 29, tzinfo=SHANGHAI)), (8, DEFAULT_EXPIRY)]
    assert lots[0][1] == datetime(2026, 12, 28, 16, 0, tzinfo=UTC)


def test_rule_lot_expires_at_local_midnight_across_a_dst_change() -> None:
    components = [Component("R2", "campaign", 10, expiry_days=7)]

    lots = lots_of(components, DEFAULT_EXPIRY, date(2026, 3, 1), NEW_YORK)

    # New York moves to EDT on 8 March 2026: midnight of the 9th is 04:00 UTC, not 05:00
    assert lots == [(10, datetime(2026, 3, 9, 4, 0, tzinfo=UTC))]


def test_rules_with_the_same_expiry_share_a_lot_and_lots_are_soonest_first() -> None:
    components = [
        Component("R1", "base", 8),
        Component("R2", "campaign", 5, expiry_days=90),
        Component("R3", "threshold", 7, expiry_days=10),
        Component("R4", "flat", 4, expiry_days=90),
    ]

    lots = lots_of(components, DEFAULT_EXPIRY, EARN_DAY, SHANGHAI)

    assert lots == [
        (7, datetime(2026, 12, 9, tzinfo=SHANGHAI)),
        (9, datetime(2027, 2, 27, tzinfo=SHANGHAI)),
        (8, DEFAULT_EXPIRY),
    ]


def test_cuts_come_out_of_the_soonest_expiring_lot_first() -> None:
    components = [
        Component("R1", "base", 8),
        Component("R2", "campaign", 38, expiry_days=30),
        Component("cap:purchase", "cap", -10),
    ]

    lots = lots_of(components, DEFAULT_EXPIRY, EARN_DAY, SHANGHAI)

    assert lots == [(28, datetime(2026, 12, 29, tzinfo=SHANGHAI)), (8, DEFAULT_EXPIRY)]


def test_cut_larger_than_the_soonest_lot_drops_it_and_cuts_the_next() -> None:
    components = [
        Component("R1", "base", 20),
        Component("R2", "campaign", 5, expiry_days=30),
        Component("cap:day", "cap", -8),
    ]

    assert lots_of(components, DEFAULT_EXPIRY, EARN_DAY, SHANGHAI) == [(17, DEFAULT_EXPIRY)]


def test_everything_cut_leaves_no_lots() -> None:
    components = [Component("R1", "base", 13), Component("cap:day", "cap", -13)]

    assert lots_of(components, DEFAULT_EXPIRY, EARN_DAY, SHANGHAI) == []


# --- descriptions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        ("0.03", "3 points per 100 spent"),
        ("0.030", "3 points per 100 spent"),
        ("0.005", "0.5 points per 100 spent"),
        ("0.1", "10 points per 100 spent"),
        ("1", "1 point per 1 spent"),
        ("1.00", "1 point per 1 spent"),
        ("2.50", "2.5 points per 1 spent"),
        ("10", "10 points per 1 spent"),
    ],
)
def test_rate_text_reads_per_100_below_one_and_per_1_above(rate: str, text: str) -> None:
    assert rate_text(Decimal(rate)) == text


def test_rate_text_says_point_in_the_singular_per_100() -> None:
    assert rate_text(Decimal("0.01")) == "1 point per 100 spent"


# --- properties --------------------------------------------------------------------------------


CATEGORIES = ("Tea", "Snacks", "Tobacco")
PURCHASE_KINDS = (
    RuleKind.BASE_RATE,
    RuleKind.CATEGORY_MULTIPLIER,
    RuleKind.THRESHOLD_BONUS,
    RuleKind.CAMPAIGN,
    RuleKind.FIRST_PURCHASE_BONUS,
    RuleKind.REFERRAL_BONUS,
)
PROPERTY_AT = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


def cents(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-2))


# From 1 to 100 in hundredths: what the admin validation accepts.
multipliers = st.integers(100, 10_000).map(lambda n: Decimal(n).scaleb(-2))


@st.composite
def rule_sets(draw: st.DrawFn) -> list[Rule]:
    """Rules the admin validation accepts (multipliers from 1 to 100), in any mix."""
    rules = []
    for rule_id in range(1, draw(st.integers(0, 8)) + 1):
        kind = draw(st.sampled_from(PURCHASE_KINDS))
        fields: dict[str, object] = {
            "priority": draw(st.integers(-2, 2)),
            "cap_points": draw(st.none() | st.integers(0, 500)),
            "expiry_days": draw(st.none() | st.integers(1, 400)),
            "weekdays": draw(st.frozensets(st.integers(1, 7), max_size=3)),
            "store_codes": draw(st.sampled_from([frozenset(), frozenset({"SH01"})])),
            "tier_codes": draw(st.sampled_from([frozenset(), frozenset({"GOLD"})])),
        }
        if kind is RuleKind.BASE_RATE:
            fields["rate"] = draw(cents(0, 1000))
            fields["rounding"] = draw(st.sampled_from(Rounding))
        elif kind is RuleKind.CATEGORY_MULTIPLIER:
            fields["category"] = draw(st.sampled_from(CATEGORIES))
            fields["multiplier"] = draw(multipliers)
        elif kind is RuleKind.THRESHOLD_BONUS:
            fields["threshold"] = draw(cents(1, 100_000))
            fields["points"] = draw(st.integers(1, 1000))
        elif kind is RuleKind.CAMPAIGN:
            if draw(st.booleans()):
                fields["multiplier"] = draw(multipliers)
                fields["rounding"] = draw(st.sampled_from(Rounding))
            else:
                fields["points"] = draw(st.integers(1, 1000))
        else:
            fields["points"] = draw(st.integers(1, 1000))
        rules.append(rule(rule_id, kind, **fields))
    return rules


lines_strategy = st.lists(
    st.builds(
        PurchaseLine,
        sku=st.just("SKU"),
        category=st.sampled_from(CATEGORIES).flatmap(
            lambda name: st.sampled_from([name, name.upper(), name.lower()])
        ),
        quantity=st.integers(1, 5),
        unit_price=cents(1, 50_000),
    ),
    max_size=4,
).map(tuple)

members = st.builds(
    MemberFacts,
    zone=st.sampled_from([SHANGHAI, NEW_YORK, ZoneInfo("UTC")]),
    tier_code=st.sampled_from(["BASE", "GOLD"]),
    tier_name=st.just("Tier"),
    tier_multiplier=st.integers(0, 1000).map(lambda n: Decimal(n).scaleb(-2)),
    first_purchase=st.booleans(),
    referred=st.booleans(),
    earned_that_day=st.integers(0, 3000),
    cap_per_purchase=st.none() | st.integers(0, 2000),
    cap_per_day=st.none() | st.integers(0, 2000),
)
totals = cents(1, 10_000_000)
stores = st.sampled_from(["SH01", "BJ01", None])
PROPERTY_SETTINGS = settings(max_examples=400, deadline=None)


@PROPERTY_SETTINGS
@given(totals, lines_strategy, stores, members, rule_sets())
def test_components_add_up_and_caps_hold(
    total: Decimal,
    lines: tuple[PurchaseLine, ...],
    store: str | None,
    member: MemberFacts,
    rules: list[Rule],
) -> None:
    result = evaluate_purchase(total, lines, store, PROPERTY_AT, member, rules)

    assert sum(component.points for component in result.components) == result.points
    if member.cap_per_purchase is not None:
        assert result.points <= member.cap_per_purchase
    if member.cap_per_day is not None:
        assert result.points <= max(member.cap_per_day - member.earned_that_day, 0)


@PROPERTY_SETTINGS
@given(totals, lines_strategy, stores, members, rule_sets())
def test_lots_hold_exactly_the_points_earned(
    total: Decimal,
    lines: tuple[PurchaseLine, ...],
    store: str | None,
    member: MemberFacts,
    rules: list[Rule],
) -> None:
    result = evaluate_purchase(total, lines, store, PROPERTY_AT, member, rules)

    lots = lots_of(result.components, DEFAULT_EXPIRY, EARN_DAY, member.zone)

    assert sum(points for points, _ in lots) == max(result.points, 0)
    assert all(points > 0 for points, _ in lots)
    assert [expires_at for _, expires_at in lots] == sorted({expires_at for _, expires_at in lots})


@PROPERTY_SETTINGS
@given(totals, lines_strategy, stores, members, rule_sets())
def test_points_are_never_negative_for_any_valid_rules(
    total: Decimal,
    lines: tuple[PurchaseLine, ...],
    store: str | None,
    member: MemberFacts,
    rules: list[Rule],
) -> None:
    result = evaluate_purchase(total, lines, store, PROPERTY_AT, member, rules)

    assert result.points >= 0
