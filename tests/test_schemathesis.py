"""The schema is the truth (issue 13 item 7): schemathesis drives every operation of the live schema
(/api/v1/schema, as a client downloads it) against a live server, signed in with an all-scopes
token of a renter and of an owner. Every answer must be no 5xx, have a documented status, and match
the documented body, content type and headers.

The market holds what the operations act on: a published offering of the owner, a funded renter
with a booking, a webhook endpoint of each; hypothesis' examples are kept few (SCHEMATHESIS_EXAMPLES,
default 8 per operation, 4 invalid) so the whole run stays around a minute.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import api_token_create
from tests import factories
from tests.billing.conftest import localstripe_server, stripe_server  # noqa: F401 - the payment provider
from tests.webhooks.conftest import receiver  # noqa: F401 - where the endpoints deliver

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "8"))
# Invalid input too (wrong types, missing fields, out of range): a 4xx in the error shape, never a 5xx.
NEGATIVE_EXAMPLES = int(os.environ.get("SCHEMATHESIS_NEGATIVE_EXAMPLES", "4"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _market(hook_url: str) -> dict[str, Any]:
    """An owner's published offering, a funded renter with one booking, a webhook endpoint each (the
    renter's with a delivery of the booking's confirmation); ``known``: ids of these per path parameter."""
    from scheduling import services as scheduling_services
    from webhooks import services as webhook_services
    from webhooks.models import Delivery

    owner = factories.owner()
    offer = factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 100})
    renter = factories.renter()
    factories.fund_renter(renter, 1_000_000)
    endpoints = {
        role: webhook_services.endpoint_create(
            actor=user, url=hook_url, event_types=["booking.confirmed"], description=""
        )[0]
        for role, user in (("owner", owner), ("renter", renter))
    }
    start = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    booking = scheduling_services.booking_request(
        actor=renter, slice_id=factories.slice_id(offer, start, 300), ssh_cidrs=["192.0.2.1/32"]
    )
    now = datetime.now(UTC)
    known = {
        role: {
            "booking_id": [booking.pk],
            "offering_id": [offer.pk],
            "endpoint_id": [endpoints[role].pk],
            "delivery_id": list(Delivery.objects.filter(endpoint=endpoints[role]).values_list("pk", flat=True)) or [1],
            "slice_id": [factories.slice_id(offer, start + timedelta(minutes=10 * n), 300) for n in range(1, 6)],
            "year": [now.year],
            "month": [now.month],
        }
        for role in ("owner", "renter")
    }
    return {"owner": owner, "renter": renter, "known": known}


def _with_known_ids(strategy: Any, known: dict[str, list[Any]]) -> Any:
    """Half the cases name the market's own objects in the path (the rest: whatever hypothesis drew)."""

    @st.composite
    def build(draw: Any) -> Any:
        case = draw(strategy)
        if case.path_parameters and draw(st.booleans()):
            for name in case.path_parameters:
                if name in known:
                    case.path_parameters[name] = draw(st.sampled_from(known[name]))
        return case

    return build()


@pytest.fixture
def fast_rate(settings: Any) -> None:
    # The per-token rate stays on (its 429 is part of the schema) but high enough that examples are answered.
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "token": "100000/m"}}


def _run(
    operation: Any, headers: dict[str, str], mode: GenerationMode, known: dict[str, list[Any]], answered: set[str]
) -> None:
    strategy = operation.as_strategy(generation_mode=mode)
    if mode == GenerationMode.POSITIVE:
        # The schema's own request examples first, then generated cases aimed at real objects too.
        strategy = st.one_of(
            *operation.schema.get_strategies_from_examples(operation), _with_known_ids(strategy, known)
        )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES if mode == GenerationMode.POSITIVE else NEGATIVE_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is reported as found
    )
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)
        if response.status_code < 300:
            answered.add(operation.label)

    run()


@pytest.mark.usefixtures("stripe_server", "fast_rate")
@pytest.mark.parametrize("role", ["renter", "owner"])
def test_every_operation_answers_as_documented(
    role: str, live_server: Any, settings: Any, request: pytest.FixtureRequest
) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the endpoints deliver to the local receiver only
    settings.WEBHOOK_ALLOW_HTTP = True
    users = _market(request.getfixturevalue("receiver").url)
    _, token = api_token_create(actor=users[role], name="schemathesis")
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema?format=json", headers=headers)
    # Deletions last: the others still find the objects they delete.
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=lambda op: op.method == "delete")
    assert len(operations) >= 30, "every endpoint is in the schema"
    failures: dict[str, str] = {}
    answered: set[str] = set()  # operations that answered a 2xx at least once
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _run(operation, headers, mode, users["known"][role], answered)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - all run; failures are listed together
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    # Not only refusals were checked: the market's own objects were reached and answered.
    assert len(answered) >= 12, sorted(answered)
