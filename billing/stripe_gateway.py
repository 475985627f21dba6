"""The one module that talks to Stripe (import-linter enforces it).

Every function takes plain values, returns plain dicts shaped like Stripe's
documented objects, and raises only the exceptions below, so the rest of
billing never sees the stripe package. Every write carries an idempotency key
that the caller derives from its own database row.

Retries are ours, not the library's (``max_network_retries=0``): a timeout
raises ``GatewayTimeout`` (outcome unknown) and the caller reconciles by
retrieving the object it recorded before retrying.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import requests
import stripe
from django.conf import settings

from marketplace.lib.errors import UpstreamError


class GatewayError(UpstreamError):
    """Stripe refused or failed the request; ``code`` is Stripe's error code when it gave one."""

    api_code = "payment_provider_error"
    public_message = "The payment provider refused the request; nothing was charged."

    def __init__(self, message: str, *, code: str = "", http_status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status


class CardDeclined(GatewayError):
    status_code = 402
    api_code = "card_declined"

    @property
    def public_message(self) -> str:  # type: ignore[override]
        """Stripe's words for the renter ("Your card has insufficient funds.")."""
        return self.message or "The card was declined."


class GatewayTimeout(GatewayError):
    """No answer: the request may or may not have taken effect."""

    status_code = 503
    api_code = "payment_provider_unavailable"
    public_message = "The payment provider did not answer. Try again in a minute."


class NotFound(GatewayError):
    pass


class SignatureInvalid(GatewayError):
    pass


_STRIPE_CA_BUNDLE = stripe.ca_bundle_path  # the CAs shipped with the library


class _PinnedSession(requests.Session):
    """Every request checks the server's certificate against one CA bundle, whatever the caller says."""

    def __init__(self, ca_bundle: str):
        super().__init__()
        self.ca_bundle = ca_bundle

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["verify"] = self.ca_bundle
        return super().request(method, url, *args, **kwargs)


class _RequestsClient(stripe.RequestsClient):
    """stripe's requests client checking certificates against STRIPE_CA_BUNDLE when set (the library's
    own bundle otherwise), never with checks off. The library would read the process-wide
    ``stripe.ca_bundle_path``; each thread's session here carries its bundle instead."""

    def __init__(self, *, timeout: int, ca_bundle: str):
        super().__init__(timeout=timeout, verify_ssl_certs=True)
        self._ca_bundle = ca_bundle or _STRIPE_CA_BUNDLE

    def _request_internal(self, *args: Any, **kwargs: Any) -> Any:
        if getattr(self._thread_local, "session", None) is None:
            self._thread_local.session = _PinnedSession(self._ca_bundle)
        return super()._request_internal(*args, **kwargs)


@lru_cache(maxsize=8)
def _client(api_key: str, api_base: str, timeout: int, ca_bundle: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base, "connect": api_base},
        max_network_retries=0,
        http_client=_RequestsClient(timeout=timeout, ca_bundle=ca_bundle),
    )


def client() -> stripe.StripeClient:
    return _client(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        settings.STRIPE_TIMEOUT_SECONDS,
        getattr(settings, "STRIPE_CA_BUNDLE", ""),
    )


def _plain(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _call(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        return _plain(fn(*args, **kwargs))
    except stripe.CardError as exc:
        raise CardDeclined(exc.user_message or str(exc), code=exc.code or "card_declined", http_status=exc.http_status)
    except stripe.APIConnectionError as exc:
        raise GatewayTimeout(f"Stripe did not answer: {exc.user_message or exc}", code="timeout")
    except stripe.InvalidRequestError as exc:
        cls = NotFound if exc.http_status == 404 else GatewayError
        raise cls(exc.user_message or str(exc), code=exc.code or "invalid_request", http_status=exc.http_status)
    except stripe.StripeError as exc:
        raise GatewayError(exc.user_message or str(exc), code=exc.code or "stripe_error", http_status=exc.http_status)


def _opts(idempotency_key: str | None) -> dict[str, Any]:
    return {"idempotency_key": idempotency_key} if idempotency_key else {}


# ---------------------------------------------------------------- customers and cards


def create_customer(*, email: str, metadata: dict[str, str], idempotency_key: str) -> dict[str, Any]:
    return _call(
        client().v1.customers.create,
        params={"email": email, "metadata": metadata},
        options=_opts(idempotency_key),
    )


def find_customer(*, email: str, idempotency_key: str) -> dict[str, Any] | None:
    """A customer an earlier, interrupted attempt created (matched on our metadata)."""
    listing = _call(client().v1.customers.list, params={"email": email, "limit": 100})
    for item in listing.get("data", []):
        if (item.get("metadata") or {}).get("idempotency_key") == idempotency_key:
            return item
    return None


def create_setup_intent(*, customer: str, metadata: dict[str, str], idempotency_key: str) -> dict[str, Any]:
    return _call(
        client().v1.setup_intents.create,
        params={"customer": customer, "usage": "off_session", "payment_method_types": ["card"], "metadata": metadata},
        options=_opts(idempotency_key),
    )


def retrieve_setup_intent(setup_intent_id: str) -> dict[str, Any]:
    return _call(client().v1.setup_intents.retrieve, setup_intent_id)


def confirm_setup_intent(setup_intent_id: str, *, payment_method: str) -> dict[str, Any]:
    """Server-side confirmation (tests and the demo); browsers confirm with Stripe.js."""
    return _call(client().v1.setup_intents.confirm, setup_intent_id, params={"payment_method": payment_method})


def retrieve_payment_method(payment_method_id: str) -> dict[str, Any]:
    return _call(client().v1.payment_methods.retrieve, payment_method_id)


def attach_payment_method(payment_method_id: str, *, customer: str, idempotency_key: str) -> dict[str, Any]:
    return _call(
        client().v1.payment_methods.attach,
        payment_method_id,
        params={"customer": customer},
        options=_opts(idempotency_key),
    )


def detach_payment_method(payment_method_id: str) -> dict[str, Any]:
    return _call(client().v1.payment_methods.detach, payment_method_id)


# ---------------------------------------------------------------- payments


def create_payment_intent(
    *,
    amount: int,
    currency: str,
    customer: str,
    payment_method: str,
    capture_method: str,
    metadata: dict[str, str],
    idempotency_key: str,
) -> dict[str, Any]:
    """Create, unconfirmed: no money moves until ``confirm_payment_intent``."""
    return _call(
        client().v1.payment_intents.create,
        params={
            "amount": amount,
            "currency": currency.lower(),
            "customer": customer,
            "payment_method": payment_method,
            "capture_method": capture_method,
            "payment_method_types": ["card"],
            "metadata": metadata,
        },
        options=_opts(idempotency_key),
    )


def confirm_payment_intent(payment_intent_id: str, *, idempotency_key: str) -> dict[str, Any]:
    return _call(client().v1.payment_intents.confirm, payment_intent_id, options=_opts(idempotency_key))


def retrieve_payment_intent(payment_intent_id: str) -> dict[str, Any]:
    return _call(client().v1.payment_intents.retrieve, payment_intent_id)


def find_payment_intent(*, idempotency_key: str) -> dict[str, Any] | None:
    """A PaymentIntent an interrupted attempt created before we could record its id."""
    listing = _call(client().v1.payment_intents.list, params={"limit": 100})
    for item in listing.get("data", []):
        if (item.get("metadata") or {}).get("idempotency_key") == idempotency_key:
            return item
    return None


def capture_payment_intent(payment_intent_id: str, *, amount: int, idempotency_key: str) -> dict[str, Any]:
    return _call(
        client().v1.payment_intents.capture,
        payment_intent_id,
        params={"amount_to_capture": amount},
        options=_opts(idempotency_key),
    )


def cancel_payment_intent(payment_intent_id: str, *, idempotency_key: str) -> dict[str, Any]:
    return _call(client().v1.payment_intents.cancel, payment_intent_id, options=_opts(idempotency_key))


def create_refund(
    *, payment_intent: str, amount: int, metadata: dict[str, str], idempotency_key: str
) -> dict[str, Any]:
    return _call(
        client().v1.refunds.create,
        params={"payment_intent": payment_intent, "amount": amount, "metadata": metadata},
        options=_opts(idempotency_key),
    )


def list_refunds(*, payment_intent: str) -> list[dict[str, Any]]:
    return _call(client().v1.refunds.list, params={"payment_intent": payment_intent, "limit": 100}).get("data", [])


# ---------------------------------------------------------------- Connect (owners' payouts)


def create_connected_account(*, email: str, metadata: dict[str, str], idempotency_key: str) -> dict[str, Any]:
    return _call(
        client().v1.accounts.create,
        params={
            "type": "express",
            "email": email,
            "capabilities": {"transfers": {"requested": True}},
            "metadata": metadata,
        },
        options=_opts(idempotency_key),
    )


def retrieve_connected_account(account_id: str) -> dict[str, Any]:
    return _call(client().v1.accounts.retrieve, account_id)


def create_account_link(*, account: str, refresh_url: str, return_url: str) -> dict[str, Any]:
    return _call(
        client().v1.account_links.create,
        params={"account": account, "refresh_url": refresh_url, "return_url": return_url, "type": "account_onboarding"},
    )


def create_transfer(
    *, amount: int, currency: str, destination: str, metadata: dict[str, str], idempotency_key: str
) -> dict[str, Any]:
    return _call(
        client().v1.transfers.create,
        params={
            "amount": amount,
            "currency": currency.lower(),
            "destination": destination,
            "transfer_group": idempotency_key,
            "metadata": metadata,
        },
        options=_opts(idempotency_key),
    )


def find_transfer(*, idempotency_key: str) -> dict[str, Any] | None:
    listing = _call(client().v1.transfers.list, params={"transfer_group": idempotency_key, "limit": 10})
    for item in listing.get("data", []):
        if (item.get("metadata") or {}).get("idempotency_key") == idempotency_key:
            return item
    return None


# ---------------------------------------------------------------- webhooks


def verify_event(payload: bytes, signature_header: str | None) -> dict[str, Any]:
    """Check the Stripe-Signature header against our endpoint secret; return the event as a dict."""
    try:
        event = client().construct_event(payload, signature_header, settings.STRIPE_WEBHOOK_SECRET)
    except stripe.SignatureVerificationError as exc:
        raise SignatureInvalid(str(exc), code="bad_signature")
    except (ValueError, KeyError, IndexError) as exc:
        raise SignatureInvalid(f"unreadable event: {exc}", code="bad_payload")
    return _plain(event)


def sign_payload(payload: str, *, secret: str, timestamp: int) -> str:
    """A Stripe-Signature header value (tests and the demo's event replay)."""
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret)
    return f"t={timestamp},v1={signature}"
