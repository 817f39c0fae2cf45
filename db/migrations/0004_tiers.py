from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0003_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TierChange',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_index=True, db_constraint=True, to_field='id', related_name='tier_changes', on_delete=OnDelete.CASCADE)),
                ('previous', fields.ForeignKeyField('models.Tier', source_field='previous_id', null=True, db_constraint=True, to_field='id', related_name='changes_from', on_delete=OnDelete.SET_NULL)),
                ('current', fields.ForeignKeyField('models.Tier', source_field='current_id', db_constraint=True, to_field='id', related_name='changes_to', on_delete=OnDelete.RESTRICT)),
                ('qualifying_points', fields.IntField()),
                ('changed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'tier_change', 'app': 'models', 'pk_attr': 'id', 'table_description': "A member's move from one tier to another: at once on an upgrade, at evaluation down."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Brand',
            name='tier_window_months',
            field=fields.IntField(default=12),
        ),
        ops.AddConstraint(
            model_name='Brand',
            constraint=CheckConstraint(check='tier_window_months > 0', name='brand_tier_window'),
        ),
        ops.AddIndex(
            model_name='LedgerEntry',
            index=Index(fields=['member_id', 'created_at']),
        ),
        ]
