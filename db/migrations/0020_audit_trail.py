from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0019_no_free_points')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand_id', fields.IntField()),
                ('actor', fields.CharField(max_length=200)),
                ('operation', fields.CharField(max_length=64)),
                ('targets', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('input', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('request_id', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'audit_entry', 'app': 'models', 'indexes': [Index(fields=['brand_id', 'created_at']), Index(fields=['brand_id', 'actor', 'created_at'])], 'pk_attr': 'id', 'table_description': "A state-changing operation by the brand's staff, admins or partners: who, what, on"},
            bases=['Model'],
        ),
        ]
