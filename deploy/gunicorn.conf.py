"""gunicorn settings shared by `make run` (deploy/run.sh) and the search benchmark (bench/search.py).

Command-line options (bind, workers, threads, logs) still come from those scripts; this file holds
what a command line cannot say.
"""

from __future__ import annotations

import gc
import ipaddress
import os
from typing import Any


def _trusted_proxies() -> list[str]:
    """TRUSTED_PROXIES (the settings' list: addresses or CIDR ranges), as gunicorn's strict networks."""
    raw = os.environ.get("TRUSTED_PROXIES", "")
    return [str(ipaddress.ip_network(item.strip(), strict=False)) for item in raw.split(",") if item.strip()]


# X-Forwarded-Proto is believed (wsgi.url_scheme https) from these peers only, the same proxies Django
# believes for X-Forwarded-For and SECURE_PROXY_SSL_HEADER; none when TRUSTED_PROXIES is empty (not
# gunicorn's default of 127.0.0.1: a local process is not a TLS-terminating proxy unless named).
forwarded_allow_ips = ",".join(_trusted_proxies())
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}


def post_worker_init(worker: Any) -> None:
    """Load the whole app now, then keep what was loaded out of the cycle collector's full passes.

    A worker holds ~200,000 long-lived objects (Django, DRF, allauth, every model, view and
    serializer). Python's cycle collector walked all of them at each full collection: measured on
    the search benchmark, a 90-100 ms pause of the worker, about twice in 15 s, while the requests
    queued behind it waited. ``gc.freeze()`` moves everything alive now into a generation the
    collector never walks (it is never garbage: modules, classes, settings); objects made later
    (request garbage, caches) are collected as before, and full passes walk only those.
    """
    from django.urls import get_resolver

    # The URLconf is imported on the first request otherwise (and with it every view module).
    get_resolver().reverse_dict  # noqa: B018
    gc.collect()
    gc.freeze()
