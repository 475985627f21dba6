"""audit_record_event(): the one writer of domain events for SQL code (audit/sql/record_event.sql).

Runs a frozen copy of the file (sql/0002_record_event.sql next to this one), not the live file, so
that a later edit of the file comes with a migration of its own.
"""

from pathlib import Path

from django.db import migrations

FROZEN = Path(__file__).resolve().parent / "sql" / "0002_record_event.sql"

BACKWARD = """
DROP FUNCTION IF EXISTS audit_record_event(
    timestamptz, bigint, text, text, integer, text, text, jsonb, text, inet, text);
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunSQL(FROZEN.read_text(), BACKWARD)]
