"""Every catalogue change leaves a domain event (actor, verb, target, data, request id, IP) and a
django-auditlog history entry with before/after; staff see both in the admin."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from audit.models import DomainEvent
from owners.models import Offering
from tests import factories
from tests.conftest import login

pytestmark = pytest.mark.django_db


def test_portal_change_records_actor_request_id_and_ip(owner):
    offer = factories.offering(owner, name="before")
    client = login(owner)
    response = client.post(
        reverse("owners:offering_status", args=[offer.pk]),
        {"status": "retired", "confirm": "yes"},  # retiring is final: it acts only once confirmed (issue 12)
        HTTP_X_REQUEST_ID="req-abc-123",
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 302 and response["X-Request-ID"] == "req-abc-123"
    event = DomainEvent.objects.get(verb="offering.retired")
    assert event.actor == owner and event.actor_label == owner.email
    assert (event.request_id, event.ip, event.source) == ("req-abc-123", "203.0.113.9", "web")
    assert event.target_id == str(offer.pk) and event.target_repr == "before"
    assert event.data == {"from": "draft", "to": "retired"}


def test_every_service_write_is_audited(owner):
    cloud = factories.cloud(owner)
    offer = factories.offering(owner, on=cloud)
    factories.price(owner, offer)
    from datetime import time

    factories.window(owner, offer, time(1), time(2))
    verbs = set(DomainEvent.objects.values_list("verb", flat=True))
    assert {"cloud.created", "offering.created", "pricing.created", "offering.window_added"} <= verbs


def test_auditlog_keeps_before_and_after(owner):
    offer = factories.offering(owner, name="old name")
    from owners.services import offering_update

    offering_update(actor=owner, offering=offer, name="new name")
    entries = LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Offering), object_pk=str(offer.pk))
    update = entries.get(action=LogEntry.Action.UPDATE)
    assert update.changes_dict["name"] == ["old name", "new name"]


def test_domain_events_are_visible_to_staff_and_read_only(staff, owner):
    factories.cloud(owner, name="audited cloud")
    client = login(staff)
    page = client.get(reverse("admin:audit_domainevent_changelist") + "?q=cloud.created")
    assert page.status_code == 200 and "audited cloud" in page.content.decode()
    event = DomainEvent.objects.first()
    assert client.post(reverse("admin:audit_domainevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    assert DomainEvent.objects.filter(pk=event.pk).exists()
    history = client.get(reverse("admin:auditlog_logentry_changelist"))
    assert history.status_code == 200


def test_non_staff_cannot_read_the_audit_log(owner):
    client = login(owner)
    response = client.get(reverse("admin:audit_domainevent_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
