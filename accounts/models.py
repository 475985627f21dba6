"""Users log in with their email; one user may be an owner, a renter, or both."""

from __future__ import annotations

import hashlib
import re
import secrets
import zoneinfo

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower

from marketplace.lib import clock


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (for example Europe/Berlin).")


HANDLE_MIN, HANDLE_MAX = 3, 30
HANDLE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
# Handles that would let a user pass for the platform itself.
RESERVED_HANDLES = frozenset(
    {"admin", "administrator", "staff", "support", "help", "security", "system", "root", "marketplace",
     "slice-market", "operator", "moderator", "billing", "abuse", "postmaster", "webmaster", "you", "someone"}
)  # fmt: skip


def new_handle() -> str:
    """A default public handle: random, so it tells nothing about the user (not their email, not their id)."""
    return f"user-{secrets.token_hex(4)}"


def normalize_handle(value: str) -> str:
    return (value or "").strip().lower()


def validate_handle(value: str) -> None:
    if not HANDLE_MIN <= len(value) <= HANDLE_MAX:
        raise ValidationError(f"Use {HANDLE_MIN} to {HANDLE_MAX} characters.")
    if not HANDLE_PATTERN.match(value) or "--" in value:
        raise ValidationError(
            "Use lowercase letters, digits and single hyphens (not at the start or end), e.g. north-cloud-42."
        )
    if value in RESERVED_HANDLES:
        raise ValidationError("This handle is reserved: choose another one.")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("an email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField("email address", unique=True)
    display_name = models.CharField(max_length=120, blank=True)
    # What other users see of this one (owners on offerings, renters on an owner's bookings): never the email.
    handle = models.CharField(
        "public handle",
        max_length=HANDLE_MAX,
        unique=True,
        default=new_handle,
        validators=[validate_handle],
        help_text="How other users see you: owners' offerings show it, owners see renters by it.",
    )
    is_owner = models.BooleanField(default=False, help_text="Sells capacity from their clouds.")
    is_renter = models.BooleanField(default=True, help_text="Rents time-slices.")
    # The zone the portal shows and reads times in ("": not chosen yet; the browser's is taken on the
    # next page, UTC until then). The API always answers in UTC.
    timezone = models.CharField(
        "time zone",
        max_length=64,
        blank=True,
        default="",
        validators=[validate_timezone],
        help_text="The portal's times are in this zone (IANA name, e.g. Europe/Paris). The API always uses UTC.",
    )
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=clock.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []  # type: ignore[misc]  # no fields beyond email and password

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    @property
    def time_zone_name(self) -> str:
        """The zone the portal uses for this user: the chosen one, else UTC."""
        return self.timezone or "UTC"

    def __str__(self) -> str:
        # The public handle, never the email: str(user) ends up in pages other users read.
        return self.handle


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 is stored; the plaintext is shown once.

    A token carries scopes (what it may do: accounts.permissions maps each endpoint to one) and an
    expiry; it is refused from the instant it expires or is revoked. All of a user's tokens are
    revoked when their password or their second factor changes (accounts.signals)."""

    PREFIX = "tsm_"

    class Scope(models.TextChoices):
        READ = "read", "read: look (search, bookings, usage, balance)"
        MARKET = "market", "market: buy, bid, quote, release"
        BILLING = "billing", "billing: top up, add cards"
        OWNER = "owner", "owner: offerings, revenue, payouts"

    ALL_SCOPES: tuple[str, ...] = tuple(Scope.values)

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    key_prefix = models.CharField(max_length=12, help_text="First characters, to tell tokens apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = ArrayField(models.CharField(max_length=16, choices=Scope.choices), default=list)
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=32, blank=True, help_text="Why: by its user, password change...")

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"], name="accounts_token_user_live")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scopes__contained_by=["read", "market", "billing", "owner"])
                & models.Q(scopes__len__gte=1),
                name="accounts_apitoken_scopes_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")),
                name="accounts_apitoken_expires_after_created",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= clock.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired else "active"

    @classmethod
    def new_raw_key(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` for one write, kept a day (marketplace.lib.idempotency).

    Here because keys belong to a user and every market app's writes use them: ``accounts`` sits below
    all of those apps, and the project package holds no models. The row is claimed (inserted, committed)
    before the write runs, so a duplicate sent meanwhile finds it and is answered 409 instead of acting.
    """

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress"
        DONE = "done"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body.")
    state = models.CharField(max_length=12, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="accounts_idempotencykey_user_key_unique"),
            models.CheckConstraint(
                condition=models.Q(state__in=["in_progress", "done"]), name="accounts_idempotencykey_state_valid"
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="accounts_idemkey_created")]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"
