from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0022_step_up')]

    initial = False

    # What the members report reads: a brand's members per tier and by when they joined, and
    # tier changes in a period (bench/insights.py measured each as a scan without them).
    operations = [
        ops.RunSQL(
            sql="CREATE INDEX member_brand_tier ON member (brand_id, tier_id); "
            "CREATE INDEX member_brand_joined ON member (brand_id, joined_at); "
            "CREATE INDEX tier_change_changed_at ON tier_change (changed_at)",
            reverse_sql="DROP INDEX member_brand_tier; DROP INDEX member_brand_joined; "
            "DROP INDEX tier_change_changed_at",
        ),
    ]
