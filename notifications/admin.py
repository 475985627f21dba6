from django.contrib import admin

from notifications.models import Notification, Preference


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "kind", "title", "in_portal", "email_state", "created_at", "read_at")
    list_filter = ("kind", "email_state", "in_portal")
    search_fields = ("title", "user__handle")
    raw_id_fields = ("user",)
    readonly_fields = ("created_at", "emailed_at")


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "kind", "portal", "email", "updated_at")
    list_filter = ("kind",)
    raw_id_fields = ("user",)
