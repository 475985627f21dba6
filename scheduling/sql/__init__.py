"""The scheduling app's database functions and triggers: one ``<name>.sql`` file each, their whole text.

A file may name a Python constant as a placeholder, ``{{ CLAIMING_STATES }}``; ``render`` fills it in
as a literal (``('confirmed', 'provisioning', 'running', 'notice')``), so the functions' plans and the
partial index predicate are the same as if it had been written out, and the list lives in one place,
``scheduling.models.CLAIMING_STATES``. Migrations never read these files: each runs a frozen copy of
what ``render`` gave when it was written (see README.md), and tests/scheduling/test_sql_files.py checks
that the database holds exactly what the files say.
"""

from __future__ import annotations

import re
from pathlib import Path

from scheduling.models import CLAIMING_STATES

DIR = Path(__file__).resolve().parent

# Every file, in the order a fresh database creates them (a function before the triggers that run it).
FILES = (
    "claims_index",
    "offering_peak",
    "booking_capacity",
    "offering_capacity_guard",
    "catalogue_version",
    "search_claims",
    "booking_request",
)

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_STATE = re.compile(r"[a-z_]+")


def _sql_list(values: tuple[str, ...]) -> str:
    for value in values:
        if not _STATE.fullmatch(value):
            raise ValueError(f"not a plain state name: {value!r}")
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


def placeholders() -> dict[str, str]:
    """What each placeholder renders to."""
    return {"CLAIMING_STATES": _sql_list(tuple(str(state.value) for state in CLAIMING_STATES))}


def fill(text: str) -> str:
    """``text`` with every placeholder filled in; an unknown one is an error, not left in the SQL."""
    values = placeholders()

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"unknown placeholder {{{{ {name} }}}}")
        return values[name]

    return _PLACEHOLDER.sub(one, text)


def render(name: str) -> str:
    """The SQL of ``<name>.sql``, ready to run."""
    if name not in FILES:
        raise KeyError(f"no SQL file {name!r} in {DIR}")
    return fill((DIR / f"{name}.sql").read_text())
