from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

# Ledger descriptions no longer name the order (members read them, partners read their own
# entries; the order number is staff's, in order_ref): the older rows are written as the new.
UNNAMED_PURCHASES_SQL = (
    "UPDATE ledger_entry SET description = 'Purchase' "
    "WHERE order_ref IS NOT NULL AND description = 'Purchase ' || order_ref"
)
UNNAMED_REFUNDS_SQL = (
    "UPDATE ledger_entry "
    "SET description = left(description, -length(' on purchase ' || order_ref)) || ' on a purchase' "
    "WHERE order_ref IS NOT NULL AND description LIKE 'Refund of %' "
    "AND right(description, length(' on purchase ' || order_ref)) = ' on purchase ' || order_ref"
)


class Migration(migrations.Migration):
    dependencies = [('models', '0014_earning_version')]

    initial = False

    operations = [
        ops.RunSQL(UNNAMED_PURCHASES_SQL),
        ops.RunSQL(UNNAMED_REFUNDS_SQL),
        # A code is unique among its owner's (the offer's partner, or the brand for its own), no
        # longer in the whole brand: one partner's upload must not tell it another's codes.
        ops.RemoveConstraint(
            model_name='Coupon',
            name='coupon_brand_code',
            fields=None,
        ),
        ops.AlterModelOptions(
            name='Coupon',
            options={'table': 'coupon', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One unit of a coupon, voucher or partner-offer redemption, consumed at most once. A code'},
        ),
        ops.AddField(
            model_name='Coupon',
            name='partner',
            field=fields.ForeignKeyField('models.Partner', source_field='partner_id', null=True, db_constraint=True, to_field='id', related_name='coupons', on_delete=OnDelete.RESTRICT),
        ),
        ops.RunSQL(
            "UPDATE coupon SET partner_id = catalog_item.partner_id FROM catalog_item "
            "WHERE catalog_item.id = coupon.item_id AND catalog_item.partner_id IS NOT NULL"
        ),
        ops.RunSQL(
            sql="CREATE UNIQUE INDEX coupon_owner_code "
            # code before partner_id: the brand's own look-ups by (brand, code) use it too
            "ON coupon (brand_id, code, partner_id) NULLS NOT DISTINCT",
            reverse_sql="DROP INDEX coupon_owner_code",
        ),
    ]
