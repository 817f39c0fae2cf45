from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from db.models import ItemKind, ItemStatus, RedemptionStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0005_earning_rules')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CatalogItem',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='catalog_items', on_delete=OnDelete.CASCADE)),
                ('sku', fields.CharField(max_length=64)),
                ('name', fields.CharField(max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('kind', fields.CharEnumField(description='PHYSICAL: PHYSICAL\nCOUPON: COUPON\nCASH_VOUCHER: CASH_VOUCHER\nPARTNER_OFFER: PARTNER_OFFER', enum_type=ItemKind, max_length=16)),
                ('status', fields.CharEnumField(default=ItemStatus.ACTIVE, description='PENDING_APPROVAL: PENDING_APPROVAL\nACTIVE: ACTIVE\nREJECTED: REJECTED\nARCHIVED: ARCHIVED', enum_type=ItemStatus, max_length=16)),
                ('category', fields.CharField(max_length=64)),
                ('points_price', fields.IntField()),
                ('cash_price', fields.DecimalField(default=0, max_digits=12, decimal_places=2)),
                ('stock', fields.IntField(null=True)),
                ('per_member_limit', fields.IntField(null=True)),
                ('min_tier', fields.ForeignKeyField('models.Tier', source_field='min_tier_id', null=True, db_constraint=True, to_field='id', related_name='catalog_items', on_delete=OnDelete.RESTRICT)),
                ('available_from', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('available_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('image_urls', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('coupon_value', fields.DecimalField(default=0, max_digits=12, decimal_places=2)),
                ('coupon_valid_days', fields.IntField(null=True)),
                ('redeemed_count', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'catalog_item', 'app': 'models', 'indexes': [Index(fields=['brand_id', 'status', 'category'])], 'pk_attr': 'id', 'table_description': 'Something members spend points on; its stock never goes below zero (a CHECK).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Redemption',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.CASCADE)),
                ('item', fields.ForeignKeyField('models.CatalogItem', source_field='item_id', db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.RESTRICT)),
                ('quantity', fields.IntField()),
                ('points_spent', fields.IntField()),
                ('cash_amount', fields.DecimalField(default=0, max_digits=12, decimal_places=2)),
                ('status', fields.CharEnumField(description='AWAITING_PAYMENT: AWAITING_PAYMENT\nCONFIRMED: CONFIRMED\nFULFILLED: FULFILLED\nCANCELLED: CANCELLED', enum_type=RedemptionStatus, max_length=16)),
                ('redeem_entry', fields.ForeignKeyField('models.LedgerEntry', source_field='redeem_entry_id', null=True, db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.SET_NULL)),
                ('payment_due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('payment_reference', fields.CharField(null=True, max_length=100)),
                ('shipping_address', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('tracking_reference', fields.CharField(null=True, max_length=100)),
                ('confirmed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('fulfilled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cancelled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cancel_reason', fields.TextField(null=True, unique=False)),
                ('cancelled_by', fields.CharField(null=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'redemption', 'app': 'models', 'indexes': [Index(fields=['member_id', 'item_id']), Index(fields=['status', 'payment_due_at'])], 'pk_attr': 'id', 'table_description': "A member's order of a catalog item, paid in points (and cash for points + cash items)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Coupon',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('redemption', fields.ForeignKeyField('models.Redemption', source_field='redemption_id', db_index=True, db_constraint=True, to_field='id', related_name='coupons', on_delete=OnDelete.CASCADE)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='coupons', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('value', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('used_by', fields.CharField(null=True, max_length=200)),
                ('used_reference', fields.CharField(null=True, max_length=100)),
                ('voided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'coupon', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One unit of a coupon or cash-voucher redemption: a unique code, consumed at most once.'},
            bases=['Model'],
        ),
        # Tortoise adds a column without its default: existing rows are filled in first.
        ops.AddField(
            model_name='Brand',
            name='cancel_window_hours',
            field=fields.IntField(null=True),
        ),
        ops.RunSQL("UPDATE brand SET cancel_window_hours = 24"),
        ops.AlterField(
            model_name='Brand',
            name='cancel_window_hours',
            field=fields.IntField(default=24),
        ),
        ops.AddField(
            model_name='Brand',
            name='payment_window_minutes',
            field=fields.IntField(null=True),
        ),
        ops.RunSQL("UPDATE brand SET payment_window_minutes = 30"),
        ops.AlterField(
            model_name='Brand',
            name='payment_window_minutes',
            field=fields.IntField(default=30),
        ),
        ops.AddField(
            model_name='Purchase',
            name='categories',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.RunSQL("UPDATE purchase SET categories = '{}'"),
        ops.AlterField(
            model_name='Purchase',
            name='categories',
            field=fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
            # Named constraints, which CreateModel leaves out on PostgreSQL.
        ops.AddConstraint(model_name='CatalogItem', constraint=UniqueConstraint(fields=('brand_id', 'sku'), name='catalog_item_brand_sku')),
        ops.AddConstraint(model_name='CatalogItem', constraint=CheckConstraint(check='stock IS NULL OR stock >= 0', name='catalog_item_stock')),
        ops.AddConstraint(model_name='CatalogItem', constraint=CheckConstraint(check='points_price >= 0', name='catalog_item_points_price')),
        ops.AddConstraint(model_name='CatalogItem', constraint=CheckConstraint(check='cash_price >= 0', name='catalog_item_cash_price')),
        ops.AddConstraint(model_name='CatalogItem', constraint=CheckConstraint(check='available_from IS NULL OR available_until IS NULL OR available_from < available_until', name='catalog_item_window')),
        ops.AddConstraint(model_name='Redemption', constraint=CheckConstraint(check='quantity > 0', name='redemption_quantity_positive')),
        ops.AddConstraint(model_name='Redemption', constraint=CheckConstraint(check='points_spent >= 0', name='redemption_points_spent')),
    ]
