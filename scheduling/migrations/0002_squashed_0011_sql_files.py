"""Migrations 0002-0011 squashed: the schema they changed, then the database functions and triggers
from frozen copies of scheduling/sql/*.sql.

The replaced migrations built most of their SQL by string replacement of earlier migrations' text;
this one runs, for each function, the file's text as rendered when the squash was made
(sql/0002_squashed_0011/*.sql next to this file), so a fresh database gets exactly the files' text.
A database that had applied 0002-0011 takes this migration as applied (``replaces``). Later changes
edit scheduling/sql/<name>.sql and add a migration that runs a new frozen copy (scheduling/sql/README.md).

Schema, in the replaced migrations' order: the bid arrival sequence and the claims index (0002),
foreign keys without their own index (0003), the catalogue version table and sequence (0008), the
price schedule field (0009).
"""

from pathlib import Path

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

FROZEN = Path(__file__).resolve().parent / "sql" / "0002_squashed_0011"


def _frozen(name: str) -> str:
    return (FROZEN / f"{name}.sql").read_text()


CATALOGUE_VERSION_TABLE = """
CREATE SEQUENCE scheduling_catalogue_version_seq;
CREATE TABLE scheduling_catalogue_version (
    id smallint PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO scheduling_catalogue_version VALUES (1, nextval('scheduling_catalogue_version_seq'));
"""

CATALOGUE_TABLES = ("owners_offering", "owners_pricingpolicy", "owners_sliceprofile", "owners_availabilitywindow")

# Each file, in creation order, with what undoes it.
FUNCTIONS = [
    ("offering_peak", "DROP FUNCTION IF EXISTS scheduling_offering_peak(bigint, timestamptz, timestamptz);"),
    (
        "booking_capacity",
        """
DROP TRIGGER IF EXISTS scheduling_booking_capacity_upd ON scheduling_booking;
DROP TRIGGER IF EXISTS scheduling_booking_capacity_ins ON scheduling_booking;
DROP TRIGGER IF EXISTS scheduling_booking_capacity_forget ON scheduling_booking;
DROP FUNCTION IF EXISTS scheduling_booking_capacity_forget();
DROP FUNCTION IF EXISTS scheduling_booking_capacity_check();
""",
    ),
    (
        "offering_capacity_guard",
        """
DROP TRIGGER IF EXISTS owners_offering_capacity_covers_claims ON owners_offering;
DROP FUNCTION IF EXISTS scheduling_offering_capacity_guard();
""",
    ),
    (
        "catalogue_version",
        "".join(
            f"DROP TRIGGER IF EXISTS scheduling_catalogue_bump ON {table};\n"
            f"DROP TRIGGER IF EXISTS scheduling_catalogue_bump_truncate ON {table};\n"
            for table in CATALOGUE_TABLES
        )
        + "DROP FUNCTION IF EXISTS scheduling_catalogue_bump();\n"
        + "DROP FUNCTION IF EXISTS scheduling_catalogue_fingerprint();\n",
    ),
    (
        "search_claims",
        "DROP FUNCTION IF EXISTS scheduling_search_claims(bigint[], timestamptz, timestamptz, boolean);",
    ),
    (
        "booking_request",
        """
DROP FUNCTION IF EXISTS scheduling_booking_request(
    bigint, bigint, bigint, text, timestamptz, timestamptz, integer, integer, integer, integer,
    text, integer, text, uuid, timestamptz, bigint, integer, text, jsonb, jsonb, bigint);
""",
    ),
]


class Migration(migrations.Migration):
    replaces = [
        ("scheduling", "0002_capacity_trigger"),
        ("scheduling", "0003_fewer_indexes"),
        ("scheduling", "0004_booking_request_function"),
        ("scheduling", "0005_offering_peak_plpgsql"),
        ("scheduling", "0006_search_claims_function"),
        ("scheduling", "0007_offering_capacity_guard"),
        ("scheduling", "0008_catalogue_version"),
        ("scheduling", "0009_booking_price_schedule"),
        ("scheduling", "0010_booking_request_skips_recheck"),
        ("scheduling", "0011_booking_request_checks_catalogue"),
    ]

    dependencies = [
        ("scheduling", "0001_initial"),
        ("owners", "0002_predefined_profiles"),
        ("audit", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # 0002
        migrations.RunSQL(
            "CREATE SEQUENCE scheduling_bid_arrival_seq;", "DROP SEQUENCE IF EXISTS scheduling_bid_arrival_seq;"
        ),
        migrations.RunSQL(_frozen("claims_index"), "DROP INDEX IF EXISTS scheduling_booking_claims;"),
        # 0003
        migrations.AlterField(
            model_name="booking",
            name="auction_round",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="bids",
                to="scheduling.auctionround",
            ),
        ),
        migrations.AlterField(
            model_name="booking",
            name="offering",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="bookings",
                to="owners.offering",
            ),
        ),
        migrations.AlterField(
            model_name="booking",
            name="profile",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="owners.sliceprofile"
            ),
        ),
        migrations.AlterField(
            model_name="booking",
            name="quote",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="scheduling.quote",
            ),
        ),
        migrations.AlterField(
            model_name="booking",
            name="renter",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="bookings",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="booking",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="notifications",
                to="scheduling.booking",
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="user",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="market_notifications",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        # 0008
        migrations.RunSQL(
            CATALOGUE_VERSION_TABLE,
            "DROP TABLE IF EXISTS scheduling_catalogue_version;\n"
            "DROP SEQUENCE IF EXISTS scheduling_catalogue_version_seq;",
        ),
        # 0009
        migrations.AddField(
            model_name="booking",
            name="price_schedule",
            field=models.JSONField(
                blank=True,
                help_text=(
                    "Set when the profile changed: the parts of the booking at their own prices"
                    " [{from, to, unit_price, amount}]; empty: one price for the whole booking."
                ),
                null=True,
            ),
        ),
        # The functions and triggers (0002, 0004-0008, 0010, 0011), as the files held them at 0011.
        *(migrations.RunSQL(_frozen(name), backward) for name, backward in FUNCTIONS),
    ]
