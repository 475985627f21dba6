from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo and development code: ``seed_demo``, ``devstripe`` and the Stripe Connect stand-in.

    The top layer (it may import every app; nothing imports it), installed only when DJANGO_DEBUG is on.
    """

    name = "demo"
    verbose_name = "Demo data and development Stripe"
