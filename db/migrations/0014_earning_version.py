from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0013_offer_code_pools')]

    initial = False

    operations = [
        # Tortoise adds a column without its default: existing rows are filled in first.
        ops.AddField(
            model_name='Brand',
            name='earning_version',
            field=fields.IntField(null=True),
        ),
        ops.RunSQL("UPDATE brand SET earning_version = 0"),
        ops.AlterField(
            model_name='Brand',
            name='earning_version',
            field=fields.IntField(default=0),
        ),
    ]
