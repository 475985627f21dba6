"""Production settings are safe by default (issue 14 item 6).

`check --deploy` is clean with DJANGO_DEBUG=false; production refuses to start without allowed hosts
and an email backend; responses carry HSTS, a Content-Security-Policy and secure, HttpOnly cookies;
http is redirected to https and X-Forwarded-Proto is believed from TRUSTED_PROXIES only (Django and
gunicorn); no template holds inline script; passwords are at least 12 characters and not on the
breached-password list; an idle session is logged out; the API schema is behind login.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import User
from marketplace.lib import clock
from tests.conftest import login

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "k7Jx2v9QpZr4Lm8Nw3Yt6Hb1Fd5Gs0Ac-Ve_Ru9Ty2Ui8Op4Lk3Jh7Gf6Ds5Aq1Zx",
    "MARKETPLACE_SECRETS_KEY": "y6xZ2bq1mPp3p9yZ0QF8n3m7gRkqk7C5p4Xb0y3v6nI=",
    "STRIPE_SECRET_KEY": "sk_live_example",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_example",
    "STRIPE_WEBHOOK_SECRET": "whsec_example",
    "DJANGO_ALLOWED_HOSTS": "market.example.com",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "DJANGO_SETTINGS_MODULE": "marketplace.settings",
    # The suite's PostgreSQL and Redis speak plain TCP on loopback (tests/transit covers TLS to them).
    "DATABASE_ALLOW_INSECURE": "true",
    "REDIS_ALLOW_INSECURE": "true",
}


def _production(args: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EMAIL_", "SECURE_", "TRUSTED_"))}
    env |= PRODUCTION_ENV | extra
    for name in [k for k, v in extra.items() if v == ""]:
        env.pop(name)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_check_deploy_reports_nothing_in_production_settings():
    done = _production(["manage.py", "check", "--deploy", "--fail-level", "DEBUG"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout
    assert "WARNING" not in done.stderr and "security." not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("missing", "named"),
    [("DJANGO_ALLOWED_HOSTS", "DJANGO_ALLOWED_HOSTS"), ("EMAIL_BACKEND", "EMAIL_BACKEND")],
)
def test_production_refuses_to_start_without_allowed_hosts_or_an_email_backend(missing, named):
    done = _production(["manage.py", "check"], **{missing: ""})
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and f"With DJANGO_DEBUG=false set {named}" in done.stderr


def test_production_refuses_any_host():
    done = _production(["manage.py", "check"], DJANGO_ALLOWED_HOSTS="*")
    assert done.returncode != 0 and "'*' answers to any Host header" in done.stderr


PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client, override_settings
# Production serves collectstatic's hashed files (whitenoise's manifest); this probe has none collected.
override_settings(STORAGES={**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}).enable()
out = {}
c = Client(HTTP_HOST="market.example.com")
plain = c.get("/accounts/login/?next=/offerings/", REMOTE_ADDR="203.0.113.7")
out["plain"] = [plain.status_code, plain.get("Location")]
spoofed = c.get("/accounts/login/", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_PROTO="https")
out["spoofed"] = spoofed.status_code
proxied = c.get("/accounts/login/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_PROTO="https")
out["proxied"] = proxied.status_code
page = c.get("/accounts/login/", secure=True, REMOTE_ADDR="203.0.113.7")
out["status"] = page.status_code
out["headers"] = {k: page.get(k) for k in (
    "Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options",
    "Referrer-Policy", "Cross-Origin-Opener-Policy")}
out["cookies"] = {name: {"secure": bool(m["secure"]), "httponly": bool(m["httponly"]), "samesite": m["samesite"]}
                  for name, m in page.cookies.items()}
out["settings"] = {k: getattr(settings, k) for k in (
    "SESSION_COOKIE_NAME", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_AGE",
    "CSRF_COOKIE_SECURE", "CSRF_COOKIE_HTTPONLY", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
    "EMAIL_BACKEND", "MARKETPLACE_API_SCHEMA_PUBLIC", "MARKETPLACE_STAFF_MFA_REQUIRED")}
out["settings"]["SECURE_PROXY_SSL_HEADER"] = list(settings.SECURE_PROXY_SSL_HEADER or [])
print(json.dumps(out))
"""


def test_production_responses_carry_hsts_csp_and_secure_cookies_and_redirect_http(transactional_db):
    name = connection.settings_dict["NAME"]  # the test database: the probe reads pages that need tables
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"
    done = _production(["-c", PROBE], DATABASE_URL=url, TRUSTED_PROXIES="10.0.0.0/8")
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    # Plain http is sent to https (next kept); a client's own X-Forwarded-Proto is not believed, a proxy's is.
    assert out["plain"] == [301, "https://market.example.com/accounts/login/?next=/offerings/"]
    assert out["spoofed"] == 301
    assert out["proxied"] == 200
    assert out["status"] == 200
    headers = out["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin" and headers["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert csp["script-src"] == "'self' https://js.stripe.com"
    assert "https://js.stripe.com" in csp["frame-src"] and "https://hooks.stripe.com" in csp["frame-src"]
    assert "https://api.stripe.com" in csp["connect-src"]
    assert csp["style-src"] == "'self'" and csp["object-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
    assert "unsafe" not in headers["Content-Security-Policy"]
    # The CSRF cookie the login page sets: __Host- prefixed, Secure, HttpOnly.
    assert out["cookies"]["__Host-csrftoken"] == {"secure": True, "httponly": True, "samesite": "Lax"}
    s = out["settings"]
    assert (s["SESSION_COOKIE_NAME"], s["SESSION_COOKIE_SECURE"], s["SESSION_COOKIE_HTTPONLY"]) == (
        "__Host-sessionid",
        True,
        True,
    )
    assert s["SESSION_COOKIE_AGE"] == 1800 + 60 and s["SECURE_SSL_REDIRECT"] and s["SECURE_HSTS_SECONDS"] == 31536000
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert s["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert s["MARKETPLACE_API_SCHEMA_PUBLIC"] is False and s["MARKETPLACE_STAFF_MFA_REQUIRED"] is True


def test_without_trusted_proxies_no_proxy_header_is_believed():
    done = _production(["-c", "import django; django.setup(); from django.conf import settings as s; "
                        "print(s.SECURE_PROXY_SSL_HEADER)"])  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "None"


def test_gunicorn_believes_forwarded_headers_from_the_trusted_proxies_only(monkeypatch):
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    conf = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    assert conf["forwarded_allow_ips"] == ""  # not gunicorn's default 127.0.0.1
    assert conf["secure_scheme_headers"] == {"X-FORWARDED-PROTO": "https"}
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.5/8, 192.0.2.10")
    conf = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    assert conf["forwarded_allow_ips"] == "10.0.0.0/8,192.0.2.10/32"
    from gunicorn.config import Config

    cfg = Config()
    cfg.set("forwarded_allow_ips", conf["forwarded_allow_ips"])  # gunicorn accepts it as it is
    assert cfg.forwarded_allow_ips == ["10.0.0.0/8", "192.0.2.10/32"]


def test_the_csp_header_is_on_every_page_with_debug_off(db, settings):
    settings.DEBUG = False
    settings.STRIPE_JS_URL = "http://127.0.0.1:8420/js.stripe.com/v3/"  # localstripe, as in tests and the demo
    settings.STRIPE_API_BASE = "http://127.0.0.1:8420"
    for url in ("/", "/offerings/", "/accounts/login/", "/accounts/signup/"):
        response = Client().get(url)
        policy = response["Content-Security-Policy"]
        assert "script-src 'self' http://127.0.0.1:8420;" in policy, url
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


# ---- no inline script ----------------------------------------------------------------------------

TEMPLATE_DIRS = [ROOT / "templates", *sorted(ROOT.glob("*/templates"))]
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
EVENT_ATTRIBUTE = re.compile(r"<[a-z][^>]*\s(on[a-z]+)\s*=", re.IGNORECASE)


def _templates() -> list[Path]:
    found = [p for d in TEMPLATE_DIRS for p in d.rglob("*.html")]
    assert len(found) >= 30
    return found


def test_no_template_holds_inline_script_event_handlers_or_style_attributes():
    offenders = []
    for path in _templates():
        text = path.read_text()
        for attrs in SCRIPT_TAG.findall(text):
            if "src=" not in attrs and 'type="application/json"' not in attrs:
                offenders.append(f"{path.relative_to(ROOT)}: inline <script{attrs}>")
        offenders += [f"{path.relative_to(ROOT)}: {m} attribute" for m in EVENT_ATTRIBUTE.findall(text)]
        if "javascript:" in text.lower():
            offenders.append(f"{path.relative_to(ROOT)}: javascript: URL")
        if re.search(r"\sstyle\s*=", text) or "<style" in text:
            offenders.append(f"{path.relative_to(ROOT)}: inline style")
    assert offenders == []


def test_the_scan_finds_what_it_looks_for():
    """The scan is not vacuous: it flags the forms it is meant to refuse."""
    sample = '<script>alert(1)</script><select onchange="x()"><a href="#" onClick=\'y\'>'
    assert [a for a in SCRIPT_TAG.findall(sample) if "src=" not in a] == [""]
    assert EVENT_ATTRIBUTE.findall(sample) == ["onchange", "onClick"]


def test_htmx_runs_without_eval_and_the_card_page_loads_its_script_from_a_file(renter):
    base = (ROOT / "templates" / "base.html").read_text()
    config = json.loads(re.search(r'name="htmx-config" content=\'([^\']+)\'', base).group(1))
    assert config == {"allowEval": False, "allowScriptTags": False, "includeIndicatorStyles": False}
    card = (ROOT / "templates" / "billing" / "card_add.html").read_text()
    assert "js/card-add.js" in card and "Stripe(" in (ROOT / "static" / "js" / "card-add.js").read_text()


# ---- passwords -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Tr0ub4dor&3", "at least 12 characters"),  # 11 characters, otherwise fine
        ("qwerty123456", "too common"),  # 12 characters, on the breached-password list
    ],
)
def test_a_short_or_common_password_is_refused_at_sign_up(db, password, message):
    email = "newcomer@example.test"
    response = Client().post(
        reverse("account_signup"), {"email": email, "password1": password, "password2": password, "role": "renter"}
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(email=email).exists()


def test_a_long_unusual_password_is_accepted_at_sign_up(db):
    response = Client().post(
        reverse("account_signup"),
        {"email": "newcomer@example.test", "password1": "violet-harbour-7", "password2": "violet-harbour-7"}
        | {"role": "renter"},
    )
    assert response.status_code == 302 and User.objects.filter(email="newcomer@example.test").exists()


# ---- idle sessions -------------------------------------------------------------------------------


def test_an_idle_session_is_logged_out(renter):
    page = reverse("renters:ssh_keys")
    with time_machine.travel(clock.now(), tick=False) as traveller:
        client = login(renter)
        assert client.get(page).status_code == 200
        traveller.shift(timedelta(seconds=django_settings.MARKETPLACE_SESSION_IDLE_SECONDS - 5))
        assert client.get(page).status_code == 200  # still within the idle time: it moves on
        traveller.shift(timedelta(seconds=django_settings.MARKETPLACE_SESSION_IDLE_SECONDS - 5))
        assert client.get(page).status_code == 200  # total time past the limit, but never idle that long
        traveller.shift(timedelta(seconds=django_settings.MARKETPLACE_SESSION_IDLE_SECONDS + 1))
        response = client.get(page)
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
        assert client.get(page).status_code == 302  # the session is gone, not just this request


def test_a_pages_background_refresh_does_not_keep_a_session_alive(renter):
    poll = {"HTTP_HX_REQUEST": "true", "HTTP_X_BACKGROUND_REFRESH": "1"}
    idle = django_settings.MARKETPLACE_SESSION_IDLE_SECONDS
    with time_machine.travel(clock.now(), tick=False) as traveller:
        client = login(renter)
        assert client.get(reverse("billing:overview")).status_code == 200
        assert (
            'hx-headers=\'{"X-Background-Refresh": "1"}\'' in client.get(reverse("billing:overview")).content.decode()
        )
        for _ in range(3):  # the costs table polls, up to the idle time in all: served
            traveller.shift(timedelta(seconds=idle // 3))
            assert client.get(reverse("billing:costs"), **poll).status_code == 200
        traveller.shift(timedelta(seconds=2))  # past the idle time since the last page the user opened
        expired = client.get(reverse("billing:costs"), **poll)
        # Logged out: htmx is told to load the login page as a whole page, not to swap it into the table.
        assert expired.status_code == 200 and expired.content == b""
        assert expired["HX-Redirect"].startswith(reverse("account_login"))
        assert client.get(reverse("billing:costs")).status_code == 302  # a plain request: the usual redirect


def test_every_polling_fragment_says_it_is_a_background_refresh():
    """A page that polls (htmx ``every``) or refreshes a chart must not count as the user's activity,
    or a tab left open would never time out."""
    from pathlib import Path

    templates = Path(django_settings.BASE_DIR) / "templates"
    polling = [p for p in templates.rglob("*.html") if 'hx-trigger="every' in p.read_text()]
    assert len(polling) >= 3  # the costs table, booking rows, the booking page
    for path in polling:
        for line in path.read_text().splitlines():
            if 'hx-trigger="every' in line:
                assert '"X-Background-Refresh": "1"' in line, f"{path.name}: {line.strip()[:120]}"
    charts = (Path(django_settings.BASE_DIR) / "static/js/charts.js").read_text()
    assert '"X-Background-Refresh": "1"' in charts


# ---- the API schema ------------------------------------------------------------------------------


def test_the_api_schema_is_behind_login_unless_made_public(renter, settings):
    anonymous = Client().get("/api/v1/schema")
    assert anonymous.status_code in (401, 403) and "openapi" not in anonymous.content.decode()
    assert login(renter).get("/api/v1/schema", HTTP_ACCEPT="application/json").status_code == 200
    settings.MARKETPLACE_API_SCHEMA_PUBLIC = True
    assert Client().get("/api/v1/schema", HTTP_ACCEPT="application/json").status_code == 200


def test_a_token_holder_reads_the_schema(renter):
    from accounts.services import api_token_create

    _, raw = api_token_create(actor=renter, name="docs", scopes=["read"])
    response = Client().get("/api/v1/schema", HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and "openapi" in response.json()
