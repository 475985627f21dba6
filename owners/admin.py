from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest

from marketplace.lib.admin import money
from marketplace.lib.enqueue import send_on_commit
from marketplace.lib.errors import DomainError, ValidationFailed
from marketplace.lib.forms import apply_domain_error
from marketplace.lib.money import Money, MoneyError, to_minor
from owners import pricing, services
from owners.models import (
    AvailabilityWindow,
    Cloud,
    Offering,
    OwnerAccount,
    OwnerVetting,
    PricingPolicy,
    SliceProfile,
    StandbyPool,
)


class CloudAdminForm(forms.ModelForm):
    class Meta:
        model = Cloud
        exclude = ("app_credential_secret_encrypted",)  # noqa: DJ006 - the secret is never a form field

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["driver"].choices = Cloud.driver_choices()  # type: ignore[attr-defined]


@admin.register(Cloud)
class CloudAdmin(admin.ModelAdmin):
    form = CloudAdminForm
    list_display = (
        "name",
        "owner",
        "driver",
        "region_name",
        "auth_url",
        "has_secret",
        "last_check_ok",
        "last_checked_at",
        "created_at",
    )
    list_filter = ("driver", "region_name", "last_check_ok")
    search_fields = ("name", "owner__email", "auth_url", "project_id", "app_credential_id")
    # The encrypted secret is not a field here at all: it cannot be shown or edited from the admin.
    exclude = ("app_credential_secret_encrypted",)
    readonly_fields = (
        "has_secret",
        "last_checked_at",
        "last_check_ok",
        "last_check_message",
        "created_at",
        "updated_at",
    )
    raw_id_fields = ("owner",)

    @admin.display(boolean=True, description="secret stored")
    def has_secret(self, obj: Cloud) -> bool:
        return obj.has_secret


class WindowInline(admin.TabularInline):
    model = AvailabilityWindow
    extra = 0


PRICE_FIELDS = ("price_per_unit", "reserve_price", "base_price", "floor_price", "cap_price")


class PricingAdminForm(forms.ModelForm):
    """Prices typed in the currency's major units (0.05 EUR), stored in minor units as everywhere."""

    price_per_unit = forms.DecimalField(required=False, min_value=0, max_digits=18, label="Price per unit")
    reserve_price = forms.DecimalField(required=False, min_value=0, max_digits=18, label="Reserve price")
    base_price = forms.DecimalField(required=False, max_digits=18, label="Base price")
    floor_price = forms.DecimalField(required=False, max_digits=18, label="Floor price")
    cap_price = forms.DecimalField(required=False, max_digits=18, label="Cap price")

    class Meta:
        model = PricingPolicy
        fields = "__all__"  # noqa: DJ007 - the admin has always edited every field of a price

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = self.instance
        for name in PRICE_FIELDS:
            value = getattr(instance, name, None)
            if instance.pk and value is not None:
                self.initial[name] = Money(int(value), instance.currency).major()
            self.fields[name].help_text = "In the currency's units per grid unit, e.g. 0.05."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        currency = data.get("currency") or self.instance.currency
        for name in PRICE_FIELDS:
            if data.get(name) is not None and currency:
                try:
                    data[name] = to_minor(data[name], currency)
                except MoneyError as exc:
                    self.add_error(name, str(exc))
        return data


class PricingInline(admin.TabularInline):
    model = PricingPolicy
    form = PricingAdminForm
    extra = 0
    fields = (
        "profile",
        "model",
        "currency",
        "price_per_unit",
        "reserve_price",
        "base_price",
        "floor_price",
        "cap_price",
        "release_charge",
    )


class OfferingAdminForm(forms.ModelForm):
    """The admin saves offerings itself; a capacity below what live bookings hold is refused here, as
    a form error, by the same database guard offering_update meets (the admin's change view is one
    transaction, so the offering stays locked from this check to the save)."""

    class Meta:
        model = Offering
        fields = "__all__"  # noqa: DJ007 - the admin has always edited every field of an offering

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        capacity: dict[str, int] = {f: data[f] for f in services.CAPACITY_FIELDS if data.get(f) is not None}
        if self.instance.pk and len(capacity) == len(services.CAPACITY_FIELDS):
            try:
                services.offering_capacity_check(offering=self.instance, **capacity)
            except ValidationFailed as exc:
                apply_domain_error(self, exc)
        owner = data.get("owner") or getattr(self.instance, "owner", None)
        publishing = (
            data.get("status") == Offering.Status.PUBLISHED and self.instance.status != Offering.Status.PUBLISHED
        )
        if publishing and owner is not None and not services.owner_is_approved(owner):
            # The admin saves the row itself: the rule offering_set_status keeps holds here too.
            self.add_error("status", "This owner is not approved yet: approve them under Owners (vetting) first.")
        grid = data.get("grid_seconds")
        if self.instance.pk and grid and grid != self.instance.grid_seconds and self.instance.pricing_policies.exists():
            # Prices are per grid unit: only offering_update restates them for a new grid.
            self.add_error(
                "grid_seconds",
                "This offering's prices are per grid unit: change its grid in the owner portal, "
                "which restates them for the new grid at the same price per second.",
            )
        return data


class _StandbyDryRun(Exception):
    pass


class StandbyPoolAdminForm(forms.ModelForm):
    """A standby pool's size goes through owners.services.standby_pool_set (held-back sums, the
    capacity guard, the audit), never a plain save: clean() runs the service in a savepoint that it
    rolls back, so a refusal (the guard naming the instant) is a form error on the field; the admin
    then saves through the service (OfferingAdmin.save_formset). Deleting a pool is setting it to 0."""

    actor: Any = None  # set per request by StandbyPoolInline.get_formset

    class Meta:
        model = StandbyPool
        fields = ("offering", "profile", "image", "size")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        existing = self.instance.pk is not None
        offering = data.get("offering") or (self.instance.offering if self.instance.offering_id else None)
        # Fields the page shows read-only (an existing pool's shape) come from the row.
        profile = data.get("profile") if "profile" in self.fields else (self.instance.profile if existing else None)
        image = (data.get("image") or "") if "image" in self.fields else self.instance.image
        if offering is None or profile is None or self.errors or not self.has_changed():
            return data  # a new offering's pools are checked when saved (the offering exists then)
        if existing and (profile != self.instance.profile or image != self.instance.image):
            self.add_error("profile", "Set this pool to 0 and add a new one for another profile or image.")
            return data
        try:
            with transaction.atomic():
                services.standby_pool_set(
                    actor=self.actor,
                    offering=offering,
                    profile=profile,
                    image=image,
                    size=data.get("size") or 0,
                )
                raise _StandbyDryRun
        except _StandbyDryRun:
            pass
        except DomainError as exc:
            apply_domain_error(self, exc)
        return data


class StandbyPoolInline(admin.TabularInline):
    model = StandbyPool
    form = StandbyPoolAdminForm
    extra = 0
    can_delete = False  # set the size to 0: the pool's servers are then wiped and deleted
    fields = ("profile", "image", "size", "updated_at")
    readonly_fields = ("updated_at",)
    raw_id_fields = ("profile",)

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = type("StandbyPoolAdminFormFor", (formset.form,), {"actor": request.user})
        return formset


@admin.register(StandbyPool)
class StandbyPoolAdmin(admin.ModelAdmin):
    """The pools of every offering; a size is changed through standby_pool_set (StandbyPoolAdminForm)."""

    form = StandbyPoolAdminForm
    list_display = ("offering", "profile", "image", "size", "updated_at")
    list_select_related = ("offering", "profile")
    search_fields = ("offering__name", "offering__owner__email", "profile__name", "image")
    raw_id_fields = ("offering", "profile")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return (
            ("offering", "profile", "image", "size", "updated_at") if obj else ("offering", "profile", "image", "size")
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # A pool's shape is its identity: another profile or image is another pool (set this one to 0).
        return ("offering", "profile", "image", "updated_at") if obj else ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # set the size to 0: the pool's servers are then wiped and deleted

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return type("StandbyPoolAdminFormFor", (form,), {"actor": request.user})

    def save_model(self, request: HttpRequest, obj: StandbyPool, form: Any, change: bool) -> None:
        try:
            pool = services.standby_pool_set(
                actor=request.user,  # type: ignore[arg-type]
                offering=obj.offering,
                profile=obj.profile,
                image=obj.image,
                size=obj.size,
            )
        except DomainError as exc:  # lost a race after the form's check
            self.message_user(request, f"Standby servers not changed: {exc.message}", messages.ERROR)
            return
        obj.pk = pool.pk
        send_on_commit("provisioning.refill_pool", pool.pk)


@admin.register(Offering)
class OfferingAdmin(admin.ModelAdmin):
    form = OfferingAdminForm
    list_display = ("name", "owner", "cloud", "region", "status", "vcpus", "ram_mib", "grid_seconds", "created_at")
    list_filter = ("status", "region", "grid_seconds")
    search_fields = ("name", "owner__email", "cloud__name", "region")
    raw_id_fields = ("owner", "cloud")
    inlines = [WindowInline, PricingInline, StandbyPoolInline]
    date_hierarchy = "created_at"
    readonly_fields = ("standby_vcpus", "standby_ram_mib", "standby_disk_gb", "standby_bandwidth_mbps")

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not StandbyPool:
            super().save_formset(request, form, formset, change)
            return
        # Standby pools change only through the service (see StandbyPoolAdminForm).
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for f in formset.forms:
            if not f.has_changed() or not f.cleaned_data or f.cleaned_data.get("profile") is None:
                continue
            try:
                pool = services.standby_pool_set(
                    actor=request.user,  # type: ignore[arg-type]
                    offering=form.instance,
                    profile=f.cleaned_data["profile"],
                    image=f.cleaned_data.get("image") or "",
                    size=f.cleaned_data.get("size") or 0,
                )
            except DomainError as exc:
                self.message_user(request, f"Standby servers not changed: {exc.message}", messages.ERROR)
                continue
            send_on_commit("provisioning.refill_pool", pool.pk)
            (formset.changed_objects if f.instance.pk else formset.new_objects).append(
                (pool, ["size"]) if f.instance.pk else pool
            )


@admin.register(SliceProfile)
class SliceProfileAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "vcpus", "ram_mib", "disk_gb", "bandwidth_mbps", "flavor_name")
    list_filter = (("owner", admin.EmptyFieldListFilter),)
    search_fields = ("name", "flavor_name", "owner__email")


@admin.register(PricingPolicy)
class PricingPolicyAdmin(admin.ModelAdmin):
    form = PricingAdminForm
    list_display = (
        "offering",
        "profile",
        "model",
        "terms",
        money("price_per_unit", "price per unit"),
        money("reserve_price", "reserve"),
        money("base_price", "base"),
        money("floor_price", "floor"),
        money("cap_price", "cap"),
        "clearing_rule",
        "release_charge",
    )
    list_filter = ("model", "currency", "clearing_rule", "release_charge")

    @admin.display(description="price (per grid unit and per hour)")
    def terms(self, obj: PricingPolicy) -> str:
        # Money in major units with its currency, as the owner portal writes it (the row holds minor units).
        return pricing.terms_words(pricing.policy_terms(obj), obj.offering.grid_seconds)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PricingPolicy]:
        return super().get_queryset(request).select_related("offering", "profile")

    search_fields = ("offering__name", "profile__name", "offering__owner__email")
    raw_id_fields = ("offering", "profile")


@admin.register(AvailabilityWindow)
class AvailabilityWindowAdmin(admin.ModelAdmin):
    list_display = ("offering", "__str__", "start_time", "end_time")
    search_fields = ("offering__name",)
    raw_id_fields = ("offering",)


def _approved() -> Exists:
    return Exists(OwnerVetting.objects.filter(owner=OuterRef("pk"), approved_at__isnull=False))


class ApprovalFilter(admin.SimpleListFilter):
    title = "approval"
    parameter_name = "approval"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("pending", "Awaiting approval"), ("approved", "Approved")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "pending":
            return queryset.filter(_owner_approved=False)
        if self.value() == "approved":
            return queryset.filter(_owner_approved=True)
        return queryset


@admin.register(OwnerAccount)
class OwnerAccountAdmin(admin.ModelAdmin):
    """Owners as staff vet them: "Approve owner" lets an owner publish offerings (audited as owner.approved).

    Read-only here: accounts are edited under Accounts > Users."""

    list_display = ("email", "handle", "approved", "approved_at", "approved_by", "date_joined")
    list_filter = (ApprovalFilter,)
    search_fields = ("email", "handle")
    ordering = ("-date_joined",)
    fields = ("email", "handle", "approved", "approved_at", "approved_by", "date_joined")
    readonly_fields = fields
    actions = ["approve_owner"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[OwnerAccount]:
        return (
            super()
            .get_queryset(request)
            .filter(is_owner=True)
            .annotate(_owner_approved=_approved())
            .select_related("owner_vetting__approved_by")
        )

    @admin.display(boolean=True, description="approved", ordering="_owner_approved")
    def approved(self, obj: OwnerAccount) -> bool:
        return bool(getattr(obj, "_owner_approved", False))

    @admin.display(description="approved at")
    def approved_at(self, obj: OwnerAccount) -> Any:
        vetting = getattr(obj, "owner_vetting", None)
        return vetting.approved_at if vetting else None

    @admin.display(description="approved by")
    def approved_by(self, obj: OwnerAccount) -> Any:
        vetting = getattr(obj, "owner_vetting", None)
        return vetting.approved_by if vetting else None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("owners.approve_owner"))

    @admin.action(description="Approve owner (may publish offerings)", permissions=["approve"])
    def approve_owner(self, request: HttpRequest, queryset: QuerySet[OwnerAccount]) -> None:
        approved = 0
        for owner in queryset:
            try:
                services.owner_approve(actor=request.user, owner=owner)  # type: ignore[arg-type]
            except DomainError as exc:
                self.message_user(request, f"{owner.email}: {exc.message}", messages.ERROR)
            else:
                approved += 1
        if approved:
            self.message_user(request, f"{approved} owner(s) approved: they may publish offerings.", messages.SUCCESS)


@admin.register(OwnerVetting)
class OwnerVettingAdmin(admin.ModelAdmin):
    """The approval records, read-only: approve owners with the action under "Owners (vetting)"."""

    list_display = ("owner", "approved_at", "approved_by", "created_at")
    list_filter = (("approved_at", admin.EmptyFieldListFilter),)
    search_fields = ("owner__email", "owner__handle")
    readonly_fields = ("owner", "approved_at", "approved_by", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
