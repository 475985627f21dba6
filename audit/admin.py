from django.contrib import admin

from audit.models import DomainEvent


@admin.register(DomainEvent)
class DomainEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor_label", "verb", "target_type", "target_repr", "source", "ip", "request_id")
    list_filter = ("verb", "source", "target_type")
    search_fields = ("actor_label", "verb", "target_repr", "target_id", "request_id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in DomainEvent._meta.fields]

    # The log is append-only: nobody edits or deletes it from the admin.
    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
