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
