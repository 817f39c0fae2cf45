"""Members' points: balances, the ledger, purchases, lots and what debits took of them."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint
from tortoise.models import Model

if TYPE_CHECKING:
    from db.models.brands import Brand, Store
    from db.models.members import Member
    from db.models.partners import Partner


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
    breakdown: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
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
    categories: fields.JSONField[dict[str, str]] = fields.JSONField(default=dict)
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
        # (migration 0003): lots that expired or were spent out stay out of it. Held lots are
        # looked up by release time through another (migration 0028).
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
