from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from db.models import ExpiryPolicy, JwtAlgorithm
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Brand',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=120)),
                ('timezone', fields.CharField(default='UTC', max_length=64)),
                ('expiry_policy', fields.CharEnumField(default=ExpiryPolicy.ROLLING, description='ROLLING: ROLLING\nFIXED_DATE: FIXED_DATE', enum_type=ExpiryPolicy, max_length=16)),
                ('expiry_months', fields.IntField(default=24)),
                ('clearing_month', fields.SmallIntField(default=12)),
                ('clearing_day', fields.SmallIntField(default=31)),
                ('grace_days', fields.IntField(default=30)),
                ('jwt_algorithm', fields.CharEnumField(null=True, description='HS256: HS256\nRS256: RS256', enum_type=JwtAlgorithm, max_length=8)),
                ('jwt_key', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'brand', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A brand running its own points mall; every other record belongs to exactly one brand.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IdempotencyRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='idempotency_records', on_delete=OnDelete.CASCADE)),
                ('principal', fields.CharField(max_length=200)),
                ('operation', fields.CharField(max_length=64)),
                ('key', fields.CharField(max_length=200)),
                ('request_hash', fields.CharField(max_length=64)),
                ('outcome', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'idempotency_record', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The first outcome of a keyed call, scoped to (brand, principal, operation, key).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Store',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='stores', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(max_length=32)),
                ('name', fields.CharField(max_length=120)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'store', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A shop of the brand; points earned in one store are spent in any other.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Tier',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='tiers', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(max_length=32)),
                ('name', fields.CharField(max_length=120)),
                ('rank', fields.IntField()),
                ('qualifying_points', fields.IntField(default=0)),
                ('earn_multiplier', fields.DecimalField(default=1, max_digits=6, decimal_places=2)),
                ('discount_percent', fields.IntField(default=0)),
                ('birthday_bonus_points', fields.IntField(default=0)),
                ('flash_sale_early_access_minutes', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'tier', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A membership tier; rank 0 is the base tier every brand gets when it is created.'},
            bases=['Model'],
        ),
            # Tortoise's CreateModel leaves named constraints out on PostgreSQL: add each one.
        ops.AddConstraint(model_name='Brand', constraint=CheckConstraint(check='expiry_months > 0', name='brand_expiry_months_positive')),
        ops.AddConstraint(model_name='Brand', constraint=CheckConstraint(check='clearing_month BETWEEN 1 AND 12', name='brand_clearing_month')),
        ops.AddConstraint(model_name='Brand', constraint=CheckConstraint(check='clearing_day BETWEEN 1 AND 31', name='brand_clearing_day')),
        ops.AddConstraint(model_name='Brand', constraint=CheckConstraint(check='grace_days >= 0', name='brand_grace_days')),
        ops.AddConstraint(model_name='IdempotencyRecord', constraint=UniqueConstraint(fields=('brand_id', 'principal', 'operation', 'key'), name='idempotency_scope')),
        ops.AddConstraint(model_name='Store', constraint=UniqueConstraint(fields=('brand_id', 'code'), name='store_brand_code')),
        ops.AddConstraint(model_name='Tier', constraint=UniqueConstraint(fields=('brand_id', 'code'), name='tier_brand_code')),
        ops.AddConstraint(model_name='Tier', constraint=UniqueConstraint(fields=('brand_id', 'rank'), name='tier_brand_rank')),
        ops.AddConstraint(model_name='Tier', constraint=CheckConstraint(check='rank >= 0', name='tier_rank')),
        ops.AddConstraint(model_name='Tier', constraint=CheckConstraint(check='qualifying_points >= 0', name='tier_qualifying_points')),
        ops.AddConstraint(model_name='Tier', constraint=CheckConstraint(check='earn_multiplier >= 0', name='tier_earn_multiplier')),
        ops.AddConstraint(model_name='Tier', constraint=CheckConstraint(check='discount_percent BETWEEN 0 AND 100', name='tier_discount')),
        ops.AddConstraint(model_name='Tier', constraint=CheckConstraint(check='birthday_bonus_points >= 0', name='tier_birthday_bonus')),
        ops.AddConstraint(model_name='Tier', constraint=CheckConstraint(check='flash_sale_early_access_minutes >= 0', name='tier_early_access')),
    ]
