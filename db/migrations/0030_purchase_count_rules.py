from tortoise import migrations
from tortoise.migrations import operations as ops
from db.models import RuleKind
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('models', '0029_brand_webhooks')]

    initial = False

    # PURCHASE_COUNT rules (domain/rules/engine.py): a bonus with the member's Nth purchase.
    operations = [
        ops.AlterField(
            model_name='EarningRule',
            name='kind',
            field=fields.CharEnumField(description='BASE_RATE: BASE_RATE\nCATEGORY_MULTIPLIER: CATEGORY_MULTIPLIER\nTHRESHOLD_BONUS: THRESHOLD_BONUS\nCAMPAIGN: CAMPAIGN\nREGISTRATION_BONUS: REGISTRATION_BONUS\nFIRST_PURCHASE_BONUS: FIRST_PURCHASE_BONUS\nREFERRAL_BONUS: REFERRAL_BONUS\nBIRTHDAY_BONUS: BIRTHDAY_BONUS\nTASK: TASK\nPURCHASE_COUNT: PURCHASE_COUNT', enum_type=RuleKind, max_length=24),
        ),
        ops.AddField(model_name='EarningRule', name='nth_purchase', field=fields.IntField(null=True)),
        ops.AddField(model_name='EarningRule', name='repeats', field=fields.BooleanField(default=True)),
        ops.RunSQL(
            sql="ALTER TABLE earning_rule ALTER COLUMN repeats SET DEFAULT true",
            reverse_sql="ALTER TABLE earning_rule ALTER COLUMN repeats DROP DEFAULT",
        ),
    ]
