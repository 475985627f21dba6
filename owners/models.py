"""The owners' catalogue: clouds, offerings, availability windows, profiles and pricing.

Rules that involve one row are database constraints (named
owners_<model>_<rule>, with a message a person can act on); rules across rows
(a profile that must fit its offering) live in ``clean()`` and the services.
"""

from __future__ import annotations

from collections.abc import Collection

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.fields.ranges import RangeOperators
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from guardian.models import UserObjectPermissionBase

from accounts.models import User, validate_timezone
from marketplace.lib import clock, crypto, netguard
from marketplace.lib.money import CURRENCY_CHOICES, format_major
from owners import bounds

MIN_GRID_SECONDS = 5
MAX_GRID_SECONDS = 3600
ONE_CURRENCY = "owners_pricingpolicy_one_currency"
WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


def secret_context(cloud_id: int | None) -> str:
    """The crypto context of a cloud's credential secret (also used by the data migration that bound them)."""
    return f"owners.cloud:{cloud_id}"


class Cloud(models.Model):
    """An owner's OpenStack connection. The credential secret is stored encrypted only."""

    class Driver(models.TextChoices):
        OPENSTACK = "openstack", "OpenStack"
        SIMULATOR = "simulator", "Local simulator (demo, no real servers)"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="clouds")
    name = models.CharField(max_length=100)
    driver = models.CharField(max_length=20, choices=Driver.choices, default=Driver.OPENSTACK)
    auth_url = models.URLField("Keystone auth URL", max_length=300, blank=True)
    region_name = models.CharField(max_length=100, default="RegionOne")
    project_id = models.CharField(max_length=100, blank=True)
    app_credential_id = models.CharField("application credential ID", max_length=100, blank=True)
    app_credential_secret_encrypted = models.TextField(blank=True, editable=False)
    compute_endpoint_override = models.URLField(
        max_length=300,
        blank=True,
        help_text="Only for clouds without Keystone (a development Nova with noauth2).",
    )
    image_endpoint_override = models.URLField(max_length=300, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True, blank=True)
    last_check_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"],
                name="owners_cloud_unique_name",
                violation_error_message="You already have a cloud with this name.",
            ),
            models.CheckConstraint(
                condition=Q(driver__in=["openstack", "simulator"]), name="owners_cloud_driver_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_secret(self) -> bool:
        return bool(self.app_credential_secret_encrypted)

    @property
    def secret_context(self) -> str:
        """What the credential's ciphertext is bound to (marketplace.lib.crypto): this row, so a ciphertext
        copied into another cloud's column does not decrypt there."""
        return secret_context(self.pk)

    def set_secret(self, plaintext: str) -> None:
        """Encrypt the secret bound to this row: the cloud must be saved first (it needs its pk)."""
        if plaintext and self.pk is None:
            raise ValueError("Save the cloud before setting its secret: the ciphertext is bound to its row.")
        self.app_credential_secret_encrypted = (
            crypto.encrypt(plaintext, context=self.secret_context) if plaintext else ""
        )

    def reveal_secret(self) -> str:
        """Plaintext for the cloud driver only; never render or log it. SecretUnreadable when the keys
        changed or the ciphertext belongs to another row."""
        if not self.app_credential_secret_encrypted:
            return ""
        return crypto.decrypt(self.app_credential_secret_encrypted, context=self.secret_context)

    @staticmethod
    def simulator_allowed() -> bool:
        """The simulator (fake clouds) only where the operator turned it on: development and demos."""
        return bool(getattr(settings, "MARKETPLACE_ALLOW_SIMULATOR", False))

    @classmethod
    def driver_choices(cls) -> list[tuple[str, str]]:
        """The drivers an owner may pick here (forms, admin)."""
        return [(v, label) for v, label in cls.Driver.choices if v != cls.Driver.SIMULATOR or cls.simulator_allowed()]

    def clean(self) -> None:
        if self.driver == self.Driver.SIMULATOR and not self.simulator_allowed():
            raise ValidationError({"driver": "The local simulator is not available here: choose OpenStack."})
        # Every URL we would call on the owner's behalf (marketplace.lib.netguard; checked again, with DNS,
        # on every connection).
        errors: dict[str, str] = {}
        for name in ("auth_url", "compute_endpoint_override", "image_endpoint_override"):
            value = getattr(self, name)
            if value:
                try:
                    netguard.check_url(value)
                except netguard.Refused as exc:
                    errors[name] = str(exc)
        if errors:
            raise ValidationError(errors)
        noauth = bool(self.compute_endpoint_override) and getattr(settings, "CLOUD_NOAUTH_ENDPOINTS", False)
        if self.driver == self.Driver.OPENSTACK and not self.auth_url and not noauth:
            raise ValidationError({"auth_url": "An OpenStack cloud needs its Keystone auth URL."})
        if self.driver == self.Driver.OPENSTACK and self.auth_url and not self.app_credential_id:
            raise ValidationError({"app_credential_id": "Keystone authentication needs an application credential ID."})


class OwnerVetting(models.Model):
    """Staff's approval of an owner: an owner's offerings are published only once approved.

    No row, or a row without ``approved_at``, means the owner is waiting (the owner portal says so).
    Approval is an admin action ("Approve owner", owners.services.owner_approve), audited.
    """

    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owner_vetting")
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        permissions = [("approve_owner", "Can approve owners so they may publish offerings")]

    def __str__(self) -> str:
        return f"{self.owner}: {'approved' if self.approved_at else 'pending'}"


class OwnerAccount(User):
    """Owners as staff vet them (the admin's "Owners" list); the same rows as accounts.User."""

    class Meta:
        proxy = True
        verbose_name = "owner (vetting)"
        verbose_name_plural = "owners (vetting)"


class SliceProfile(models.Model):
    """A shape of server: vCPU, RAM, disk, bandwidth, and the flavor it maps to.

    Profiles with no owner are the platform's predefined ones (Micro, Small,
    Medium, Large); owners add custom profiles of their own.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="slice_profiles"
    )
    name = models.CharField(max_length=60)
    vcpus = models.PositiveIntegerField("vCPU", validators=[MinValueValidator(1), MaxValueValidator(512)])
    ram_mib = models.PositiveIntegerField("RAM (MiB)", validators=[MinValueValidator(128)])
    disk_gb = models.PositiveIntegerField("disk (GB)", default=0)
    bandwidth_mbps = models.PositiveIntegerField("bandwidth (Mbit/s)", default=0)
    flavor_name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["vcpus", "ram_mib", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"],
                name="owners_sliceprofile_unique_name",
                violation_error_message="A profile with this name already exists.",
            ),
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(owner__isnull=True),
                name="owners_sliceprofile_unique_predefined",
                violation_error_message="A predefined profile with this name already exists.",
            ),
            models.CheckConstraint(
                condition=Q(vcpus__gte=1) & Q(ram_mib__gte=128),
                name="owners_sliceprofile_positive",
                violation_error_message="A profile needs at least 1 vCPU and 128 MiB of RAM.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_predefined(self) -> bool:
        return self.owner_id is None

    def resources(self) -> dict[str, int]:
        return {
            "vcpus": self.vcpus,
            "ram_mib": self.ram_mib,
            "disk_gb": self.disk_gb,
            "bandwidth_mbps": self.bandwidth_mbps,
        }


class Offering(models.Model):
    """Capacity an owner puts up for slicing on one cloud."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        PAUSED = "paused", "Paused"
        RETIRED = "retired", "Retired"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="offerings")
    cloud = models.ForeignKey(Cloud, on_delete=models.PROTECT, related_name="offerings")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    region = models.CharField(max_length=100, db_index=True)
    vcpus = models.PositiveIntegerField("vCPU capacity")
    ram_mib = models.PositiveIntegerField("RAM capacity (MiB)")
    disk_gb = models.PositiveIntegerField("disk capacity (GB)", default=0)
    bandwidth_mbps = models.PositiveIntegerField("bandwidth capacity (Mbit/s)", default=0)
    grid_seconds = models.PositiveIntegerField(
        "slice grid (seconds)",
        default=300,
        validators=[MinValueValidator(MIN_GRID_SECONDS), MaxValueValidator(MAX_GRID_SECONDS)],
        help_text="Slices start on multiples of this many seconds (5 s to 1 h).",
    )
    min_length_seconds = models.PositiveIntegerField("shortest request (seconds)", default=300)
    max_length_seconds = models.PositiveIntegerField("longest request (seconds)", default=86400)
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text="Availability windows are read in this time zone.",
    )
    allowed_images = ArrayField(
        models.CharField(max_length=200),
        default=list,
        blank=True,
        help_text="Images or applications renters may choose.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True)
    preemption_notice_seconds = models.PositiveIntegerField(
        default=120, help_text="Notice a renter gets before the owner preempts a booking."
    )
    # Held back from sale for the standby servers (the sum of the offering's StandbyPool sizes times
    # their profiles), kept by owners.services.standby_pool_set; the capacity guards sell only the rest.
    standby_vcpus = models.PositiveIntegerField("vCPU held for standby servers", default=0, editable=False)
    standby_ram_mib = models.PositiveIntegerField("RAM held for standby servers (MiB)", default=0, editable=False)
    standby_disk_gb = models.PositiveIntegerField("disk held for standby servers (GB)", default=0, editable=False)
    standby_bandwidth_mbps = models.PositiveIntegerField(
        "bandwidth held for standby servers (Mbit/s)", default=0, editable=False
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["status", "region"], name="owners_offering_status_region")]
        constraints = [
            models.CheckConstraint(
                condition=Q(standby_vcpus__lte=F("vcpus"))
                & Q(standby_ram_mib__lte=F("ram_mib"))
                & Q(standby_disk_gb__lte=F("disk_gb"))
                & Q(standby_bandwidth_mbps__lte=F("bandwidth_mbps")),
                name="owners_offering_standby_within_capacity",
                violation_error_message="Standby servers cannot hold more than the offering's capacity.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "published", "paused", "retired"]),
                name="owners_offering_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(grid_seconds__gte=MIN_GRID_SECONDS) & Q(grid_seconds__lte=MAX_GRID_SECONDS),
                name="owners_offering_grid_range",
                violation_error_message="The slice grid must be between 5 seconds and 1 hour.",
            ),
            models.CheckConstraint(
                condition=Q(vcpus__gte=1) & Q(ram_mib__gte=128),
                name="owners_offering_capacity_positive",
                violation_error_message="An offering needs at least 1 vCPU and 128 MiB of RAM.",
            ),
            models.CheckConstraint(
                condition=Q(min_length_seconds__gte=F("grid_seconds")),
                name="owners_offering_min_length_at_least_grid",
                violation_error_message="The shortest request must be at least one grid unit.",
            ),
            models.CheckConstraint(
                condition=Q(max_length_seconds__gte=F("min_length_seconds")),
                name="owners_offering_max_ge_min",
                violation_error_message="The longest request cannot be shorter than the shortest one.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        grid = self.grid_seconds or 0
        if grid and self.min_length_seconds and self.min_length_seconds % grid:
            errors["min_length_seconds"] = (
                f"The shortest request ({self.min_length_seconds} s) is not a multiple of the {grid}-second grid."
            )
        if grid and self.max_length_seconds and self.max_length_seconds % grid:
            errors["max_length_seconds"] = (
                f"The longest request ({self.max_length_seconds} s) is not a multiple of the {grid}-second grid."
            )
        if self.cloud_id and self.owner_id and self.cloud.owner_id != self.owner_id:
            errors["cloud"] = "You can only offer capacity from your own clouds."
        images = [i.strip() for i in self.allowed_images or []]
        if any(not i for i in images):
            errors["allowed_images"] = "Image names cannot be blank."
        errors.update(bounds.capacity_errors(self.capacity()))
        errors.update(bounds.notice_errors(self.preemption_notice_seconds))
        if errors:
            raise ValidationError(errors)

    def capacity(self) -> dict[str, int]:
        return {
            "vcpus": self.vcpus,
            "ram_mib": self.ram_mib,
            "disk_gb": self.disk_gb,
            "bandwidth_mbps": self.bandwidth_mbps,
        }

    def standby_capacity(self) -> dict[str, int]:
        """What the standby servers hold back from sale."""
        return {
            "vcpus": self.standby_vcpus,
            "ram_mib": self.standby_ram_mib,
            "disk_gb": self.standby_disk_gb,
            "bandwidth_mbps": self.standby_bandwidth_mbps,
        }

    def sellable_capacity(self) -> dict[str, int]:
        """The capacity the market sells: the offering's minus what its standby servers hold back."""
        held = self.standby_capacity()
        return {k: v - held[k] for k, v in self.capacity().items()}

    def fits(self, profile: SliceProfile) -> list[str]:
        """Names of the resources where ``profile`` is larger than this offering (empty if it fits)."""
        labels = {"vcpus": "vCPU", "ram_mib": "RAM", "disk_gb": "disk", "bandwidth_mbps": "bandwidth"}
        cap = self.capacity()
        return [labels[k] for k, v in profile.resources().items() if v > cap[k]]


class AvailabilityWindow(models.Model):
    """Weekly hours an offering can be sold, in the offering's time zone.

    An end time at or before the start time crosses midnight (22:00-06:00);
    the window belongs to the weekday it starts on. An offering with no
    windows is available at all times.
    """

    offering = models.ForeignKey(Offering, on_delete=models.CASCADE, related_name="windows")
    weekdays = ArrayField(
        models.PositiveSmallIntegerField(choices=WEEKDAYS),
        default=list,
        error_messages={"blank": "Choose at least one weekday."},
    )
    start_time = models.TimeField()
    end_time = models.TimeField()

    class Meta:
        ordering = ["offering_id", "start_time", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(start_time=F("end_time")),
                name="owners_availabilitywindow_nonzero",
                violation_error_message="A window of zero length never opens: make the end differ from the start "
                "(leave an offering without windows to sell at all hours).",
            ),
            models.CheckConstraint(
                condition=Q(weekdays__contained_by=[0, 1, 2, 3, 4, 5, 6]) & ~Q(weekdays=[]),
                name="owners_availabilitywindow_weekdays_valid",
                violation_error_message="Choose at least one weekday.",
            ),
        ]

    def __str__(self) -> str:
        days = ",".join(dict(WEEKDAYS)[d] for d in sorted(self.weekdays or []))
        return f"{days} {self.start_time:%H:%M}-{self.end_time:%H:%M}"

    @property
    def crosses_midnight(self) -> bool:
        return self.end_time < self.start_time


class PricingPolicy(models.Model):
    """How one profile on one offering is priced: fixed, auction or dynamic.

    Prices are integer minor units of ``currency`` per grid unit of the offering. All the prices
    of one offering are in one currency (owners_pricingpolicy_one_currency).
    """

    class Model(models.TextChoices):
        FIXED = "fixed", "Fixed price"
        AUCTION = "auction", "Sealed-bid auction"
        DYNAMIC = "dynamic", "Dynamic (demand-driven)"

    class ClearingRule(models.TextChoices):
        PAY_AS_BID = "pay_as_bid", "Pay as bid"
        UNIFORM = "uniform", "Uniform second price"

    class ReleaseCharge(models.TextChoices):
        PRORATED = "prorated", "Pay only for time used"
        FULL = "full", "Pay the whole slice"

    offering = models.ForeignKey(Offering, on_delete=models.CASCADE, related_name="pricing_policies")
    profile = models.ForeignKey(SliceProfile, on_delete=models.PROTECT, related_name="pricing_policies")
    model = models.CharField(max_length=10, choices=Model.choices, default=Model.FIXED)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="USD")
    price_per_unit = models.BigIntegerField(null=True, blank=True, help_text="Fixed price per grid unit (minor units).")
    reserve_price = models.BigIntegerField(null=True, blank=True, help_text="Lowest acceptable bid per grid unit.")
    bidding_closes_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Bidding closes this many seconds before the slice starts."
    )
    clearing_rule = models.CharField(max_length=12, choices=ClearingRule.choices, blank=True)
    base_price = models.BigIntegerField(null=True, blank=True)
    floor_price = models.BigIntegerField(null=True, blank=True)
    cap_price = models.BigIntegerField(null=True, blank=True)
    surge_curve = models.JSONField(
        default=list,
        blank=True,
        help_text="Points [utilisation %, multiplier], e.g. [[0, 1.0], [50, 1.2], [90, 2.0]].",
    )
    release_charge = models.CharField(max_length=10, choices=ReleaseCharge.choices, default=ReleaseCharge.PRORATED)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name_plural = "pricing policies"
        constraints = [
            models.UniqueConstraint(
                fields=["offering", "profile"],
                name="owners_pricingpolicy_unique_profile",
                violation_error_message="This offering already has a price for that profile.",
            ),
            models.CheckConstraint(
                condition=Q(model__in=["fixed", "auction", "dynamic"]), name="owners_pricingpolicy_model_valid"
            ),
            # No two prices of one offering in different currencies (btree_gist gives text its <>).
            ExclusionConstraint(
                name=ONE_CURRENCY,
                expressions=[("offering", RangeOperators.EQUAL), ("currency", RangeOperators.NOT_EQUAL)],
                violation_error_message="All the prices of one offering are in one currency.",
            ),
            models.CheckConstraint(
                condition=~Q(model="fixed") | Q(price_per_unit__gt=0),
                name="owners_pricingpolicy_fixed_has_price",
                violation_error_message="A fixed price must be greater than zero.",
            ),
            models.CheckConstraint(
                condition=~Q(model="auction")
                | (
                    Q(reserve_price__gte=0)
                    & Q(bidding_closes_seconds__isnull=False)
                    & Q(clearing_rule__in=["pay_as_bid", "uniform"])
                ),
                name="owners_pricingpolicy_auction_complete",
                violation_error_message="An auction needs a reserve price, a bidding close time and a clearing rule.",
            ),
            models.CheckConstraint(
                condition=~Q(model="dynamic")
                | (Q(floor_price__gte=0) & Q(floor_price__lte=F("base_price")) & Q(base_price__lte=F("cap_price"))),
                name="owners_pricingpolicy_dynamic_bounds",
                violation_error_message="A dynamic price needs floor ≤ base ≤ cap, with a floor of zero or more.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.offering} / {self.profile}: {self.get_model_display()}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.offering_id and self.profile_id:
            too_big = self.offering.fits(self.profile)
            if too_big:
                errors["profile"] = (
                    f"The profile {self.profile.name} is larger than the offering in: {', '.join(too_big)}."
                )
            if self.profile.owner_id not in (None, self.offering.owner_id):
                errors["profile"] = "That profile belongs to another owner."
        if self.model == self.Model.FIXED and (self.price_per_unit is None or self.price_per_unit <= 0):
            errors["price_per_unit"] = "A fixed price must be greater than zero."
        if self.model == self.Model.AUCTION:
            if self.reserve_price is None or self.reserve_price < 0:
                errors["reserve_price"] = "An auction needs a reserve price of zero or more."
            if self.bidding_closes_seconds is None:
                errors["bidding_closes_seconds"] = "Say how long before the slice start bidding closes."
            if not self.clearing_rule:
                errors["clearing_rule"] = "Choose pay-as-bid or uniform second price."
        if self.model == self.Model.DYNAMIC:
            for name in ("base_price", "floor_price", "cap_price"):
                if getattr(self, name) is None:
                    errors[name] = "Required for a dynamic price."
            if not errors:
                if self.floor_price is not None and self.floor_price < 0:  # type: ignore[operator]
                    errors["floor_price"] = "The floor cannot be negative."
                elif self.floor_price > self.cap_price:  # type: ignore[operator]
                    errors["floor_price"] = (
                        f"The floor ({format_major(self.floor_price, self.currency)}) is above "  # type: ignore[arg-type]
                        f"the cap ({format_major(self.cap_price, self.currency)})."  # type: ignore[arg-type]
                    )
                elif not (self.floor_price <= self.base_price <= self.cap_price):  # type: ignore[operator]
                    errors["base_price"] = "The base price must lie between the floor and the cap."
            try:
                validate_surge_curve(self.surge_curve)
            except ValidationError as exc:
                errors["surge_curve"] = exc.messages[0]
        if self.offering_id:
            other = self.other_currency()
            if other and other != self.currency:
                errors["currency"] = (
                    f"This offering's prices are in {other}: a price on it must be in {other} too "
                    "(one currency per offering)."
                )
            prices = {f: getattr(self, f) for f in bounds.PRICE_LABELS}
            for field, message in bounds.price_errors(prices, self.currency, self.offering.grid_seconds).items():
                errors.setdefault(field, message)
        if errors:
            raise ValidationError(errors)

    def validate_constraints(self, exclude: Collection[str] | None = None) -> None:
        """The named constraints; the one-currency rule, when another price landed meanwhile, is
        reported on the currency field (as clean() and the database's refusal report it)."""
        try:
            super().validate_constraints(exclude)
        except ValidationError as exc:
            one_currency = next(c for c in self._meta.constraints if c.name == ONE_CURRENCY)
            message = str(one_currency.get_violation_error_message())
            errors: dict[str, list[str]] = dict(exc.message_dict)
            general = errors.pop(NON_FIELD_ERRORS, [])
            if message in general:
                errors.setdefault("currency", []).append(message)
                general = [m for m in general if m != message]
            if general:
                errors[NON_FIELD_ERRORS] = general
            raise ValidationError(errors) from exc

    def other_currency(self) -> str | None:
        """The currency of this offering's other prices (None when it has no other price)."""
        others = PricingPolicy.objects.filter(offering_id=self.offering_id).exclude(pk=self.pk)
        return others.values_list("currency", flat=True).first()


def validate_surge_curve(curve: object) -> list[tuple[float, float]]:
    """A surge curve is a list of [utilisation %, multiplier] points, utilisation rising from 0 to 100."""
    if curve in (None, []):
        return []
    if not isinstance(curve, list):
        raise ValidationError("The surge curve must be a list of [utilisation %, multiplier] points.")
    points: list[tuple[float, float]] = []
    for point in curve:
        if not (
            isinstance(point, (list, tuple))
            and len(point) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point)
        ):
            raise ValidationError(f"Surge point {point!r} is not [utilisation %, multiplier].")
        util, mult = float(point[0]), float(point[1])
        if not 0 <= util <= 100:
            raise ValidationError(f"Utilisation {util} is outside 0-100 %.")
        if mult <= 0:
            raise ValidationError(f"Multiplier {mult} must be positive.")
        if points and util <= points[-1][0]:
            raise ValidationError("Surge points must be in order of rising utilisation.")
        points.append((util, mult))
    return points


# Direct-FK object permission tables (faster than guardian's generic ones).
class StandbyPool(models.Model):
    """How many servers of one profile (and image) the owner keeps booted and idle on an offering.

    A warm pool: a slice that starts takes one of them and its control passes to the renter (a
    rebuild with the renter's key and user-data, which also wipes the disk), so the renter does not
    wait for a boot. Standby servers are held back from sale (Offering.standby_*), so the servers
    the marketplace keeps on the cloud never need more than the offering's capacity.
    """

    offering = models.ForeignKey(Offering, on_delete=models.CASCADE, related_name="standby_pools")
    profile = models.ForeignKey(SliceProfile, on_delete=models.PROTECT, related_name="standby_pools")
    image = models.CharField(
        max_length=200, blank=True, help_text="Image the idle servers run (blank: the offering's first)."
    )
    size = models.PositiveIntegerField(
        "standby servers", default=0, validators=[MaxValueValidator(64)], help_text="Servers kept booted and idle."
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["offering_id", "profile_id", "image"]
        constraints = [
            models.UniqueConstraint(
                fields=["offering", "profile", "image"],
                name="owners_standbypool_one_per_shape",
                violation_error_message="This offering already has a standby setting for that profile and image.",
            ),
            models.CheckConstraint(
                condition=Q(size__lte=64),
                name="owners_standbypool_size_range",
                violation_error_message="At most 64 standby servers per profile and image.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.size} standby {self.profile} on {self.offering}"


class CloudUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Cloud, on_delete=models.CASCADE)


class OfferingUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Offering, on_delete=models.CASCADE)
