"""Odd input to /api/v1/webhooks is a JSON 4xx, never a 500; the schema lists the endpoints."""

from __future__ import annotations

import pytest

from tests.conftest import login

pytestmark = pytest.mark.django_db

BASE = "/api/v1/webhooks/endpoints"
HUGE = "9" * 30


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", f"{BASE}/{HUGE}", None),
        ("get", f"{BASE}/{HUGE}/deliveries", None),
        ("post", f"{BASE}/{HUGE}/deliveries/{HUGE}/redeliver", None),
        ("post", f"{BASE}/{HUGE}/rotate-secret", None),
        ("patch", f"{BASE}/{HUGE}", {"is_active": True}),
        ("get", f"{BASE}?limit=100000000000000000000&offset=-5", None),
        ("post", BASE, {"url": "https://ok.example.com/\x00", "event_types": ["bid.won"]}),
        ("post", BASE, {"url": "https://ok.example.com/", "event_types": ["bid.won\x00"]}),
        ("post", BASE, {"url": "https://ok.example.com/", "event_types": [["nested"]]}),
        ("post", BASE, {"url": 12, "event_types": {"a": 1}}),
        ("post", BASE, {"url": "https://" + "a" * 3000 + ".com/", "event_types": ["bid.won"]}),
        ("post", BASE, {"url": "https://[::1/", "event_types": ["bid.won"]}),
        ("post", BASE, {"url": "https://ok.example.com:99999/", "event_types": ["bid.won"]}),
        ("post", BASE, {"url": "https://ok.example.com/", "event_types": ["bid.won"], "description": "x" * 500}),
        ("post", BASE, "not json"),
        ("post", BASE, {}),
    ],
)
def test_odd_input_is_a_json_4xx(renter, method, path, body):
    client = login(renter)
    kwargs = {"content_type": "application/json"}
    if body is not None:
        kwargs["data"] = body if isinstance(body, str) else __import__("json").dumps(body)
    answer = getattr(client, method)(path, **kwargs)
    assert 400 <= answer.status_code < 500, (path, body, answer.status_code, answer.content[:300])
    assert answer["Content-Type"].startswith("application/json")


def test_the_schema_lists_the_webhook_endpoints(renter):
    schema = login(renter).get("/api/v1/schema", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/webhooks/endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver" in text
