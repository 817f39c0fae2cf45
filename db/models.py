"""Tortoise models: PostgreSQL is the record of everything the points mall knows."""

from __future__ import annotations

from enum import StrEnum

from asyncpg import BitString
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint
from tortoise.models import Model


class TierMetric(StrEnum):
    """What a brand's tiers qualify on, over its window: points earned by purchases (less what
    refunds took back), money spent (less refunds), or purchases (not refunded in full)."""

    POINTS = "POINTS"
    SPEND = "SPEND"
    PURCHASES = "PURCHASES"


class ExpiryPolicy(StrEnum):
    """How a brand's earned points expire: N months after earning, or on a yearly clearing date."""

    ROLLING = "ROLLING"
    FIXED_DATE = "FIXED_DATE"


class JwtAlgorithm(StrEnum):
    HS256 = "HS256"
    RS256 = "RS256"


class Brand(Model):
    """A brand running its own points mall; every other record belongs to exactly one brand."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=120)
    timezone = fields.CharField(max_length=64, default="UTC")
    expiry_policy = fields.CharEnumField(ExpiryPolicy, max_length=16, default=ExpiryPolicy.ROLLING)
    expiry_months = fields.IntField(default=24)
    clearing_month = fields.SmallIntField(default=12)
    clearing_day = fields.SmallIntField(default=31)
    grace_days = fields.IntField(default=30)
    # Caps on what rules earn a member: per purchase, and per member per day (brand's days).
    earn_cap_per_purchase = fields.IntField(null=True)
    earn_cap_per_day = fields.IntField(null=True)
    # A purchase may be recorded up to this many days after it happened.
    purchase_max_age_days = fields.IntField(default=30)
    # Points + cash redemptions not paid within this many minutes are cancelled.
    payment_window_minutes = fields.IntField(default=30)
    # A member may cancel their own redemption within this many hours of making it.
    cancel_window_hours = fields.IntField(default=24)
    # Tiers qualify on the brand's metric (points, spend or purchases) over this many months
    # up to now; a tier's qualifying_points is its threshold in that metric.
    tier_window_months = fields.IntField(default=12)
    tier_metric = fields.CharEnumField(TierMetric, max_length=12, default=TierMetric.POINTS)
    # Member notices: the locale a missing template falls back to, the quiet hours (minutes
    # of the brand's day) in which marketing notices wait, and the days before a lot expires
    # on which its member is reminded.
    locale = fields.CharField(max_length=16, default="zh-CN")
    quiet_from_minute = fields.SmallIntField(default=21 * 60)
    quiet_until_minute = fields.SmallIntField(default=9 * 60)
    expiry_reminder_days = fields.JSONField(default=[30, 7])
    # What one point is worth to the brand, in its currency: liability and breakage in money.
    point_value = fields.DecimalField(max_digits=12, decimal_places=4, default=0.01)
    currency = fields.CharField(max_length=3, default="CNY")
    # No birthday bonus for a birthday set fewer than this many days ago.
    birthday_min_age_days = fields.IntField(default=30)
    # The key the brand's own systems sign task proofs with (SIGNED tasks); None until issued.
    task_secret = fields.CharField(max_length=64, null=True)
    # Velocity limits: [{"kind", "window", "limit", "action"}] (domain/velocity.py).
    velocity_limits = fields.JSONField(default=list)
    # Step-up verification of redemptions: {"points", "value", "flagged"} (domain/verification.py)
    step_up = fields.JSONField(null=True)
    # A purchase's points are held as pending for this many days (its return window) before
    # they can be spent; 0: available at once.
    pending_days = fields.IntField(default=0)
    # The brand's own token verification key; brands without one use the deployment's secret.
    jwt_algorithm = fields.CharEnumField(JwtAlgorithm, max_length=8, null=True)
    jwt_key = fields.TextField(null=True)
    # Raised in the same transaction as any change to the brand's earning rules or tiers: what
    # every earn reads of them is kept in-process per version (domain/rules/config.py).
    earning_version = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "brand"
        constraints = (
            CheckConstraint(check="expiry_months > 0", name="brand_expiry_months_positive"),
            CheckConstraint(check="clearing_month BETWEEN 1 AND 12", name="brand_clearing_month"),
            CheckConstraint(check="clearing_day BETWEEN 1 AND 31", name="brand_clearing_day"),
            CheckConstraint(check="grace_days >= 0", name="brand_grace_days"),
            CheckConstraint(
                check="earn_cap_per_purchase IS NULL OR earn_cap_per_purchase >= 0",
                name="brand_earn_cap_per_purchase",
            ),
            CheckConstraint(
                check="earn_cap_per_day IS NULL OR earn_cap_per_day >= 0",
                name="brand_earn_cap_per_day",
            ),
            CheckConstraint(
                check="purchase_max_age_days BETWEEN 1 AND 365", name="brand_purchase_max_age"
            ),
            CheckConstraint(check="tier_window_months > 0", name="brand_tier_window"),
            CheckConstraint(
                check="quiet_from_minute BETWEEN 0 AND 1439 AND quiet_until_minute BETWEEN 0 "
                "AND 1439",
                name="brand_quiet_hours",
            ),
        )


class Store(Model):
    """A shop of the brand; points earned in one store are spent in any other."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="stores", on_delete=fields.CASCADE
    )
    brand_id: int
    code = fields.CharField(max_length=32)
    name = fields.CharField(max_length=120)
    created_at = fields.DatetimeField(auto_now_add=True)
    # An archived store takes no more purchases and is left out of the brand's list; its code
    # stays taken and its history (purchases, entries) keeps pointing at it.
    archived_at = fields.DatetimeField(null=True)

    class Meta:
        table = "store"
        constraints = (UniqueConstraint(fields=("brand_id", "code"), name="store_brand_code"),)


class Partner(Model):
    """Another brand that runs cross-promotions with this one, server to server, by API key."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="partners", on_delete=fields.CASCADE
    )
    brand_id: int
    code = fields.CharField(max_length=32)
    name = fields.CharField(max_length=120)
    # What one point is worth in money between the brand and the partner, for settlement.
    point_value = fields.DecimalField(max_digits=12, decimal_places=4, default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "partner"
        constraints = (
            UniqueConstraint(fields=("brand_id", "code"), name="partner_brand_code"),
            CheckConstraint(check="point_value >= 0", name="partner_point_value"),
        )


class ApiKey(Model):
    """A partner's key: shown once, kept as a hash, named by its prefix for support."""

    id = fields.IntField(primary_key=True)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="api_keys", on_delete=fields.CASCADE
    )
    partner_id: int
    prefix = fields.CharField(max_length=16, unique=True)
    secret_hash = fields.CharField(max_length=64)
    scopes = fields.JSONField(default=list)
    created_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_key"


class Tier(Model):
    """A membership tier; rank 0 is the base tier every brand gets when it is created."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="tiers", on_delete=fields.CASCADE
    )
    brand_id: int
    code = fields.CharField(max_length=32)
    name = fields.CharField(max_length=120)
    rank = fields.IntField()
    qualifying_points = fields.IntField(default=0)
    earn_multiplier = fields.DecimalField(max_digits=6, decimal_places=2, default=1)
    discount_percent = fields.IntField(default=0)
    birthday_bonus_points = fields.IntField(default=0)
    flash_sale_early_access_minutes = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "tier"
        constraints = (
            UniqueConstraint(fields=("brand_id", "code"), name="tier_brand_code"),
            UniqueConstraint(fields=("brand_id", "rank"), name="tier_brand_rank"),
            CheckConstraint(check="rank >= 0", name="tier_rank"),
            CheckConstraint(check="qualifying_points >= 0", name="tier_qualifying_points"),
            CheckConstraint(check="earn_multiplier >= 0", name="tier_earn_multiplier"),
            CheckConstraint(check="discount_percent BETWEEN 0 AND 100", name="tier_discount"),
            CheckConstraint(check="birthday_bonus_points >= 0", name="tier_birthday_bonus"),
            CheckConstraint(check="flash_sale_early_access_minutes >= 0", name="tier_early_access"),
        )


class IdempotencyRecord(Model):
    """The first outcome of a keyed call, scoped to (brand, principal, operation, key)."""

    id = fields.BigIntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="idempotency_records", on_delete=fields.CASCADE
    )
    brand_id: int
    principal = fields.CharField(max_length=200)
    operation = fields.CharField(max_length=64)
    key = fields.CharField(max_length=200)
    request_hash = fields.CharField(max_length=64)
    outcome = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "idempotency_record"
        constraints = (
            UniqueConstraint(
                fields=("brand_id", "principal", "operation", "key"), name="idempotency_scope"
            ),
        )


class MemberStatus(StrEnum):
    ACTIVE = "ACTIVE"
    FROZEN = "FROZEN"
    CLOSED = "CLOSED"


class Member(Model):
    """A member of one brand; points are brand-wide, earned and spent in any of its stores."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="members", on_delete=fields.CASCADE
    )
    brand_id: int
    display_name = fields.CharField(max_length=120)
    phone = fields.CharField(max_length=20, null=True)
    email = fields.CharField(max_length=254, null=True)
    birthday = fields.DateField(null=True)
    birthday_set_at = fields.DatetimeField(null=True)  # when the member gave it
    referral_code = fields.CharField(max_length=16)
    referred_by: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="referrals", null=True, on_delete=fields.SET_NULL
    )
    referred_by_id: int | None
    member_code = fields.CharField(max_length=16)
    status = fields.CharEnumField(MemberStatus, max_length=8, default=MemberStatus.ACTIVE)
    marketing_email = fields.BooleanField(default=False)
    marketing_sms = fields.BooleanField(default=False)
    marketing_wechat = fields.BooleanField(default=False)
    marketing_push = fields.BooleanField(default=False)
    # Where the brand's gateways reach the member, beside phone and email; and their language.
    wechat_open_id = fields.CharField(max_length=64, null=True)
    push_token = fields.CharField(max_length=200, null=True)
    locale = fields.CharField(max_length=16, null=True)
    tier: fields.ForeignKeyRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="members", on_delete=fields.RESTRICT
    )
    tier_id: int
    # A tier bought with points (a TIER_UPGRADE redemption): no evaluation takes the member
    # below it before `tier_floor_until`.
    tier_floor: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="floored_members", null=True, on_delete=fields.RESTRICT
    )
    tier_floor_id: int | None
    tier_floor_until = fields.DatetimeField(null=True)
    tier_floor_redemption_id = fields.IntField(null=True)
    joined_at = fields.DatetimeField()
    # The member's id in the loyalty system they were imported from (`pointsmall import
    # members`): what makes a rerun of the same file skip them.
    external_id = fields.CharField(max_length=64, null=True)
    # The app's identifier of the device the member registered on (risk rule SHARED_DEVICE);
    # staff only, never shown to members.
    device_id = fields.CharField(max_length=128, null=True)

    class Meta:
        table = "member"
        constraints = (
            UniqueConstraint(fields=("brand_id", "phone"), name="member_brand_phone"),
            UniqueConstraint(fields=("brand_id", "external_id"), name="member_external_id"),
            UniqueConstraint(fields=("brand_id", "email"), name="member_brand_email"),
            UniqueConstraint(fields=("brand_id", "referral_code"), name="member_referral_code"),
            UniqueConstraint(fields=("brand_id", "member_code"), name="member_member_code"),
        )


class MemberStatusChange(Model):
    """Who froze, closed or reopened a member, when, and why."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="status_changes", on_delete=fields.CASCADE, db_index=True
    )
    member_id: int
    previous = fields.CharEnumField(MemberStatus, max_length=8)
    current = fields.CharEnumField(MemberStatus, max_length=8)
    reason = fields.TextField()
    actor = fields.CharField(max_length=200)
    created_at = fields.DatetimeField()

    class Meta:
        table = "member_status_change"


class Balance(Model):
    """A member's points now: kept in step with the ledger in the same transaction.

    Every movement locks this row first, so one member's movements are serialised and a
    balance is read in O(1) whatever the ledger's length.
    """

    member: fields.OneToOneRelation[Member] = fields.OneToOneField(
        "models.Member", related_name="balance", on_delete=fields.CASCADE, primary_key=True
    )
    member_id: int
    available = fields.IntField(default=0)
    lifetime_earned = fields.BigIntField(default=0)
    lifetime_redeemed = fields.BigIntField(default=0)
    version = fields.IntField(default=0)
    # Points a reversal could not claw back; the next earns and returns pay it off first.
    shortfall = fields.IntField(default=0)
    # Points earned but held until their lots are released (the brand's pending days).
    pending = fields.IntField(default=0)

    class Meta:
        table = "balance"
        constraints = (
            CheckConstraint(check="available >= 0", name="balance_available_not_negative"),
            CheckConstraint(check="shortfall >= 0", name="balance_shortfall_not_negative"),
            CheckConstraint(check="pending >= 0", name="balance_pending_not_negative"),
            CheckConstraint(check="version >= 0", name="balance_version_not_negative"),
        )


class LedgerKind(StrEnum):
    EARN = "EARN"
    REDEEM = "REDEEM"
    EXPIRE = "EXPIRE"
    REFUND = "REFUND"
    REVERSAL = "REVERSAL"
    ADJUST = "ADJUST"


class LedgerEntry(Model):
    """One movement of a member's points; append-only, versioned 1, 2, 3, ... per member."""

    id = fields.BigIntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="ledger_entries", on_delete=fields.CASCADE
    )
    brand_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="ledger_entries", on_delete=fields.CASCADE
    )
    member_id: int
    kind = fields.CharEnumField(LedgerKind, max_length=8)
    points = fields.IntField()
    balance_after = fields.IntField()
    version = fields.IntField()
    description = fields.TextField()
    store: fields.ForeignKeyNullableRelation[Store] = fields.ForeignKeyField(
        "models.Store", related_name="ledger_entries", null=True, on_delete=fields.SET_NULL
    )
    store_id: int | None
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(null=True)
    breakdown = fields.JSONField(default=list)
    actor = fields.CharField(max_length=200)
    reason = fields.TextField(null=True)
    order_ref = fields.CharField(max_length=64, null=True)
    shortfall = fields.IntField(default=0)
    # The partner the movement settles with: its purchases' earns and reversals, and the
    # redemptions (and their refunds) of its offers.
    partner: fields.ForeignKeyNullableRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="ledger_entries", null=True, on_delete=fields.RESTRICT
    )
    partner_id: int | None
    # What the movement changed of the member's pending points (held: +, released or
    # cancelled: -), beside `points`, which are available points only; and, for points held,
    # when they are released.
    pending = fields.IntField(default=0)
    pending_until = fields.DatetimeField(null=True)

    class Meta:
        table = "ledger_entry"
        indexes = (("member_id", "created_at"),)  # tier qualification sums a time window
        constraints = (
            UniqueConstraint(fields=("member_id", "version"), name="ledger_member_version"),
            CheckConstraint(check="balance_after >= 0", name="ledger_balance_after"),
            CheckConstraint(check="version > 0", name="ledger_version_positive"),
        )


class Purchase(Model):
    """A purchase recorded for points; (brand, orderRef) names it once."""

    id = fields.BigIntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="purchases", on_delete=fields.CASCADE
    )
    brand_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="purchases", on_delete=fields.CASCADE
    )
    member_id: int
    store: fields.ForeignKeyNullableRelation[Store] = fields.ForeignKeyField(
        "models.Store", related_name="purchases", null=True, on_delete=fields.SET_NULL
    )
    store_id: int | None
    # Recorded by a partner under its API key: its order numbers are its own (migration 0009
    # makes (brand, partner, order_ref) unique, NULLS NOT DISTINCT).
    partner: fields.ForeignKeyNullableRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="purchases", null=True, on_delete=fields.RESTRICT
    )
    partner_id: int | None
    order_ref = fields.CharField(max_length=64)
    total = fields.DecimalField(max_digits=14, decimal_places=2)
    occurred_at = fields.DatetimeField()
    # The brand's local day of occurred_at: what the per-day earn cap counts by.
    earn_day = fields.DateField()
    # Spend per category of the purchase's lines: what recommendations rank by.
    categories = fields.JSONField(default=dict)
    points_earned = fields.IntField()
    refunded_amount = fields.DecimalField(max_digits=14, decimal_places=2, default=0)
    points_reversed = fields.IntField(default=0)
    earn_entry: fields.ForeignKeyRelation[LedgerEntry] = fields.ForeignKeyField(
        "models.LedgerEntry", related_name="purchases", on_delete=fields.CASCADE, db_index=True
    )
    earn_entry_id: int

    class Meta:
        table = "purchase"
        indexes = (("member_id", "earn_day"),)
        constraints = (
            CheckConstraint(check="total > 0", name="purchase_total_positive"),
            CheckConstraint(
                check="refunded_amount >= 0 AND refunded_amount <= total",
                name="purchase_refund_within_total",
            ),
            CheckConstraint(
                check="points_reversed >= 0 AND points_reversed <= points_earned",
                name="purchase_reversal_within_earned",
            ),
        )


class Lot(Model):
    """Points earned together, expiring together; spending takes the soonest-expiring first."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="lots", on_delete=fields.CASCADE
    )
    member_id: int
    entry: fields.ForeignKeyRelation[LedgerEntry] = fields.ForeignKeyField(
        "models.LedgerEntry", related_name="lots", on_delete=fields.CASCADE, db_index=True
    )
    entry_id: int
    purchase: fields.ForeignKeyNullableRelation[Purchase] = fields.ForeignKeyField(
        "models.Purchase", related_name="lots", null=True, on_delete=fields.SET_NULL, db_index=True
    )
    purchase_id: int | None
    points = fields.IntField()
    remaining = fields.IntField()
    earned_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    # Set once, by the expiry that took what remained; an expired lot is never revived.
    expired_at = fields.DatetimeField(null=True)
    # A pending lot is held until then: neither spendable nor expiring; set to None, once, by
    # the movement or job that releases it.
    held_until = fields.DatetimeField(null=True)

    class Meta:
        table = "lot"
        # Spending and expiry look up a member's live lots by expiry through a partial index
        # (migration 0003): lots that expired or were spent out stay out of it.
        constraints = (
            CheckConstraint(
                check="remaining >= 0 AND remaining <= points", name="lot_remaining_within_points"
            ),
            CheckConstraint(check="points > 0", name="lot_points_positive"),
            CheckConstraint(
                check="expired_at IS NULL OR remaining = 0", name="lot_expired_is_empty"
            ),
        )


class LotConsumption(Model):
    """How many points one debit took from one lot: what a cancel or refund gives back."""

    id = fields.BigIntField(primary_key=True)
    lot: fields.ForeignKeyRelation[Lot] = fields.ForeignKeyField(
        "models.Lot", related_name="consumptions", on_delete=fields.CASCADE, db_index=True
    )
    lot_id: int
    entry: fields.ForeignKeyRelation[LedgerEntry] = fields.ForeignKeyField(
        "models.LedgerEntry", related_name="consumptions", on_delete=fields.CASCADE, db_index=True
    )
    entry_id: int
    points = fields.IntField()
    returned = fields.IntField(default=0)

    class Meta:
        table = "lot_consumption"
        constraints = (
            CheckConstraint(check="points > 0", name="consumption_points_positive"),
            CheckConstraint(
                check="returned >= 0 AND returned <= points", name="consumption_returned_within"
            ),
        )


class TierChange(Model):
    """A member's move from one tier to another: at once on an upgrade, at evaluation down."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="tier_changes", on_delete=fields.CASCADE, db_index=True
    )
    member_id: int
    previous: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="changes_from", null=True, on_delete=fields.SET_NULL
    )
    previous_id: int | None
    current: fields.ForeignKeyRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="changes_to", on_delete=fields.RESTRICT
    )
    current_id: int
    qualifying_points = fields.IntField()
    changed_at = fields.DatetimeField()

    class Meta:
        table = "tier_change"


class TaskProof(StrEnum):
    """What shows a task was done: the member's word, the brand's staff (or a partner), or a
    proof the brand's own system signs."""

    SELF = "SELF"
    STAFF = "STAFF"
    SIGNED = "SIGNED"


class RuleKind(StrEnum):
    BASE_RATE = "BASE_RATE"
    CATEGORY_MULTIPLIER = "CATEGORY_MULTIPLIER"
    THRESHOLD_BONUS = "THRESHOLD_BONUS"
    CAMPAIGN = "CAMPAIGN"
    REGISTRATION_BONUS = "REGISTRATION_BONUS"
    FIRST_PURCHASE_BONUS = "FIRST_PURCHASE_BONUS"
    REFERRAL_BONUS = "REFERRAL_BONUS"
    BIRTHDAY_BONUS = "BIRTHDAY_BONUS"
    TASK = "TASK"
    PURCHASE_COUNT = "PURCHASE_COUNT"


class Rounding(StrEnum):
    DOWN = "DOWN"
    NEAREST = "NEAREST"
    UP = "UP"


class EarningRule(Model):
    """How members earn: one rule of one kind, edited by the brand's admins, archived not deleted.

    Which of the optional fields a kind uses is checked in domain/rules/admin.py.
    """

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="earning_rules", on_delete=fields.CASCADE
    )
    brand_id: int
    code = fields.CharField(max_length=40)
    name = fields.CharField(max_length=120)
    kind = fields.CharEnumField(RuleKind, max_length=24)
    priority = fields.IntField(default=0)
    rate = fields.DecimalField(max_digits=10, decimal_places=4, null=True)
    rounding = fields.CharEnumField(Rounding, max_length=8, default=Rounding.DOWN)
    multiplier = fields.DecimalField(max_digits=6, decimal_places=2, null=True)
    category = fields.CharField(max_length=64, null=True)
    threshold = fields.DecimalField(max_digits=14, decimal_places=2, null=True)
    points = fields.IntField(null=True)
    referrer_points = fields.IntField(null=True)
    referrer_monthly_cap = fields.IntField(null=True)
    task_code = fields.CharField(max_length=40, null=True)
    proof = fields.CharEnumField(TaskProof, max_length=8, default=TaskProof.SELF)
    daily_limit = fields.IntField(null=True)
    lifetime_limit = fields.IntField(null=True)
    starts_at = fields.DatetimeField(null=True)
    ends_at = fields.DatetimeField(null=True)
    weekdays = fields.JSONField(default=list)
    store_codes = fields.JSONField(default=list)
    # Partners whose purchases it applies to; empty: every purchase (the brand's and partners').
    partner_codes = fields.JSONField(default=list)
    tier_codes = fields.JSONField(default=list)
    cap_points = fields.IntField(null=True)
    expiry_days = fields.IntField(null=True)
    # PURCHASE_COUNT: the bonus comes with the member's Nth purchase (every Nth when it
    # repeats), counting those in the rule's window that were not refunded in full.
    nth_purchase = fields.IntField(null=True)
    repeats = fields.BooleanField(default=True)
    # Members with any of these tags only (domain/segments.py); empty: every member.
    tag_codes = fields.JSONField(default=list)
    archived_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "earning_rule"
        constraints = (
            UniqueConstraint(fields=("brand_id", "code"), name="earning_rule_brand_code"),
            CheckConstraint(check="rate IS NULL OR rate >= 0", name="earning_rule_rate"),
            CheckConstraint(
                check="starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at",
                name="earning_rule_window",
            ),
        )


class AwardKind(StrEnum):
    REGISTRATION = "REGISTRATION"
    REFERRAL_REFEREE = "REFERRAL_REFEREE"
    REFERRAL_REFERRER = "REFERRAL_REFERRER"
    BIRTHDAY = "BIRTHDAY"
    TASK = "TASK"


class Award(Model):
    """A bonus or task reward given to a member: what limits and once-only rules count.

    `once_key` names what may be rewarded only once (the birthday's year, the referee); the
    unique constraint makes a second award of it fail, whatever races.
    """

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="awards", on_delete=fields.CASCADE
    )
    member_id: int
    kind = fields.CharEnumField(AwardKind, max_length=24)
    rule: fields.ForeignKeyNullableRelation[EarningRule] = fields.ForeignKeyField(
        "models.EarningRule", related_name="awards", null=True, on_delete=fields.SET_NULL
    )
    rule_id: int | None
    task_code = fields.CharField(max_length=40, null=True)
    once_key = fields.CharField(max_length=40, null=True)
    local_day = fields.DateField()
    points = fields.IntField()
    entry: fields.ForeignKeyNullableRelation[LedgerEntry] = fields.ForeignKeyField(
        "models.LedgerEntry", related_name="awards", null=True, on_delete=fields.SET_NULL
    )
    entry_id: int | None
    # The entry that took the award back (a referral bonus whose first purchase was refunded).
    reversed_by: fields.ForeignKeyNullableRelation[LedgerEntry] = fields.ForeignKeyField(
        "models.LedgerEntry", related_name="reversed_awards", null=True,
        on_delete=fields.SET_NULL,
    )  # fmt: skip
    reversed_by_id: int | None
    created_at = fields.DatetimeField()

    class Meta:
        table = "award"
        indexes = (("member_id", "kind", "local_day"),)
        constraints = (
            UniqueConstraint(fields=("member_id", "kind", "once_key"), name="award_once"),
        )


class ItemKind(StrEnum):
    PHYSICAL = "PHYSICAL"
    COUPON = "COUPON"
    CASH_VOUCHER = "CASH_VOUCHER"
    PARTNER_OFFER = "PARTNER_OFFER"
    TIER_UPGRADE = "TIER_UPGRADE"  # the member's tier, for a number of months


class ItemStatus(StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    ACTIVE = "ACTIVE"
    REJECTED = "REJECTED"
    ARCHIVED = "ARCHIVED"


class CatalogItem(Model):
    """Something members spend points on; its stock never goes below zero (a CHECK)."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="catalog_items", on_delete=fields.CASCADE
    )
    brand_id: int
    sku = fields.CharField(max_length=64)
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    kind = fields.CharEnumField(ItemKind, max_length=16)
    status = fields.CharEnumField(ItemStatus, max_length=16, default=ItemStatus.ACTIVE)
    category = fields.CharField(max_length=64)
    points_price = fields.IntField()
    cash_price = fields.DecimalField(max_digits=12, decimal_places=2, default=0)
    stock = fields.IntField(null=True)  # null: unlimited
    per_member_limit = fields.IntField(null=True)
    min_tier: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="catalog_items", null=True, on_delete=fields.RESTRICT
    )
    min_tier_id: int | None
    available_from = fields.DatetimeField(null=True)
    available_until = fields.DatetimeField(null=True)
    image_urls = fields.JSONField(default=list)
    # What one coupon or voucher of this item is worth at the checkout, and how long it lasts.
    coupon_value = fields.DecimalField(max_digits=12, decimal_places=2, default=0)
    coupon_valid_days = fields.IntField(null=True)
    redeemed_count = fields.IntField(default=0)  # popularity, for recommendations
    # A partner's offer: published under its API key, shown once the brand's admin approves it.
    partner: fields.ForeignKeyNullableRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="offers", null=True, on_delete=fields.RESTRICT
    )
    partner_id: int | None
    rejection_reason = fields.TextField(null=True)
    # Codes come from a pool the partner uploaded (else we generate them).
    code_pool = fields.BooleanField(default=False)
    # A TIER_UPGRADE: the tier it moves the member up to, and for how many months.
    upgrade_tier: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="upgrade_items", null=True, on_delete=fields.RESTRICT
    )
    upgrade_tier_id: int | None
    upgrade_months = fields.IntField(null=True)
    # Gift items that come with each unit: [{"item_id", "quantity"}] (domain/catalog/gifts.py).
    gifts = fields.JSONField(default=list)
    # Members with any of these tags only (domain/segments.py); empty: every member.
    tag_codes = fields.JSONField(default=list)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "catalog_item"
        indexes = (("brand_id", "status", "category"),)
        constraints = (
            UniqueConstraint(fields=("brand_id", "sku"), name="catalog_item_brand_sku"),
            CheckConstraint(check="stock IS NULL OR stock >= 0", name="catalog_item_stock"),
            CheckConstraint(check="points_price >= 0", name="catalog_item_points_price"),
            CheckConstraint(check="cash_price >= 0", name="catalog_item_cash_price"),
            CheckConstraint(
                check="available_from IS NULL OR available_until IS NULL "
                "OR available_from < available_until",
                name="catalog_item_window",
            ),
        )


class FlashSale(Model):
    """A time-limited sale of a catalog item with its own stock, decided in Redis first and in
    PostgreSQL last: `sold` never passes `total_stock` (a CHECK, and a conditional update)."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="flash_sales", on_delete=fields.CASCADE
    )
    brand_id: int
    item: fields.ForeignKeyRelation[CatalogItem] = fields.ForeignKeyField(
        "models.CatalogItem", related_name="flash_sales", on_delete=fields.RESTRICT
    )
    item_id: int
    points_price = fields.IntField()
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    total_stock = fields.IntField()
    sold = fields.IntField(default=0)
    per_member_limit = fields.IntField(default=1)
    cancelled_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "flash_sale"
        indexes = (("brand_id", "starts_at"),)
        constraints = (
            CheckConstraint(
                check="sold >= 0 AND sold <= total_stock", name="flash_sale_sold_within_stock"
            ),
            CheckConstraint(check="total_stock > 0", name="flash_sale_stock_positive"),
            CheckConstraint(check="points_price >= 0", name="flash_sale_points_price"),
            CheckConstraint(check="per_member_limit > 0", name="flash_sale_limit_positive"),
            CheckConstraint(check="starts_at < ends_at", name="flash_sale_window"),
        )


class RedemptionStatus(StrEnum):
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    CONFIRMED = "CONFIRMED"
    FULFILLED = "FULFILLED"
    CANCELLED = "CANCELLED"


class Redemption(Model):
    """A member's order of a catalog item, paid in points (and cash for points + cash items)."""

    id = fields.BigIntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="redemptions", on_delete=fields.CASCADE
    )
    brand_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="redemptions", on_delete=fields.CASCADE
    )
    member_id: int
    item: fields.ForeignKeyRelation[CatalogItem] = fields.ForeignKeyField(
        "models.CatalogItem", related_name="redemptions", on_delete=fields.RESTRICT
    )
    item_id: int
    flash_sale: fields.ForeignKeyNullableRelation[FlashSale] = fields.ForeignKeyField(
        "models.FlashSale", related_name="redemptions", null=True, on_delete=fields.RESTRICT
    )
    flash_sale_id: int | None
    # The Redis hold a flash-sale redemption confirmed: one redemption per hold at most.
    reservation_id = fields.CharField(max_length=64, null=True, unique=True)
    quantity = fields.IntField()
    points_spent = fields.IntField()
    cash_amount = fields.DecimalField(max_digits=12, decimal_places=2, default=0)
    status = fields.CharEnumField(RedemptionStatus, max_length=16)
    redeem_entry: fields.ForeignKeyNullableRelation[LedgerEntry] = fields.ForeignKeyField(
        "models.LedgerEntry", related_name="redemptions", null=True, on_delete=fields.SET_NULL
    )
    redeem_entry_id: int | None
    payment_due_at = fields.DatetimeField(null=True)
    payment_reference = fields.CharField(max_length=100, null=True)
    shipping_address = fields.JSONField(null=True)
    # The gift items it took, [{"item_id", "quantity"}] in all: what a cancel gives back.
    gifts = fields.JSONField(default=list)
    tracking_reference = fields.CharField(max_length=100, null=True)
    confirmed_at = fields.DatetimeField(null=True)
    fulfilled_at = fields.DatetimeField(null=True)
    cancelled_at = fields.DatetimeField(null=True)
    cancel_reason = fields.TextField(null=True)
    cancelled_by = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "redemption"
        indexes = (("member_id", "item_id"), ("status", "payment_due_at"))
        constraints = (
            CheckConstraint(check="quantity > 0", name="redemption_quantity_positive"),
            CheckConstraint(check="points_spent >= 0", name="redemption_points_spent"),
        )


class Coupon(Model):
    """One unit of a coupon, voucher or partner-offer redemption, consumed at most once. A code
    is unique among its owner's: the partner whose offer it is, or the brand for its own items
    (one partner's codes say nothing of another's). A partner's uploaded codes wait in the
    offer's pool (no redemption yet) until a redemption takes them."""

    id = fields.BigIntField(primary_key=True)
    redemption: fields.ForeignKeyNullableRelation[Redemption] = fields.ForeignKeyField(
        "models.Redemption", related_name="coupons", null=True, on_delete=fields.CASCADE,
        db_index=True,
    )  # fmt: skip
    redemption_id: int | None
    item: fields.ForeignKeyNullableRelation[CatalogItem] = fields.ForeignKeyField(
        "models.CatalogItem", related_name="coupons", null=True, on_delete=fields.CASCADE,
        db_index=True,
    )  # fmt: skip
    item_id: int | None
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="coupons", on_delete=fields.CASCADE
    )
    brand_id: int
    # The owner: the item's partner, None for the brand's own items (migration 0015 makes
    # (brand, partner, code) unique, NULLS NOT DISTINCT).
    partner: fields.ForeignKeyNullableRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="coupons", null=True, on_delete=fields.RESTRICT
    )
    partner_id: int | None
    code = fields.CharField(max_length=32)
    value = fields.DecimalField(max_digits=12, decimal_places=2)
    expires_at = fields.DatetimeField(null=True)
    used_at = fields.DatetimeField(null=True)
    used_by = fields.CharField(max_length=200, null=True)
    used_reference = fields.CharField(max_length=100, null=True)
    voided_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "coupon"


class WebhookEndpoint(Model):
    """Where a partner, or the brand itself, wants its events posted (signed with its secret)."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="webhook_endpoints", on_delete=fields.CASCADE
    )
    brand_id: int
    partner: fields.ForeignKeyNullableRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="webhook_endpoints", null=True, on_delete=fields.CASCADE
    )
    partner_id: int | None  # None: the brand's own (its fraud desk's, …)
    url = fields.CharField(max_length=500)
    events = fields.JSONField(default=list)
    secret = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    disabled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_endpoint"


class WebhookEvent(Model):
    """The outbox: an event written in the same transaction as the change it tells of."""

    id = fields.BigIntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="webhook_events", on_delete=fields.CASCADE
    )
    brand_id: int
    partner: fields.ForeignKeyNullableRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="webhook_events", null=True, on_delete=fields.CASCADE
    )
    partner_id: int | None  # None: an event for the brand's own endpoints
    event_id = fields.CharField(max_length=40, unique=True)  # stable, for de-duplication
    type = fields.CharField(max_length=40)
    payload = fields.JSONField()
    created_at = fields.DatetimeField()
    # The W3C trace context (`traceparent`, `tracestate`) of the change that emitted it, when
    # that change was traced: its deliveries continue the trace.
    trace_context = fields.JSONField(null=True)

    class Meta:
        table = "webhook_event"


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    DEAD = "DEAD"


class WebhookDelivery(Model):
    """One event to one endpoint: retried with growing delays until delivered or dead."""

    id = fields.BigIntField(primary_key=True)
    event: fields.ForeignKeyRelation[WebhookEvent] = fields.ForeignKeyField(
        "models.WebhookEvent", related_name="deliveries", on_delete=fields.CASCADE
    )
    event_id: int
    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    endpoint_id: int
    status = fields.CharEnumField(DeliveryStatus, max_length=12, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    last_status_code = fields.IntField(null=True)
    last_error = fields.TextField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "webhook_delivery"
        indexes = (("status", "next_attempt_at"),)
        constraints = (
            UniqueConstraint(fields=("event_id", "endpoint_id"), name="delivery_event_endpoint"),
        )


class NoticeKind(StrEnum):
    """What a notice tells a member (domain/notices/kinds.py holds what each says)."""

    POINTS_EARNED = "POINTS_EARNED"
    POINTS_SPENT = "POINTS_SPENT"
    POINTS_ADJUSTED = "POINTS_ADJUSTED"
    POINTS_EXPIRED = "POINTS_EXPIRED"
    POINTS_EXPIRING = "POINTS_EXPIRING"
    TIER_UP = "TIER_UP"
    TIER_DOWN = "TIER_DOWN"
    TIER_LAPSING = "TIER_LAPSING"
    REDEMPTION_CONFIRMED = "REDEMPTION_CONFIRMED"
    REDEMPTION_SHIPPED = "REDEMPTION_SHIPPED"
    REDEMPTION_CANCELLED = "REDEMPTION_CANCELLED"
    PAYMENT_WINDOW_CLOSING = "PAYMENT_WINDOW_CLOSING"
    COUPON_EXPIRING = "COUPON_EXPIRING"
    BIRTHDAY_GIFT = "BIRTHDAY_GIFT"
    FLASH_SALE_STARTING = "FLASH_SALE_STARTING"
    VERIFICATION_CODE = "VERIFICATION_CODE"


class NoticeChannel(StrEnum):
    """The in-app inbox, and the brand's gateways."""

    INBOX = "INBOX"
    SMS = "SMS"
    WECHAT = "WECHAT"
    PUSH = "PUSH"
    EMAIL = "EMAIL"


class Notice(Model):
    """One thing told to one member, once: its key (member, kind, subject, threshold) is unique
    in the brand, so whatever writes it twice writes it once. Rendered when read or sent."""

    id = fields.BigIntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="notices", on_delete=fields.CASCADE
    )
    brand_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="notices", on_delete=fields.CASCADE
    )
    member_id: int
    kind = fields.CharEnumField(NoticeKind, max_length=32)
    dedupe_key = fields.CharField(max_length=200)
    variables = fields.JSONField(default=dict)
    marketing = fields.BooleanField(default=False)
    in_inbox = fields.BooleanField(default=True)  # False: the brand switched the INBOX off
    created_at = fields.DatetimeField()
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notice"
        indexes = (("member_id", "id"),)
        constraints = (
            UniqueConstraint(fields=("brand_id", "dedupe_key"), name="notice_brand_dedupe_key"),
        )


class NoticeGateway(Model):
    """The brand's own gateway for one channel: each notice is posted to it, signed with the
    gateway's secret, through the same retries as partner webhooks."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="notice_gateways", on_delete=fields.CASCADE
    )
    brand_id: int
    channel = fields.CharEnumField(NoticeChannel, max_length=8)
    url = fields.CharField(max_length=500)
    secret = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    disabled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notice_gateway"
        constraints = (
            UniqueConstraint(fields=("brand_id", "channel"), name="notice_gateway_brand_channel"),
        )


class NoticeDelivery(Model):
    """One notice to one gateway: retried with growing delays until delivered or dead."""

    id = fields.BigIntField(primary_key=True)
    notice: fields.ForeignKeyRelation[Notice] = fields.ForeignKeyField(
        "models.Notice", related_name="deliveries", on_delete=fields.CASCADE
    )
    notice_id: int
    gateway: fields.ForeignKeyRelation[NoticeGateway] = fields.ForeignKeyField(
        "models.NoticeGateway", related_name="deliveries", on_delete=fields.CASCADE
    )
    gateway_id: int
    status = fields.CharEnumField(DeliveryStatus, max_length=12, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()  # after the quiet hours, for marketing notices
    last_status_code = fields.IntField(null=True)
    last_error = fields.TextField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "notice_delivery"
        indexes = (("status", "next_attempt_at"),)
        constraints = (
            UniqueConstraint(fields=("notice_id", "gateway_id"), name="notice_delivery_gateway"),
        )


class NoticeSwitch(Model):
    """A kind of notice the brand switched off on a channel (on everywhere unless listed)."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="notice_switches", on_delete=fields.CASCADE
    )
    brand_id: int
    kind = fields.CharEnumField(NoticeKind, max_length=32)
    channel = fields.CharEnumField(NoticeChannel, max_length=8)

    class Meta:
        table = "notice_switch"
        constraints = (
            UniqueConstraint(fields=("brand_id", "kind", "channel"), name="notice_switch_key"),
        )


class NoticeTemplate(Model):
    """The brand's own wording of a kind on a channel in a locale (built-in ones otherwise)."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="notice_templates", on_delete=fields.CASCADE
    )
    brand_id: int
    kind = fields.CharEnumField(NoticeKind, max_length=32)
    channel = fields.CharEnumField(NoticeChannel, max_length=8)
    locale = fields.CharField(max_length=16)
    text = fields.TextField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "notice_template"
        constraints = (
            UniqueConstraint(
                fields=("brand_id", "kind", "channel", "locale"), name="notice_template_key"
            ),
        )


class LotReminder(Model):
    """A lot whose member was reminded that it expires, at one threshold (days before): once."""

    id = fields.BigIntField(primary_key=True)
    lot: fields.ForeignKeyRelation[Lot] = fields.ForeignKeyField(
        "models.Lot", related_name="reminders", on_delete=fields.CASCADE, db_constraint=True
    )
    lot_id: int
    days_before = fields.SmallIntField()

    class Meta:
        table = "lot_reminder"
        constraints = (UniqueConstraint(fields=("lot_id", "days_before"), name="lot_reminder_key"),)


class FlashSaleReminder(Model):
    """A member who asked to be told when a flash sale starts."""

    id = fields.BigIntField(primary_key=True)
    sale: fields.ForeignKeyRelation[FlashSale] = fields.ForeignKeyField(
        "models.FlashSale", related_name="reminders", on_delete=fields.CASCADE
    )
    sale_id: int
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="flash_sale_reminders", on_delete=fields.CASCADE
    )
    member_id: int
    created_at = fields.DatetimeField()

    class Meta:
        table = "flash_sale_reminder"
        constraints = (
            UniqueConstraint(fields=("sale_id", "member_id"), name="flash_sale_reminder_key"),
        )


class LedgerRollup(Model):
    """The ledger summed per brand, brand-local day, kind, store, partner, member tier and rule:
    the brand's reports read these rows, never the ledger. `rule` '' holds each entry's whole
    points; an earn's rows per rule (its breakdown's components) serve the report by rule
    only; 0 stands for no store, partner or tier. Written by the roll-up job from the entries
    of settled transactions (domain/insights/rollups.py), so movements never wait for them."""

    id = fields.BigIntField(primary_key=True)
    brand_id = fields.IntField()
    day = fields.DateField()
    kind = fields.CharEnumField(LedgerKind, max_length=8)
    store_id = fields.IntField()
    partner_id = fields.IntField()
    tier_id = fields.IntField()
    rule = fields.CharField(max_length=40)
    points = fields.BigIntField()
    entries = fields.IntField()

    class Meta:
        table = "ledger_rollup"
        indexes = (("brand_id", "day"),)
        constraints = (
            UniqueConstraint(
                fields=("brand_id", "day", "kind", "store_id", "partner_id", "tier_id", "rule"),
                name="ledger_rollup_key",
            ),
        )


class RollupWatermark(Model):
    """How far the roll-up job has summed the ledger: every entry written by a transaction
    whose id is below `next_xid` is in the roll-ups, and none at or above it."""

    name = fields.CharField(max_length=32, primary_key=True)
    next_xid = fields.BigIntField()
    rolled_at = fields.DatetimeField()

    class Meta:
        table = "rollup_watermark"


class ExpiryRollup(Model):
    """The points left in live lots per brand and brand-local month of expiry, written in each
    movement's transaction: the liability by expiry month, and the expiry forecast. Each month
    is split over `shard`s (the member's id modulo SHARDS, domain/insights/rollups.py), so that
    concurrent movements seldom wait for the same row."""

    id = fields.BigIntField(primary_key=True)
    brand_id = fields.IntField()
    month = fields.DateField()  # its first day
    shard = fields.SmallIntField()
    points = fields.BigIntField()

    class Meta:
        table = "expiry_rollup"
        constraints = (
            UniqueConstraint(fields=("brand_id", "month", "shard"), name="expiry_rollup_key"),
        )


class MemberDay(Model):
    """One member's points per brand-local day: what qualifies for tiers (earned less
    reversed) and what they earned and redeemed (activity), so that tier qualification sums
    days, not entries."""

    id = fields.BigIntField(primary_key=True)
    member_id = fields.IntField()
    brand_id = fields.IntField()
    day = fields.DateField()
    qualifying = fields.BigIntField()
    earned = fields.BigIntField()
    redeemed = fields.BigIntField()

    class Meta:
        table = "member_day"
        indexes = (("brand_id", "day"),)
        constraints = (UniqueConstraint(fields=("member_id", "day"), name="member_day_key"),)


class BitStringField(fields.Field[BitString], BitString):
    """A PostgreSQL `bit varying` column (written by hand-written SQL only)."""

    SQL_TYPE = "VARBIT"
    indexable = False


class MemberNumber(Model):
    """A member's place among their brand's members (0, 1, 2, … without gaps, in the order
    the roll-up job first saw them active): their bit in `active_day`."""

    id = fields.BigIntField(primary_key=True)
    member_id = fields.IntField(unique=True)
    brand_id = fields.IntField()
    number = fields.IntField()

    class Meta:
        table = "member_number"
        constraints = (UniqueConstraint(fields=("brand_id", "number"), name="member_number_key"),)


class ActiveDay(Model):
    """The brand's members active (an EARN or a REDEEM entry) on a brand-local day: bit
    `number % ACTIVE_CHUNK_BITS` of chunk `number // ACTIVE_CHUNK_BITS` for the member of that
    `MemberNumber`, every chunk of the same length (domain/insights/rollups.py). A period's
    active members are the bits of its days OR-ed together, counted. Written by the roll-up
    job."""

    id = fields.BigIntField(primary_key=True)
    brand_id = fields.IntField()
    day = fields.DateField()
    chunk = fields.IntField()
    bits = BitStringField()

    class Meta:
        table = "active_day"
        constraints = (
            UniqueConstraint(fields=("brand_id", "day", "chunk"), name="active_day_key"),
        )


class MemberSegment(Model):
    """A member's RFM scores (1 to 5 each, by quintile within the brand) and segment, from their
    purchases, refreshed by the insights job."""

    id = fields.BigIntField(primary_key=True)
    member_id = fields.IntField(unique=True)
    brand_id = fields.IntField()
    last_purchase_at = fields.DatetimeField()
    purchases = fields.IntField()
    spend = fields.DecimalField(max_digits=16, decimal_places=2)
    recency = fields.SmallIntField()
    frequency = fields.SmallIntField()
    monetary = fields.SmallIntField()
    segment = fields.CharField(max_length=24)
    refreshed_at = fields.DatetimeField()

    class Meta:
        table = "member_segment"
        indexes = (("brand_id", "segment"), ("brand_id", "spend", "member_id"))


class MemberTag(Model):
    """A tag an admin gave a member (domain/segments.py); rules may be limited to tags."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="tags", on_delete=fields.CASCADE
    )
    member_id: int
    brand_id = fields.IntField()
    tag = fields.CharField(max_length=40)
    tagged_at = fields.DatetimeField()

    class Meta:
        table = "member_tag"
        indexes = (("brand_id", "tag"),)
        constraints = (UniqueConstraint(fields=("member_id", "tag"), name="member_tag_key"),)


class MemberFilter(Model):
    """A saved filter of the brand's members, by code: what tagMembers may name."""

    id = fields.IntField(primary_key=True)
    brand: fields.ForeignKeyRelation[Brand] = fields.ForeignKeyField(
        "models.Brand", related_name="member_filters", on_delete=fields.CASCADE
    )
    brand_id: int
    code = fields.CharField(max_length=40)
    name = fields.CharField(max_length=120)
    # {"tier_codes", "segments", "joined_from", "joined_to", "tags", "search"}
    spec = fields.JSONField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "member_filter"
        constraints = (UniqueConstraint(fields=("brand_id", "code"), name="member_filter_code"),)


class AuditEntry(Model):
    """A state-changing operation by the brand's staff, admins or partners: who, what, on
    which records, with which input (secrets left out), when, in which request. Written in the
    operation's own transaction, with its idempotency record (domain/idempotency.py)."""

    id = fields.BigIntField(primary_key=True)
    brand_id = fields.IntField()
    actor = fields.CharField(max_length=200)  # role:subject, as idempotency records name it
    operation = fields.CharField(max_length=64)
    targets = fields.JSONField(default=list)  # the records' global ids
    input = fields.JSONField(default=dict)
    request_id = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()

    class Meta:
        table = "audit_entry"
        indexes = (("brand_id", "created_at"), ("brand_id", "actor", "created_at"))


class RiskFlagStatus(StrEnum):
    OPEN = "OPEN"
    CLEARED = "CLEARED"
    MEMBER_FROZEN = "MEMBER_FROZEN"
    MOVEMENT_REVERSED = "MOVEMENT_REVERSED"


class RiskFlag(Model):
    """Something about a member's movement that a person should look at: a velocity limit
    passed where the brand flags rather than refuses, and the like. Written with the movement."""

    id = fields.BigIntField(primary_key=True)
    brand_id = fields.IntField()
    member_id = fields.IntField()
    entry_id = fields.BigIntField(null=True)  # the movement's entry, if it made one
    reason = fields.CharField(max_length=40)
    details = fields.JSONField(default=dict)
    status = fields.CharEnumField(RiskFlagStatus, max_length=20, default=RiskFlagStatus.OPEN)
    created_at = fields.DatetimeField()
    reviewed_by = fields.CharField(max_length=200, null=True)
    review_note = fields.TextField(null=True)
    reviewed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "risk_flag"
        indexes = (("brand_id", "status", "id"), ("member_id", "status"))
