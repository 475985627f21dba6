"""django-allauth's account adapter: the client's address from the project's one resolver.

allauth keys its rate limits ("5/5m/ip" ...) on ``get_client_ip``; its own answer reads
X-Forwarded-For by a proxy count. Ours honours forwarded headers only from TRUSTED_PROXIES, so the
limits and the audit trail name the same address, and a client cannot pick its rate-limit bucket.
"""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from marketplace.lib import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request: HttpRequest) -> str:
        ip = client_ip.client_ip(request)
        if not ip:
            raise PermissionDenied("Unable to determine client IP address")
        return ip
