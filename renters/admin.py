from django.contrib import admin

from renters.models import RenterSettings, SSHPublicKey


@admin.register(RenterSettings)
class RenterSettingsAdmin(admin.ModelAdmin):
    list_display = ("user", "priority_tier", "spend_limit", "currency", "updated_at")
    list_filter = ("priority_tier", "currency")
    search_fields = ("user__email",)
    raw_id_fields = ("user",)


@admin.register(SSHPublicKey)
class SSHPublicKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "fingerprint", "created_at")
    search_fields = ("name", "user__email", "fingerprint")
    readonly_fields = ("fingerprint",)
    raw_id_fields = ("user",)
