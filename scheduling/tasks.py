"""Beat tasks of the market engine: thin, idempotent, safe to run twice or from two workers at once."""

from __future__ import annotations

from celery import shared_task

from audit import context
from scheduling import services


@shared_task(acks_late=True, ignore_result=True)
def clear_due_auctions() -> dict[str, int]:
    """Clear every auction round whose bidding has closed (rounds taken with SKIP LOCKED)."""
    token = context.bind(context.RequestContext(source="task"))
    try:
        result = services.auctions_clear_due()
    finally:
        context.reset(token)
    return {"rounds": result.rounds, "bids": result.bids, "winners": result.winners}


@shared_task(acks_late=True, ignore_result=True)
def end_due_preemptions() -> int:
    """Bookings under notice whose deadline passed end as preempted; their capacity reopens."""
    token = context.bind(context.RequestContext(source="task"))
    try:
        return services.preemptions_end_due()
    finally:
        context.reset(token)


@shared_task(acks_late=True, ignore_result=True)
def end_due_bookings() -> int:
    """Bookings whose slice is over end (completed, or failed if never running); due preemptions end too."""
    token = context.bind(context.RequestContext(source="task"))
    try:
        return services.bookings_end_due()
    finally:
        context.reset(token)


@shared_task(acks_late=True, ignore_result=True)
def prune_price_history() -> int:
    """Price history older than MARKETPLACE_PRICE_HISTORY_DAYS goes (the last point of each series stays)."""
    token = context.bind(context.RequestContext(source="task"))
    try:
        return services.price_history_prune()
    finally:
        context.reset(token)
