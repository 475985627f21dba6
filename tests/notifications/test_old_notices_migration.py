"""scheduling 0018 drops the engine's old notice table after copying its rows to the one store."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from notifications.models import Notification
from scheduling.models import Booking
from tests import factories
from tests.webhooks.helpers import buy

pytestmark = pytest.mark.django_db

migration = importlib.import_module("scheduling.migrations.0018_drop_old_notifications")


def test_old_notices_are_copied_read_state_and_all(renter, owner):
    state = MigrationLoader(connection).project_state(
        [("scheduling", "0017_booking_feed"), ("notifications", "0003_webhook_disabled_kind")]
    )
    Old = state.apps.get_model("scheduling", "Notification")
    with connection.schema_editor() as editor:  # the table as it was before 0018 (in this test's transaction)
        editor.create_model(Old)
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})
    booking = buy(renter, offer)
    assert isinstance(booking, Booking)
    before = Notification.objects.count()
    made = [
        Old.objects.create(user_id=renter.pk, booking_id=booking.pk, kind="outbid", message="You were outbid."),
        Old.objects.create(user_id=renter.pk, booking_id=booking.pk, kind="info", message="Your win was refused."),
        Old.objects.create(user_id=renter.pk, kind="info", message="Your webhook endpoint was turned off."),
    ]
    Old.objects.filter(pk=made[0].pk).update(read_at=made[0].created_at)
    migration.copy_to_notifications(state.apps, None)
    copied = sorted(Notification.objects.order_by("id")[before:], key=lambda n: n.created_at)
    assert [(n.kind, n.body, n.booking_id, n.read_at is not None) for n in copied] == [
        ("bid_outbid", "You were outbid.", booking.pk, True),
        ("bid_refused", "Your win was refused.", booking.pk, False),
        ("webhook_disabled", "Your webhook endpoint was turned off.", None, False),
    ]
    assert {n.email_state for n in copied} == {"none"} and all(n.in_portal for n in copied)
    assert [n.created_at for n in copied] == [m.created_at for m in made]
