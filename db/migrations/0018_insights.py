from tortoise import migrations
from tortoise.migrations import operations as ops
from db.models import LedgerKind
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint

BACKFILL_SQL = """
UPDATE ledger_entry e SET tier_id = m.tier_id FROM member m WHERE m.id = e.member_id;
INSERT INTO ledger_rollup (brand_id, day, kind, store_id, partner_id, tier_id, rule, points,
                           entries)
SELECT e.brand_id, (e.created_at AT TIME ZONE b.timezone)::date, e.kind,
       COALESCE(e.store_id, 0), COALESCE(e.partner_id, 0), e.tier_id, '', SUM(e.points),
       COUNT(*)
FROM ledger_entry e JOIN brand b ON b.id = e.brand_id JOIN member m ON m.id = e.member_id
GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO ledger_rollup (brand_id, day, kind, store_id, partner_id, tier_id, rule, points,
                           entries)
SELECT e.brand_id, (e.created_at AT TIME ZONE b.timezone)::date, e.kind,
       COALESCE(e.store_id, 0), COALESCE(e.partner_id, 0), e.tier_id, part->>'rule',
       SUM((part->>'points')::int), COUNT(*)
FROM ledger_entry e JOIN brand b ON b.id = e.brand_id JOIN member m ON m.id = e.member_id
CROSS JOIN jsonb_array_elements(e.breakdown) part
WHERE e.kind = 'EARN' AND COALESCE(part->>'rule', '') <> ''
GROUP BY 1, 2, 3, 4, 5, 6, 7;
INSERT INTO member_day (member_id, brand_id, day, qualifying, earned, redeemed)
SELECT e.member_id, e.brand_id, (e.created_at AT TIME ZONE b.timezone)::date,
       COALESCE(SUM(e.points) FILTER (WHERE e.kind IN ('EARN', 'REVERSAL')), 0),
       COALESCE(SUM(e.points) FILTER (WHERE e.kind = 'EARN'), 0),
       COALESCE(-SUM(e.points) FILTER (WHERE e.kind = 'REDEEM'), 0)
FROM ledger_entry e JOIN brand b ON b.id = e.brand_id
GROUP BY 1, 2, 3;
INSERT INTO expiry_rollup (brand_id, month, shard, points)
SELECT m.brand_id, date_trunc('month', l.expires_at AT TIME ZONE b.timezone)::date,
       l.member_id % 64, SUM(l.remaining)
FROM lot l JOIN member m ON m.id = l.member_id JOIN brand b ON b.id = m.brand_id
WHERE l.expired_at IS NULL AND l.remaining > 0
GROUP BY 1, 2, 3;
INSERT INTO rollup_watermark (name, next_xid, rolled_at)
VALUES ('ledger', pg_current_xact_id()::text::bigint + 1, now());
"""


class Migration(migrations.Migration):
    dependencies = [('models', '0017_notices')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ExpiryRollup',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand_id', fields.IntField()),
                ('month', fields.DateField()),
                ('shard', fields.SmallIntField()),
                ('points', fields.BigIntField()),
            ],
            options={'table': 'expiry_rollup', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The points left in live lots per brand and brand-local month of expiry, written in each'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LedgerRollup',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand_id', fields.IntField()),
                ('day', fields.DateField()),
                ('kind', fields.CharEnumField(description='EARN: EARN\nREDEEM: REDEEM\nEXPIRE: EXPIRE\nREFUND: REFUND\nREVERSAL: REVERSAL\nADJUST: ADJUST', enum_type=LedgerKind, max_length=8)),
                ('store_id', fields.IntField()),
                ('partner_id', fields.IntField()),
                ('tier_id', fields.IntField()),
                ('rule', fields.CharField(max_length=40)),
                ('points', fields.BigIntField()),
                ('entries', fields.IntField()),
            ],
            options={'table': 'ledger_rollup', 'app': 'models', 'indexes': [Index(fields=['brand_id', 'day'])], 'pk_attr': 'id', 'table_description': 'The ledger summed per brand, brand-local day, kind, store, partner, member tier and rule:'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MemberDay',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member_id', fields.IntField()),
                ('brand_id', fields.IntField()),
                ('day', fields.DateField()),
                ('qualifying', fields.BigIntField()),
                ('earned', fields.BigIntField()),
                ('redeemed', fields.BigIntField()),
            ],
            options={'table': 'member_day', 'app': 'models', 'indexes': [Index(fields=['brand_id', 'day'])], 'pk_attr': 'id', 'table_description': "One member's points per brand-local day: what qualifies for tiers (earned less"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MemberSegment',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member_id', fields.IntField(unique=True)),
                ('brand_id', fields.IntField()),
                ('last_purchase_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('purchases', fields.IntField()),
                ('spend', fields.DecimalField(max_digits=16, decimal_places=2)),
                ('recency', fields.SmallIntField()),
                ('frequency', fields.SmallIntField()),
                ('monetary', fields.SmallIntField()),
                ('segment', fields.CharField(max_length=24)),
                ('refreshed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'member_segment', 'app': 'models', 'indexes': [Index(fields=['brand_id', 'segment']), Index(fields=['brand_id', 'spend', 'member_id'])], 'pk_attr': 'id', 'table_description': "A member's RFM scores (1 to 5 each, by quintile within the brand) and segment, from their"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RollupWatermark',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('next_xid', fields.BigIntField()),
                ('rolled_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'rollup_watermark', 'app': 'models', 'pk_attr': 'name', 'table_description': 'How far the roll-up job has summed the ledger: every entry written by a transaction'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Brand',
            name='currency',
            field=fields.CharField(default='CNY', max_length=3),
        ),
        ops.AddField(
            model_name='Brand',
            name='point_value',
            field=fields.DecimalField(default=0.01, max_digits=12, decimal_places=4),
        ),
            # Named constraints, which CreateModel leaves out on PostgreSQL.
        ops.AddConstraint(model_name='ExpiryRollup', constraint=UniqueConstraint(fields=('brand_id', 'month', 'shard'), name='expiry_rollup_key')),
        ops.AddConstraint(model_name='LedgerRollup', constraint=UniqueConstraint(fields=('brand_id', 'day', 'kind', 'store_id', 'partner_id', 'tier_id', 'rule'), name='ledger_rollup_key')),
        ops.AddConstraint(model_name='MemberDay', constraint=UniqueConstraint(fields=('member_id', 'day'), name='member_day_key')),
            # Each entry names the transaction that wrote it (the roll-up job sums the entries of
        # settled transactions only: domain/insights/rollups.py) and its member's tier then.
        ops.RunSQL(
            sql="ALTER TABLE ledger_entry ADD COLUMN txid bigint NOT NULL "
            "DEFAULT (pg_current_xact_id()::text::bigint), ADD COLUMN tier_id integer; "
            "CREATE INDEX ledger_entry_txid ON ledger_entry (txid)",
            reverse_sql="DROP INDEX ledger_entry_txid; "
            "ALTER TABLE ledger_entry DROP COLUMN txid, DROP COLUMN tier_id",
        ),
        ops.RunSQL(
            sql="ALTER TABLE brand ALTER COLUMN point_value SET DEFAULT 0.01, "
            "ALTER COLUMN currency SET DEFAULT 'CNY'",
            reverse_sql="ALTER TABLE brand ALTER COLUMN point_value DROP DEFAULT, "
            "ALTER COLUMN currency DROP DEFAULT",
        ),
        # What is there already, rolled up (the tier of an entry's member as it is now).
        ops.RunSQL(sql=BACKFILL_SQL, reverse_sql="DELETE FROM rollup_watermark"),
    ]
