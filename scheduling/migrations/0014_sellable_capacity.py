"""The capacity guards sell what standby servers leave: capacity minus Offering.standby_* (owners 0004).

scheduling_booking_capacity, scheduling_booking_request and scheduling_offering_capacity_guard read
the offering's capacity minus what its standby servers hold back (owners.StandbyPool), so the market
never sells the capacity a warm pool stands on, and growing a pool past what live bookings leave is
refused like a capacity shrink. Frozen copies of the files at this migration (sql/0014_*.sql);
backwards, the texts before it.
"""

from pathlib import Path

from django.db import migrations

SQL = Path(__file__).resolve().parent / "sql"
BEFORE = SQL / "0002_squashed_0011"


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0013_booking_request_audit_writer"),
        ("owners", "0004_standby_pools"),
    ]

    operations = [
        migrations.RunSQL(
            (SQL / "0014_booking_capacity.sql").read_text(), (BEFORE / "booking_capacity.sql").read_text()
        ),
        migrations.RunSQL(
            (SQL / "0014_booking_request.sql").read_text(), (SQL / "0013_booking_request.sql").read_text()
        ),
        migrations.RunSQL(
            (SQL / "0014_offering_capacity_guard.sql").read_text(),
            (BEFORE / "offering_capacity_guard.sql").read_text(),
        ),
    ]
