from tortoise import migrations
from tortoise.migrations import operations as ops
from db.models import ItemKind
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0032_tier_metric')]

    initial = False

    # Tier upgrades bought with points, gift items (domain/catalog/redemptions.py), and items
    # limited to members' tags.
    operations = [
        ops.AlterField(
            model_name='CatalogItem',
            name='kind',
            field=fields.CharEnumField(description='PHYSICAL: PHYSICAL\nCOUPON: COUPON\nCASH_VOUCHER: CASH_VOUCHER\nPARTNER_OFFER: PARTNER_OFFER\nTIER_UPGRADE: TIER_UPGRADE', enum_type=ItemKind, max_length=16),
        ),
        ops.AddField(
            model_name='CatalogItem',
            name='gifts',
            field=fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.AddField(
            model_name='CatalogItem',
            name='tag_codes',
            field=fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.AddField(
            model_name='CatalogItem',
            name='upgrade_months',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='CatalogItem',
            name='upgrade_tier',
            field=fields.ForeignKeyField('models.Tier', source_field='upgrade_tier_id', null=True, db_constraint=True, to_field='id', related_name='upgrade_items', on_delete=OnDelete.RESTRICT),
        ),
        ops.AddField(
            model_name='Member',
            name='tier_floor',
            field=fields.ForeignKeyField('models.Tier', source_field='tier_floor_id', null=True, db_constraint=True, to_field='id', related_name='floored_members', on_delete=OnDelete.RESTRICT),
        ),
        ops.AddField(
            model_name='Member',
            name='tier_floor_redemption_id',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Member',
            name='tier_floor_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Redemption',
            name='gifts',
            field=fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.RunSQL(
            sql="ALTER TABLE catalog_item ALTER COLUMN gifts SET DEFAULT '[]'::jsonb, "
            "ALTER COLUMN tag_codes SET DEFAULT '[]'::jsonb; "
            "ALTER TABLE redemption ALTER COLUMN gifts SET DEFAULT '[]'::jsonb",
            reverse_sql="SELECT 1",
        ),
    ]
