"""Python client and command line for the Slice Market API."""

from .client import Client
from .errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    ServerError,
    SliceMarketError,
    TransportError,
    Unauthorized,
)
from .types import Booking, Preview, PricePoint, Quote, Slice, Standby, Usage, WebhookDelivery, WebhookEndpoint
from .webhooks import SignatureError, sign, verify_signature

__version__ = "0.1.0"
__all__ = [
    "ApiError",
    "BadRequest",
    "Booking",
    "Client",
    "Conflict",
    "Forbidden",
    "NotFound",
    "Preview",
    "PricePoint",
    "Quote",
    "RateLimited",
    "ServerError",
    "SignatureError",
    "Slice",
    "SliceMarketError",
    "Standby",
    "TransportError",
    "Unauthorized",
    "Usage",
    "WebhookDelivery",
    "WebhookEndpoint",
    "sign",
    "verify_signature",
]
