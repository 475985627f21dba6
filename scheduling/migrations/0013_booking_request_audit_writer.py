"""scheduling_booking_request() writes its audit events through audit_record_event() (audit 0002).

The function's three INSERTs into audit_domainevent become calls to audit's one SQL writer, which
writes the same columns with the same values; nothing else changes. Runs a frozen copy of
scheduling/sql/booking_request.sql (sql/0013_booking_request.sql next to this one); backwards, the
squash's copy (the text at 0011).
"""

from pathlib import Path

from django.db import migrations

SQL = Path(__file__).resolve().parent / "sql"


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0012_booking_notice_facts"),
        ("audit", "0002_record_event"),
    ]

    operations = [
        migrations.RunSQL(
            (SQL / "0013_booking_request.sql").read_text(),
            (SQL / "0002_squashed_0011" / "booking_request.sql").read_text(),
        )
    ]
