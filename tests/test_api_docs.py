"""/api/v1/docs: Swagger UI from this site's static files (no CDN), with the schema's access rule."""

from __future__ import annotations

import re

import pytest

from marketplace.lib import csp
from tests import factories

pytestmark = pytest.mark.django_db


def test_signed_in_the_page_loads_swagger_ui_from_this_site_with_no_inline_script(client):
    client.force_login(factories.renter())
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in sources
    assert "/static/js/api-docs.js" in sources
    assert all(s.startswith("/static/") for s in sources), sources  # nothing from another origin
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []  # no inline script: the CSP would block it
    assert 'data-schema-url="/api/v1/schema?format=json"' in html
    assert response["Content-Security-Policy"] == csp.policy()


def test_anonymous_visitors_are_sent_to_sign_in_unless_the_schema_is_public(client, settings):
    response = client.get("/api/v1/docs")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=/api/v1/docs")
    assert client.get("/api/v1/schema").status_code == 401  # the same rule for the schema itself
    settings.MARKETPLACE_API_SCHEMA_PUBLIC = True
    assert client.get("/api/v1/docs").status_code == 200
    assert client.get("/api/v1/schema").status_code == 200


def test_the_page_is_read_only(client):
    client.force_login(factories.renter())
    assert client.post("/api/v1/docs").status_code == 405
