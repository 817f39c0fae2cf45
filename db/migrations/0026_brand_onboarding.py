from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0025_active_members')]

    initial = False

    # Stores an admin archives (domain/brands.py): no more purchases, their history kept.
    operations = [
        ops.AddField(model_name='Store', name='archived_at', field=fields.DatetimeField(null=True)),
    ]
