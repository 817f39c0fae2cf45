from tortoise import migrations
from tortoise.migrations import operations as ops

REFUSE = """
CREATE FUNCTION refuse(code text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'PM001', MESSAGE = code;
END
$$
"""


class Migration(migrations.Migration):
    dependencies = [('models', '0033_tier_upgrades_and_gifts')]

    initial = False

    # A statement sent with its transaction's COMMIT calls refuse(code) when it finds nothing to
    # take: the error stops the message before the COMMIT (db/sql.py, Sql.commit_with).
    operations = [
        ops.RunSQL(sql=REFUSE, reverse_sql="DROP FUNCTION refuse(text)"),
    ]
