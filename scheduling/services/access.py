"""What the renter's server will carry, checked before anything is bought: user-data, SSH ranges, a login.

Rules enforced here (for every door: portal, API, and any caller of booking_request):

- cloud-init user-data is optional text of at most ``USER_DATA_MAX_BYTES`` bytes of UTF-8, without
  NUL bytes; it is encrypted (marketplace.lib.crypto, as owners.Cloud keeps its credential) before it
  reaches the database, and never logged, audited or shown back;
- the source ranges allowed to reach SSH are IPv4/IPv6 addresses or CIDR ranges (an address alone
  means /32 or /128), at most ``SSH_CIDRS_MAX`` after duplicates are dropped; none given: the
  requesting client's address (marketplace.lib.client_ip, as the audit trail records it), never
  the whole internet unless the renter says 0.0.0.0/0 or ::/0 themselves;
- a booking must give a server somebody can log into: the renter has an SSH key on file or passes
  user-data (which can create users or keys of its own). Otherwise it is refused before any booking
  or payment is written.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from accounts.models import User
from audit import context as audit_context
from marketplace.lib import crypto
from marketplace.lib.errors import ValidationFailed
from renters.models import SSHPublicKey
from scheduling.errors import NobodyCouldLogIn
from scheduling.models import SSH_CIDRS_MAX, USER_DATA_MAX_BYTES, user_data_context

NO_LOGIN = (
    "Nobody could log into this server: you have no SSH key on file and gave no user-data. "
    "Add an SSH key to your account (Account → SSH keys), or pass cloud-init user-data, then book again."
)


@dataclass(frozen=True)
class AccessInput:
    """The renter's checked choices: user-data (encrypted, '' for none) and the SSH source ranges."""

    user_data_encrypted: str = ""
    ssh_cidrs: list[str] = field(default_factory=list)


def parse_user_data(value: Any) -> str | None:
    """The user-data as given (None for none or only whitespace), or ValidationFailed saying why not."""
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed({"user_data": ["User-data must be UTF-8 text (a #cloud-config or a script)."]})
    if not isinstance(value, str):
        raise ValidationFailed({"user_data": ["User-data must be text (a #cloud-config document or a script)."]})
    if not value.strip():
        return None
    if "\x00" in value:
        raise ValidationFailed({"user_data": ["User-data cannot contain NUL bytes: give cloud-init text."]})
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationFailed({"user_data": ["User-data must be valid UTF-8 text."]})
    if size > USER_DATA_MAX_BYTES:
        raise ValidationFailed(
            {"user_data": [f"User-data is {size} bytes; at most {USER_DATA_MAX_BYTES} bytes are accepted."]}
        )
    return value


_SEPARATORS = re.compile(r"[\s,;]+")


def parse_ssh_cidrs(value: Any, *, default: str | None = None) -> list[str]:
    """Checked, normalised source ranges (``203.0.113.7`` -> ``203.0.113.7/32``); none given: ``default``
    (the client's address) as its own /32 or /128, or [] when that is unknown too."""
    if value is None or value == "" or value == []:
        items: list[Any] = [default] if default else []
    elif isinstance(value, str):
        items = [part for part in _SEPARATORS.split(value) if part]
    elif isinstance(value, Sequence):
        items = list(value)
    else:
        raise ValidationFailed({"ssh_cidrs": ["Give a list of addresses or CIDR ranges, e.g. 203.0.113.7/32."]})
    if len(items) > SSH_CIDRS_MAX * 4:  # bounded work before duplicates are dropped
        raise ValidationFailed({"ssh_cidrs": [f"At most {SSH_CIDRS_MAX} SSH source ranges."]})
    out: list[str] = []
    for item in items:
        # No zone ids ("fe80::1%eth0": a link on the renter's machine, meaningless to the cloud).
        if not isinstance(item, str) or not item.strip() or len(item) > 64 or "\x00" in item or "%" in item:
            raise ValidationFailed({"ssh_cidrs": [f"{str(item)[:64]!r} is not an address or CIDR range."]})
        text = item.strip()
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValidationFailed(
                {"ssh_cidrs": [f"{text!r} is not an address or CIDR range (e.g. 203.0.113.7/32 or 2001:db8::/64)."]}
            )
        normal = str(network)
        if normal not in out:
            out.append(normal)
    if len(out) > SSH_CIDRS_MAX:
        raise ValidationFailed({"ssh_cidrs": [f"At most {SSH_CIDRS_MAX} SSH source ranges, {len(out)} given."]})
    return out


def client_address() -> str | None:
    """The requesting client's address, as the audit trail has it for this request (None outside one)."""
    return audit_context.current().ip or None


def has_ssh_key(user: User) -> bool:
    return SSHPublicKey.objects.filter(user_id=user.pk).exists()


def check_access(
    *, actor: User, user_data: Any = None, ssh_cidrs: Any = None, require_login: bool = True
) -> AccessInput:
    """Check the renter's user-data and SSH ranges and (``require_login``) that somebody could log in;
    encrypt the user-data. Writes nothing; raises ValidationFailed or NobodyCouldLogIn (400)."""
    text = parse_user_data(user_data)
    cidrs = parse_ssh_cidrs(ssh_cidrs, default=client_address())
    if require_login and text is None and not has_ssh_key(actor):
        raise NobodyCouldLogIn(NO_LOGIN, field="user_data")
    sealed = crypto.encrypt(text, context=user_data_context(actor.pk)) if text is not None else ""
    return AccessInput(user_data_encrypted=sealed, ssh_cidrs=cidrs)
