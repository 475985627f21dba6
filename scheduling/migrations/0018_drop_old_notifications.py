# The engine's own notice table is gone: notifications.Notification is the one store (the portal list,
# the badge and the emails). Its rows, which nothing showed any more, are copied there first, read or
# unread as they were and never emailed, so a renter's history keeps them.

from django.db import migrations

KINDS = {  # old kind -> (notifications kind, title)
    "outbid": ("bid_outbid", "Bid outbid"),
    "won": ("bid_won", "Auction won"),
    "preemption_notice": ("preemption_notice", "Preemption notice"),
    "preempted": ("slice_ended", "Booking preempted"),
}


def copy_to_notifications(apps, schema_editor):
    Old = apps.get_model("scheduling", "Notification")
    New = apps.get_model("notifications", "Notification")
    rows = []
    for n in Old.objects.all().iterator(chunk_size=2000):
        if n.kind == "info":  # a refused winning bid (on a booking), or a webhook endpoint turned off
            kind, title = ("bid_refused", "Winning bid refused") if n.booking_id else ("webhook_disabled", "Notice")
        else:
            kind, title = KINDS.get(n.kind, ("slice_ended", "Notice"))
        rows.append(
            New(
                user_id=n.user_id,
                kind=kind,
                title=title,
                body=n.message,
                booking_id=n.booking_id,
                in_portal=True,
                email_state="none",
                created_at=n.created_at,
                read_at=n.read_at,
            )
        )
        if len(rows) >= 2000:
            New.objects.bulk_create(rows)
            rows = []
    New.objects.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0017_booking_feed"),
        ("notifications", "0003_webhook_disabled_kind"),
    ]

    operations = [
        migrations.RunPython(copy_to_notifications, migrations.RunPython.noop, elidable=True),
        migrations.DeleteModel(name="Notification"),
    ]
