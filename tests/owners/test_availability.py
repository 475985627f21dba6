"""Availability windows turn into the right UTC intervals: midnight crossing, time zones, DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from owners.availability import covers, window_intervals

MON = datetime(2026, 11, 30, tzinfo=UTC)  # a Monday


def test_no_windows_means_always_open():
    assert window_intervals([], "UTC", MON, MON + timedelta(days=1)) == [(MON, MON + timedelta(days=1))]


def test_off_peak_window_crosses_midnight():
    got = window_intervals([([0], time(22), time(6))], "UTC", MON, MON + timedelta(days=2))
    # Opens Monday 22:00 and closes Tuesday 06:00; Tuesday itself has no window.
    assert got == [(MON + timedelta(hours=22), MON + timedelta(hours=30))]


def test_window_that_started_the_day_before_the_range_is_included():
    got = window_intervals([([6], time(22), time(6))], "UTC", MON, MON + timedelta(hours=12))
    assert got == [(MON, MON + timedelta(hours=6))]  # Sunday 22:00 -> Monday 06:00, clipped


def test_owner_timezone_is_respected():
    # 09:00-17:00 in Berlin (UTC+1 in winter) is 08:00-16:00 UTC.
    got = window_intervals([([0], time(9), time(17))], "Europe/Berlin", MON, MON + timedelta(days=1))
    assert got == [(MON + timedelta(hours=8), MON + timedelta(hours=16))]


def test_dst_change_shortens_the_night():
    # Europe/Berlin springs forward on 2026-03-29 (Sunday) at 02:00: the night 22:00-06:00 is 7 h long.
    sat = datetime(2026, 3, 28, tzinfo=UTC)
    got = window_intervals([([5], time(22), time(6))], "Europe/Berlin", sat, sat + timedelta(days=2))
    assert len(got) == 1
    assert got[0][1] - got[0][0] == timedelta(hours=7)


def test_touching_windows_merge():
    got = window_intervals([([0], time(8), time(12)), ([0], time(12), time(14))], "UTC", MON, MON + timedelta(days=1))
    assert got == [(MON + timedelta(hours=8), MON + timedelta(hours=14))]


def test_covers():
    spans = [(MON, MON + timedelta(hours=2))]
    assert covers(spans, MON + timedelta(minutes=30), MON + timedelta(hours=1))
    assert not covers(spans, MON + timedelta(hours=1), MON + timedelta(hours=3))


@settings(max_examples=150, deadline=None)
@given(
    windows=st.lists(
        st.tuples(st.sets(st.integers(0, 6), min_size=1), st.times(), st.times()).filter(lambda w: w[1] != w[2]),
        max_size=4,
    ),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]),
    offset_minutes=st.integers(0, 60 * 24 * 14),
    length_minutes=st.integers(1, 60 * 24 * 9),
)
def test_intervals_are_sorted_disjoint_and_inside_the_range(windows, tz, offset_minutes, length_minutes):
    start = MON + timedelta(minutes=offset_minutes)
    end = start + timedelta(minutes=length_minutes)
    got = window_intervals([(sorted(d), a, b) for d, a, b in windows], tz, start, end)
    for lo, hi in got:
        assert start <= lo < hi <= end
    for (_, a_hi), (b_lo, _) in zip(got, got[1:], strict=False):
        assert a_hi < b_lo
    if windows and len({d for w in windows for d in w[0]}) == 7 and length_minutes >= 60 * 24 * 8:
        assert got, "a window on every weekday must open at least once in 8 days"


# ---- from the weekly pattern (issue 14): the cost follows the windows, not the range's length ----------


def _reference(windows, tz_name, start, end):  # type: ignore[no-untyped-def]
    """The specification: walk the range a local day at a time (what availability.py did before)."""
    from zoneinfo import ZoneInfo

    from owners.availability import merge

    if end <= start:
        return []
    if not windows:
        return [(start, end)]
    tz = ZoneInfo(tz_name)
    found, day = [], start.astimezone(tz).date() - timedelta(days=1)
    while day <= end.astimezone(tz).date():
        for weekdays, a, b in windows:
            if day.weekday() in weekdays:
                lo = datetime.combine(day, a, tzinfo=tz).astimezone(UTC)
                hi = datetime.combine(day if b > a else day + timedelta(days=1), b, tzinfo=tz).astimezone(UTC)
                if max(lo, start) < min(hi, end):
                    found.append((max(lo, start), min(hi, end)))
        day += timedelta(days=1)
    return merge(found)


@settings(max_examples=150, deadline=None)
@given(
    windows=st.lists(
        st.tuples(st.sets(st.integers(0, 6), min_size=1), st.times(), st.times()).filter(lambda w: w[1] != w[2]),
        max_size=4,
    ),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia"]),
    offset_minutes=st.integers(0, 60 * 24 * 365 * 3),
    length_minutes=st.integers(1, 60 * 24 * 40),
)
def test_the_weekly_walk_gives_exactly_what_the_daily_walk_gave(windows, tz, offset_minutes, length_minutes):
    from owners.availability import open_during

    start = datetime(2010, 1, 1, tzinfo=UTC) + timedelta(minutes=offset_minutes)
    end = start + timedelta(minutes=length_minutes)
    spec = [(sorted(d), a, b) for d, a, b in windows]
    expected = _reference(spec, tz, start, end)
    assert window_intervals(spec, tz, start, end) == expected
    assert open_during(spec, tz, start, end) is bool(expected)


def test_open_during_costs_a_week_whatever_the_range(monkeypatch):
    """The request of issue 14 (2027 to 9999) walked 2.9 million days; now it looks at one week."""
    from owners import availability

    calls = []
    real = availability._local
    monkeypatch.setattr(availability, "_local", lambda *a: calls.append(a) or real(*a))
    start, end = datetime(2027, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
    assert availability.open_during([([0, 2], time(9), time(17))], "Europe/Berlin", start, end)
    assert len(calls) <= 2 * 2 * 2  # two weekdays, at most two weeks' edges, open and close


def test_a_window_swallowed_by_a_dst_gap_opens_the_next_week():
    from owners.availability import open_during

    # Berlin skips 02:00-03:00 on Sunday 2026-03-29: a Sunday 02:00-03:00 window does not open that day.
    gap_day = datetime(2026, 3, 29, tzinfo=UTC)
    window = [([6], time(2), time(3))]
    assert not open_during(window, "Europe/Berlin", gap_day, gap_day + timedelta(days=1))
    assert open_during(window, "Europe/Berlin", gap_day, gap_day + timedelta(days=8))
    assert window_intervals(window, "Europe/Berlin", gap_day, gap_day + timedelta(days=8)) == [
        (datetime(2026, 4, 5, 0, tzinfo=UTC), datetime(2026, 4, 5, 1, tzinfo=UTC))
    ]


def test_the_edges_of_the_calendar_do_not_overflow():
    from owners.availability import open_during

    lo, hi = datetime(1, 1, 1, tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    night = [([0, 1, 2, 3, 4, 5, 6], time(22), time(6))]
    for tz in ("Asia/Kolkata", "America/New_York"):
        assert window_intervals(night, tz, lo, lo + timedelta(days=2))
        assert window_intervals(night, tz, hi - timedelta(days=2), hi)
        assert open_during(night, tz, lo, hi)
