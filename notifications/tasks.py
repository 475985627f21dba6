"""Thin Celery tasks: one notification's email, and the sweep for emails a lost message left pending."""

from __future__ import annotations

from celery import shared_task

from notifications import email


@shared_task(name="notifications.send_email", acks_late=True)
def send_email(notification_id: int) -> bool:
    return email.send(notification_id)


@shared_task(name="notifications.sweep", acks_late=True)
def sweep() -> int:
    return email.sweep()
