from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from provisioning import services
from provisioning.drivers import CloudError
from provisioning.models import Server, SimulatedResource, UsageSample


@admin.register(Server)
class ServerAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "booking",
        "pool",
        "offering",
        "cloud",
        "state",
        "external_id",
        "flavor_name",
        "held_from",
        "held_until",
        "revoked_at",
        "updated_at",
    )
    # A standby server is a row with a pool and no booking (idle, booting or being wiped).
    list_filter = ("state", "cloud", ("pool", admin.EmptyFieldListFilter), ("booking", admin.EmptyFieldListFilter))
    search_fields = ("name", "external_id", "booking__id", "booking__renter__email", "offering__name")
    raw_id_fields = ("booking", "cloud", "predecessor", "offering", "pool")
    readonly_fields = ("lease_until", "created_at", "updated_at", "active_at", "deleted_at", "revoked_at")
    list_select_related = ("booking", "pool__profile", "offering", "cloud")
    actions = ["reclaim"]

    @admin.action(description="Reclaim (delete in the cloud)")
    def reclaim(self, request: HttpRequest, queryset: QuerySet[Server]) -> None:
        for server in queryset:
            try:
                services.server_reclaim(server_id=server.pk, reason="admin", actor=request.user)
            except CloudError as exc:
                self.message_user(request, f"{server}: {exc.message}", messages.ERROR)


@admin.register(UsageSample)
class UsageSampleAdmin(admin.ModelAdmin):
    list_display = ("server", "booking", "at", "cpu_time_ns", "memory_mib", "net_rx_bytes", "net_tx_bytes")
    raw_id_fields = ("server", "booking")
    date_hierarchy = "at"


@admin.register(SimulatedResource)
class SimulatedResourceAdmin(admin.ModelAdmin):
    list_display = ("kind", "name", "cloud", "status", "external_id", "created_at")
    list_filter = ("kind", "status")
