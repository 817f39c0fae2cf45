"""What the brand's reports read (domain/insights/): roll-ups of the ledger, members' days and
activity, and their RFM segments."""

from __future__ import annotations

from asyncpg import BitString
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint
from tortoise.models import Model

from db.models.ledger import LedgerKind


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
