"""API tokens fit for machines (issue 13, item 2): scopes checked on every endpoint, an expiry, the
last use, revocation when the password or the second factor changes (through allauth's real pages),
creation only after a recent password, an email on creation, never a token in the query string."""

from __future__ import annotations

import re
import time as _time
from datetime import timedelta

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import ApiToken, User
from accounts.permissions import TokenScopePermission
from accounts.services import api_token_create, api_tokens_revoke_all
from audit.models import DomainEvent
from billing.models import Payment
from marketplace.lib import clock
from marketplace.lib.errors import ValidationFailed
from scheduling.models import Booking
from tests import factories
from tests.factories import PASSWORD
from tests.market_fixtures import NOW, _frozen_calendar

__all__ = ["_frozen_calendar"]

pytestmark = pytest.mark.django_db

ALL = ["read", "market", "billing", "owner"]
T10 = NOW.replace(hour=10) + timedelta(days=1)


def _api(raw: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _login(client: Client, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post(reverse("account_login"), {"login": email, "password": password})


def _create_form(name: str = "ci", scopes: list[str] | None = None, days: str = "90") -> dict:
    return {"name": name, "scopes": scopes or ALL, "expires_in_days": days}


def _new_token_on(page) -> str:  # type: ignore[no-untyped-def]
    return re.search(r'id="new-token">([^<]+)<', page.content.decode()).group(1)


# ---- scopes ----------------------------------------------------------------------------------------


@pytest.fixture
def offer(owner):  # type: ignore[no-untyped-def]
    return factories.offering(owner, publish=True, pricing={"model": "fixed", "price_per_unit": 25})


def test_a_read_token_may_look_but_not_buy_and_the_refusal_names_the_scope(renter, offer):
    _, raw = api_token_create(actor=renter, name="dashboard", scopes=["read"])
    api = _api(raw)
    assert api.get("/api/v1/bookings").status_code == 200
    assert api.get("/api/v1/me").json()["email"] == renter.email
    refused = api.post(f"/api/v1/timeslots/{factories.slice_id(offer, T10, 600)}/request", {}, "application/json")
    assert refused.status_code == 403 and refused["Content-Type"].startswith("application/json")
    body = refused.json()
    assert body["error"] == "insufficient_scope" and body["required_scopes"] == ["market"]
    assert "lacks the 'market' scope" in body["detail"] and "/request" in body["detail"]
    assert not Booking.objects.exists()  # the refusal changed nothing


def test_each_kind_of_write_needs_its_own_scope(renter, owner, offer):
    factories.fund_renter(renter, 100_000)
    _, market = api_token_create(actor=renter, name="runner", scopes=["read", "market"])
    bought = _api(market).post(
        f"/api/v1/timeslots/{factories.slice_id(offer, T10, 600)}/request", {}, "application/json"
    )
    assert bought.status_code == 201, bought.content
    payments = Payment.objects.count()
    topup = _api(market).post("/api/v1/billing/topups", {"amount": "10.00"}, "application/json")
    assert topup.status_code == 403 and topup.json()["required_scopes"] == ["billing"]
    assert Payment.objects.count() == payments
    _, billing = api_token_create(actor=renter, name="accounts", scopes=["billing"])
    assert _api(billing).post("/api/v1/billing/topups", {}, "application/json").status_code == 400  # past the scope
    # Only read: the balance, not a purchase; billing without read cannot even look.
    assert _api(billing).get("/api/v1/billing/balance").json()["required_scopes"] == ["read"]


def test_owner_endpoints_need_the_owner_scope_whatever_the_method(owner):
    _, everything_else = api_token_create(actor=owner, name="renting", scopes=["read", "market", "billing"])
    refused = _api(everything_else).get("/api/v1/billing/payouts")
    assert refused.status_code == 403 and refused.json()["required_scopes"] == ["owner"]
    _, owner_token = api_token_create(actor=owner, name="revenue", scopes=["owner"])
    assert _api(owner_token).get("/api/v1/billing/payouts").status_code == 200


def test_a_signed_in_session_is_not_limited_by_scopes(renter):
    client = Client()
    client.force_login(renter)
    assert client.get("/api/v1/billing/balance").status_code == 200


def test_a_default_token_has_every_scope_and_the_default_expiry(renter, settings):
    token, raw = api_token_create(actor=renter, name="default")
    assert token.scopes == ALL
    assert token.expires_at == token.created_at + timedelta(days=settings.MARKETPLACE_API_TOKEN_DEFAULT_DAYS)
    assert _api(raw).get("/api/v1/billing/payouts").status_code in (200, 403)  # 403 here: not an owner
    assert "required_scopes" not in _api(raw).get("/api/v1/billing/payouts").json()


def _api_views():  # type: ignore[no-untyped-def]
    def walk(patterns, prefix=""):  # type: ignore[no-untyped-def]
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, route)
            elif isinstance(p, URLPattern) and route.startswith(("api/", "^api/")):
                yield route, p.callback

    return list(walk(get_resolver().url_patterns))


def test_every_api_endpoint_checks_the_token_scopes():
    """A view that sets its own permission_classes must keep the scope check (or this fails)."""
    views = _api_views()
    assert len(views) >= 15
    # The schema is public; the catch-all answers 404; the docs page is a browser page (a session, no token).
    public = {"api/v1/schema", "api/v1/docs", "^api/"}
    for route, callback in views:
        cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if route in public:
            continue
        assert cls is not None, f"{route} is not a DRF view"
        assert TokenScopePermission in cls.permission_classes, f"{route}: {cls.__name__} skips the scope check"


# ---- expiry and last use -----------------------------------------------------------------------------


def test_an_expired_token_is_refused_with_401_saying_so(renter):
    _, raw = api_token_create(actor=renter, name="short", expires_in_days=1)
    assert _api(raw).get("/api/v1/me").status_code == 200
    with time_machine.travel(clock.now() + timedelta(days=1, seconds=1), tick=False):
        refused = _api(raw).get("/api/v1/me")
        assert refused.status_code == 401 and refused.json()["error"] == "authentication_failed"
        assert "expired on" in refused.json()["detail"]
        assert refused["WWW-Authenticate"] == 'Bearer realm="api"'


def test_the_expiry_is_bounded(renter, settings):
    settings.MARKETPLACE_API_TOKEN_MAX_DAYS = 30
    for days in (0, -1, 31, "x", 10**20):
        with pytest.raises(ValidationFailed) as refused:
            api_token_create(actor=renter, name="bad", expires_in_days=days)
        assert refused.value.errors == {"expires_in_days": ["Choose an expiry from 1 to 30 days."]}
    with pytest.raises(ValidationFailed):
        api_token_create(actor=renter, name="bad", scopes=["root"])
    with pytest.raises(ValidationFailed):
        api_token_create(actor=renter, name="bad", scopes=[])
    assert not ApiToken.objects.exists()


def test_last_use_is_recorded_at_most_once_a_minute(renter):
    token, raw = api_token_create(actor=renter, name="ci")
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        _api(raw).get("/api/v1/me")
    token.refresh_from_db()
    assert token.last_used_at == NOW + timedelta(minutes=5)
    with time_machine.travel(NOW + timedelta(minutes=5, seconds=50), tick=False):
        _api(raw).get("/api/v1/me")
    token.refresh_from_db()
    assert token.last_used_at == NOW + timedelta(minutes=5)  # not written again within the minute
    with time_machine.travel(NOW + timedelta(minutes=6, seconds=30), tick=False):
        _api(raw).get("/api/v1/me")
    token.refresh_from_db()
    assert token.last_used_at == NOW + timedelta(minutes=6, seconds=30)


# ---- never in the query string --------------------------------------------------------------------


@pytest.mark.parametrize("param", ["token", "access_token", "api_key"])
def test_a_token_in_the_query_string_is_refused_with_400_even_with_a_valid_header(renter, param):
    _, raw = api_token_create(actor=renter, name="ci")
    refused = _api(raw).get(f"/api/v1/me?{param}={raw}")
    assert refused.status_code == 400 and refused["Content-Type"].startswith("application/json")
    body = refused.json()
    assert body["error"] == "token_in_query"
    assert f"?{param}=" in body["detail"] and "Authorization: Bearer" in body["detail"]
    assert raw not in refused.content.decode()
    anonymous = Client().get(f"/api/v1/bookings?{param}={raw}")
    assert anonymous.status_code == 400 and anonymous.json()["error"] == "token_in_query"


# ---- creation: a recent password, an email --------------------------------------------------------


def test_creating_a_token_asks_for_the_password_again_then_creates_it(renter, django_capture_on_commit_callbacks):
    client = Client()
    client.force_login(renter)  # a session without a password typed (as an admin's or an old one)
    page = client.get(reverse("accounts:api_tokens"))
    assert page.status_code == 200 and 'id="needs-password"' in page.content.decode()
    asked = client.post(reverse("accounts:api_tokens"), _create_form("laptop"))
    assert asked.status_code == 302 and "/reauthenticate/" in asked["Location"]
    assert not ApiToken.objects.exists()
    wrong = client.post(asked["Location"], {"password": "not-my-password"})
    assert wrong.status_code == 200 and not ApiToken.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(asked["Location"], {"password": PASSWORD})
    # allauth replays the suspended POST: the token is created and shown once.
    assert done.status_code == 200 and "no-store" in done["Cache-Control"]
    raw = _new_token_on(done)
    token = ApiToken.objects.get(user=renter)
    assert token.name == "laptop" and _api(raw).get("/api/v1/me").status_code == 200
    (notice,) = mail.outbox  # one email, naming where the token was made from and where to revoke it
    assert "from 127.0.0.1" in notice.body and "http://testserver/account/tokens/" in notice.body
    assert raw not in notice.body


def test_a_login_counts_as_recent_for_five_minutes(renter):
    client = Client()
    start = _time.time()
    with time_machine.travel(start, tick=False):
        assert _login(client, renter.email).status_code == 302
        assert client.post(reverse("accounts:api_tokens"), _create_form("first")).status_code == 200
    with time_machine.travel(start + 301, tick=False):
        again = client.post(reverse("accounts:api_tokens"), _create_form("second"))
        assert again.status_code == 302 and "/reauthenticate/" in again["Location"]
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["first"]


def test_the_portal_form_creates_a_scoped_token_with_the_chosen_expiry(renter, settings):
    client = Client()
    _login(client, renter.email)
    page = client.post(reverse("accounts:api_tokens"), _create_form("market bot", ["market", "read"], "7"))
    token = ApiToken.objects.get(name="market bot")
    assert token.scopes == ["read", "market"] and token.expires_at - token.created_at == timedelta(days=7)
    assert "read, market" in page.content.decode()
    refused = client.post(reverse("accounts:api_tokens"), _create_form("forever", days="100000"))
    assert "Select a valid choice" in refused.content.decode()
    no_scope = client.post(reverse("accounts:api_tokens"), {"name": "none", "expires_in_days": "7"})
    assert "This field is required" in no_scope.content.decode()
    assert ApiToken.objects.count() == 1


def test_an_email_tells_the_user_of_a_new_token_without_its_secret(renter, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        token, raw = api_token_create(
            actor=renter, name="nightly backup", scopes=["read"], manage_url="http://testserver/account/tokens/"
        )
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [renter.email]
    assert "nightly backup" in message.subject
    assert "nightly backup" in message.body and token.key_prefix in message.body
    assert "Scopes:      read" in message.body and "http://testserver/account/tokens/" in message.body
    assert raw not in message.body and raw not in message.subject
    assert raw[len(token.key_prefix) :] not in message.body


def test_no_email_when_the_creation_rolls_back(renter, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationFailed):
        api_token_create(actor=renter, name="")
    assert mail.outbox == []


def test_the_command_line_creates_a_scoped_token(renter, capsys):
    call_command("create_api_token", renter.email, "--scopes", "read", "--days", "3")
    raw = capsys.readouterr().out.strip()
    token = ApiToken.objects.get(user=renter)
    assert token.scopes == ["read"] and token.expires_at - token.created_at == timedelta(days=3)
    assert _api(raw).get("/api/v1/me").status_code == 200


# ---- revocation when the credentials change ---------------------------------------------------------


def _two_tokens(user: User) -> list[str]:
    return [api_token_create(actor=user, name=f"t{n}")[1] for n in range(2)]


def _all_revoked(user: User, raws: list[str], reason: str) -> None:
    assert [t.revoked_reason for t in ApiToken.objects.filter(user=user)] == [reason, reason]
    for raw in raws:
        assert _api(raw).get("/api/v1/me").status_code == 401
    event = DomainEvent.objects.get(verb="api_token.revoked_all")
    assert event.data["reason"] == reason and len(event.data["token_ids"]) == 2


def test_changing_the_password_revokes_every_token(renter):
    raws = _two_tokens(renter)
    other = factories.renter()
    _, theirs = api_token_create(actor=other, name="theirs")
    client = Client()
    _login(client, renter.email)
    changed = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": "a-brand-new-pass-71", "password2": "a-brand-new-pass-71"},
        follow=True,
    )
    assert changed.status_code == 200
    assert "Your 2 API tokens were revoked (password changed)" in changed.content.decode()
    _all_revoked(renter, raws, "password changed")
    assert _api(theirs).get("/api/v1/me").status_code == 200  # another user's tokens are theirs


def test_resetting_the_password_revokes_every_token(renter):
    raws = _two_tokens(renter)
    client = Client()
    client.post(reverse("account_reset_password"), {"email": renter.email})
    reset_url = re.search(r"http://testserver(/\S+)", mail.outbox[-1].body).group(1)
    page = client.get(reset_url, follow=True)
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else reset_url
    done = client.post(form_url, {"password1": "a-brand-new-pass-72", "password2": "a-brand-new-pass-72"})
    assert done.status_code == 302
    _all_revoked(renter, raws, "password reset")


def test_turning_two_factor_authentication_on_revokes_every_token(renter, django_capture_on_commit_callbacks):
    raws = _two_tokens(renter)
    client = Client()
    _login(client, renter.email)
    page = client.get(reverse("mfa_activate_totp"))
    if page.status_code == 302 and "reauthenticate" in page["Location"]:
        client.post(page["Location"], {"password": PASSWORD})
        page = client.get(reverse("mfa_activate_totp"))
    secret = client.session["mfa.totp.secret"]
    code = format_hotp_value(hotp_value(secret, int(_time.time()) // 30))
    with django_capture_on_commit_callbacks(execute=True):  # allauth signals MFA changes once committed
        assert client.post(reverse("mfa_activate_totp"), {"code": code}).status_code == 302
    assert Authenticator.objects.filter(user=renter, type="totp").exists()
    _all_revoked(renter, raws, "two-factor changed")


def test_revoking_all_leaves_revoked_and_expired_tokens_as_they_were(renter):
    kept, _ = api_token_create(actor=renter, name="mine")
    from accounts.services import api_token_revoke

    api_token_revoke(actor=renter, token_id=kept.pk)
    assert api_tokens_revoke_all(user=renter, reason="password changed") == 0
    kept.refresh_from_db()
    assert kept.revoked_reason == "revoked by its user"
    assert not DomainEvent.objects.filter(verb="api_token.revoked_all").exists()


def test_a_password_set_by_staff_in_the_admin_revokes_the_users_tokens(renter, staff):
    raws = _two_tokens(renter)
    admin = Client()
    admin.force_login(staff)
    url = reverse("admin:auth_user_password_change", args=[renter.pk])
    done = admin.post(
        url, {"password1": "a-brand-new-pass-73", "password2": "a-brand-new-pass-73", "usable_password": "true"}
    )
    assert done.status_code == 302, done.content.decode()[:2000]
    _all_revoked(renter, raws, "password set by staff")


@pytest.mark.django_db(transaction=True)
def test_tokens_made_before_scopes_keep_working_with_every_scope_and_an_expiry():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from accounts.models import hash_token

    user = factories.renter()
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0002_idempotency_key")])
    try:
        old = executor.loader.project_state([("accounts", "0002_idempotency_key")]).apps.get_model(
            "accounts", "ApiToken"
        )
        old.objects.create(user_id=user.pk, name="old", key_prefix="tsm_old", key_hash=hash_token("tsm_old-token"))
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    token = ApiToken.objects.get(name="old")
    assert token.scopes == ALL and token.expires_at > clock.now() + timedelta(days=80)
    assert _api("tsm_old-token").get("/api/v1/me").json()["email"] == user.email
