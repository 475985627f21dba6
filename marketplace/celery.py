"""The Celery application. Tasks live in each app's tasks.py and stay thin."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

app = Celery("marketplace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="marketplace.ping", acks_late=True)
def ping(tag: str = "") -> str:
    """A no-op task: proves a worker consumes from the configured broker (used by health tests)."""
    import logging

    logging.getLogger("marketplace.ping").info("pong %s", tag)
    return f"pong {tag}"
