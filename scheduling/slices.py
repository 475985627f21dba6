"""Slices: what they are, their opaque ids, grid arithmetic and capacity timelines.

A slice is (offering, profile, start, length). Its id is those four numbers in
hex, then a MAC of them (HMAC-SHA256 with a key derived from SECRET_KEY for
this purpose, truncated to 128 bits): stable for the same slice, opaque to
clients, and any change to the payload breaks the MAC, so an id cannot be
edited into another offering's slice. (A search page signs 50 ids; Django's
Signer re-derives its key and JSON-encodes on every call, which was a tenth of
a search's CPU, so the MAC key is derived once per secret.)
Slices are computed on demand; nothing is stored per grid cell.
"""

from __future__ import annotations

import base64
import bisect
import functools
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings

from marketplace.lib.errors import NotFoundError

SLICE_SALT = "scheduling.slice.v2"
RESOURCES = ("vcpus", "ram_mib", "disk_gb", "bandwidth_mbps")
_MACS: dict[str, Any] = {}  # secret -> keyed HMAC object, copied per use


@dataclass(frozen=True, slots=True)
class SliceKey:
    offering_id: int
    profile_id: int
    start_epoch: int
    length: int

    @property
    def starts_at(self) -> datetime:
        return datetime.fromtimestamp(self.start_epoch, tz=UTC)

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(seconds=self.length)

    def encode(self) -> str:
        return encode_slice_id(self)


def _mac(secret: str) -> Any:
    mac = _MACS.get(secret)
    if mac is None:
        key = hashlib.sha256(f"{SLICE_SALT}:{secret}".encode()).digest()
        mac = _MACS[secret] = hmac.new(key, digestmod=hashlib.sha256)
    return mac


def _sign(payload: str, secret: str) -> str:
    mac = _mac(secret).copy()
    mac.update(payload.encode())
    return base64.urlsafe_b64encode(mac.digest()[:16]).rstrip(b"=").decode()


def encode_slice_id(key: SliceKey) -> str:
    return _encode(key.offering_id, key.profile_id, key.start_epoch, key.length, settings.SECRET_KEY)


@functools.lru_cache(maxsize=65536)
def _encode(offering_id: int, profile_id: int, start_epoch: int, length: int, secret: str) -> str:
    # Memoised: a pure function of its arguments, and popular slices appear in many searches. Plain
    # arguments, not the SliceKey: the cache's key is then hashed and compared in C.
    payload = f"{offering_id:x}-{profile_id:x}-{start_epoch:x}-{length:x}"
    return f"{payload}:{_sign(payload, secret)}"


def decode_slice_id(value: str) -> SliceKey:
    """The slice an id names; NotFoundError for a malformed, tampered or foreign id."""
    payload, _, sig = (value or "").partition(":")
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    # compare_digest refuses non-ASCII text (TypeError): such an id is simply not ours.
    if not sig or not sig.isascii() or not any(hmac.compare_digest(sig, _sign(payload, secret)) for secret in secrets):
        raise NotFoundError("Unknown slice id: it is malformed or has been altered. Search again for slices.")
    try:
        data = [int(part, 16) for part in payload.split("-")]
    except ValueError:
        data = []
    if len(data) != 4 or data[3] <= 0:
        raise NotFoundError("Unknown slice id. Search again for slices.")
    return SliceKey(*data)


def epoch(value: datetime) -> int:
    return int(value.timestamp())


def align_up_epoch(seconds: float, grid: int) -> int:
    """The first grid point (multiples of ``grid`` seconds since the UNIX epoch) at or after ``seconds``."""
    aligned = -(-int(seconds // 1) // grid) * grid
    if aligned < seconds:
        aligned += grid
    return aligned


def is_aligned(value: datetime, grid: int) -> bool:
    return value.microsecond == 0 and epoch(value) % grid == 0


def resource_weight(needs: dict[str, int], capacity: dict[str, int]) -> float:
    """Share of the offering one unit of ``needs`` takes: the sum over resources of need / capacity."""
    return sum(needs[r] / capacity[r] for r in RESOURCES if capacity.get(r)) or 1.0


@dataclass
class Timeline:
    """Capacity in use on one offering over time, built from claims; answers 'does this fit?' quickly.

    Breakpoints are sorted instants; ``usage[i]`` is the use of each resource
    over [points[i], points[i+1]).
    """

    capacity: dict[str, int]
    points: list[datetime] = field(default_factory=list)
    # usage[i] is the use over [points[i], points[i+1]) (the last one: after the last point, always 0).
    usage: list[list[int]] = field(default_factory=list)

    @classmethod
    def build(cls, capacity: dict[str, int], claims: Iterable[dict[str, Any]]) -> Timeline:
        tl = cls(capacity)
        for c in claims:
            tl.claim(c["starts_at"], c["ends_at"], [c[r] for r in RESOURCES])
        return tl

    def _split(self, at: datetime) -> int:
        """Index of breakpoint ``at``, inserting it (splitting the segment it falls in) if needed."""
        i = bisect.bisect_left(self.points, at)
        if i < len(self.points) and self.points[i] == at:
            return i
        self.points.insert(i, at)
        self.usage.insert(i, list(self.usage[i - 1]) if i > 0 else [0, 0, 0, 0])
        return i

    def claim(self, start: datetime, end: datetime, need: Sequence[int]) -> None:
        i, j = self._split(start), self._split(end)
        for k in range(i, j):
            seg = self.usage[k]
            for r in range(4):
                seg[r] += need[r]

    def peak(self, start: datetime, end: datetime) -> list[int]:
        """Peak use of each resource over [start, end)."""
        out = [0, 0, 0, 0]
        points, usage = self.points, self.usage
        i = max(bisect.bisect_right(points, start) - 1, 0)
        n = len(points)
        while i < n and points[i] < end:
            seg = usage[i]
            for r in range(4):
                if seg[r] > out[r]:
                    out[r] = seg[r]
            i += 1
        return out

    def fits(self, start: datetime, end: datetime, need: Sequence[int]) -> bool:
        peak = self.peak(start, end)
        cap = self.capacity
        return all(peak[r] + need[r] <= cap[name] for r, name in enumerate(RESOURCES))


def utilisation(peak: Sequence[int], capacity: dict[str, int]) -> float:
    """Share of the offering in use at its busiest: the largest resource share, 0-1."""
    shares = [peak[i] / capacity[r] for i, r in enumerate(RESOURCES) if capacity.get(r)]
    return min(max(shares, default=0.0), 1.0)
