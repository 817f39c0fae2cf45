from tortoise import migrations
from tortoise.migrations import operations as ops
from db.models import TierMetric
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('models', '0031_segments')]

    initial = False

    # What a brand's tiers qualify on (domain/tiers.py).
    operations = [
        ops.AddField(
            model_name='Brand',
            name='tier_metric',
            field=fields.CharEnumField(default=TierMetric.POINTS, description='POINTS: POINTS\nSPEND: SPEND\nPURCHASES: PURCHASES', enum_type=TierMetric, max_length=12),
        ),
        ops.RunSQL(
            sql="ALTER TABLE brand ALTER COLUMN tier_metric SET DEFAULT 'POINTS'",
            reverse_sql="ALTER TABLE brand ALTER COLUMN tier_metric DROP DEFAULT",
        ),
    ]
