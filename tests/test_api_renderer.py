"""The API's JSON renderer (orjson) writes what DRF's own renderer does: the same bytes, except that a
float may be spelled differently (0.00001 for 1e-05), the same number either way."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.utils.translation import gettext_lazy
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer as DRFRenderer

from marketplace.lib.renderers import JSONRenderer

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
)
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
)


@given(documents)
def test_same_json_as_drf(data):  # type: ignore[no-untyped-def]
    ours, theirs = JSONRenderer().render(data), DRFRenderer().render(data)
    assert (ours and json.loads(ours)) == (theirs and json.loads(theirs))  # None renders as no body
    if b"." not in theirs and b"e" not in theirs.lower():  # no float spelling involved
        assert ours == theirs


@given(
    st.recursive(
        scalars.filter(lambda v: not isinstance(v, (float, Decimal))),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    )
)
def test_same_bytes_as_drf_without_floats(data):  # type: ignore[no-untyped-def]
    assert JSONRenderer().render(data) == DRFRenderer().render(data)


def test_types_drf_knows_and_javascript_safety():
    data = {
        "price": Decimal("1.50"),
        "at": datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC),
        "day": date(2026, 12, 1),
        "label": gettext_lazy("Small"),
        "id": uuid.UUID(int=5),
        "text": "line\u2028separator é",
        "big": 2**70,  # beyond orjson: DRF's encoder writes it
        "pair": (1, 2),
        "wait": timedelta(seconds=5),
    }
    out = JSONRenderer().render(data)
    assert out == DRFRenderer().render(data)
    assert b"\\u2028" in out and b'"2026-12-01T10:00:00.123456Z"' in out
    assert JSONRenderer().render(None) == b""
    indented = JSONRenderer().render({"a": 1}, "application/json; indent=2")
    assert indented == DRFRenderer().render({"a": 1}, "application/json; indent=2")
