"""What a renter's server must carry, and what the renter may read back from it.

``renter_access(booking)`` is the one place launch (and rebuild, when control of a standby server
passes to the renter) learns what the server gets: the renter's default SSH public key (else newest), their
cloud-init user-data (decrypted here, for the driver only: never log, audit or render it), the
source ranges allowed to reach SSH, and the image.

``console_log`` reads the server's console (Nova's os-getConsoleOutput) for the renter's server page:
only the renter of the booking and staff may see it (the views check), never the offering's owner,
since a console can print what the user-data did. ``public_images`` answers scheduling's hook of the
same name: the images a renter may pick on an offering that allows any image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from marketplace.lib.crypto import SecretUnreadable
from owners.models import Offering
from provisioning.drivers import CloudError, driver_for
from provisioning.selectors import server_for_booking
from renters.selectors import login_key
from scheduling.models import Booking

CONSOLE_LINES_DEFAULT = 200
CONSOLE_LINES_MAX = 1000


@dataclass(frozen=True)
class RenterAccess:
    """What the renter's server carries. ``public_key``: None without a key on file; ``user_data``: None
    when none was given; ``ssh_cidrs``: the only sources let in to SSH (and ping); ``image``: its name."""

    public_key: str | None
    user_data: str | None
    ssh_cidrs: list[str] = field(default_factory=list)
    image: str = ""

    @property
    def can_log_in(self) -> bool:
        return self.public_key is not None or self.user_data is not None

    def __repr__(self) -> str:  # never print the user-data (or the key) into a log or a traceback
        return (
            f"RenterAccess(public_key={'set' if self.public_key else None}, "
            f"user_data={'set' if self.user_data is not None else None}, ssh_cidrs={self.ssh_cidrs!r}, "
            f"image={self.image!r})"
        )


def renter_access(booking: Booking) -> RenterAccess:
    """What the booking's server must carry. Raises CloudError (not transient) when the stored user-data
    cannot be decrypted with the configured keys: the server is then not started."""
    key = login_key(booking.renter_id)
    try:
        user_data = booking.reveal_user_data()
    except SecretUnreadable:
        raise CloudError(
            "Your user-data could not be read back (not sealed for this booking, or the marketplace's secrets key "
            "changed), so the server was not started with it"
        ) from None
    image = booking.image or (booking.offering.allowed_images or [""])[0]
    return RenterAccess(
        public_key=key.public_key if key is not None else None,
        user_data=user_data,
        ssh_cidrs=list(booking.ssh_cidrs or []),
        image=image,
    )


def console_log(booking: Booking, *, length: int = CONSOLE_LINES_DEFAULT) -> dict[str, Any]:
    """The last ``length`` lines of the booking's server console: {available, output, message}.
    The caller has checked that the user is the booking's renter or staff."""
    length = max(1, min(int(length), CONSOLE_LINES_MAX))
    server = server_for_booking(booking)
    if server is None or not server.external_id:
        return {"available": False, "output": "", "message": "No server yet: it is launched shortly before the slice."}
    if server.state not in ("building", "active", "resizing", "error"):
        return {"available": False, "output": "", "message": f"The server is {server.state}: no console to read."}
    try:
        output = driver_for(server.cloud).console_output(server.external_id, length=length)
    except CloudError as exc:
        return {"available": False, "output": "", "message": f"The cloud did not give the console log: {exc.message}"}
    # NUL and other C0 controls (but tab and newline) are dropped: they break terminals and JSON readers.
    clean = "".join(ch for ch in output if ch in "\t\n" or ch >= " " or ch == "\r").replace("\r\n", "\n")
    return {"available": True, "output": clean, "message": ""}


def public_images(offering: Offering) -> list[str] | None:
    """The public images of the offering's cloud (scheduling's ``public_images`` hook); None when the
    cloud cannot list them now."""
    try:
        return driver_for(offering.cloud).list_public_images()
    except CloudError:
        return None
