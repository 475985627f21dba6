from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm

from accounts.models import ApiToken, IdempotencyKey, User
from accounts.services import api_tokens_revoke_all


class PasswordChangeRevokingTokensForm(AdminPasswordChangeForm):
    """A password set by staff revokes the user's API tokens, as the user's own change does."""

    def save(self, commit: bool = True) -> User:  # type: ignore[override]
        user = super().save(commit=commit)
        if commit:
            api_tokens_revoke_all(user=user, reason="password set by staff")
        return user


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    change_password_form = PasswordChangeRevokingTokensForm
    ordering = ("email",)
    list_display = ("email", "handle", "display_name", "is_owner", "is_renter", "is_staff", "is_active", "date_joined")
    list_filter = ("is_owner", "is_renter", "is_staff", "is_superuser", "is_active")
    search_fields = ("email", "handle", "display_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("handle", "display_name", "timezone", "is_owner", "is_renter")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "password1", "password2", "is_owner", "is_renter")}),
    )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "key_prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "revoked_reason")
    search_fields = ("name", "user__email", "key_prefix")
    # The hash is not shown: it is useless to an operator and only helps an attacker.
    exclude = ("key_hash",)
    readonly_fields = ("user", "key_prefix", "scopes", "created_at", "expires_at", "last_used_at")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False  # tokens are created by their user, who alone sees the plaintext


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    """Read-only: keys are written by marketplace.lib.idempotency and expire after 24 hours."""

    list_display = ("key", "user", "state", "response_status", "created_at")
    list_filter = ("state",)
    search_fields = ("key", "user__email")
    exclude = ("response_body", "response_headers")  # answers may hold a renter's booking details

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
