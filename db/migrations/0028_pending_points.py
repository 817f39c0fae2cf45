from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint


class Migration(migrations.Migration):
    dependencies = [('models', '0027_member_import')]

    initial = False

    # Pending points (domain/ledger/book.py): a brand's hold period, the pending points of a
    # balance and of an entry, and a lot's release time. Database defaults too: seeding SQL
    # names none of these columns.
    operations = [
        ops.AddField(model_name='Brand', name='pending_days', field=fields.IntField(default=0)),
        ops.AddField(model_name='Balance', name='pending', field=fields.IntField(default=0)),
        ops.AddField(model_name='LedgerEntry', name='pending', field=fields.IntField(default=0)),
        ops.AddField(
            model_name='LedgerEntry', name='pending_until', field=fields.DatetimeField(null=True)
        ),
        ops.AddField(model_name='Lot', name='held_until', field=fields.DatetimeField(null=True)),
        ops.RunSQL(
            sql="ALTER TABLE brand ALTER COLUMN pending_days SET DEFAULT 0; "
            "ALTER TABLE balance ALTER COLUMN pending SET DEFAULT 0; "
            "ALTER TABLE ledger_entry ALTER COLUMN pending SET DEFAULT 0",
            reverse_sql="SELECT 1",
        ),
        ops.AddConstraint(
            model_name='Balance',
            constraint=CheckConstraint(check='pending >= 0', name='balance_pending_not_negative'),
        ),
        # The brand's pending points (its liability) sum only the balances holding some.
        ops.RunSQL(
            sql="CREATE INDEX balance_pending ON balance (member_id) WHERE pending > 0",
            reverse_sql="DROP INDEX balance_pending",
        ),
        # A member's held lots by release time (a movement settles them), and the release
        # job's scan of all held lots: both only as many as are held.
        ops.RunSQL(
            sql="CREATE INDEX lot_held_by_member ON lot (member_id, held_until) "
            "WHERE held_until IS NOT NULL",
            reverse_sql="DROP INDEX lot_held_by_member",
        ),
    ]
