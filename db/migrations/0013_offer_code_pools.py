from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0012_webhooks')]

    initial = False

    operations = [
        # Tortoise adds a column without its default: existing rows are filled in first.
        ops.AddField(
            model_name='CatalogItem',
            name='code_pool',
            field=fields.BooleanField(null=True),
        ),
        ops.RunSQL("UPDATE catalog_item SET code_pool = false"),
        ops.AlterField(
            model_name='CatalogItem',
            name='code_pool',
            field=fields.BooleanField(default=False),
        ),
        ops.AlterModelOptions(
            name='Coupon',
            options={'table': 'coupon', 'app': 'models', 'constraints': [UniqueConstraint(fields=('brand_id', 'code'), name='coupon_brand_code')], 'pk_attr': 'id', 'table_description': 'One unit of a coupon, voucher or partner-offer redemption: a code unique in its brand,'},
        ),
        ops.AlterField(
            model_name='Coupon',
            name='code',
            field=fields.CharField(max_length=32),
        ),
        ops.AlterField(
            model_name='Coupon',
            name='redemption',
            field=fields.ForeignKeyField('models.Redemption', source_field='redemption_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='coupons', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='Coupon',
            name='item',
            field=fields.ForeignKeyField('models.CatalogItem', source_field='item_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='coupons', on_delete=OnDelete.CASCADE),
        ),
        ops.RunSQL(
            "UPDATE coupon SET item_id = redemption.item_id FROM redemption "
            "WHERE redemption.id = coupon.redemption_id"
        ),
        ops.AddConstraint(
            model_name='Coupon',
            constraint=UniqueConstraint(fields=('brand_id', 'code'), name='coupon_brand_code'),
        ),
    ]
