from tortoise import migrations
from tortoise.migrations import operations as ops
from db.models import RiskFlagStatus
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0020_audit_trail')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RiskFlag',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand_id', fields.IntField()),
                ('member_id', fields.IntField()),
                ('entry_id', fields.BigIntField(null=True)),
                ('reason', fields.CharField(max_length=40)),
                ('details', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharEnumField(default=RiskFlagStatus.OPEN, description='OPEN: OPEN\nCLEARED: CLEARED\nMEMBER_FROZEN: MEMBER_FROZEN\nMOVEMENT_REVERSED: MOVEMENT_REVERSED', enum_type=RiskFlagStatus, max_length=20)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('reviewed_by', fields.CharField(null=True, max_length=200)),
                ('review_note', fields.TextField(null=True, unique=False)),
                ('reviewed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'risk_flag', 'app': 'models', 'indexes': [Index(fields=['brand_id', 'status', 'id']), Index(fields=['member_id', 'status'])], 'pk_attr': 'id', 'table_description': "Something about a member's movement that a person should look at: a velocity limit"},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Brand',
            name='velocity_limits',
            field=fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads),
        ),
                ops.RunSQL(
            sql="ALTER TABLE brand ALTER COLUMN velocity_limits SET DEFAULT '[]'",
            reverse_sql="ALTER TABLE brand ALTER COLUMN velocity_limits DROP DEFAULT",
        ),
    ]
