from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_partner_offers_and_purchases')]

    initial = False

    operations = [
        ops.AddField(
            model_name='LedgerEntry',
            name='partner',
            field=fields.ForeignKeyField('models.Partner', source_field='partner_id', null=True, db_constraint=True, to_field='id', related_name='ledger_entries', on_delete=OnDelete.RESTRICT),
        ),
        # Settlement sums a partner's movements over a month.
        ops.RunSQL(
            sql="CREATE INDEX ledger_partner_by_time ON ledger_entry (partner_id, created_at) "
            "WHERE partner_id IS NOT NULL",
            reverse_sql="DROP INDEX ledger_partner_by_time",
        ),
    ]
