"""The calendar of an offering's capacity: a day or a week as lanes of bars (a Gantt chart).

Owners see who holds what (renters by public handle), booking states, preemption notices and auction
rounds; renters see, per profile, when a slice of it is free or taken (no identities, no other
renter's booking), their own bookings, and free spots they can pick a start from. Bars carry their
place as percentages of the range (``x``, ``width``) so the page draws them with SVG attributes, and
a text alternative in the viewer's zone. The range is bounded (one day or one week), so a page costs
one query for its bookings (and one for rounds).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from accounts.models import User
from owners.availability import offering_intervals
from owners.models import Offering
from scheduling.models import CLAIMING_STATES, AuctionRound, Booking, BookingState
from scheduling.slices import RESOURCES, Timeline, align_up_epoch

SPANS = {"day": 1, "week": 7}
# Free time is cut into spots a renter picks a start from: an hour a spot in a day, six in a week.
SPOT = {"day": timedelta(hours=1), "week": timedelta(hours=6)}
# Bookings that never held capacity are left off (a live bid shows in its round).
NOT_SHOWN = (BookingState.REQUESTED, BookingState.REJECTED, BookingState.OUTBID)
# An owner's week on a fine grid can hold thousands of bookings: the page draws the first this many
# (by start) and says how many more there are.
BOOKINGS_SHOWN = 500
ENDED_EARLY = (BookingState.RELEASED, BookingState.PREEMPTED, BookingState.FAILED, BookingState.COMPLETED)


@dataclass
class Bar:
    kind: str  # open, booking, notice, round, free, taken, past, yours
    starts_at: datetime
    ends_at: datetime
    label: str  # the text alternative: what, when (in the viewer's zone), and for owners who
    x: float = 0.0  # percent of the range where the bar starts
    width: float = 0.0  # percent of the range it covers
    state: str = ""
    pick: datetime | None = None  # free spots: the start a renter picks (on the offering's grid)


@dataclass
class Lane:
    name: str
    bars: list[Bar] = field(default_factory=list)
    profile_id: int | None = None  # renters' profile lanes: the profile a picked start is for


@dataclass
class Tick:
    x: float
    label: str


@dataclass
class Calendar:
    offering: Offering
    span: str
    day: date  # the first local day shown
    start: datetime
    end: datetime
    zone: str
    lanes: list[Lane]
    ticks: list[Tick]
    now_x: float | None  # where "now" falls, when inside the range
    more: int = 0  # bookings in the range not drawn (beyond BOOKINGS_SHOWN)

    @property
    def previous_day(self) -> date:
        return self.day - timedelta(days=SPANS[self.span])

    @property
    def next_day(self) -> date:
        return self.day + timedelta(days=SPANS[self.span])

    @property
    def bars(self) -> list[tuple[Lane, Bar]]:
        return [(lane, bar) for lane in self.lanes for bar in lane.bars]


def first_day(day: date, span: str) -> date:
    """The first day shown: the day itself, or the Monday of its week."""
    return day - timedelta(days=day.weekday()) if span == "week" else day


def local_range(day: date, span: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of ``SPANS[span]`` local days from ``day`` (23 or 25 hours on a DST change)."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=SPANS[span]), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


class _Frame:
    """Turns instants into the range's percentages and the viewer's words."""

    def __init__(self, start: datetime, end: datetime, span: str, tz: ZoneInfo) -> None:
        self.start, self.end, self.span, self.tz = start, end, span, tz
        self.seconds = (end - start).total_seconds()

    def _share(self, at: datetime) -> float:
        clipped = min(max(at, self.start), self.end)
        return (clipped - self.start).total_seconds() * 100 / self.seconds

    def pct(self, at: datetime) -> float:
        return round(self._share(at), 3)

    def words(self, at: datetime) -> str:
        local = at.astimezone(self.tz)
        text = f"{local:%H:%M:%S}" if local.second else f"{local:%H:%M}"
        return text if self.span == "day" else f"{local:%a %d} {text}"

    def period(self, start: datetime, end: datetime) -> str:
        return f"{self.words(start)}–{self.words(end)}"

    def bar(self, kind: str, start: datetime, end: datetime, label: str, **extra: object) -> Bar:
        width = round(max(self._share(end) - self._share(start), 0.2), 3)  # the thinnest still shows
        return Bar(kind, start, end, label, x=self.pct(start), width=width, **extra)  # type: ignore[arg-type]

    def ticks(self, day: date) -> list[Tick]:
        if self.span == "week":
            days = [day + timedelta(days=i) for i in range(7)]
            at = [(datetime.combine(d, time(0), tzinfo=self.tz), f"{d:%a %d}") for d in days]
        else:
            at = [(datetime.combine(day, time(h), tzinfo=self.tz), f"{h:02d}:00") for h in range(0, 24, 3)]
        return [Tick(self.pct(t.astimezone(UTC)), label) for t, label in at]


def _pack(items: Iterable[tuple[datetime, datetime, list[Bar]]]) -> list[list[Bar]]:
    """Groups of bars (a booking and its notice) in as few rows as possible, no group overlapping
    another in its row (earliest start first)."""
    rows: list[tuple[datetime, list[Bar]]] = []
    for start, end, group in sorted(items, key=lambda item: (item[0], item[1])):
        for i, (row_end, bars) in enumerate(rows):
            if row_end <= start:
                rows[i] = (end, bars + group)
                break
        else:
            rows.append((end, list(group)))
    return [bars for _, bars in rows]


def _open_lane(offering: Offering, frame: _Frame) -> Lane:
    intervals = offering_intervals(offering, frame.start, frame.end)
    bars = [frame.bar("open", lo, hi, f"Open for sale {frame.period(lo, hi)}") for lo, hi in intervals]
    return Lane("Open hours", bars)


def _shown_end(b: Booking) -> datetime:
    """Where a booking's bar ends: its end, or when it ended if that came first."""
    if b.state in ENDED_EARLY and b.ended_at is not None and b.starts_at < b.ended_at < b.ends_at:
        return b.ended_at
    return b.ends_at


def _bookings(offering: Offering, start: datetime, end: datetime) -> QuerySet[Booking]:
    return (
        Booking.objects.filter(offering=offering, starts_at__lt=end, ends_at__gt=start)
        .exclude(state__in=NOT_SHOWN)
        .select_related("profile", "renter")
        .order_by("starts_at", "id")
    )


def owner_calendar(*, offering: Offering, day: date, span: str, tz: ZoneInfo, now: datetime) -> Calendar:
    """What an owner sees of one of their offerings (the caller checked it is theirs): open hours, auction
    rounds, and bookings packed into lanes, each labelled with its renter's handle, profile and state,
    with the notice of a preemption drawn over its booking."""
    day = first_day(day, span)
    start, end = local_range(day, span, tz)
    frame = _Frame(start, end, span, tz)
    rounds = AuctionRound.objects.filter(offering=offering, starts_at__lt=end, ends_at__gt=start).select_related(
        "profile"
    )
    round_items = []
    for r in rounds:
        what = f"Auction round {r.pk}, {r.profile.name}: {r.get_state_display().lower()}, {r.bids_count} bid(s)"
        if r.state == AuctionRound.State.CLEARED:
            what += f", {r.winners_count} won"
        label = f"{what}, slice {frame.period(r.starts_at, r.ends_at)}, bidding closes {frame.words(r.closes_at)}"
        round_items.append((r.starts_at, r.ends_at, [frame.bar("round", r.starts_at, r.ends_at, label, state=r.state)]))
    booking_items = []
    found = _bookings(offering, start, end)
    shown = list(found[: BOOKINGS_SHOWN + 1])
    more = found.count() - BOOKINGS_SHOWN if len(shown) > BOOKINGS_SHOWN else 0
    for b in shown[:BOOKINGS_SHOWN]:
        shown_end = _shown_end(b)
        state = b.get_state_display().lower()
        label = (
            f"Booking {b.pk} by {b.renter.handle}: {b.profile.name}, {state}, {frame.period(b.starts_at, shown_end)}"
        )
        group = [frame.bar("booking", b.starts_at, shown_end, label, state=b.state)]
        if b.notice_given_at is not None and b.preempt_deadline is not None:
            # The notice, from when it was given to its deadline (before the start, for a booking not
            # yet begun), is drawn in its booking's lane, over the booking where they meet.
            given, deadline = b.notice_given_at, b.preempt_deadline
            notice = f"Preemption notice on booking {b.pk}: given {frame.words(given)}, ends it {frame.words(deadline)}"
            group.append(frame.bar("notice", given, deadline, notice))
        first = min(b.starts_at, b.notice_given_at or b.starts_at)
        booking_items.append((first, max(shown_end, b.preempt_deadline or shown_end), group))
    lanes = [_open_lane(offering, frame)]
    lanes += [Lane("Auction rounds", bars) for bars in _pack(round_items)]
    lanes += [Lane(f"Bookings {i}", bars) for i, bars in enumerate(_pack(booking_items), start=1)]
    return Calendar(offering, span, day, start, end, str(tz), lanes, frame.ticks(day), _now_x(frame, now), more)


def _now_x(frame: _Frame, now: datetime) -> float | None:
    return frame.pct(now) if frame.start <= now < frame.end else None


def renter_calendar(
    *, offering: Offering, day: date, span: str, tz: ZoneInfo, now: datetime, viewer: User | None
) -> Calendar:
    """What a renter sees of a published offering: open hours; for each profile it sells, when a slice of
    that profile fits (free, cut into spots that pick a start) or does not (taken); and the viewer's own
    bookings. Nobody's identity and no other renter's booking shows."""
    day = first_day(day, span)
    start, end = local_range(day, span, tz)
    frame = _Frame(start, end, span, tz)
    bookings = list(_bookings(offering, start, end))
    claims = [
        {"starts_at": b.starts_at, "ends_at": b.ends_at, **b.resources()}
        for b in bookings
        if b.state in CLAIMING_STATES
    ]
    timeline = Timeline.build(offering.sellable_capacity(), claims)
    open_at = offering_intervals(offering, start, end)
    lanes = [_open_lane(offering, frame)]
    for policy in offering.pricing_policies.select_related("profile").order_by("profile__vcpus", "profile__ram_mib"):
        profile = policy.profile
        need = [getattr(profile, r) for r in RESOURCES]
        cutoff = now + timedelta(seconds=int(policy.bidding_closes_seconds or 0) if policy.model == "auction" else 0)
        lane = Lane(profile.name, profile_id=profile.pk)
        lane.bars = _profile_bars(frame, timeline, open_at, need, cutoff, offering.grid_seconds, profile.name)
        lanes.append(lane)
    if viewer is not None and viewer.is_authenticated:
        mine = [b for b in bookings if b.renter_id == viewer.pk]
        if mine:
            lanes.append(
                Lane(
                    "Your bookings",
                    [
                        frame.bar(
                            "yours",
                            b.starts_at,
                            _shown_end(b),
                            f"Your booking {b.pk}: {b.profile.name}, {b.get_state_display().lower()}, "
                            f"{frame.period(b.starts_at, _shown_end(b))}",
                            state=b.state,
                        )
                        for b in mine
                    ],
                )
            )
    return Calendar(offering, span, day, start, end, str(tz), lanes, frame.ticks(day), _now_x(frame, now))


def _profile_bars(
    frame: _Frame,
    timeline: Timeline,
    open_at: Sequence[tuple[datetime, datetime]],
    need: list[int],
    cutoff: datetime,
    grid: int,
    name: str,
) -> list[Bar]:
    """One profile's lane: pieces of the open hours, each free (a slice of the profile fits all along),
    taken (it does not) or past (before ``cutoff``: now, or the close of bidding). Free pieces stay cut
    at spot boundaries, so each spot is its own link; the others are merged."""
    cuts = {frame.start, frame.end, cutoff}
    step = SPOT[frame.span]
    at = frame.start + step
    while at < frame.end:
        cuts.add(at)
        at += step
    cuts.update(p for p in timeline.points if frame.start < p < frame.end)
    for lo, hi in open_at:
        cuts.update((lo, hi))
    points = sorted(c for c in cuts if frame.start <= c <= frame.end)
    spots = {frame.start + step * i for i in range(int(frame.seconds // step.total_seconds()) + 1)}
    pieces: list[tuple[str, datetime, datetime]] = []
    for lo, hi in zip(points, points[1:], strict=False):
        if not any(o_lo <= lo and hi <= o_hi for o_lo, o_hi in open_at):
            continue  # closed: the open-hours lane shows it
        kind = "past" if hi <= cutoff else ("free" if timeline.fits(lo, hi, need) else "taken")
        if pieces and pieces[-1][0] == kind and pieces[-1][2] == lo and (kind != "free" or lo not in spots):
            pieces[-1] = (kind, pieces[-1][1], hi)
        else:
            pieces.append((kind, lo, hi))
    bars = []
    for kind, lo, hi in pieces:
        period = frame.period(lo, hi)
        if kind == "free":
            pick = datetime.fromtimestamp(align_up_epoch(lo.timestamp(), grid), UTC)
            if pick < hi:
                label = f"{name}: free {period}; pick a start at {frame.words(pick)}"
                bars.append(frame.bar("free", lo, hi, label, pick=pick))
                continue
            kind = "taken"
        words = {"taken": "taken (no room for this profile)", "past": "past, no longer for sale"}[kind]
        bars.append(frame.bar(kind, lo, hi, f"{name}: {words} {period}"))
    return bars
