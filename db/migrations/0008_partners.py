from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0007_flash_sales')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Partner',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='partners', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(max_length=32)),
                ('name', fields.CharField(max_length=120)),
                ('point_value', fields.DecimalField(default=0, max_digits=12, decimal_places=4)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'partner', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Another brand that runs cross-promotions with this one, server to server, by API key.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiKey',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='api_keys', on_delete=OnDelete.CASCADE)),
                ('prefix', fields.CharField(unique=True, max_length=16)),
                ('secret_hash', fields.CharField(max_length=64)),
                ('scopes', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_key', 'app': 'models', 'pk_attr': 'id', 'table_description': "A partner's key: shown once, kept as a hash, named by its prefix for support."},
            bases=['Model'],
        ),
            # Named constraints, which CreateModel leaves out on PostgreSQL.
        ops.AddConstraint(model_name='Partner', constraint=UniqueConstraint(fields=('brand_id', 'code'), name='partner_brand_code')),
        ops.AddConstraint(model_name='Partner', constraint=CheckConstraint(check='point_value >= 0', name='partner_point_value')),
    ]
