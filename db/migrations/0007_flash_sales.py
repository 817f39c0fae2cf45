from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0006_catalog')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FlashSale',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='flash_sales', on_delete=OnDelete.CASCADE)),
                ('item', fields.ForeignKeyField('models.CatalogItem', source_field='item_id', db_constraint=True, to_field='id', related_name='flash_sales', on_delete=OnDelete.RESTRICT)),
                ('points_price', fields.IntField()),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('total_stock', fields.IntField()),
                ('sold', fields.IntField(default=0)),
                ('per_member_limit', fields.IntField(default=1)),
                ('cancelled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'flash_sale', 'app': 'models', 'indexes': [Index(fields=['brand_id', 'starts_at'])], 'pk_attr': 'id', 'table_description': 'A time-limited sale of a catalog item with its own stock, decided in Redis first and in'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Redemption',
            name='flash_sale',
            field=fields.ForeignKeyField('models.FlashSale', source_field='flash_sale_id', null=True, db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.RESTRICT),
        ),
        ops.AddField(
            model_name='Redemption',
            name='reservation_id',
            field=fields.CharField(null=True, unique=True, max_length=64),
        ),
            # Named constraints, which CreateModel leaves out on PostgreSQL.
        ops.AddConstraint(model_name='FlashSale', constraint=CheckConstraint(check='sold >= 0 AND sold <= total_stock', name='flash_sale_sold_within_stock')),
        ops.AddConstraint(model_name='FlashSale', constraint=CheckConstraint(check='total_stock > 0', name='flash_sale_stock_positive')),
        ops.AddConstraint(model_name='FlashSale', constraint=CheckConstraint(check='points_price >= 0', name='flash_sale_points_price')),
        ops.AddConstraint(model_name='FlashSale', constraint=CheckConstraint(check='per_member_limit > 0', name='flash_sale_limit_positive')),
        ops.AddConstraint(model_name='FlashSale', constraint=CheckConstraint(check='starts_at < ends_at', name='flash_sale_window')),
    ]
