from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_partners')]

    initial = False

    operations = [
        ops.AddField(
            model_name='CatalogItem',
            name='partner',
            field=fields.ForeignKeyField('models.Partner', source_field='partner_id', null=True, db_constraint=True, to_field='id', related_name='offers', on_delete=OnDelete.RESTRICT),
        ),
        ops.AddField(
            model_name='CatalogItem',
            name='rejection_reason',
            field=fields.TextField(null=True),
        ),
        ops.RemoveConstraint(
            model_name='Purchase',
            name='purchase_brand_order_ref',
            fields=None,
        ),
        ops.AddField(
            model_name='Purchase',
            name='partner',
            field=fields.ForeignKeyField('models.Partner', source_field='partner_id', null=True, db_constraint=True, to_field='id', related_name='purchases', on_delete=OnDelete.RESTRICT),
        ),
        # A partner's order numbers are its own; the brand's (no partner) are one space too.
        ops.RunSQL(
            sql="CREATE UNIQUE INDEX purchase_brand_partner_order_ref "
            "ON purchase (brand_id, partner_id, order_ref) NULLS NOT DISTINCT",
            reverse_sql="DROP INDEX purchase_brand_partner_order_ref",
        ),
    ]
