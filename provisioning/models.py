"""Servers launched for bookings, their usage samples, and the simulator's pretend cloud.

A Server row is one booking's tenure of one cloud server. It is written
(intent) and committed *before* any cloud call, so a worker that dies in the
middle leaves a row that the next sweep can finish or undo. When a renter
holds adjacent slices the cloud server is handed over: the old row ends in
``handed_over`` and a new row for the next booking carries the same
``external_id`` (so seconds held stay per booking).
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import Q

from marketplace.lib import clock
from owners.models import Cloud, Offering, StandbyPool
from scheduling.models import Booking


class ServerState(models.TextChoices):
    PENDING = "pending", "Pending (intent recorded)"
    BUILDING = "building", "Building"
    ACTIVE = "active", "Active"
    RESIZING = "resizing", "Resizing"
    DELETING = "deleting", "Deleting"
    DELETED = "deleted", "Deleted"
    ERROR = "error", "Error"
    HANDED_OVER = "handed_over", "Handed over (to the renter's next booking, a new renter or the standby pool)"
    STANDBY = "standby", "Standby (wiped, idle, waiting for a renter)"
    WIPING = "wiping", "Wiping (rebuilt after a renter, for the standby pool)"
    TRANSFERRING = "transferring", "Transferring control (rebuilt with the renter's key)"


# Rows that still stand for (or may still stand for) a server in the cloud.
LIVE_STATES = (
    ServerState.PENDING,
    ServerState.BUILDING,
    ServerState.ACTIVE,
    ServerState.RESIZING,
    ServerState.DELETING,
    ServerState.ERROR,
    ServerState.STANDBY,
    ServerState.WIPING,
    ServerState.TRANSFERRING,
)


class Server(models.Model):
    # NULL for a standby server's tenure (idle in the pool, or being wiped for it).
    booking = models.ForeignKey(Booking, null=True, blank=True, on_delete=models.PROTECT, related_name="servers")
    cloud = models.ForeignKey(Cloud, on_delete=models.PROTECT, related_name="servers")
    # The physical claim: every live row holds its resources on the offering, and the database
    # refuses a row that would make the servers on the offering need more than its capacity
    # (provisioning/sql/server_capacity.sql). Boot lead and teardown are covered that way.
    offering = models.ForeignKey(Offering, null=True, blank=True, on_delete=models.PROTECT, related_name="servers")
    pool = models.ForeignKey(StandbyPool, null=True, blank=True, on_delete=models.SET_NULL, related_name="servers")
    vcpus = models.PositiveIntegerField(default=0)
    ram_mib = models.PositiveIntegerField(default=0)
    disk_gb = models.PositiveIntegerField(default=0)
    bandwidth_mbps = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=12, choices=ServerState.choices, default=ServerState.PENDING)
    name = models.CharField(max_length=100)
    # NULL until the cloud answers, so the unique constraint ignores rows without an id yet.
    external_id = models.CharField(max_length=64, null=True, blank=True, help_text="The cloud's server id.")  # noqa: DJ001
    flavor_name = models.CharField(max_length=100, blank=True)
    image_name = models.CharField(max_length=200, blank=True)
    addresses = models.JSONField(default=dict, blank=True)
    keypair_name = models.CharField(max_length=100, blank=True)
    security_group_name = models.CharField(max_length=100, blank=True)
    isolation_note = models.CharField(
        max_length=300, blank=True, help_text="What the cloud could not provide (e.g. no security groups)."
    )
    error_message = models.CharField(max_length=500, blank=True)
    # A worker that takes the row for a cloud call leases it; a dead worker's lease expires and a sweep retries.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True, editable=False)
    attempts = models.PositiveIntegerField(default=0)
    held_from = models.DateTimeField(null=True, blank=True, help_text="The renter could use the server from.")
    held_until = models.DateTimeField(null=True, blank=True, help_text="Reclaimed or handed over at.")
    revoked_at = models.DateTimeField(
        null=True, blank=True, help_text="The holder's access ended (rebuild or delete accepted by the cloud)."
    )
    predecessor = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="successor"
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)
    active_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["state", "lease_until"], name="provisioning_server_due"),
            models.Index(fields=["cloud", "state"], name="provisioning_server_cloud"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=[s.value for s in ServerState]), name="provisioning_server_state_valid"
            ),
            models.UniqueConstraint(
                fields=["booking"],
                condition=~Q(state__in=["deleted", "handed_over"]),
                name="provisioning_server_one_live_per_booking",
                violation_error_message="This booking already has a server.",
            ),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False) & ~Q(state="handed_over"),
                name="provisioning_server_unique_external_id",
                violation_error_message="Another server record already tracks this cloud server.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"

    def seconds_held(self, now: datetime | None = None) -> int:
        """Seconds the renter held this server within the booking's window (what billing charges)."""
        if self.held_from is None or self.booking is None:
            return 0
        end = self.held_until or now or clock.now()
        start = max(self.held_from, self.booking.starts_at)
        end = min(end, self.booking.ends_at)
        return max(0, int((end - start).total_seconds()))


class UsageSample(models.Model):
    """One reading of a server's counters (Nova server diagnostics, or the simulator's)."""

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="usage_samples")
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="usage_samples")
    at = models.DateTimeField(default=clock.now)
    cpu_time_ns = models.BigIntegerField(null=True, blank=True, help_text="Cumulative CPU time.")
    memory_mib = models.BigIntegerField(null=True, blank=True)
    disk_read_bytes = models.BigIntegerField(null=True, blank=True)
    disk_write_bytes = models.BigIntegerField(null=True, blank=True)
    net_rx_bytes = models.BigIntegerField(null=True, blank=True)
    net_tx_bytes = models.BigIntegerField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True, help_text="Every counter the driver gave.")

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["booking", "at"], name="provisioning_usage_series")]

    def __str__(self) -> str:
        return f"usage of {self.server_id} at {self.at:%H:%M:%S}"


class SimulatedResource(models.Model):
    """The simulator driver's pretend cloud, in the database so web, worker and beat share it."""

    class Kind(models.TextChoices):
        SERVER = "server", "Server"
        KEYPAIR = "keypair", "Key pair"
        SECURITY_GROUP = "secgroup", "Security group"
        FLAVOR = "flavor", "Flavor"

    cloud = models.ForeignKey(Cloud, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    external_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=20, default="ACTIVE")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["cloud", "kind", "name"], name="provisioning_simres_lookup")]

    def __str__(self) -> str:
        return f"simulated {self.kind} {self.name} ({self.status})"
