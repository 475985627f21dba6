"""The calendar pages (an offering's capacity over a day or a week, for its renters and for its owner)
and the iCal feeds of bookings, with the page that makes and rotates a feed's secret address."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from marketplace.lib import clock
from marketplace.lib.staff import is_owner_or_superuser
from owners import selectors as owner_selectors
from owners.models import Offering
from scheduling import calendar, ical, services
from scheduling.forms import CalendarForm
from scheduling.models import Booking, BookingFeed


def _calendar_page(request: HttpRequest, offering: Offering, *, owner: bool) -> HttpResponse:
    """The calendar of ``offering`` for the day or week asked (default: today, in the viewer's zone);
    a bad date is a form error (400)."""
    form = CalendarForm(request.GET or None)
    tz = timezone.get_current_timezone()
    context: dict[str, Any] = {"offering": offering, "form": form, "owner_view": owner}
    if form.is_bound and not form.is_valid():
        return render(request, "scheduling/calendar.html", context, status=400)
    data = form.cleaned_data if form.is_bound else {}
    now = clock.now()
    day: date = data.get("date") or timezone.localtime(now, tz).date()
    span = data.get("span") or "day"
    if owner:
        cal = calendar.owner_calendar(offering=offering, day=day, span=span, tz=tz, now=now)
    else:
        viewer: Any = request.user
        cal = calendar.renter_calendar(offering=offering, day=day, span=span, tz=tz, now=now, viewer=viewer)
    context["cal"] = cal
    context["here"] = request.path
    return render(request, "scheduling/calendar.html", context)


@require_GET
def offering_calendar(request: HttpRequest, pk: int) -> HttpResponse:
    """A published offering's free and taken capacity, for anyone who may browse it."""
    offering = get_object_or_404(owner_selectors.published_offerings(), pk=pk)
    return _calendar_page(request, offering, owner=False)


@login_required
@require_GET
def owner_offering_calendar(request: HttpRequest, pk: int) -> HttpResponse:
    """One of the owner's offerings: who holds what, states, preemptions, auction rounds. Another
    owner's offering is a 404."""
    if not is_owner_or_superuser(request.user):
        raise PermissionDenied("The owner portal is for owners.")
    offering = get_object_or_404(owner_selectors.offerings_for_owner(request.user), pk=pk)  # type: ignore[arg-type]
    return _calendar_page(request, offering, owner=True)


def _feed_urls(request: HttpRequest, token: str, user: Any) -> dict[str, str]:
    urls = {"bookings": request.build_absolute_uri(reverse("scheduling:feed_bookings", args=[token]))}
    if is_owner_or_superuser(user):
        urls["offerings"] = request.build_absolute_uri(reverse("scheduling:feed_offerings", args=[token]))
    return urls


@never_cache  # the answer to a rotation shows the secret address: no cache keeps it
@login_required
@require_http_methods(["GET", "POST"])
def booking_feed(request: HttpRequest) -> HttpResponse:
    """The feed's address: GET says whether there is one; POST makes it or rotates it (the old address
    stops answering) and shows the new one, this once (only its hash is kept)."""
    user: Any = request.user
    urls: dict[str, str] = {}
    if request.method == "POST":
        urls = _feed_urls(request, services.booking_feed_rotate(actor=user), user)
    feed = BookingFeed.objects.filter(user=user).first()
    return render(request, "scheduling/calendar_feed.html", {"feed": feed, "urls": urls})


def _domain() -> str:
    return urlsplit(settings.MARKETPLACE_BASE_URL).hostname or "localhost"


def _ics(body: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="bookings.ics"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
def feed_bookings(request: HttpRequest, feed_token: str) -> HttpResponse:
    """The iCal feed of the token's user's own bookings; a wrong or rotated token is a 404."""
    user = ical.feed_user(feed_token)
    if user is None:
        raise Http404("No such feed.")
    page = request.build_absolute_uri(reverse("scheduling:my_bookings"))
    body = ical.calendar(
        ical.renter_feed_bookings(user),
        name="My bookings (Slice Market)",
        link=lambda b: f"{page}#booking-{b.pk}",
        domain=_domain(),
    )
    return _ics(body)


@require_GET
def feed_offerings(request: HttpRequest, feed_token: str) -> HttpResponse:
    """The iCal feed of the bookings on the token's user's offerings (renters by handle); 404 for a wrong
    token or a user who owns no offerings."""
    user = ical.feed_user(feed_token)
    if user is None or not is_owner_or_superuser(user):
        raise Http404("No such feed.")
    zone = ZoneInfo(user.time_zone_name)

    def link(b: Booking) -> str:
        url = reverse("scheduling:owner_offering_calendar", args=[b.offering_id])
        local = timezone.localtime(b.starts_at, zone).date()  # the day the owner's calendar shows it on
        return request.build_absolute_uri(f"{url}?date={local:%Y-%m-%d}")

    body = ical.calendar(
        ical.owner_feed_bookings(user),
        name="Bookings on my offerings (Slice Market)",
        link=link,
        domain=_domain(),
        renter_handles=True,
    )
    return _ics(body)
