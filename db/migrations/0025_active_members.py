from tortoise import migrations
from tortoise.migrations import operations as ops
from db.models import BitStringField
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

# The active members of every settled entry the ledger's roll-up has summed (below its
# watermark), numbered and marked as the roll-up job does (domain/insights/rollups.py), and
# the job's own watermark there: it goes on from the entries after, so none counts twice.
BACKFILL_SQL = """
INSERT INTO rollup_watermark (name, next_xid, rolled_at)
SELECT 'members', next_xid, rolled_at FROM rollup_watermark WHERE name = 'ledger';
INSERT INTO member_number (member_id, brand_id, number)
SELECT member_id, brand_id, row_number() OVER (PARTITION BY brand_id ORDER BY member_id) - 1
FROM (SELECT DISTINCT e.member_id, e.brand_id
      FROM ledger_entry e JOIN rollup_watermark w ON w.name = 'members'
      WHERE e.txid < w.next_xid
        AND (e.kind = 'EARN' AND e.points > 0 OR e.kind = 'REDEEM' AND e.points < 0)) seen;
INSERT INTO active_day (brand_id, day, chunk, bits)
SELECT brand_id, day, chunk,
       (string_agg(repeat('0', bit - previous - 1) || '1', '' ORDER BY bit)
        || repeat('0', 8192 - 1 - max(bit)))::varbit
FROM (
    SELECT brand_id, day, number / 8192 AS chunk, number % 8192 AS bit,
           lag(number % 8192, 1, -1) OVER (
               PARTITION BY brand_id, day, number / 8192 ORDER BY number
           ) AS previous
    FROM (SELECT DISTINCT e.brand_id, (e.created_at AT TIME ZONE b.timezone)::date AS day,
                 n.number
          FROM ledger_entry e
          JOIN rollup_watermark w ON w.name = 'members'
          JOIN brand b ON b.id = e.brand_id
          JOIN member_number n ON n.member_id = e.member_id
          WHERE e.txid < w.next_xid
            AND (e.kind = 'EARN' AND e.points > 0 OR e.kind = 'REDEEM' AND e.points < 0)) active
) placed
GROUP BY brand_id, day, chunk;
"""


class Migration(migrations.Migration):
    dependencies = [('models', '0024_purchase_history_index')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ActiveDay',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand_id', fields.IntField()),
                ('day', fields.DateField()),
                ('chunk', fields.IntField()),
                ('bits', BitStringField(generated=False, null=False, unique=False)),
            ],
            options={'table': 'active_day', 'app': 'models', 'pk_attr': 'id', 'table_description': "The brand's members active (an EARN or a REDEEM entry) on a brand-local day: bit"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MemberNumber',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member_id', fields.IntField(unique=True)),
                ('brand_id', fields.IntField()),
                ('number', fields.IntField()),
            ],
            options={'table': 'member_number', 'app': 'models', 'pk_attr': 'id', 'table_description': "A member's place among their brand's members (0, 1, 2, … without gaps, in the order"},
            bases=['Model'],
        ),
            # Named constraints, which CreateModel leaves out on PostgreSQL.
        ops.AddConstraint(model_name='ActiveDay', constraint=UniqueConstraint(fields=('brand_id', 'day', 'chunk'), name='active_day_key')),
        ops.AddConstraint(model_name='MemberNumber', constraint=UniqueConstraint(fields=('brand_id', 'number'), name='member_number_key')),
        # The members report counts the moves into a brand's tiers in a period: those tiers'
        # changes only, from the index alone (0023's index by time read every brand's).
        ops.RunSQL(
            sql="DROP INDEX tier_change_changed_at; "
            "CREATE INDEX tier_change_moves ON tier_change (current_id, changed_at) "
            "INCLUDE (previous_id, member_id)",
            reverse_sql="DROP INDEX tier_change_moves; "
            "CREATE INDEX tier_change_changed_at ON tier_change (changed_at)",
        ),
        # What the ledger holds already (BACKFILL_SQL).
        ops.RunSQL(
            sql=BACKFILL_SQL,
            reverse_sql="DELETE FROM rollup_watermark WHERE name = 'members'",
        ),
    ]
