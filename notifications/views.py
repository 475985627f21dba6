"""Portal pages: the user's notifications (read state, mark read, mark all read) and their preferences."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.requests import actor
from marketplace.lib.errors import DomainError, NotFoundError
from marketplace.lib.forms import apply_domain_error
from marketplace.lib.inputs import local_next
from notifications import selectors, services
from notifications.forms import PreferencesForm

PAGE_SIZE = 50


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    page = Paginator(selectors.notifications_for(user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "notifications/list.html",
        {"page": page, "unread": selectors.unread_count(user)},
    )


@login_required
@require_POST
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one read; ``open`` set: then go to what it is about."""
    try:
        n = services.notification_mark_read(actor=actor(request), notification_id=pk)
    except NotFoundError:
        raise Http404("No such notification.") from None
    if request.POST.get("open") and n.link:
        return redirect(n.link)
    target = local_next(request.POST.get("next"), request.get_host())
    return redirect(target or "notifications:list")


@login_required
@require_POST
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    count = services.notifications_mark_all_read(actor=actor(request))
    messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked read.")
    return redirect("notifications:list")


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    form = PreferencesForm(request.POST or None, rows=selectors.preferences_for(user))
    if request.method == "POST" and form.is_valid():
        try:
            services.preferences_set(actor=user, choices=form.choices())
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, "Your notification choices are saved.")
            return redirect("notifications:preferences")
    return render(
        request,
        "notifications/preferences.html",
        {"form": form, "email": user.email},
    )
