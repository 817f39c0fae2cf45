from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0010_settlement')]

    initial = False

    operations = [
        # Tortoise adds a column without its default: existing rows are filled in first.
        ops.AddField(
            model_name='EarningRule',
            name='partner_codes',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.RunSQL("UPDATE earning_rule SET partner_codes = '[]'"),
        ops.AlterField(
            model_name='EarningRule',
            name='partner_codes',
            field=fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
