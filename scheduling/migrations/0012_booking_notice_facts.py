"""Facts the market needs about a booking are kept on the booking, not read back from the audit log.

Billing found when preemption notice was given, and how many seconds, in the ``booking.notice``
event; undoing a profile change read the latest ``booking.profile_changed`` event. Now the engine
writes them on the booking as it acts (``notice_given_at``, ``notice_seconds``, ``profile_change``),
and this migration fills them for existing bookings from those same events, so old bookings keep
their facts: notice given at the deadline less the seconds given (or at the event's time when the
event named no seconds); the profile change if a booking's latest price event is a change (not
its undoing).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

PROFILE_CHANGED = "booking.profile_changed"
PROFILE_CHANGE_UNDONE = "booking.profile_change_undone"


def _booking_events(apps: StateApps, verbs: Iterable[str]) -> Any:
    DomainEvent = apps.get_model("audit", "DomainEvent")
    return DomainEvent.objects.filter(
        target_type__app_label="scheduling", target_type__model="booking", verb__in=list(verbs)
    ).only("id", "created_at", "verb", "target_id", "data")


def backfill(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor | None) -> None:
    Booking = apps.get_model("scheduling", "Booking")
    # The latest notice event of each booking (as billing read it: latest by time).
    notices: dict[str, Any] = {}
    for event in _booking_events(apps, ["booking.notice"]).order_by("created_at", "id").iterator():
        notices[event.target_id] = event
    for booking in Booking.objects.filter(pk__in=[int(k) for k in notices if k.isdigit()]).only(
        "id", "preempt_deadline"
    ):
        event = notices[str(booking.pk)]
        seconds = (event.data or {}).get("notice_seconds")
        if isinstance(seconds, int) and booking.preempt_deadline is not None:
            given_at, kept_seconds = booking.preempt_deadline - timedelta(seconds=seconds), seconds
        else:
            given_at, kept_seconds = event.created_at, None
        Booking.objects.filter(pk=booking.pk).update(notice_given_at=given_at, notice_seconds=kept_seconds)
    # The latest price event of each booking (as the undo read it: latest by id); kept if a change.
    latest: dict[str, Any] = {}
    for event in _booking_events(apps, [PROFILE_CHANGED, PROFILE_CHANGE_UNDONE]).order_by("id").iterator():
        latest[event.target_id] = event
    for target_id, event in latest.items():
        if event.verb != PROFILE_CHANGED or not target_id.isdigit():
            continue
        data = event.data
        change = {
            "event": event.pk,
            "from": data["from"],
            "to": data["to"],
            "price_schedule_before": data["price_schedule_before"],
        }
        Booking.objects.filter(pk=int(target_id)).update(profile_change=change)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("scheduling", "0002_squashed_0011_sql_files"),
    ]

    operations = [
        migrations.AddField(
            model_name="booking",
            name="notice_given_at",
            field=models.DateTimeField(blank=True, help_text="When preemption notice was given.", null=True),
        ),
        migrations.AddField(
            model_name="booking",
            name="notice_seconds",
            field=models.PositiveIntegerField(blank=True, help_text="Seconds of notice given.", null=True),
        ),
        migrations.AddField(
            model_name="booking",
            name="profile_change",
            field=models.JSONField(
                blank=True,
                help_text="The latest profile change, until undone: {event, from, to, price_schedule_before} "
                "(event: its audit record; from/to: profile, resources and prices).",
                null=True,
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
