"""Writes of provisioning: launch, hand over, reclaim, reconcile, resize, meter, and the sweeps.

One module per concern (common: settings, the booking move and the Server
lease; launch; handover; reclaim; reconcile; resize; metering; sweeps).
Callers import from here: ``from provisioning import services``.

Every cloud action follows the same three steps: record the intent and take a
lease on the Server row (one short transaction, committed), call the cloud
(outside any transaction), record the outcome (one short transaction). Booking
states move only through scheduling.services.booking_transition; the engine
ends bookings whose slice is over (scheduling.services.ending) and provisioning reacts
to its ``on_booking_ended`` hook. Services never import tasks: they send them
by name on commit (marketplace.lib.enqueue).
"""

from provisioning.services.common import lead_seconds, lease_seconds
from provisioning.services.handover import server_hand_over
from provisioning.services.launch import launch_prepare, server_launch
from provisioning.services.metering import meter_due, meter_final, meter_start, server_meter
from provisioning.services.reclaim import server_reclaim
from provisioning.services.reconcile import ReconcileResult, reconcile
from provisioning.services.resize import booking_change_profile, server_resize_run
from provisioning.services.standby import pool_refill, pools_due, server_adopt
from provisioning.services.sweeps import (
    hand_over_or_reclaim_due,
    hand_overs_due,
    launch_due,
    reclaim_due,
    resize_due,
)
from provisioning.services.transfer import (
    Delivery,
    booking_deliver,
    booking_reclaim,
    end_booking_now,
    rebuild_estimate,
    schedule_booking,
    schedule_instants,
    server_release,
)

__all__ = [
    "Delivery",
    "ReconcileResult",
    "booking_deliver",
    "end_booking_now",
    "pool_refill",
    "pools_due",
    "rebuild_estimate",
    "schedule_booking",
    "schedule_instants",
    "server_release",
    "booking_change_profile",
    "booking_reclaim",
    "hand_over_or_reclaim_due",
    "hand_overs_due",
    "launch_due",
    "launch_prepare",
    "lead_seconds",
    "lease_seconds",
    "meter_due",
    "meter_final",
    "meter_start",
    "reclaim_due",
    "reconcile",
    "resize_due",
    "server_adopt",
    "server_hand_over",
    "server_launch",
    "server_meter",
    "server_reclaim",
    "server_resize_run",
]
