from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0030_purchase_count_rules')]

    initial = False

    # Member tags and saved member filters (domain/segments.py); rules limited to tags.
    operations = [
        ops.CreateModel(
            name='MemberFilter',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('brand', fields.ForeignKeyField('models.Brand', source_field='brand_id', db_constraint=True, to_field='id', related_name='member_filters', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(max_length=40)),
                ('name', fields.CharField(max_length=120)),
                ('spec', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'member_filter', 'app': 'models', 'pk_attr': 'id', 'table_description': "A saved filter of the brand's members, by code: what tagMembers may name."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MemberTag',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='tags', on_delete=OnDelete.CASCADE)),
                ('brand_id', fields.IntField()),
                ('tag', fields.CharField(max_length=40)),
                ('tagged_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'member_tag', 'app': 'models', 'indexes': [Index(fields=['brand_id', 'tag'])], 'pk_attr': 'id', 'table_description': 'A tag an admin gave a member (domain/segments.py); rules may be limited to tags.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='EarningRule',
            name='tag_codes',
            field=fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.RunSQL(
            sql="ALTER TABLE earning_rule ALTER COLUMN tag_codes SET DEFAULT '[]'::jsonb",
            reverse_sql="ALTER TABLE earning_rule ALTER COLUMN tag_codes DROP DEFAULT",
        ),
            # Named constraints, which CreateModel leaves out on PostgreSQL.
        ops.AddConstraint(model_name='MemberFilter', constraint=UniqueConstraint(fields=('brand_id', 'code'), name='member_filter_code')),
        ops.AddConstraint(model_name='MemberTag', constraint=UniqueConstraint(fields=('member_id', 'tag'), name='member_tag_key')),
    ]
