"""How the renter connects: the portal page and the API, and who may see them."""

from __future__ import annotations

import pytest

from provisioning import services
from provisioning.drivers import server_name
from tests import factories
from tests.conftest import login
from tests.provisioning.helpers import add_ssh_key, booking

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(sim_offering, renter):  # type: ignore[no-untyped-def]
    add_ssh_key(renter)
    b = booking(renter, sim_offering)
    services.server_launch(booking_id=b.pk)
    return b


def test_renter_sees_how_to_connect(running, renter):  # type: ignore[no-untyped-def]
    response = login(renter).get(f"/bookings/{running.pk}/server/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "ssh ubuntu@198.51.100." in body
    assert server_name(running.pk) in body
    assert "Medium" in body  # offered as a resize target


def test_page_is_the_renters_only(running, owner):  # type: ignore[no-untyped-def]
    other = factories.renter()
    assert login(other).get(f"/bookings/{running.pk}/server/").status_code == 404
    assert login(owner).get(f"/bookings/{running.pk}/server/").status_code == 404
    from django.test import Client

    assert Client().get(f"/bookings/{running.pk}/server/").status_code == 302


def test_api_server_and_usage_permissions(running, renter, owner, staff):  # type: ignore[no-untyped-def]
    for user, code in ((renter, 200), (owner, 200), (staff, 200), (factories.renter(), 404), (factories.owner(), 404)):
        client = login(user)
        assert client.get(f"/api/v1/bookings/{running.pk}/server").status_code == code
        assert client.get(f"/api/v1/bookings/{running.pk}/server/usage").status_code == code
    data = login(renter).get(f"/api/v1/bookings/{running.pk}/server/usage").json()
    assert set(data) == {"samples", "series", "totals", "unavailable", "seconds_held"}
    server = login(renter).get(f"/api/v1/bookings/{running.pk}/server").json()
    assert server["ready"] is True and server["ssh"].startswith("ssh ubuntu@")


def test_resize_from_the_portal(running, renter):  # type: ignore[no-untyped-def]
    from owners.models import SliceProfile
    from provisioning.models import Server

    medium = SliceProfile.objects.get(owner=None, name="Medium")
    response = login(renter).post(f"/bookings/{running.pk}/server/resize", {"profile": medium.pk})
    assert response.status_code == 302
    assert Server.objects.get(booking=running, state="resizing")
    services.server_resize_run(server_id=Server.objects.get(booking=running).pk)
    assert Server.objects.get(booking=running).flavor_name == medium.flavor_name
