from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_members_and_ledger')]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name='Lot',
            name=None,
            fields=['member_id', 'expires_at'],
        ),
        ops.AlterField(
            model_name='Lot',
            name='entry',
            field=fields.ForeignKeyField('models.LedgerEntry', source_field='entry_id', db_index=True, db_constraint=True, to_field='id', related_name='lots', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='Lot',
            name='purchase',
            field=fields.ForeignKeyField('models.Purchase', source_field='purchase_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='lots', on_delete=OnDelete.SET_NULL),
        ),
        ops.AlterField(
            model_name='LotConsumption',
            name='entry',
            field=fields.ForeignKeyField('models.LedgerEntry', source_field='entry_id', db_index=True, db_constraint=True, to_field='id', related_name='consumptions', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='LotConsumption',
            name='lot',
            field=fields.ForeignKeyField('models.Lot', source_field='lot_id', db_index=True, db_constraint=True, to_field='id', related_name='consumptions', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='MemberStatusChange',
            name='member',
            field=fields.ForeignKeyField('models.Member', source_field='member_id', db_index=True, db_constraint=True, to_field='id', related_name='status_changes', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='Purchase',
            name='earn_entry',
            field=fields.ForeignKeyField('models.LedgerEntry', source_field='earn_entry_id', db_index=True, db_constraint=True, to_field='id', related_name='purchases', on_delete=OnDelete.CASCADE),
        ),
                ops.RunSQL(
            sql="CREATE INDEX lot_live_by_expiry ON lot (member_id, expires_at) "
            "WHERE expired_at IS NULL AND remaining > 0",
            reverse_sql="DROP INDEX lot_live_by_expiry",
        ),
    ]
