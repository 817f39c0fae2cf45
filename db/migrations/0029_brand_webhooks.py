from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields


def brand_key(related_name: str, null: bool) -> fields.ForeignKeyField:
    return fields.ForeignKeyField(
        'models.Brand', source_field='brand_id', null=null, db_constraint=True, to_field='id',
        related_name=related_name, on_delete=OnDelete.CASCADE,
    )


def partner_key(related_name: str) -> fields.ForeignKeyField:
    return fields.ForeignKeyField(
        'models.Partner', source_field='partner_id', null=True, db_constraint=True, to_field='id',
        related_name=related_name, on_delete=OnDelete.CASCADE,
    )


class Migration(migrations.Migration):
    dependencies = [('models', '0028_pending_points')]

    initial = False

    # The brand's own webhook endpoints (domain/webhooks.py: no partner, `risk.flagged`): every
    # endpoint and event names its brand (those of partners' from their partner), the partner
    # only when it is a partner's. And the device a member registered on (risk rule
    # SHARED_DEVICE, domain/risk.py), found by brand and device.
    operations = [
        ops.AlterModelOptions(
            name='WebhookEndpoint',
            options={'table': 'webhook_endpoint', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Where a partner, or the brand itself, wants its events posted (signed with its secret).'},
        ),
        ops.AddField(
            model_name='WebhookEndpoint', name='brand', field=brand_key('webhook_endpoints', True)
        ),
        ops.AddField(
            model_name='WebhookEvent', name='brand', field=brand_key('webhook_events', True)
        ),
        ops.RunSQL(
            sql="UPDATE webhook_endpoint e SET brand_id = p.brand_id FROM partner p "
            "WHERE p.id = e.partner_id; "
            "UPDATE webhook_event e SET brand_id = p.brand_id FROM partner p "
            "WHERE p.id = e.partner_id",
            reverse_sql="SELECT 1",
        ),
        ops.AlterField(
            model_name='WebhookEndpoint', name='brand', field=brand_key('webhook_endpoints', False)
        ),
        ops.AlterField(
            model_name='WebhookEvent', name='brand', field=brand_key('webhook_events', False)
        ),
        ops.AlterField(
            model_name='WebhookEndpoint', name='partner', field=partner_key('webhook_endpoints')
        ),
        ops.AlterField(
            model_name='WebhookEvent', name='partner', field=partner_key('webhook_events')
        ),
        # A flag's event looks for the brand's own endpoints (none, mostly) with the flag.
        ops.RunSQL(
            sql="CREATE INDEX webhook_endpoint_brand_own ON webhook_endpoint (brand_id) "
            "WHERE partner_id IS NULL",
            reverse_sql="DROP INDEX webhook_endpoint_brand_own",
        ),
        ops.AddField(
            model_name='Member', name='device_id', field=fields.CharField(null=True, max_length=128)
        ),
        ops.RunSQL(
            sql="CREATE INDEX member_device ON member (brand_id, device_id, joined_at) "
            "WHERE device_id IS NOT NULL",
            reverse_sql="DROP INDEX member_device",
        ),
    ]
