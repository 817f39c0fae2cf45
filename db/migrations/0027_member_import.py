from tortoise import fields, migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint


class Migration(migrations.Migration):
    dependencies = [('models', '0026_brand_onboarding')]

    initial = False

    # Members imported from another loyalty system keep its id (`pointsmall import members`):
    # unique per brand, so a rerun of the same file skips those already imported. Members
    # registered here have none (NULLs are distinct: no constraint between them).
    operations = [
        ops.AddField(
            model_name='Member',
            name='external_id',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddConstraint(
            model_name='Member',
            constraint=UniqueConstraint(
                fields=('brand_id', 'external_id'), name='member_external_id'
            ),
        ),
    ]
