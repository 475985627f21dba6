from __future__ import annotations

import time

from allauth.account.internal.flows.login import get_authentication_records
from allauth.core.exceptions import ReauthenticationRequired
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import services
from accounts.forms import ActivityFilterForm, ApiTokenForm, HandleForm, TimeZoneForm
from accounts.requests import actor
from audit import selectors as audit_selectors
from marketplace.lib.errors import DomainError
from marketplace.lib.forms import apply_domain_error


def recently_authenticated(request: HttpRequest) -> bool:
    """The session's user entered their password (or a second factor) within
    ACCOUNT_REAUTHENTICATION_TIMEOUT seconds: at login or on allauth's re-authentication page.
    A session made without either (an admin's "log in as", a test's force_login) never is."""
    records = get_authentication_records(request, request.user)
    if not records:
        return False
    return time.time() - max(float(r.get("at", 0)) for r in records) < settings.ACCOUNT_REAUTHENTICATION_TIMEOUT


@login_required
def handle_settings(request: HttpRequest) -> HttpResponse:
    """The public handle: what other users see of this account instead of its email."""
    user = actor(request)
    form = HandleForm(request.POST or None, initial={"handle": user.handle})
    if request.method == "POST" and form.is_valid():
        try:
            services.user_handle_set(actor=user, handle=form.cleaned_data["handle"])
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, f"Your public handle is now {user.handle}.")
            return redirect("accounts:handle")
    return render(request, "accounts/handle.html", {"form": form, "handle": user.handle})


@login_required
def timezone_settings(request: HttpRequest) -> HttpResponse:
    """The zone the portal shows and reads times in; the API stays in UTC."""
    user = actor(request)
    form = TimeZoneForm(request.POST or None, initial={"timezone": user.timezone})
    if request.method == "POST" and form.is_valid():
        try:
            services.user_timezone_set(actor=user, timezone=form.cleaned_data["timezone"])
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, f"Times are now shown in {user.timezone}.")
            return redirect("accounts:timezone")
    return render(request, "accounts/timezone.html", {"form": form, "chosen": user.timezone})


@login_required
@require_POST
def timezone_detected(request: HttpRequest) -> HttpResponse:
    """static/js/timezone.js reports the browser's zone once, while the user has none: taken then, never
    over a choice. JSON answer: whether it was taken and the zone now in use."""
    user = actor(request)
    try:
        taken = services.user_timezone_detected(actor=user, timezone=request.POST.get("timezone", ""))
    except DomainError as exc:
        return JsonResponse({"detail": exc.message}, status=400)
    return JsonResponse({"taken": taken, "timezone": user.time_zone_name})


@never_cache  # the page that shows a new token's secret is kept by no browser or proxy cache
@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    """The user's tokens; POST creates one, once the password was entered recently: otherwise
    allauth's re-authentication page asks for it and then replays this POST (ReauthenticationRequired,
    handled by allauth's middleware), so the new token is shown right after."""
    form = ApiTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST":
        if not recently_authenticated(request):
            raise ReauthenticationRequired()
        if form.is_valid():
            try:
                _, new_token = services.api_token_create(
                    actor=actor(request),
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    expires_in_days=form.cleaned_data["expires_in_days"],
                    manage_url=request.build_absolute_uri(reverse("accounts:api_tokens")),
                )
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                form = ApiTokenForm()
    tokens = actor(request).api_tokens.order_by("-created_at")
    return render(
        request,
        "accounts/api_tokens.html",
        {
            "form": form,
            "tokens": tokens,
            "new_token": new_token,
            "needs_password": not recently_authenticated(request),
        },
    )


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.api_token_revoke(actor=actor(request), token_id=pk)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Token revoked.")
    return redirect("accounts:api_tokens")


@login_required
def become_owner(request: HttpRequest) -> HttpResponse:
    """GET: what becoming an owner means; POST: become one (a renter keeps renting)."""
    user = actor(request)
    if request.method == "POST":
        try:
            changed = services.user_become_owner(actor=user)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("accounts:become_owner")
        if changed:
            messages.success(request, "You are now an owner as well as a renter: add your cloud to start selling.")
        else:
            messages.info(request, "You are already an owner.")
        return redirect("owners:dashboard")
    return render(request, "accounts/become_owner.html", {"already": user.is_owner})


@login_required
def activity(request: HttpRequest) -> HttpResponse:
    """The audit trail of the user's own things (bookings, offerings, clouds, tokens, account);
    staff with audit.view_domainevent see every event."""
    user = actor(request)
    events = audit_selectors.visible_events(user)
    form = ActivityFilterForm(request.GET or None, kinds=audit_selectors.kinds(events))
    if form.is_valid():
        events = audit_selectors.filtered(
            events,
            kind=form.cleaned_data["kind"] or "",
            since=form.cleaned_data["since"],
            until=form.cleaned_data["until"],
        )
    elif form.is_bound:
        events = events.none()
    page = Paginator(events, settings.AUDIT_ACTIVITY_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/activity.html",
        {
            "form": form,
            "page": page,
            "rows": audit_selectors.as_rows(page.object_list, user),
            "everything": audit_selectors.sees_everything(user),
            "query": query.urlencode(),
        },
    )
