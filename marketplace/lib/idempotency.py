"""Idempotent writes, with Stripe's semantics, for the API and the portal.

A client sends ``Idempotency-Key: <anything unique, up to 255 characters>`` (the API) or a hidden
``idempotency_key`` field (the portal's forms, one per rendered form: ``{% idempotency_field %}``
from the ``idempotency`` tag library). For one user and key:

- the first request claims the key (a committed row, unique per user and key) before it acts;
- the same key and the same method, path and body again: the first answer is replayed (status and
  body), marked ``Idempotent-Replayed: true``, and nothing is done twice;
- the same key with another body or endpoint: 422, nothing done;
- a duplicate while the first is still running: 409 "in progress" (the API, as Stripe does); the
  portal waits a few seconds for the first to finish and then shows its answer (a double click);
- keys are kept 24 hours (``purge_expired``, run by a periodic task).

Answers are kept when the write was attempted (2xx, 3xx, and 409 conflicts of the market); a
request refused for its input, a permission or a server error keeps no answer and frees the key, so
the corrected or retried request runs. The rows live in ``accounts.IdempotencyKey`` (the project
package holds no models and imports no app: the model is looked up by name).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.db import connection, models, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from marketplace.lib import clock
from marketplace.lib.errors import ConflictError, DomainError, ValidationFailed
from marketplace.lib.inputs import local_next

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
FORM_FIELD = "idempotency_key"
MODEL = "accounts.IdempotencyKey"  # its table is accounts_idempotencykey, named in claim()'s SQL
TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255
KEPT_HEADERS = ("Location", "Content-Type")
_NOT_BODY = frozenset({"csrfmiddlewaretoken", FORM_FIELD, "next"})

F = TypeVar("F", bound=Callable[..., Any])


class IdempotencyKeyReused(DomainError):
    """The key was used before for another request. HTTP 422, as Stripe answers."""

    status_code = 422
    code = "idempotency_key_reused"


class IdempotencyInProgress(ConflictError):
    """A request with this key is still being processed. HTTP 409, as Stripe answers."""

    code = "idempotency_in_progress"


@dataclass(frozen=True)
class Claimed:
    """This request holds the key: it acts, then ``finish`` or ``release``."""

    row_id: int


@dataclass(frozen=True)
class Stored:
    """The answer given to the first request with this key."""

    status: int
    headers: dict[str, str]
    body: str


def _model() -> type[models.Model]:
    return apps.get_model(MODEL)


def fingerprint(method: str, path: str, body: Any) -> str:
    """What makes two requests "the same": method, path and body, the body with its keys sorted."""
    text = json.dumps([method.upper(), path, body], sort_keys=True, cls=JSONEncoder, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def checked_key(raw: str) -> str:
    key = raw.strip()
    if not key:
        raise ValidationFailed({HEADER: ["Give a non-empty key, for example a UUID."]})
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed({HEADER: [f"Use at most {MAX_KEY_LENGTH} characters."]})
    return key


def claim(user_id: int, key: str, fp: str, *, now: datetime | None = None) -> Claimed | Stored:
    """Claim ``key`` for this request (committed at once unless the caller holds a transaction), or
    return the stored answer of the first request with it. Raises IdempotencyKeyReused (another
    request used the key) or IdempotencyInProgress (the first request has not finished)."""
    now = now or clock.now()
    model = _model()
    for _attempt in range(3):
        with transaction.atomic(), connection.cursor() as cursor:
            # The unique (user, key) constraint decides who is first; an expired key is taken over.
            cursor.execute(
                "INSERT INTO accounts_idempotencykey AS k (user_id, key, fingerprint, state, response_status, response_headers, "
                "response_body, created_at) VALUES (%s, %s, %s, 'in_progress', NULL, '{}', '', %s) "
                "ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
                "state = 'in_progress', response_status = NULL, response_headers = '{}', response_body = '', "
                "created_at = EXCLUDED.created_at WHERE k.created_at <= %s RETURNING k.id",
                [user_id, key, fp, now, now - TTL],
            )
            row = cursor.fetchone()
        if row is not None:
            return Claimed(row[0])
        found = (
            model._default_manager.filter(user_id=user_id, key=key)
            .values("fingerprint", "state", "response_status", "response_headers", "response_body")
            .first()
        )
        if found is None:  # released by the first request between our two statements: try again
            continue
        if found["fingerprint"] != fp:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used for a different request; use a new key for a new request."
            )
        if found["state"] != "done":
            raise IdempotencyInProgress("A request with this Idempotency-Key is still being processed; retry shortly.")
        return Stored(found["response_status"], found["response_headers"] or {}, found["response_body"])
    raise IdempotencyInProgress("A request with this Idempotency-Key is still being processed; retry shortly.")


def claim_waiting(user_id: int, key: str, fp: str, *, wait: float) -> Claimed | Stored:
    """``claim``, but a duplicate of a request in flight waits up to ``wait`` seconds for its answer."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return claim(user_id, key, fp)
        except IdempotencyInProgress:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def keeps(status: int) -> bool:
    """Whether an answer is kept for replay: the write was attempted (see the module docstring)."""
    return status < 400 or status == 409


def finish(claimed: Claimed, status: int, headers: dict[str, str], body: str) -> None:
    """Store the answer for replay, or free the key when the answer is not one to keep."""
    model = _model()
    if not keeps(status):
        release(claimed)
        return
    model._default_manager.filter(pk=claimed.row_id).update(
        state="done", response_status=status, response_headers=headers, response_body=body
    )


def release(claimed: Claimed) -> None:
    _model()._default_manager.filter(pk=claimed.row_id, state="in_progress").delete()


def purge_expired(now: datetime | None = None) -> int:
    """Delete keys older than 24 hours; returns how many. Run periodically (accounts.tasks)."""
    # One statement, without loading each row for delete signals: expiry is upkeep, not a change
    # anyone needs a history of.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_idempotencykey WHERE created_at <= %s", [(now or clock.now()) - TTL])
        return cursor.rowcount


def _kept_headers(response: HttpResponseBase) -> dict[str, str]:
    return {h: response[h] for h in KEPT_HEADERS if response.has_header(h)}


def _form_body(request: HttpRequest) -> dict[str, list[str]]:
    return {k: request.POST.getlist(k) for k in request.POST if k not in _NOT_BODY}


# ---- the API: a decorator for DRF handler methods ---------------------------------------------


def is_preview(request: Request) -> bool:
    """``?preview=1``: the API's way to ask what a write would cost without acting (issue 12)."""
    return str(request.query_params.get("preview", "")).lower() in ("1", "true", "yes")


def idempotent(handler: F) -> F:
    """Make a DRF view method (``post``) honour the ``Idempotency-Key`` header.

    Use on every money-moving or booking write::

        @idempotent
        def post(self, request, ...): ...

    Without the header the request runs as before. The method's exceptions are turned into their
    answer here (the view's own handler), so error answers are kept and replayed too. A preview
    (``?preview=1``) acts on nothing, so it neither claims nor replays a key: the same key then
    serves the real request. The query string is part of what makes two requests the same."""

    @functools.wraps(handler)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        raw = request.headers.get(HEADER)
        if raw is None or not request.user.is_authenticated or is_preview(request):
            return handler(self, request, *args, **kwargs)
        key = checked_key(raw)
        data = request.data
        body = {k: data.getlist(k) for k in data} if hasattr(data, "getlist") else data  # form posts: every value
        outcome = claim(request.user.pk, key, fingerprint(request.method or "POST", request.get_full_path(), body))
        if isinstance(outcome, Stored):
            replay = Response(json.loads(outcome.body) if outcome.body else None, status=outcome.status)
            for name, value in outcome.headers.items():
                if name != "Content-Type":
                    replay[name] = value
            replay[REPLAYED_HEADER] = "true"
            return replay
        try:
            try:
                response = handler(self, request, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - turned into its answer (or re-raised) by the view
                response = self.handle_exception(exc)
            data = getattr(response, "data", None)
            finish(outcome, response.status_code, _kept_headers(response), json.dumps(data, cls=JSONEncoder))
        except BaseException:
            release(outcome)
            raise
        return response

    wrapper.idempotent = True  # type: ignore[attr-defined]  # the schema documents the header (apischema)
    return wrapper  # type: ignore[return-value]


# ---- the portal: a decorator for function views receiving forms -------------------------------


def _back(request: HttpRequest) -> HttpResponse:
    host = request.get_host()
    return redirect(local_next(request.POST.get("next"), host) or _referer_path(request, host) or "/")


def _referer_path(request: HttpRequest, host: str) -> str | None:
    """The Referer if it is a page of this site (a full URL on this host), else None."""
    referer = request.headers.get("Referer") or ""
    if "://" in referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={host}):
        return referer
    return local_next(referer, host)


def idempotent_view(view: F) -> F:
    """Make a portal view honour the form's hidden ``idempotency_key`` field (one key per rendered
    form, ``{% idempotency_field %}``), so a double click acts once: the second submission waits for
    the first and is shown its answer, with a note that it was sent before."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        raw = request.POST.get(FORM_FIELD) if request.method == "POST" else None
        if not raw or not request.user.is_authenticated or len(raw) > MAX_KEY_LENGTH:
            return view(request, *args, **kwargs)
        fp = fingerprint("POST", request.path, _form_body(request))
        try:
            outcome = claim_waiting(
                request.user.pk, raw, fp, wait=float(getattr(settings, "IDEMPOTENCY_PORTAL_WAIT_SECONDS", 10))
            )
        except IdempotencyKeyReused:
            messages.error(request, "This form was already sent with other values. Reload the page to send it again.")
            return _back(request)
        except IdempotencyInProgress:
            messages.warning(request, "This form is still being processed; look again in a moment.")
            return _back(request)
        if isinstance(outcome, Stored):
            messages.info(request, "This form had already been sent, so it was not sent again.")
            location = outcome.headers.get("Location")
            replay = HttpResponseRedirect(location) if location else HttpResponse(outcome.body)
            replay.status_code = outcome.status
            for name, value in outcome.headers.items():
                replay[name] = value
            replay[REPLAYED_HEADER] = "true"
            return replay
        try:
            response = view(request, *args, **kwargs)
            body = "" if response.streaming else response.content.decode(response.charset or "utf-8")  # type: ignore[attr-defined]
            finish(outcome, response.status_code, _kept_headers(response), body)
        except BaseException:
            release(outcome)
            raise
        return response

    return wrapper  # type: ignore[return-value]
