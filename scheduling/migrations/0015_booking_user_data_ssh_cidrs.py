"""What a renter's server carries: encrypted cloud-init user-data and the SSH source ranges (issue 11, 5).

scheduling_booking_request() takes both and whether the renter must have an SSH key on file (three more
arguments, so the old signature is dropped first), refuses ('no_login') a booking without user-data
by a renter without a key, and writes the two with the booking; runs a frozen copy of scheduling/sql/booking_request.sql
(sql/0015_booking_request.sql). Backwards: the new function is dropped and 0014's copy runs again.

Bookings made before this migration that may still get a server keep what they were sold: SSH from
anywhere (0.0.0.0/0 and ::/0). Every booking made from now on names its sources (default: the
renter's address).
"""

from pathlib import Path

import django.contrib.postgres.fields
from django.conf import settings
from django.db import migrations, models

SQL = Path(__file__).resolve().parent / "sql"
OLD_ARGS = (
    "bigint, bigint, bigint, text, timestamptz, timestamptz, integer, integer, integer, integer, text, integer, "
    "text, uuid, timestamptz, bigint, integer, text, jsonb, jsonb, bigint"
)
NEW_ARGS = OLD_ARGS + ", text, varchar[], boolean"
OPEN_STATES = ("requested", "confirmed", "provisioning", "running", "notice")


def keep_what_was_sold(apps, schema_editor):  # type: ignore[no-untyped-def]
    Booking = apps.get_model("scheduling", "Booking")
    Booking.objects.filter(state__in=OPEN_STATES).update(ssh_cidrs=["0.0.0.0/0", "::/0"])


class Migration(migrations.Migration):

    dependencies = [
        ('owners', '0003_one_currency_per_offering'),
        ('scheduling', '0014_sellable_capacity'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='booking',
            name='ssh_cidrs',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=49), blank=True, default=list, help_text='Source addresses (CIDR) allowed to reach SSH on the server; empty: none.', size=None),
        ),
        migrations.AddField(
            model_name='booking',
            name='user_data_encrypted',
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddConstraint(
            model_name='booking',
            constraint=models.CheckConstraint(condition=models.Q(('ssh_cidrs__len__lte', 10)), name='scheduling_booking_ssh_cidrs_bounded', violation_error_message='At most 10 SSH source ranges.'),
        ),
        migrations.RunPython(keep_what_was_sold, migrations.RunPython.noop, elidable=True),
        migrations.RunSQL(
            f"DROP FUNCTION IF EXISTS scheduling_booking_request({OLD_ARGS});\n"
            + (SQL / "0015_booking_request.sql").read_text(),
            f"DROP FUNCTION IF EXISTS scheduling_booking_request({NEW_ARGS});\n"
            + (SQL / "0014_booking_request.sql").read_text(),
        ),
    ]
