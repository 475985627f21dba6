"""record_events writes many rows in one statement, each exactly as record_event would write it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit import context
from audit.models import DomainEvent
from audit.services import Event, record_event, record_events
from tests import factories

pytestmark = pytest.mark.django_db

FIELDS = ("actor_id", "actor_label", "verb", "target_type_id", "target_id", "target_repr", "data", "request_id", "ip")


def test_bulk_rows_match_single_rows_and_keep_the_context(owner):
    offer = factories.offering(owner)
    at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    token = context.bind(context.RequestContext(request_id="req-1", ip="203.0.113.9", source="api"))
    try:
        one = record_event(actor=owner, verb="thing.done", target=offer, data={"n": 1, "token": "x"})
        with CaptureQueriesContext(connection) as queries:
            many = record_events(
                [Event("thing.done", offer, {"n": 1, "token": "x"}), Event("thing.other")],
                actor=owner,
                source="task",
                at=at,
            )
    finally:
        context.reset(token)
    assert len([q for q in queries if q["sql"].startswith("INSERT")]) == 1
    first, second = DomainEvent.objects.filter(pk__in=[e.pk for e in many]).order_by("id")
    assert [getattr(first, f) for f in FIELDS] == [getattr(one, f) for f in FIELDS]
    assert first.data == {"n": 1, "token": "***"}  # secrets scrubbed as record_event does
    assert (first.source, first.created_at, one.source) == ("task", at, "api")
    assert (second.verb, second.target_id, second.target_type_id, second.data) == ("thing.other", "", None, {})


def test_no_actor_is_the_system():
    (event,) = record_events([Event("thing.done")])
    assert (event.actor_id, event.actor_label, event.source) == (None, "", "system")
