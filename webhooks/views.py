"""Portal pages under /account/webhooks/: endpoints (create, turn on/off, rotate, delete), the
delivery log of each, redelivery. They call the same services as the API."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.requests import actor
from marketplace.lib.errors import DomainError, NotFoundError
from marketplace.lib.forms import apply_domain_error
from webhooks import selectors, services
from webhooks.forms import EndpointForm
from webhooks.models import Endpoint


def _endpoint(request: HttpRequest, endpoint_id: int) -> Endpoint:
    try:
        return selectors.endpoint_of(actor(request), endpoint_id)
    except NotFoundError as exc:
        raise Http404(exc.message) from None


@never_cache  # the page that shows a new secret is kept by no cache
@login_required
def endpoint_list(request: HttpRequest) -> HttpResponse:
    form = EndpointForm(request.POST or None)
    new_secret = None
    if request.method == "POST" and form.is_valid():
        try:
            _, new_secret = services.endpoint_create(actor=actor(request), **form.cleaned_data)
        except DomainError as exc:
            apply_domain_error(form, exc)
        else:
            form = EndpointForm()
    return render(
        request,
        "webhooks/endpoints.html",
        {"form": form, "endpoints": selectors.endpoints_of(actor(request)), "new_secret": new_secret},
    )


@never_cache
@login_required
def endpoint_detail(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    deliveries = selectors.deliveries_of(endpoint).prefetch_related("attempt_log")
    page = Paginator(deliveries, 25).get_page(request.GET.get("page"))
    return render(request, "webhooks/endpoint.html", {"endpoint": endpoint, "page": page, "new_secret": None})


@never_cache
@login_required
@require_POST
def endpoint_rotate(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint, secret = services.endpoint_rotate_secret(actor=actor(request), endpoint=_endpoint(request, endpoint_id))
    deliveries = selectors.deliveries_of(endpoint).prefetch_related("attempt_log")
    page = Paginator(deliveries, 25).get_page(1)
    return render(request, "webhooks/endpoint.html", {"endpoint": endpoint, "page": page, "new_secret": secret})


@login_required
@require_POST
def endpoint_toggle(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    services.endpoint_update(actor=actor(request), endpoint=endpoint, is_active=not endpoint.is_active)
    messages.success(request, "Endpoint turned off." if endpoint.is_active else "Endpoint turned on.")
    return redirect("webhooks:endpoint", endpoint_id=endpoint.pk)


@login_required
@require_POST
def endpoint_delete(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    services.endpoint_delete(actor=actor(request), endpoint=_endpoint(request, endpoint_id))
    messages.success(request, "Endpoint deleted.")
    return redirect("webhooks:endpoints")


@login_required
@require_POST
def delivery_redeliver(request: HttpRequest, endpoint_id: int, delivery_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    try:
        delivery = selectors.delivery_of(endpoint, delivery_id)
    except NotFoundError as exc:
        raise Http404(exc.message) from None
    try:
        services.delivery_redeliver(actor=actor(request), delivery=delivery)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The event is being sent again.")
    return redirect("webhooks:endpoint", endpoint_id=endpoint.pk)
