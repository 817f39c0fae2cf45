from tortoise import migrations
from tortoise.migrations import operations as ops
from db.models import DeliveryStatus, NoticeChannel, NoticeKind
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0016_webhook_trace_context')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FlashSaleReminder',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('sale', fields.ForeignKeyField('models.FlashSale', source_field='sale_id', db_constraint=True, to_field='id', related_name='reminders', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='flash_sale_reminders', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'flash_sale_reminder', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A member who asked to be told when a flash sale starts.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LotReminder',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('lot', fields.ForeignKeyField('models.Lot', source_field='lot_id', db_constraint=True, to_field='id', related_name='reminders', on_delete=OnDelete.CASCADE)),
                ('days_before', fields.SmallIntField()),
            ],
            options={'table': 'lot_reminder', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A lot whose member was reminded that it expires, at one threshold (days before): once.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Notice',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='notices', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='notices', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='POINTS_EARNED: POINTS_EARNED\nPOINTS_SPENT: POINTS_SPENT\nPOINTS_ADJUSTED: POINTS_ADJUSTED\nPOINTS_EXPIRED: POINTS_EXPIRED\nPOINTS_EXPIRING: POINTS_EXPIRING\nTIER_UP: TIER_UP\nTIER_DOWN: TIER_DOWN\nTIER_LAPSING: TIER_LAPSING\nREDEMPTION_CONFIRMED: REDEMPTION_CONFIRMED\nREDEMPTION_SHIPPED: REDEMPTION_SHIPPED\nREDEMPTION_CANCELLED: REDEMPTION_CANCELLED\nPAYMENT_WINDOW_CLOSING: PAYMENT_WINDOW_CLOSING\nCOUPON_EXPIRING: COUPON_EXPIRING\nBIRTHDAY_GIFT: BIRTHDAY_GIFT\nFLASH_SALE_STARTING: FLASH_SALE_STARTING', enum_type=NoticeKind, max_length=32)),
                ('dedupe_key', fields.CharField(max_length=200)),
                ('variables', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('marketing', fields.BooleanField(default=False)),
                ('in_inbox', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notice', 'app': 'models', 'indexes': [Index(fields=['member_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One thing told to one member, once: its key (member, kind, subject, threshold) is unique'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NoticeGateway',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='notice_gateways', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharEnumField(description='INBOX: INBOX\nSMS: SMS\nWECHAT: WECHAT\nPUSH: PUSH\nEMAIL: EMAIL', enum_type=NoticeChannel, max_length=8)),
                ('url', fields.CharField(max_length=500)),
                ('secret', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('disabled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notice_gateway', 'app': 'models', 'pk_attr': 'id', 'table_description': "The brand's own gateway for one channel: each notice is posted to it, signed with the"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NoticeDelivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('notice', fields.ForeignKeyField('models.Notice', source_field='notice_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('gateway', fields.ForeignKeyField('models.NoticeGateway', source_field='gateway_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(default=DeliveryStatus.PENDING, description='PENDING: PENDING\nDELIVERED: DELIVERED\nDEAD: DEAD', enum_type=DeliveryStatus, max_length=12)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_status_code', fields.IntField(null=True)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notice_delivery', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': 'One notice to one gateway: retried with growing delays until delivered or dead.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NoticeSwitch',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='notice_switches', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='POINTS_EARNED: POINTS_EARNED\nPOINTS_SPENT: POINTS_SPENT\nPOINTS_ADJUSTED: POINTS_ADJUSTED\nPOINTS_EXPIRED: POINTS_EXPIRED\nPOINTS_EXPIRING: POINTS_EXPIRING\nTIER_UP: TIER_UP\nTIER_DOWN: TIER_DOWN\nTIER_LAPSING: TIER_LAPSING\nREDEMPTION_CONFIRMED: REDEMPTION_CONFIRMED\nREDEMPTION_SHIPPED: REDEMPTION_SHIPPED\nREDEMPTION_CANCELLED: REDEMPTION_CANCELLED\nPAYMENT_WINDOW_CLOSING: PAYMENT_WINDOW_CLOSING\nCOUPON_EXPIRING: COUPON_EXPIRING\nBIRTHDAY_GIFT: BIRTHDAY_GIFT\nFLASH_SALE_STARTING: FLASH_SALE_STARTING', enum_type=NoticeKind, max_length=32)),
                ('channel', fields.CharEnumField(description='INBOX: INBOX\nSMS: SMS\nWECHAT: WECHAT\nPUSH: PUSH\nEMAIL: EMAIL', enum_type=NoticeChannel, max_length=8)),
            ],
            options={'table': 'notice_switch', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A kind of notice the brand switched off on a channel (on everywhere unless listed).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NoticeTemplate',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='notice_templates', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='POINTS_EARNED: POINTS_EARNED\nPOINTS_SPENT: POINTS_SPENT\nPOINTS_ADJUSTED: POINTS_ADJUSTED\nPOINTS_EXPIRED: POINTS_EXPIRED\nPOINTS_EXPIRING: POINTS_EXPIRING\nTIER_UP: TIER_UP\nTIER_DOWN: TIER_DOWN\nTIER_LAPSING: TIER_LAPSING\nREDEMPTION_CONFIRMED: REDEMPTION_CONFIRMED\nREDEMPTION_SHIPPED: REDEMPTION_SHIPPED\nREDEMPTION_CANCELLED: REDEMPTION_CANCELLED\nPAYMENT_WINDOW_CLOSING: PAYMENT_WINDOW_CLOSING\nCOUPON_EXPIRING: COUPON_EXPIRING\nBIRTHDAY_GIFT: BIRTHDAY_GIFT\nFLASH_SALE_STARTING: FLASH_SALE_STARTING', enum_type=NoticeKind, max_length=32)),
                ('channel', fields.CharEnumField(description='INBOX: INBOX\nSMS: SMS\nWECHAT: WECHAT\nPUSH: PUSH\nEMAIL: EMAIL', enum_type=NoticeChannel, max_length=8)),
                ('locale', fields.CharField(max_length=16)),
                ('text', fields.TextField(unique=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notice_template', 'app': 'models', 'pk_attr': 'id', 'table_description': "The brand's own wording of a kind on a channel in a locale (built-in ones otherwise)."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Brand',
            name='expiry_reminder_days',
            field=fields.JSONField(default=[30, 7], encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.AddField(
            model_name='Brand',
            name='locale',
            field=fields.CharField(default='zh-CN', max_length=16),
        ),
        ops.AddField(
            model_name='Brand',
            name='quiet_from_minute',
            field=fields.SmallIntField(default=1260),
        ),
        ops.AddField(
            model_name='Brand',
            name='quiet_until_minute',
            field=fields.SmallIntField(default=540),
        ),
        ops.AddConstraint(
            model_name='Brand',
            constraint=CheckConstraint(check='quiet_from_minute BETWEEN 0 AND 1439 AND quiet_until_minute BETWEEN 0 AND 1439', name='brand_quiet_hours'),
        ),
        ops.AddField(
            model_name='Member',
            name='locale',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AddField(
            model_name='Member',
            name='marketing_push',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='Member',
            name='marketing_wechat',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='Member',
            name='push_token',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddField(
            model_name='Member',
            name='wechat_open_id',
            field=fields.CharField(null=True, max_length=64),
        ),
            # Named constraints, which CreateModel leaves out on PostgreSQL.
        ops.AddConstraint(model_name='FlashSaleReminder', constraint=UniqueConstraint(fields=('sale_id', 'member_id'), name='flash_sale_reminder_key')),
        ops.AddConstraint(model_name='LotReminder', constraint=UniqueConstraint(fields=('lot_id', 'days_before'), name='lot_reminder_key')),
        ops.AddConstraint(model_name='Notice', constraint=UniqueConstraint(fields=('brand_id', 'dedupe_key'), name='notice_brand_dedupe_key')),
        ops.AddConstraint(model_name='NoticeGateway', constraint=UniqueConstraint(fields=('brand_id', 'channel'), name='notice_gateway_brand_channel')),
        ops.AddConstraint(model_name='NoticeDelivery', constraint=UniqueConstraint(fields=('notice_id', 'gateway_id'), name='notice_delivery_gateway')),
        ops.AddConstraint(model_name='NoticeSwitch', constraint=UniqueConstraint(fields=('brand_id', 'kind', 'channel'), name='notice_switch_key')),
        ops.AddConstraint(model_name='NoticeTemplate', constraint=UniqueConstraint(fields=('brand_id', 'kind', 'channel', 'locale'), name='notice_template_key')),
            # Column defaults in the database too, for rows written with SQL (seeding, imports).
        ops.RunSQL(
            sql="ALTER TABLE member ALTER COLUMN marketing_wechat SET DEFAULT false, "
            "ALTER COLUMN marketing_push SET DEFAULT false; "
            "ALTER TABLE brand ALTER COLUMN locale SET DEFAULT 'zh-CN', "
            "ALTER COLUMN quiet_from_minute SET DEFAULT 1260, "
            "ALTER COLUMN quiet_until_minute SET DEFAULT 540, "
            "ALTER COLUMN expiry_reminder_days SET DEFAULT '[30, 7]'",
            reverse_sql="ALTER TABLE member ALTER COLUMN marketing_wechat DROP DEFAULT, "
            "ALTER COLUMN marketing_push DROP DEFAULT; "
            "ALTER TABLE brand ALTER COLUMN locale DROP DEFAULT, "
            "ALTER COLUMN quiet_from_minute DROP DEFAULT, "
            "ALTER COLUMN quiet_until_minute DROP DEFAULT, "
            "ALTER COLUMN expiry_reminder_days DROP DEFAULT",
        ),
    ]
