from tortoise import migrations
from tortoise.migrations import operations as ops
from db.models import TaskProof
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0018_insights')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Award',
            name='reversed_by',
            field=fields.ForeignKeyField('models.LedgerEntry', source_field='reversed_by_id', null=True, db_constraint=True, to_field='id', related_name='reversed_awards', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Brand',
            name='birthday_min_age_days',
            field=fields.IntField(default=30),
        ),
        ops.AddField(
            model_name='Brand',
            name='task_secret',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='EarningRule',
            name='proof',
            field=fields.CharEnumField(default=TaskProof.SELF, description='SELF: SELF\nSTAFF: STAFF\nSIGNED: SIGNED', enum_type=TaskProof, max_length=8),
        ),
        ops.AddField(
            model_name='Member',
            name='birthday_set_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
                ops.RunSQL(
            sql="ALTER TABLE brand ALTER COLUMN birthday_min_age_days SET DEFAULT 30; "
            "ALTER TABLE earning_rule ALTER COLUMN proof SET DEFAULT 'SELF'; "
            "UPDATE member SET birthday_set_at = joined_at WHERE birthday IS NOT NULL",
            reverse_sql="ALTER TABLE brand ALTER COLUMN birthday_min_age_days DROP DEFAULT; "
            "ALTER TABLE earning_rule ALTER COLUMN proof DROP DEFAULT",
        ),
    ]
