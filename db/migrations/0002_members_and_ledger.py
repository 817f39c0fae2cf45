from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from db.models import LedgerKind, MemberStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Member',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.CASCADE)),
                ('display_name', fields.CharField(max_length=120)),
                ('phone', fields.CharField(null=True, max_length=20)),
                ('email', fields.CharField(null=True, max_length=254)),
                ('birthday', fields.DateField(null=True)),
                ('referral_code', fields.CharField(max_length=16)),
                ('referred_by', fields.ForeignKeyField('models.Member', source_field='referred_by_id', null=True, db_constraint=True, to_field='id', related_name='referrals', on_delete=OnDelete.SET_NULL)),
                ('member_code', fields.CharField(max_length=16)),
                ('status', fields.CharEnumField(default=MemberStatus.ACTIVE, description='ACTIVE: ACTIVE\nFROZEN: FROZEN\nCLOSED: CLOSED', enum_type=MemberStatus, max_length=8)),
                ('marketing_email', fields.BooleanField(default=False)),
                ('marketing_sms', fields.BooleanField(default=False)),
                ('tier', fields.ForeignKeyField('models.Tier', source_field='tier_id', db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.RESTRICT)),
                ('joined_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'member', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A member of one brand; points are brand-wide, earned and spent in any of its stores.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Balance',
            fields=[
                ('member', fields.OneToOneField('models.Member', source_field='member_id', primary_key=True, db_index=True, db_constraint=True, to_field='id', related_name='balance', on_delete=OnDelete.CASCADE)),
                ('available', fields.IntField(default=0)),
                ('lifetime_earned', fields.BigIntField(default=0)),
                ('lifetime_redeemed', fields.BigIntField(default=0)),
                ('version', fields.IntField(default=0)),
                ('shortfall', fields.IntField(default=0)),
            ],
            options={'table': 'balance', 'app': 'models', 'pk_attr': 'member_id', 'table_description': "A member's points now: kept in step with the ledger in the same transaction."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LedgerEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='ledger_entries', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='ledger_entries', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='EARN: EARN\nREDEEM: REDEEM\nEXPIRE: EXPIRE\nREFUND: REFUND\nREVERSAL: REVERSAL\nADJUST: ADJUST', enum_type=LedgerKind, max_length=8)),
                ('points', fields.IntField()),
                ('balance_after', fields.IntField()),
                ('version', fields.IntField()),
                ('description', fields.TextField(unique=False)),
                ('store', fields.ForeignKeyField('models.Store', source_field='store_id', null=True, db_constraint=True, to_field='id', related_name='ledger_entries', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('breakdown', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('actor', fields.CharField(max_length=200)),
                ('reason', fields.TextField(null=True, unique=False)),
                ('order_ref', fields.CharField(null=True, max_length=64)),
                ('shortfall', fields.IntField(default=0)),
            ],
            options={'table': 'ledger_entry', 'app': 'models', 'pk_attr': 'id', 'table_description': "One movement of a member's points; append-only, versioned 1, 2, 3, ... per member."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MemberStatusChange',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='status_changes', on_delete=OnDelete.CASCADE)),
                ('previous', fields.CharEnumField(description='ACTIVE: ACTIVE\nFROZEN: FROZEN\nCLOSED: CLOSED', enum_type=MemberStatus, max_length=8)),
                ('current', fields.CharEnumField(description='ACTIVE: ACTIVE\nFROZEN: FROZEN\nCLOSED: CLOSED', enum_type=MemberStatus, max_length=8)),
                ('reason', fields.TextField(unique=False)),
                ('actor', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'member_status_change', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Who froze, closed or reopened a member, when, and why.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Purchase',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='purchases', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='purchases', on_delete=OnDelete.CASCADE)),
                ('store', fields.ForeignKeyField('models.Store', source_field='store_id', null=True, db_constraint=True, to_field='id', related_name='purchases', on_delete=OnDelete.SET_NULL)),
                ('order_ref', fields.CharField(max_length=64)),
                ('total', fields.DecimalField(max_digits=14, decimal_places=2)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('points_earned', fields.IntField()),
                ('refunded_amount', fields.DecimalField(default=0, max_digits=14, decimal_places=2)),
                ('points_reversed', fields.IntField(default=0)),
                ('earn_entry', fields.ForeignKeyField('models.LedgerEntry', source_field='earn_entry_id', db_constraint=True, to_field='id', related_name='purchases', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'purchase', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A purchase recorded for points; (brand, orderRef) names it once.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Lot',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='lots', on_delete=OnDelete.CASCADE)),
                ('entry', fields.ForeignKeyField('models.LedgerEntry', source_field='entry_id', db_constraint=True, to_field='id', related_name='lots', on_delete=OnDelete.CASCADE)),
                ('purchase', fields.ForeignKeyField('models.Purchase', source_field='purchase_id', null=True, db_constraint=True, to_field='id', related_name='lots', on_delete=OnDelete.SET_NULL)),
                ('points', fields.IntField()),
                ('remaining', fields.IntField()),
                ('earned_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expired_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'lot', 'app': 'models', 'indexes': [Index(fields=['member_id', 'expires_at'])], 'pk_attr': 'id', 'table_description': 'Points earned together, expiring together; spending takes the soonest-expiring first.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LotConsumption',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('lot', fields.ForeignKeyField('models.Lot', source_field='lot_id', db_constraint=True, to_field='id', related_name='consumptions', on_delete=OnDelete.CASCADE)),
                ('entry', fields.ForeignKeyField('models.LedgerEntry', source_field='entry_id', db_constraint=True, to_field='id', related_name='consumptions', on_delete=OnDelete.CASCADE)),
                ('points', fields.IntField()),
                ('returned', fields.IntField(default=0)),
            ],
            options={'table': 'lot_consumption', 'app': 'models', 'pk_attr': 'id', 'table_description': 'How many points one debit took from one lot: what a cancel or refund gives back.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Brand',
            name='earn_rate',
            field=fields.DecimalField(default=1, max_digits=10, decimal_places=4),
        ),
        ops.AddConstraint(
            model_name='Brand',
            constraint=CheckConstraint(check='earn_rate >= 0', name='brand_earn_rate'),
        ),
            # Named constraints, which CreateModel leaves out on PostgreSQL.
        ops.AddConstraint(model_name='Member', constraint=UniqueConstraint(fields=('brand_id', 'phone'), name='member_brand_phone')),
        ops.AddConstraint(model_name='Member', constraint=UniqueConstraint(fields=('brand_id', 'email'), name='member_brand_email')),
        ops.AddConstraint(model_name='Member', constraint=UniqueConstraint(fields=('brand_id', 'referral_code'), name='member_referral_code')),
        ops.AddConstraint(model_name='Member', constraint=UniqueConstraint(fields=('brand_id', 'member_code'), name='member_member_code')),
        ops.AddConstraint(model_name='Balance', constraint=CheckConstraint(check='available >= 0', name='balance_available_not_negative')),
        ops.AddConstraint(model_name='Balance', constraint=CheckConstraint(check='shortfall >= 0', name='balance_shortfall_not_negative')),
        ops.AddConstraint(model_name='Balance', constraint=CheckConstraint(check='version >= 0', name='balance_version_not_negative')),
        ops.AddConstraint(model_name='LedgerEntry', constraint=UniqueConstraint(fields=('member_id', 'version'), name='ledger_member_version')),
        ops.AddConstraint(model_name='LedgerEntry', constraint=CheckConstraint(check='balance_after >= 0', name='ledger_balance_after')),
        ops.AddConstraint(model_name='LedgerEntry', constraint=CheckConstraint(check='version > 0', name='ledger_version_positive')),
        ops.AddConstraint(model_name='Purchase', constraint=UniqueConstraint(fields=('brand_id', 'order_ref'), name='purchase_brand_order_ref')),
        ops.AddConstraint(model_name='Purchase', constraint=CheckConstraint(check='total > 0', name='purchase_total_positive')),
        ops.AddConstraint(model_name='Purchase', constraint=CheckConstraint(check='refunded_amount >= 0 AND refunded_amount <= total', name='purchase_refund_within_total')),
        ops.AddConstraint(model_name='Purchase', constraint=CheckConstraint(check='points_reversed >= 0 AND points_reversed <= points_earned', name='purchase_reversal_within_earned')),
        ops.AddConstraint(model_name='Lot', constraint=CheckConstraint(check='remaining >= 0 AND remaining <= points', name='lot_remaining_within_points')),
        ops.AddConstraint(model_name='Lot', constraint=CheckConstraint(check='points > 0', name='lot_points_positive')),
        ops.AddConstraint(model_name='Lot', constraint=CheckConstraint(check='expired_at IS NULL OR remaining = 0', name='lot_expired_is_empty')),
        ops.AddConstraint(model_name='LotConsumption', constraint=CheckConstraint(check='points > 0', name='consumption_points_positive')),
        ops.AddConstraint(model_name='LotConsumption', constraint=CheckConstraint(check='returned >= 0 AND returned <= points', name='consumption_returned_within')),
        # Restates Balance's options with its constraints, as the autodetector expects.
        ops.AlterModelOptions(
            name='Balance',
            options={'table': 'balance', 'app': 'models', 'constraints': [CheckConstraint(check='available >= 0', name='balance_available_not_negative'), CheckConstraint(check='shortfall >= 0', name='balance_shortfall_not_negative'), CheckConstraint(check='version >= 0', name='balance_version_not_negative')], 'pk_attr': 'member_id', 'table_description': "A member's points now: kept in step with the ledger in the same transaction."},
        ),
    ]
