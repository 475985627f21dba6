"""seed_demo loads owners, offerings of every pricing model and funded renters, and is safe to run twice."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import User
from billing.ledger import balance_of
from owners.models import Offering, PricingPolicy

pytestmark = pytest.mark.django_db


def test_seed_demo_twice_gives_the_same_marketplace(capsys):
    call_command("seed_demo")
    first = (User.objects.count(), Offering.objects.count(), PricingPolicy.objects.count())
    call_command("seed_demo")
    assert (User.objects.count(), Offering.objects.count(), PricingPolicy.objects.count()) == first
    assert set(PricingPolicy.objects.values_list("model", flat=True)) == {"fixed", "auction", "dynamic"}
    assert set(Offering.objects.values_list("status", flat=True)) == {"published"}
    carol = User.objects.get(email="carol@demo.local")
    # Credited once, whatever the number of runs.
    assert balance_of("renter_balance", "EUR", carol) == 5000
    assert "carol@demo.local / demo-pass-2026" in capsys.readouterr().out
