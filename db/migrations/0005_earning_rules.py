from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from db.models import AwardKind, Rounding, RuleKind
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0004_tiers')]

    initial = False

    operations = [
        ops.CreateModel(
            name='EarningRule',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='earning_rules', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(max_length=40)),
                ('name', fields.CharField(max_length=120)),
                ('kind', fields.CharEnumField(description='BASE_RATE: BASE_RATE\nCATEGORY_MULTIPLIER: CATEGORY_MULTIPLIER\nTHRESHOLD_BONUS: THRESHOLD_BONUS\nCAMPAIGN: CAMPAIGN\nREGISTRATION_BONUS: REGISTRATION_BONUS\nFIRST_PURCHASE_BONUS: FIRST_PURCHASE_BONUS\nREFERRAL_BONUS: REFERRAL_BONUS\nBIRTHDAY_BONUS: BIRTHDAY_BONUS\nTASK: TASK', enum_type=RuleKind, max_length=24)),
                ('priority', fields.IntField(default=0)),
                ('rate', fields.DecimalField(null=True, max_digits=10, decimal_places=4)),
                ('rounding', fields.CharEnumField(default=Rounding.DOWN, description='DOWN: DOWN\nNEAREST: NEAREST\nUP: UP', enum_type=Rounding, max_length=8)),
                ('multiplier', fields.DecimalField(null=True, max_digits=6, decimal_places=2)),
                ('category', fields.CharField(null=True, max_length=64)),
                ('threshold', fields.DecimalField(null=True, max_digits=14, decimal_places=2)),
                ('points', fields.IntField(null=True)),
                ('referrer_points', fields.IntField(null=True)),
                ('referrer_monthly_cap', fields.IntField(null=True)),
                ('task_code', fields.CharField(null=True, max_length=40)),
                ('daily_limit', fields.IntField(null=True)),
                ('lifetime_limit', fields.IntField(null=True)),
                ('starts_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('weekdays', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('store_codes', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('tier_codes', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('cap_points', fields.IntField(null=True)),
                ('expiry_days', fields.IntField(null=True)),
                ('archived_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'earning_rule', 'app': 'models', 'pk_attr': 'id', 'table_description': "How members earn: one rule of one kind, edited by the brand's admins, archived not deleted."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Award',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='awards', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='REGISTRATION: REGISTRATION\nREFERRAL_REFEREE: REFERRAL_REFEREE\nREFERRAL_REFERRER: REFERRAL_REFERRER\nBIRTHDAY: BIRTHDAY\nTASK: TASK', enum_type=AwardKind, max_length=24)),
                ('rule', fields.ForeignKeyField('models.EarningRule', source_field='rule_id', null=True, db_constraint=True, to_field='id', related_name='awards', on_delete=OnDelete.SET_NULL)),
                ('task_code', fields.CharField(null=True, max_length=40)),
                ('once_key', fields.CharField(null=True, max_length=40)),
                ('local_day', fields.DateField()),
                ('points', fields.IntField()),
                ('entry', fields.ForeignKeyField('models.LedgerEntry', source_field='entry_id', null=True, db_constraint=True, to_field='id', related_name='awards', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'award', 'app': 'models', 'indexes': [Index(fields=['member_id', 'kind', 'local_day'])], 'pk_attr': 'id', 'table_description': 'A bonus or task reward given to a member: what limits and once-only rules count.'},
            bases=['Model'],
        ),
        ops.RemoveConstraint(
            model_name='Brand',
            name='brand_earn_rate',
            fields=None,
        ),
        ops.AddField(
            model_name='Brand',
            name='earn_cap_per_day',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Brand',
            name='earn_cap_per_purchase',
            field=fields.IntField(null=True),
        ),
        # Tortoise adds a column without its default: existing rows are filled in first.
        ops.AddField(
            model_name='Brand',
            name='purchase_max_age_days',
            field=fields.IntField(null=True),
        ),
        ops.RunSQL("UPDATE brand SET purchase_max_age_days = 30"),
        ops.AlterField(
            model_name='Brand',
            name='purchase_max_age_days',
            field=fields.IntField(default=30),
        ),
        # Each brand's base rate becomes its first earning rule.
        ops.RunSQL(
            "INSERT INTO earning_rule (brand_id, code, name, kind, priority, rate, rounding,"
            " weekdays, store_codes, tier_codes, created_at, updated_at)"
            " SELECT id, 'BASE', 'Base rate', 'BASE_RATE', 0, earn_rate, 'DOWN', '[]', '[]', '[]',"
            " now(), now() FROM brand"
        ),
        ops.RemoveField(model_name='Brand', name='earn_rate'),
        ops.AddConstraint(
            model_name='Brand',
            constraint=CheckConstraint(check='earn_cap_per_purchase IS NULL OR earn_cap_per_purchase >= 0', name='brand_earn_cap_per_purchase'),
        ),
        ops.AddConstraint(
            model_name='Brand',
            constraint=CheckConstraint(check='earn_cap_per_day IS NULL OR earn_cap_per_day >= 0', name='brand_earn_cap_per_day'),
        ),
        ops.AddConstraint(
            model_name='Brand',
            constraint=CheckConstraint(check='purchase_max_age_days BETWEEN 1 AND 365', name='brand_purchase_max_age'),
        ),
        ops.AddField(
            model_name='Purchase',
            name='earn_day',
            field=fields.DateField(null=True),
        ),
        ops.RunSQL(
            "UPDATE purchase SET earn_day = (purchase.occurred_at AT TIME ZONE brand.timezone)::date"
            " FROM brand WHERE brand.id = purchase.brand_id"
        ),
        ops.AlterField(
            model_name='Purchase',
            name='earn_day',
            field=fields.DateField(),
        ),
        ops.AddIndex(
            model_name='Purchase',
            index=Index(fields=['member_id', 'earn_day']),
        ),
            # Named constraints, which CreateModel leaves out on PostgreSQL.
        ops.AddConstraint(model_name='EarningRule', constraint=UniqueConstraint(fields=('brand_id', 'code'), name='earning_rule_brand_code')),
        ops.AddConstraint(model_name='EarningRule', constraint=CheckConstraint(check='rate IS NULL OR rate >= 0', name='earning_rule_rate')),
        ops.AddConstraint(model_name='EarningRule', constraint=CheckConstraint(check='starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at', name='earning_rule_window')),
        ops.AddConstraint(model_name='Award', constraint=UniqueConstraint(fields=('member_id', 'kind', 'once_key'), name='award_once')),
    ]
