"""Renter defaults (issue 15 item 6.3): image, SSH key and SSH ranges, set in settings, checked, audited,
and used by the buy form and by the server's launch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from audit.models import DomainEvent
from provisioning.access import renter_access
from renters import services
from renters.models import RenterSettings, SSHPublicKey
from scheduling import models as scheduling_models
from scheduling import services as engine
from tests import factories
from tests.conftest import login

pytestmark = pytest.mark.django_db
URL = "/account/settings/"
T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    return factories.offering(owner, publish=True, allowed_images=["ubuntu-24.04", "debian-13"])


def _second_key(renter) -> SSHPublicKey:  # type: ignore[no-untyped-def]
    return services.ssh_key_add(actor=renter, name="laptop", public_key=factories._public_key() + " me@laptop")


def test_defaults_are_saved_normalised_and_audited(renter, offer):
    key = _second_key(renter)
    r = login(renter).post(
        URL, {"section": "defaults", "image": "debian-13", "ssh_key": key.pk, "ssh_cidrs": "203.0.113.7, 2001:db8::/64"}
    )
    assert r.status_code == 302
    row = RenterSettings.objects.get(user=renter)
    assert (row.default_image, row.default_ssh_key_id) == ("debian-13", key.pk)
    assert row.default_ssh_cidrs == ["203.0.113.7/32", "2001:db8::/64"]
    event = DomainEvent.objects.get(verb="renter_settings.defaults_updated")
    assert event.actor == renter
    assert event.data == {
        "before": {"image": "", "ssh_key": None, "ssh_cidrs": []},
        "after": {"image": "debian-13", "ssh_key": key.pk, "ssh_cidrs": ["203.0.113.7/32", "2001:db8::/64"]},
    }
    page = login(renter).get(URL).content.decode()
    assert 'value="203.0.113.7/32, 2001:db8::/64"' in page and '<option value="debian-13" selected>' in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"ssh_cidrs": "10.0.0.0/33"}, "ssh_cidrs", "&#x27;10.0.0.0/33&#x27; is not an address or CIDR range"),
        ({"ssh_cidrs": "my office"}, "ssh_cidrs", "is not an address or CIDR range"),
        ({"ssh_cidrs": ", ".join(f"10.0.{i}.0/24" for i in range(11))}, "ssh_cidrs", "At most 10 SSH source ranges"),
        ({"image": "windows-xp"}, "image", "Select a valid choice."),
        ({"ssh_key": "999999"}, "ssh_key", "Select a valid choice."),
    ],
)
def test_bad_defaults_show_beside_their_field_and_write_nothing(renter, offer, data, field, message):
    r = login(renter).post(URL, {"section": "defaults", **data})
    html = r.content.decode()
    assert r.status_code == 200
    start = html.index(f'id="id_{field}-error"')
    assert message in html[start : start + 400]
    assert not RenterSettings.objects.exists()
    assert not DomainEvent.objects.filter(verb="renter_settings.defaults_updated").exists()


def test_the_service_refuses_another_renters_key_and_an_image_no_offering_allows(renter, offer):
    other = factories.renter()
    theirs = SSHPublicKey.objects.get(user=other)
    with pytest.raises(services.ValidationFailed) as caught:
        services.renter_defaults_update(actor=renter, image="windows-xp", ssh_key_id=theirs.pk, ssh_cidrs="")
    assert set(caught.value.errors) == {"image", "ssh_key"}
    assert not RenterSettings.objects.exists()


def test_the_cap_on_ranges_is_the_bookings_own():
    assert services.SSH_CIDRS_MAX == scheduling_models.SSH_CIDRS_MAX


def test_the_buy_form_starts_with_the_defaults_and_the_booking_carries_them(renter, offer):
    services.renter_defaults_update(actor=renter, image="debian-13", ssh_key_id=None, ssh_cidrs="198.51.100.0/24")
    c = login(renter)
    sid = factories.slice_id(offer, T10, 600)
    with time_machine.travel(T10.replace(hour=9), tick=False):
        page = c.get(f"/market/slices/{sid}/request").content.decode()
        assert 'value="198.51.100.0/24"' in page and '<option value="debian-13" selected>' in page
        factories.fund_renter(renter, 10_000)
        r = c.post(f"/market/slices/{sid}/request", {})  # the slices page's button sends nothing else
    assert r.status_code == 302
    booking = scheduling_models.Booking.objects.get(renter=renter)
    assert booking.state == "confirmed"
    assert (booking.image, booking.ssh_cidrs) == ("debian-13", ["198.51.100.0/24"])


def test_a_default_image_this_offering_does_not_allow_falls_back_to_its_first(renter, owner, offer):
    factories.offering(owner, publish=True, allowed_images=["alpine-3"])
    services.renter_defaults_update(actor=renter, image="alpine-3", ssh_key_id=None, ssh_cidrs="")
    with time_machine.travel(T10.replace(hour=9), tick=False):
        page = login(renter).get(f"/market/slices/{factories.slice_id(offer, T10, 600)}/request").content.decode()
    assert '<option value="ubuntu-24.04" selected>' in page


def test_the_server_carries_the_default_key_not_the_newest(renter, offer):
    older = SSHPublicKey.objects.get(user=renter)
    newest = _second_key(renter)
    with time_machine.travel(T10.replace(hour=9), tick=False):
        factories.fund_renter(renter, 10_000)
        booking = engine.booking_request(actor=renter, slice_id=factories.slice_id(offer, T10, 600))
    assert renter_access(booking).public_key == newest.public_key  # no default: the newest
    services.renter_defaults_update(actor=renter, image="", ssh_key_id=older.pk, ssh_cidrs="")
    assert renter_access(booking).public_key == older.public_key
    older.delete()  # a deleted default key: back to the newest
    assert renter_access(booking).public_key == newest.public_key


def _api(renter):  # type: ignore[no-untyped-def]
    from rest_framework.test import APIClient

    c = APIClient(REMOTE_ADDR="192.0.2.9")
    c.force_authenticate(renter)
    return c


def test_an_api_purchase_takes_the_renters_defaults_for_what_it_leaves_out(renter, offer):
    services.renter_defaults_update(actor=renter, image="debian-13", ssh_key_id=None, ssh_cidrs="198.51.100.0/24")
    factories.fund_renter(renter, 10_000)
    with time_machine.travel(T10.replace(hour=9), tick=False):
        r = _api(renter).post(f"/api/v1/timeslots/{factories.slice_id(offer, T10, 600)}/request", {}, format="json")
        assert r.status_code == 201, r.json()
        given = {"image": "ubuntu-24.04", "ssh_cidrs": ["203.0.113.0/24"]}
        r2 = _api(renter).post(
            f"/api/v1/timeslots/{factories.slice_id(offer, T10.replace(hour=11), 600)}/request", given, format="json"
        )
        assert r2.status_code == 201, r2.json()
    first = scheduling_models.Booking.objects.get(pk=r.json()["id"])
    assert (first.image, first.ssh_cidrs) == ("debian-13", ["198.51.100.0/24"])
    second = scheduling_models.Booking.objects.get(pk=r2.json()["id"])
    assert (second.image, second.ssh_cidrs) == ("ubuntu-24.04", ["203.0.113.0/24"])  # what is asked wins


def test_an_api_purchase_without_defaults_takes_the_offerings_image_and_the_callers_address(renter, owner, offer):
    factories.offering(owner, publish=True, allowed_images=["alpine-3"])
    services.renter_defaults_update(actor=renter, image="alpine-3", ssh_key_id=None, ssh_cidrs="")
    factories.fund_renter(renter, 10_000)
    with time_machine.travel(T10.replace(hour=9), tick=False):
        r = _api(renter).post(f"/api/v1/timeslots/{factories.slice_id(offer, T10, 600)}/request", {}, format="json")
    assert r.status_code == 201, r.json()  # a default this offering does not have is not an error
    booking = scheduling_models.Booking.objects.get(pk=r.json()["id"])
    assert (booking.image, booking.ssh_cidrs) == ("ubuntu-24.04", ["192.0.2.9/32"])
