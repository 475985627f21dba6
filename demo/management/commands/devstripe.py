"""Run the development Stripe (localstripe + the Connect contract stub) for the demo: 127.0.0.1 only.

    manage.py devstripe [--port 8420] [--state .data/localstripe.pickle] [--webhook-url URL]

Point the app at it with STRIPE_API_BASE=http://127.0.0.1:8420 and
STRIPE_JS_URL=http://127.0.0.1:8420/js.stripe.com/v3/ (its fake Stripe.js).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run localstripe for development and the demo (bound to 127.0.0.1)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=8420)
        parser.add_argument("--state", default=str(settings.BASE_DIR / ".data" / "localstripe.pickle"))
        parser.add_argument("--webhook-url", default="http://127.0.0.1:8000/billing/webhooks/stripe")

    def handle(self, *args: Any, **options: Any) -> None:
        from demo import devstripe

        Path(options["state"]).parent.mkdir(parents=True, exist_ok=True)
        self.stdout.write(f"devstripe on http://127.0.0.1:{options['port']} (state {options['state']})")
        devstripe.serve(
            port=options["port"],
            state_file=options["state"],
            webhook_url=options["webhook_url"],
            webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
        )
