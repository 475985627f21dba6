"""Something to run (issue 11, item 5) at the doors: the renter picks an image, may pass cloud-init
user-data and the addresses allowed to reach SSH, in the portal's buy form and in the API; a booking
nobody could log into is refused before payment; user-data is stored encrypted and shown to nobody."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from auditlog.models import LogEntry
from django.db import connection
from rest_framework.test import APIClient

from audit.models import DomainEvent
from billing.models import LedgerEntry
from scheduling.models import USER_DATA_MAX_BYTES, Booking
from tests import factories
from tests.conftest import login
from tests.provisioning.helpers import fund

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
START = NOW + timedelta(hours=1)  # beyond the launch lead time: nothing is sent to a worker
SECRET = "#cloud-config\nwrite_files:\n- path: /etc/motd\n  content: hunter2-the-secret-word\n"


@pytest.fixture(autouse=True)
def _calendar():  # type: ignore[no-untyped-def]
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    return factories.offering(owner, publish=True, allowed_images=["ubuntu-24.04", "debian-12"])


@pytest.fixture
def any_image(owner):  # type: ignore[no-untyped-def]
    return factories.offering(owner, publish=True, allowed_images=[])


@pytest.fixture
def keyless(db):  # type: ignore[no-untyped-def]
    user = factories.renter(ssh_key=False)
    fund(user, 100_000)
    return user


@pytest.fixture
def funded(renter):  # type: ignore[no-untyped-def]
    fund(renter, 100_000)
    return renter


def api(user, addr: str = "203.0.113.9"):  # type: ignore[no-untyped-def]
    client = APIClient(REMOTE_ADDR=addr)
    client.force_authenticate(user)
    return client


def request_url(offer, length: int = 600) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/timeslots/{factories.slice_id(offer, START, length)}/request"


def _nothing_written(ledger_rows: int) -> None:
    assert not Booking.objects.exists()
    assert LedgerEntry.objects.count() == ledger_rows


# ---- refused before payment: nobody could log in --------------------------------------------------


def test_api_refuses_a_booking_nobody_could_log_into_before_payment(keyless, offer):
    ledger_rows = LedgerEntry.objects.count()
    r = api(keyless).post(request_url(offer), {}, format="json")
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["error"] == "no_login"
    assert "no SSH key on file and gave no user-data" in body["detail"]
    _nothing_written(ledger_rows)
    # The preview answers the same, and writes nothing either.
    r = api(keyless).post(request_url(offer) + "?preview=1", {}, format="json")
    assert r.status_code == 400 and r.json()["error"] == "no_login"
    _nothing_written(ledger_rows)


def test_api_bid_without_key_or_user_data_is_refused_too(owner, keyless):
    auction = factories.auction_offering(owner, reserve=10)
    r = api(keyless).post(request_url(auction, 60), {"bid": "1.00"}, format="json")
    assert r.status_code == 400 and r.json()["error"] == "no_login"
    assert not Booking.objects.exists()


def test_user_data_alone_is_enough_and_is_stored_encrypted(keyless, offer):
    r = api(keyless).post(request_url(offer), {"user_data": SECRET}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["has_user_data"] is True and "user_data" not in body and "user_data_encrypted" not in body
    booking = Booking.objects.get(pk=body["id"])
    assert booking.reveal_user_data() == SECRET
    with connection.cursor() as cur:
        cur.execute("SELECT user_data_encrypted FROM scheduling_booking WHERE id = %s", [booking.pk])
        (stored,) = cur.fetchone()
    assert stored and "hunter2" not in stored and "cloud-config" not in stored
    # Neither the audit trail nor the model history holds it (nor its ciphertext).
    for event in DomainEvent.objects.all():
        assert "hunter2" not in str(event.data) and stored not in str(event.data)
    for entry in LogEntry.objects.all():
        assert "hunter2" not in str(entry.changes) and stored not in str(entry.changes)
        assert "user_data_encrypted" not in str(entry.changes)


def test_the_booking_list_says_only_that_there_is_user_data(keyless, offer):
    api(keyless).post(request_url(offer), {"user_data": SECRET}, format="json")
    listed = api(keyless).get("/api/v1/bookings").json()
    text = str(listed)
    assert "hunter2" not in text and "has_user_data" in text


def test_owner_pages_and_admin_never_show_user_data(keyless, offer, owner, staff):
    r = api(keyless).post(request_url(offer), {"user_data": SECRET}, format="json")
    booking = Booking.objects.get(pk=r.json()["id"])
    stored = booking.user_data_encrypted
    owner_page = login(owner).get("/owner/market/")
    assert owner_page.status_code == 200
    assert "hunter2" not in owner_page.content.decode() and stored not in owner_page.content.decode()
    admin = login(staff)
    for url in (f"/admin/scheduling/booking/{booking.pk}/change/", "/admin/scheduling/booking/"):
        page = admin.get(url)
        assert page.status_code == 200, url
        text = page.content.decode()
        assert "hunter2" not in text and stored not in text and "user_data" not in text
    server = api(owner).get(f"/api/v1/bookings/{booking.pk}/server").json()
    assert "hunter2" not in str(server) and "has_user_data" not in server and "console" not in server


# ---- user-data: size and odd bytes ----------------------------------------------------------------


def test_user_data_over_the_limit_is_400(keyless, offer):
    big = "#!/bin/sh\n" + "x" * USER_DATA_MAX_BYTES
    r = api(keyless).post(request_url(offer), {"user_data": big}, format="json")
    assert r.status_code == 400
    assert f"at most {USER_DATA_MAX_BYTES} bytes" in r.json()["detail"]
    # Counted in UTF-8 bytes, not characters: 6000 three-byte characters are 18000 bytes.
    r = api(keyless).post(request_url(offer), {"user_data": "#!/bin/sh\n" + "€" * 6000}, format="json")
    assert r.status_code == 400 and "bytes" in r.json()["detail"]
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"user_data": "#!/bin/sh\\u0000echo"}',  # a NUL
        b'{"user_data": "#!/bin/sh\\ud800"}',  # a lone surrogate: not UTF-8
        b'{"user_data": ["a"]}',
    ],
)
def test_odd_user_data_is_a_clear_400_not_a_500(keyless, offer, raw):
    r = api(keyless).post(request_url(offer), raw, content_type="application/json")
    assert r.status_code == 400, r.content
    assert r.json()["error"] == "invalid"
    assert not Booking.objects.exists()


def test_blank_user_data_counts_as_none(keyless, offer):
    r = api(keyless).post(request_url(offer), {"user_data": "  \n "}, format="json")
    assert r.status_code == 400 and r.json()["error"] == "no_login"


# ---- SSH source ranges ------------------------------------------------------------------------------


def test_ssh_sources_default_to_the_requesting_client(funded, offer):
    r = api(funded, "203.0.113.9").post(request_url(offer), {}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["ssh_cidrs"] == ["203.0.113.9/32"]
    r = api(funded, "2001:db8::7").post(request_url(offer, 60), {"duration": 60}, format="json")
    assert r.status_code == 201, r.content
    assert Booking.objects.get(pk=r.json()["id"]).ssh_cidrs == ["2001:db8::7/128"]


def test_ssh_sources_given_are_checked_and_normalised(funded, offer):
    r = api(funded).post(
        request_url(offer), {"ssh_cidrs": ["198.51.100.7", "10.1.2.3/8", "2001:db8::/32", "198.51.100.7/32"]}
    )
    assert r.status_code == 201, r.content
    assert r.json()["ssh_cidrs"] == ["198.51.100.7/32", "10.0.0.0/8", "2001:db8::/32"]


@pytest.mark.parametrize(
    "cidrs",
    [["not-an-address"], ["10.0.0.0/33"], ["fe80::1%eth0"], ["1.2.3.4 5.6.7.8"], [f"10.0.0.{i}" for i in range(11)]],
)
def test_bad_ssh_sources_are_400(funded, offer, cidrs):
    r = api(funded).post(request_url(offer), {"ssh_cidrs": cidrs}, format="json")
    assert r.status_code == 400, r.content
    assert "ssh_cidrs" in r.json()["fields"], r.json()
    assert not Booking.objects.exists()


def test_a_nul_in_an_ssh_source_is_400(funded, offer):
    r = api(funded).post(request_url(offer), {"ssh_cidrs": ["1.2.3.4\x00"]}, format="json")
    assert r.status_code == 400 and r.json()["error"] == "invalid"
    assert not Booking.objects.exists()


# ---- images -------------------------------------------------------------------------------------------


def test_image_must_be_one_the_offering_allows(funded, offer):
    r = api(funded).post(request_url(offer), {"image": "windows-2022"}, format="json")
    assert r.status_code == 400
    assert "allows only these images: ubuntu-24.04, debian-12" in r.json()["detail"]
    r = api(funded).post(request_url(offer), {"image": "debian-12"}, format="json")
    assert r.status_code == 201 and r.json()["image"] == "debian-12"


def test_an_any_image_offering_takes_one_of_its_clouds_public_images(funded, any_image):
    # The simulator cloud lists ubuntu-24.04, debian-12 and cirros-0.6 as public.
    r = api(funded).post(request_url(any_image), {}, format="json")
    assert r.status_code == 400 and "choose one" in r.json()["detail"] and "cirros-0.6" in r.json()["detail"]
    r = api(funded).post(request_url(any_image), {"image": "my-private-image"}, format="json")
    assert r.status_code == 400 and "not a public image" in r.json()["detail"]
    r = api(funded).post(request_url(any_image), {"image": "cirros-0.6"}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["image"] == "cirros-0.6"


# ---- the portal's buy form ----------------------------------------------------------------------------


def portal_url(offer, length: int = 600) -> str:  # type: ignore[no-untyped-def]
    return f"/market/slices/{factories.slice_id(offer, START, length)}/request"


def test_buy_form_prefills_the_renters_address_and_lists_the_images(funded, offer):
    page = login(funded).get(portal_url(offer), REMOTE_ADDR="198.51.100.20")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'value="198.51.100.20/32"' in text
    assert '<option value="ubuntu-24.04"' in text and '<option value="debian-12"' in text
    assert 'name="user_data"' in text
    assert 'class="no-key"' not in text


def test_buy_form_for_any_image_lists_the_clouds_public_images(funded, any_image):
    text = login(funded).get(portal_url(any_image)).content.decode()
    assert '<option value="cirros-0.6"' in text


def test_portal_refuses_a_keyless_renter_without_user_data_on_the_form(keyless, offer):
    client = login(keyless)
    page = client.get(portal_url(offer))
    assert page.status_code == 200 and 'class="no-key"' in page.content.decode()
    ledger_rows = LedgerEntry.objects.count()
    r = client.post(portal_url(offer), {"image": "ubuntu-24.04", "ssh_cidrs": "203.0.113.0/24"})
    assert r.status_code == 400
    text = r.content.decode()
    assert "Nobody could log into this server" in text
    assert 'value="203.0.113.0/24"' in text  # the form keeps what was typed
    _nothing_written(ledger_rows)
    # With user-data it is bought, and the form's choices are on the booking.
    r = client.post(
        portal_url(offer), {"image": "debian-12", "ssh_cidrs": "203.0.113.0/24, 2001:db8::1", "user_data": SECRET}
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    booking = Booking.objects.get()
    assert booking.state == "confirmed" and booking.image == "debian-12"
    assert booking.ssh_cidrs == ["203.0.113.0/24", "2001:db8::1/128"]
    assert booking.reveal_user_data() == SECRET


def test_portal_shows_bad_input_on_the_form(funded, offer):
    client = login(funded)
    r = client.post(portal_url(offer), {"image": "ubuntu-24.04", "ssh_cidrs": "300.1.1.1"})
    assert r.status_code == 400 and "is not an address or CIDR range" in r.content.decode()
    r = client.post(portal_url(offer), {"image": "gentoo"})
    assert r.status_code == 400 and "allows only these images" in r.content.decode()
    r = client.post(portal_url(offer), {"image": "ubuntu-24.04", "user_data": "#!/bin/sh\n" + "x" * 20000})
    assert r.status_code == 400 and "bytes are accepted" in r.content.decode()
    assert not Booking.objects.exists()


def test_portal_empty_ssh_field_means_the_renters_address(funded, offer):
    r = login(funded).post(portal_url(offer), {"image": "ubuntu-24.04", "ssh_cidrs": ""}, REMOTE_ADDR="192.0.2.44")
    assert r.status_code == 302
    assert Booking.objects.get().ssh_cidrs == ["192.0.2.44/32"]
