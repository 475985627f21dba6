"""The owner's cost of the warm pool: seconds its standby servers spent in the pool, computed from the
Server rows at fixed instants (time-machine), and shown per offering on the owner's revenue page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from owners import services as owner_services
from owners.models import SliceProfile
from provisioning.models import Server
from provisioning.selectors import standby_idle_seconds
from tests import factories
from tests.conftest import login
from tests.provisioning.helpers import booking

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
SMALL = {"vcpus": 1, "ram_mib": 2048, "disk_gb": 20, "bandwidth_mbps": 250}


def _row(offering, pool, *, at: int, state: str, **extra):  # type: ignore[no-untyped-def]
    """A Server row created ``at`` seconds after T0."""
    # As the services write them: the last update is when the tenure ended (or began, while it lasts).
    last = extra.get("deleted_at") or extra.get("held_until") or T0 + timedelta(seconds=at)
    data = {"created_at": T0 + timedelta(seconds=at), "updated_at": last} | extra
    return Server.objects.create(
        cloud=offering.cloud, offering=offering, pool=pool, state=state, name=f"s{at}", **SMALL, **data
    )


@pytest.fixture
def pools(owner, other_owner):  # type: ignore[no-untyped-def]
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        small = SliceProfile.objects.get(owner=None, name="Small")
        mine = factories.offering(owner, publish=True)
        theirs = factories.offering(other_owner, publish=True)
        return (
            mine,
            owner_services.standby_pool_set(actor=owner, offering=mine, profile=small, size=2),
            theirs,
            owner_services.standby_pool_set(actor=other_owner, offering=theirs, profile=small, size=1),
        )


def _history(pools, renter):  # type: ignore[no-untyped-def]
    mine, pool, theirs, their_pool = pools
    T = lambda s: T0 + timedelta(seconds=s)  # noqa: E731
    # Idle 0..600, then handed to a renter at 600 (held_until), whose tenure is not the owner's idle time.
    handed = _row(mine, pool, at=0, state="handed_over", held_until=T(600), updated_at=T(601))
    _row(mine, pool, at=600, state="deleted", booking=booking(renter, mine, starts_at=T(600)), deleted_at=T(900))
    # Booted at 1000, trimmed and deleted at 1300.
    _row(mine, pool, at=1000, state="deleted", deleted_at=T(1300))
    # Being wiped from 2000, idle since: still in the pool (counts to now).
    _row(mine, pool, at=2000, state="standby")
    # A server that is not a pool's (a booking's cold boot) is not standby time.
    _row(mine, None, at=0, state="deleted", deleted_at=T(500))
    _row(theirs, their_pool, at=100, state="standby")
    return handed


def test_idle_seconds_from_the_rows_exact(pools, renter):  # type: ignore[no-untyped-def]
    mine, _, theirs, _ = pools
    with time_machine.travel(T0 - timedelta(seconds=1), tick=False):
        _history(pools, renter)
    with time_machine.travel(T0 + timedelta(seconds=3000), tick=False):
        # 600 (handed over) + 300 (deleted) + 1000 (still idle, 2000..3000)
        assert standby_idle_seconds([mine.pk, theirs.pk], T0 - timedelta(days=1), T0 + timedelta(days=1)) == {
            mine.pk: 1900,
            theirs.pk: 2900,
        }
        # Clipped to the period [T0+300, T0+2500): 300 + 300 + 500.
        assert standby_idle_seconds([mine.pk], T0 + timedelta(seconds=300), T0 + timedelta(seconds=2500)) == {
            mine.pk: 1100
        }
        # A period after the ended rows counts only the server still in the pool.
        assert standby_idle_seconds([mine.pk], T0 + timedelta(seconds=1400), T0 + timedelta(seconds=2600)) == {
            mine.pk: 600
        }
        # An offering without standby time answers 0.
        assert standby_idle_seconds([mine.pk + theirs.pk + 1000], T0, T0 + timedelta(hours=1)) == {
            mine.pk + theirs.pk + 1000: 0
        }


def test_the_revenue_page_shows_each_owner_their_standby_idle_time(owner, other_owner, renter, pools):  # type: ignore[no-untyped-def]
    mine, _, theirs, _ = pools
    with time_machine.travel(T0 - timedelta(seconds=1), tick=False):
        _history(pools, renter)
    with time_machine.travel(T0 + timedelta(seconds=4900), tick=False):
        # Mine: 600 + 300 + 2900 = 3800 s; theirs: 4800 s.
        page = login(owner).get(reverse("billing:owner_revenue")).content.decode()
        assert f'data-testid="standby-idle-{mine.pk}">Standby idle: 1 h 3 min 20 s' not in page
        assert f'data-testid="standby-idle-{mine.pk}">Standby idle: 1 h 3 min<' in page
        assert f"standby-idle-{theirs.pk}" not in page and theirs.name not in page
        other = login(other_owner).get(reverse("billing:owner_revenue")).content.decode()
        assert f'data-testid="standby-idle-{theirs.pk}">Standby idle: 1 h 20 min<' in other
        assert f"standby-idle-{mine.pk}" not in other


def test_idle_words():  # type: ignore[no-untyped-def]
    from billing.views import idle_words

    assert [idle_words(s) for s in (0, 45, 60, 4800, 7200, 3661)] == [
        "0 min",
        "45 s",
        "1 min",
        "1 h 20 min",
        "2 h",
        "1 h 1 min",
    ]
