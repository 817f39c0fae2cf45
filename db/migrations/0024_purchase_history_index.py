from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0023_insight_indexes')]

    initial = False

    # Every earn reads the member's last purchases and those of the last minutes (the risk
    # flags in domain/risk.py): by member and time, however many purchases they have.
    operations = [
        ops.RunSQL(
            sql="CREATE INDEX purchase_member_time ON purchase (member_id, occurred_at)",
            reverse_sql="DROP INDEX purchase_member_time",
        ),
    ]
