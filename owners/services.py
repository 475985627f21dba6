"""Writes to the owners' catalogue. Each service checks who may act, validates, saves, audits.

Every function is keyword-only, takes the acting user first and runs in one
transaction, except cloud_test_connection, which talks to the cloud outside
any transaction and records the outcome afterwards, and offering_capacity_check,
a check for doors that save offerings themselves (it saves nothing).

Rules that belong to higher apps (owners may not import them) are database guards
those apps install on owners' tables; owners knows only their names (DATABASE_GUARDS)
and shows the message each one writes for the owner.
"""

from __future__ import annotations

import json
from datetime import time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from guardian.shortcuts import assign_perm

from accounts.models import User
from audit.services import record_event
from marketplace.lib import clock
from marketplace.lib.errors import ConflictError, PermissionDeniedError, ValidationFailed
from marketplace.lib.staff import is_owner_or_superuser
from owners import pricing
from owners.hooks import ConnectionResult, connection_tester
from owners.models import (
    ONE_CURRENCY,
    AvailabilityWindow,
    Cloud,
    Offering,
    OwnerVetting,
    PricingPolicy,
    SliceProfile,
    StandbyPool,
)

CLOUD_FIELDS = (
    "name",
    "driver",
    "auth_url",
    "region_name",
    "project_id",
    "app_credential_id",
    "compute_endpoint_override",
    "image_endpoint_override",
)
OFFERING_FIELDS = (
    "name",
    "description",
    "region",
    "vcpus",
    "ram_mib",
    "disk_gb",
    "bandwidth_mbps",
    "grid_seconds",
    "min_length_seconds",
    "max_length_seconds",
    "timezone",
    "allowed_images",
    "preemption_notice_seconds",
)
PROFILE_FIELDS = ("name", "vcpus", "ram_mib", "disk_gb", "bandwidth_mbps", "flavor_name")
PRICING_FIELDS = (
    "model",
    "currency",
    "price_per_unit",
    "reserve_price",
    "bidding_closes_seconds",
    "clearing_rule",
    "base_price",
    "floor_price",
    "cap_price",
    "surge_curve",
    "release_charge",
)

CAPACITY_FIELDS = ("vcpus", "ram_mib", "disk_gb", "bandwidth_mbps")

# Guards written in SQL on owners' tables by the apps that own what they protect (owners may not
# import those apps). Each refuses with SQLSTATE 23xxx, this constraint name, and a DETAIL holding
# a JSON object {field: message} written for the owner; _validated_save shows it as field errors.
# owners_offering_capacity_covers_claims (scheduling/sql/offering_capacity_guard.sql): a capacity below what live
# bookings hold at some instant from now on.
CAPACITY_GUARD = "owners_offering_capacity_covers_claims"
DATABASE_GUARDS = frozenset({CAPACITY_GUARD})

# Allowed status moves; retired is final.
OFFERING_TRANSITIONS: dict[str, set[str]] = {
    "draft": {"published", "retired"},
    "published": {"paused", "retired"},
    "paused": {"published", "retired"},
    "retired": set(),
}


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}


def _snapshot(instance: models.Model, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: getattr(instance, f) for f in fields}


def _guard_refusal(exc: IntegrityError) -> ValidationFailed | None:
    """A named database guard's refusal (see DATABASE_GUARDS) as field errors; None for any other error."""
    diag = getattr(exc.__cause__, "diag", None)
    if getattr(diag, "constraint_name", None) == ONE_CURRENCY:
        # Lost a race with another price in another currency (clean() refuses the rest).
        return ValidationFailed({"currency": ["All the prices of one offering are in one currency."]})
    if getattr(diag, "constraint_name", None) not in DATABASE_GUARDS:
        return None
    try:
        fields = json.loads(diag.message_detail or "")  # type: ignore[union-attr]
    except ValueError:
        fields = None
    if not isinstance(fields, dict) or not fields:
        return ValidationFailed({"__all__": [str(diag.message_primary)]})  # type: ignore[union-attr]
    return ValidationFailed({str(field): [str(message)] for field, message in fields.items()})


def _check_guards_now(guards: tuple[str, ...]) -> None:
    """Run the deferred guards' pending checks now instead of at commit (then defer them again).

    Their refusal is then raised inside the service, which can show it, even when a caller's
    transaction will commit much later. ``marketplace.now`` tells them the application's clock.
    """
    names = ", ".join(connection.ops.quote_name(g) for g in guards)
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('marketplace.now', %s, true)", [clock.now().isoformat()])
        cur.execute(f"SET CONSTRAINTS {names} IMMEDIATE")
        cur.execute(f"SET CONSTRAINTS {names} DEFERRED")


def _validated_save(
    instance: models.Model, update_fields: list[str] | None = None, *, guards: tuple[str, ...] = ()
) -> None:
    """full_clean (fields, clean(), named constraints) then save; DB races still end as a clear error.

    ``guards``: deferred database guards (DATABASE_GUARDS) to run right after the save; a refusal
    is raised as ValidationFailed with the guard's own message, and the save is undone.
    """
    try:
        instance.full_clean()
    except ValidationError as exc:
        raise ValidationFailed(_errors(exc)) from exc
    try:
        with transaction.atomic():
            instance.save(update_fields=update_fields)
            if guards:
                _check_guards_now(guards)
    except IntegrityError as exc:
        refusal = _guard_refusal(exc)
        if refusal is not None:
            raise refusal from exc
        raise ConflictError("That conflicts with another record; reload and try again.") from exc


def _require_owner(actor: User) -> None:
    if not is_owner_or_superuser(actor):
        raise PermissionDeniedError("Only owners can manage clouds and offerings.")


def _require_perm(actor: User, perm: str, obj: models.Model) -> None:
    if not (actor.is_authenticated and (actor.is_superuser or actor.has_perm(perm, obj))):
        raise PermissionDeniedError("You do not have access to this item.")


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [before[k], after[k]] for k in after if before.get(k) != after[k]}


# ---- vetting ---------------------------------------------------------------------------------

AWAITING_APPROVAL = (
    "Your owner account is awaiting approval by the marketplace staff: you can add clouds and prepare "
    "offerings and prices now, and publish them once your account is approved."
)


def owner_is_approved(owner: User) -> bool:
    """True once staff approved ``owner`` (owners.OwnerVetting); only then may their offerings be published."""
    return OwnerVetting.objects.filter(owner_id=owner.pk, approved_at__isnull=False).exists()


@transaction.atomic
def owner_approve(*, actor: User, owner: User) -> OwnerVetting:
    """Staff approve an owner, who may then publish offerings. Needs owners.approve_owner; a staff
    member cannot approve their own owner account (a superuser can). Approving twice changes nothing."""
    if not (actor.is_authenticated and actor.is_staff and actor.has_perm("owners.approve_owner")):
        raise PermissionDeniedError("Approving owners needs the permission to approve owners.")
    if owner.pk == actor.pk and not actor.is_superuser:
        raise PermissionDeniedError("Another staff member must approve your own owner account.")
    owner = User.objects.select_for_update().get(pk=owner.pk)
    if not owner.is_owner:
        raise ValidationFailed({"owner": [f"{owner} is not an owner."]})
    vetting, _ = OwnerVetting.objects.select_for_update().get_or_create(owner=owner)
    if vetting.approved_at is not None:
        return vetting
    vetting.approved_at = clock.now()
    vetting.approved_by = actor
    vetting.save(update_fields=["approved_at", "approved_by"])
    record_event(actor=actor, verb="owner.approved", target=owner, data={"owner": owner.handle})
    return vetting


# ---- clouds ---------------------------------------------------------------------------------


@transaction.atomic
def cloud_create(*, actor: User, app_credential_secret: str = "", **fields: Any) -> Cloud:
    """Create an owner's cloud; the secret is encrypted before it touches the database.

    The ciphertext is bound to the row (Cloud.secret_context), so the row is saved first without it
    and the secret written right after, in this transaction: the plaintext is never stored.
    """
    _require_owner(actor)
    cloud = Cloud(owner=actor, **{k: v for k, v in fields.items() if k in CLOUD_FIELDS})
    _validated_save(cloud)
    if app_credential_secret:
        cloud.set_secret(app_credential_secret)
        cloud.save(update_fields=["app_credential_secret_encrypted"])
    for perm in ("view_cloud", "change_cloud", "delete_cloud"):
        assign_perm(f"owners.{perm}", actor, cloud)
    record_event(actor=actor, verb="cloud.created", target=cloud, data=_snapshot(cloud, CLOUD_FIELDS))
    return cloud


@transaction.atomic
def cloud_update(*, actor: User, cloud: Cloud, app_credential_secret: str | None = None, **fields: Any) -> Cloud:
    """Change a cloud. A blank or missing secret keeps the stored one (it is never shown back)."""
    _require_perm(actor, "owners.change_cloud", cloud)
    cloud = Cloud.objects.select_for_update().get(pk=cloud.pk)
    before = _snapshot(cloud, CLOUD_FIELDS)
    for key, value in fields.items():
        if key in CLOUD_FIELDS:
            setattr(cloud, key, value)
    secret_changed = bool(app_credential_secret)
    if secret_changed:
        cloud.set_secret(app_credential_secret or "")
    cloud.updated_at = clock.now()
    _validated_save(cloud)
    changes: dict[str, Any] = dict(_changes(before, _snapshot(cloud, CLOUD_FIELDS)))
    if secret_changed:
        changes["secret_replaced"] = True  # that it changed, never what it is
    record_event(actor=actor, verb="cloud.updated", target=cloud, data={"changes": changes})
    return cloud


@transaction.atomic
def cloud_delete(*, actor: User, cloud: Cloud) -> None:
    _require_perm(actor, "owners.delete_cloud", cloud)
    if cloud.offerings.exists():
        raise ConflictError("Retire and remove this cloud's offerings before deleting the cloud.")
    record_event(actor=actor, verb="cloud.deleted", target=cloud, data={"name": cloud.name})
    cloud.delete()


def cloud_test_connection(*, actor: User, cloud: Cloud) -> ConnectionResult:
    """Try the cloud's credentials through its driver; records and returns the outcome.

    The network call happens outside any transaction.
    """
    _require_perm(actor, "owners.change_cloud", cloud)
    tester = connection_tester(cloud.driver)
    if cloud.driver == Cloud.Driver.SIMULATOR and not Cloud.simulator_allowed():
        result = ConnectionResult(False, "The local simulator is not available here: choose OpenStack.")
    elif tester is None:
        result = ConnectionResult(False, f"No driver is installed for {cloud.get_driver_display()} clouds.")
    else:
        try:
            result = tester(cloud)
        except Exception as exc:  # noqa: BLE001 - a driver bug must still give the owner an answer
            result = ConnectionResult(False, f"The connection test failed unexpectedly: {type(exc).__name__}.")
    with transaction.atomic():
        Cloud.objects.filter(pk=cloud.pk).update(
            last_checked_at=clock.now(), last_check_ok=result.ok, last_check_message=result.message[:500]
        )
        record_event(
            actor=actor,
            verb="cloud.connection_tested",
            target=cloud,
            data={"ok": result.ok, "message": result.message[:500]},
        )
    cloud.refresh_from_db(fields=["last_checked_at", "last_check_ok", "last_check_message"])
    return result


# ---- offerings ------------------------------------------------------------------------------


@transaction.atomic
def offering_create(*, actor: User, cloud: Cloud, **fields: Any) -> Offering:
    """Create a draft offering on one of the actor's clouds."""
    _require_owner(actor)
    _require_perm(actor, "owners.change_cloud", cloud)
    data = {k: v for k, v in fields.items() if k in OFFERING_FIELDS}
    data.setdefault("region", cloud.region_name)
    offering = Offering(owner=cloud.owner, cloud=cloud, status=Offering.Status.DRAFT, **data)
    offering.allowed_images = [i.strip() for i in offering.allowed_images or [] if i.strip()]
    _validated_save(offering)
    for perm in ("view_offering", "change_offering", "delete_offering"):
        assign_perm(f"owners.{perm}", cloud.owner, offering)
    record_event(actor=actor, verb="offering.created", target=offering, data=_snapshot(offering, OFFERING_FIELDS))
    return offering


@transaction.atomic
def offering_update(*, actor: User, offering: Offering, cloud: Cloud | None = None, **fields: Any) -> Offering:
    """Change an offering. Shrinking capacity below a profile it prices is refused, and so is
    shrinking it below what live bookings hold at some instant from now on (field errors such as
    "Capacity cannot go below what current bookings hold: 12 vCPU booked at ... UTC.").

    The second rule belongs to the market (scheduling), which owners may not import: it is the
    database guard owners_offering_capacity_covers_claims (scheduling/sql/offering_capacity_guard.sql), a deferred
    constraint trigger that every door (portal, admin, plain SQL) meets at commit. This service
    runs it right after the save and shows its message (see DATABASE_GUARDS). The offering row is
    locked FOR NO KEY UPDATE first, as the booking path locks it, so a shrink and a booking
    racing for the last capacity are serialised and cannot both commit.

    A grid change keeps every price's price per second: each per-unit amount is restated for the
    new unit (owners.pricing.rescaled, rounded half up); when a fixed price would round to nothing
    the change is refused and the owner asked for a new price first.
    """
    _require_perm(actor, "owners.change_offering", offering)
    offering = Offering.objects.select_for_update(no_key=True).get(pk=offering.pk)
    before = _snapshot(offering, OFFERING_FIELDS)
    if cloud is not None and cloud.pk != offering.cloud_id:
        _require_perm(actor, "owners.change_cloud", cloud)
        offering.cloud = cloud
    for key, value in fields.items():
        if key in OFFERING_FIELDS:
            setattr(offering, key, value)
    offering.allowed_images = [i.strip() for i in offering.allowed_images or [] if i.strip()]
    too_big = [
        f"{p.profile.name} ({', '.join(offering.fits(p.profile))})"
        for p in offering.pricing_policies.select_related("profile")
        if offering.fits(p.profile)
    ]
    if too_big:
        raise ValidationFailed(
            {"__all__": ["The new capacity is smaller than profiles this offering prices: " + "; ".join(too_big) + "."]}
        )
    offering.updated_at = clock.now()
    shrinks = any(getattr(offering, f) < before[f] for f in CAPACITY_FIELDS)
    _validated_save(offering, guards=(CAPACITY_GUARD,) if shrinks else ())
    if offering.grid_seconds != before["grid_seconds"]:
        _rescale_prices(actor, offering, before["grid_seconds"])
    record_event(
        actor=actor,
        verb="offering.updated",
        target=offering,
        data={"changes": _changes(before, _snapshot(offering, OFFERING_FIELDS))},
    )
    return offering


def _rescale_prices(actor: User, offering: Offering, old_grid: int) -> None:
    """After a grid change, restate every price of the offering per new grid unit (same price per second).

    Refused, on the grid field, when a fixed price would round to nothing or a rescaled price breaks
    a bound; the caller's transaction then undoes the grid change too.
    """
    new_grid = offering.grid_seconds
    policies = list(offering.pricing_policies.select_for_update().select_related("profile"))
    problems = [p for p in (pricing.rescale_problem(policy, old_grid, new_grid) for policy in policies) if p]
    if problems:
        raise ValidationFailed({"grid_seconds": problems})
    for policy in policies:
        before = _snapshot(policy, PRICING_FIELDS)
        for field, value in pricing.rescaled(policy, old_grid, new_grid).items():
            setattr(policy, field, value)
        policy.offering = offering
        policy.updated_at = clock.now()
        try:
            _validated_save(policy)
        except ValidationFailed as exc:
            messages = [f"{policy.profile.name}: {m}" for ms in exc.errors.values() for m in ms]
            raise ValidationFailed({"grid_seconds": messages}) from exc
        record_event(
            actor=actor,
            verb="pricing.rescaled",
            target=offering,
            data={
                "profile": policy.profile.name,
                "grid_seconds": [old_grid, new_grid],
                "changes": _changes(before, _snapshot(policy, PRICING_FIELDS)),
            },
        )


class _DryRun(Exception):
    """Undoes a trial write (raised inside a savepoint, caught outside it)."""


@transaction.atomic
def offering_capacity_check(*, offering: Offering, **capacity: int) -> None:
    """Refuse, as offering_update would, a new capacity below what live bookings hold; saves nothing.

    For doors that save the row themselves (the admin): the capacity is written in a savepoint,
    checked by the database guard, and rolled back. The offering row lock (taken outside the
    savepoint) is kept until the caller's transaction ends, so call this inside the transaction
    that saves: no booking can then take the capacity between this check and the save.
    """
    new = {f: int(v) for f, v in capacity.items() if f in CAPACITY_FIELDS and v is not None}
    current = Offering.objects.select_for_update(no_key=True).filter(pk=offering.pk).values(*CAPACITY_FIELDS).first()
    if current is None or not any(v < current[f] for f, v in new.items()):
        return
    try:
        with transaction.atomic():
            Offering.objects.filter(pk=offering.pk).update(**new)
            _check_guards_now((CAPACITY_GUARD,))
            raise _DryRun
    except _DryRun:
        pass
    except IntegrityError as exc:
        refusal = _guard_refusal(exc)
        if refusal is None:
            raise
        raise refusal from exc


@transaction.atomic
def offering_set_status(*, actor: User, offering: Offering, status: str) -> Offering:
    """Move an offering between draft, published, paused and retired (retired is final).

    Publishing needs an owner approved by staff (owner_approve) and at least one pricing policy.
    """
    _require_perm(actor, "owners.change_offering", offering)
    offering = Offering.objects.select_for_update().get(pk=offering.pk)
    if status not in OFFERING_TRANSITIONS:
        raise ValidationFailed({"status": [f"Unknown status {status!r}."]})
    if status == offering.status:
        return offering
    if status not in OFFERING_TRANSITIONS[offering.status]:
        raise ConflictError(f"An offering that is {offering.status} cannot become {status}.")
    if status == Offering.Status.PUBLISHED and not owner_is_approved(offering.owner):
        raise PermissionDeniedError(AWAITING_APPROVAL)
    if status == Offering.Status.PUBLISHED and not offering.pricing_policies.exists():
        raise ValidationFailed({"status": ["Add a price for at least one profile before publishing."]})
    before = offering.status
    offering.status = status
    offering.updated_at = clock.now()
    offering.save(update_fields=["status", "updated_at"])
    record_event(actor=actor, verb=f"offering.{status}", target=offering, data={"from": before, "to": status})
    return offering


@transaction.atomic
def window_add(
    *, actor: User, offering: Offering, weekdays: list[int], start_time: time, end_time: time
) -> AvailabilityWindow:
    """Add weekly availability hours (in the offering's time zone; end before start crosses midnight)."""
    _require_perm(actor, "owners.change_offering", offering)
    window = AvailabilityWindow(
        offering=offering, weekdays=sorted(set(weekdays)), start_time=start_time, end_time=end_time
    )
    _validated_save(window)
    record_event(
        actor=actor, verb="offering.window_added", target=offering, data={"window": str(window), "id": window.pk}
    )
    return window


@transaction.atomic
def window_remove(*, actor: User, window: AvailabilityWindow) -> None:
    _require_perm(actor, "owners.change_offering", window.offering)
    record_event(actor=actor, verb="offering.window_removed", target=window.offering, data={"window": str(window)})
    window.delete()


# ---- profiles and pricing ---------------------------------------------------------------------


@transaction.atomic
def profile_create(*, actor: User, **fields: Any) -> SliceProfile:
    """Create a custom profile owned by the actor."""
    _require_owner(actor)
    profile = SliceProfile(owner=actor, **{k: v for k, v in fields.items() if k in PROFILE_FIELDS})
    _validated_save(profile)
    record_event(actor=actor, verb="profile.created", target=profile, data=_snapshot(profile, PROFILE_FIELDS))
    return profile


@transaction.atomic
def profile_update(*, actor: User, profile: SliceProfile, **fields: Any) -> SliceProfile:
    """Change a custom profile; predefined profiles belong to the platform."""
    if profile.owner_id != actor.pk and not actor.is_superuser:
        raise PermissionDeniedError("You can only change your own custom profiles.")
    profile = SliceProfile.objects.select_for_update().get(pk=profile.pk)
    before = _snapshot(profile, PROFILE_FIELDS)
    for key, value in fields.items():
        if key in PROFILE_FIELDS:
            setattr(profile, key, value)
    too_big = [p.offering.name for p in profile.pricing_policies.select_related("offering") if p.offering.fits(profile)]
    if too_big:
        raise ValidationFailed(
            {"__all__": ["The profile would no longer fit these offerings: " + ", ".join(too_big) + "."]}
        )
    _validated_save(profile)
    record_event(
        actor=actor,
        verb="profile.updated",
        target=profile,
        data={"changes": _changes(before, _snapshot(profile, PROFILE_FIELDS))},
    )
    return profile


@transaction.atomic
def pricing_policy_set(*, actor: User, offering: Offering, profile: SliceProfile, **fields: Any) -> PricingPolicy:
    """Create or replace the price of one profile on one offering.

    Refused when the profile is larger than the offering, the numbers do not make a coherent
    fixed, auction or dynamic price, a price is above the operator's maximum per hour, or the
    currency differs from the offering's other prices (one currency per offering; the database
    refuses it too). Bookings already made keep their price (it is stored on the booking).
    """
    _require_perm(actor, "owners.change_offering", offering)
    # One offering's prices change one at a time (the offering's lock, then the price's, as in
    # offering_update): two inserts in two currencies would otherwise wait on each other inside
    # the one-currency exclusion constraint until PostgreSQL aborts one as a deadlock.
    Offering.objects.select_for_update(no_key=True).values_list("pk", flat=True).get(pk=offering.pk)
    policy = PricingPolicy.objects.select_for_update().filter(offering=offering, profile=profile).first()
    created = policy is None
    if policy is None:
        policy = PricingPolicy(offering=offering, profile=profile)
    before = _snapshot(policy, PRICING_FIELDS)
    for key, value in fields.items():
        if key in PRICING_FIELDS:
            setattr(policy, key, value)
    # Fields that belong to other pricing models are cleared so the row says one thing.
    if policy.model != PricingPolicy.Model.FIXED:
        policy.price_per_unit = None
    if policy.model != PricingPolicy.Model.AUCTION:
        policy.reserve_price = policy.bidding_closes_seconds = None
        policy.clearing_rule = ""
    if policy.model != PricingPolicy.Model.DYNAMIC:
        policy.base_price = policy.floor_price = policy.cap_price = None
        policy.surge_curve = []
    policy.updated_at = clock.now()
    _validated_save(policy)
    after = _snapshot(policy, PRICING_FIELDS)
    record_event(
        actor=actor,
        verb="pricing.created" if created else "pricing.updated",
        target=offering,
        data={"profile": profile.name, "policy": after}
        if created
        else {"profile": profile.name, "changes": _changes(before, after)},
    )
    return policy


@transaction.atomic
def pricing_policy_delete(*, actor: User, policy: PricingPolicy) -> None:
    _require_perm(actor, "owners.change_offering", policy.offering)
    record_event(actor=actor, verb="pricing.deleted", target=policy.offering, data={"profile": policy.profile.name})
    policy.delete()


# ---- standby servers (the warm pool) ----------------------------------------------------------


@transaction.atomic
def standby_pool_set(
    *, actor: User, offering: Offering, profile: SliceProfile, size: int, image: str = ""
) -> StandbyPool:
    """Keep ``size`` servers of ``profile`` (and ``image``) booted and idle on the offering.

    They are held back from sale (Offering.standby_*), so the market never sells the capacity the
    standby servers stand on; growing the pool past what live bookings leave free is refused by the
    same database guard as a capacity shrink (owners_offering_capacity_covers_claims), with the
    instant and the amount in the message. Size 0 keeps none (the servers left are wiped and deleted). Provisioning refills and
    trims the pool in the background (provisioning.services.standby).
    """
    _require_perm(actor, "owners.change_offering", offering)
    offering = Offering.objects.select_for_update(no_key=True).get(pk=offering.pk)
    image = (image or "").strip()
    if not 0 <= int(size) <= 64:
        raise ValidationFailed({"size": ["Between 0 and 64 standby servers."]})
    if offering.fits(profile):
        raise ValidationFailed(
            {"profile": [f"{profile.name} does not fit this offering ({', '.join(offering.fits(profile))})."]}
        )
    if image and offering.allowed_images and image not in offering.allowed_images:
        raise ValidationFailed({"image": [f"{image} is not one of this offering's images."]})
    pool = StandbyPool.objects.select_for_update().filter(offering=offering, profile=profile, image=image).first()
    before = pool.size if pool else 0
    if pool is None:
        pool = StandbyPool(offering=offering, profile=profile, image=image, size=0)
    pool.size = int(size)
    pool.updated_at = clock.now()
    pool.save()
    held = dict.fromkeys(CAPACITY_FIELDS, 0)
    for p in StandbyPool.objects.filter(offering=offering).select_related("profile"):
        for f, v in p.profile.resources().items():
            held[f] += v * p.size
    if any(held[f] > getattr(offering, f) for f in CAPACITY_FIELDS):
        raise ValidationFailed({"size": ["Standby servers cannot hold more than the offering's capacity."]})
    grows = int(size) > before
    for f in CAPACITY_FIELDS:
        setattr(offering, f"standby_{f}", held[f])
    offering.updated_at = clock.now()
    try:
        with transaction.atomic():
            offering.save(update_fields=[f"standby_{f}" for f in CAPACITY_FIELDS] + ["updated_at"])
            if grows:
                _check_guards_now((CAPACITY_GUARD,))
    except IntegrityError as exc:
        refusal = _guard_refusal(exc)
        if refusal is None:
            raise
        messages = [
            m.replace("Capacity cannot go below", "Standby servers cannot take")
            for ms in refusal.errors.values()
            for m in ms
        ]
        raise ValidationFailed({"size": messages}) from exc
    record_event(
        actor=actor,
        verb="offering.standby_set",
        target=offering,
        data={"profile": profile.pk, "image": image, "size": [before, pool.size]},
    )
    return pool
