"""The audit app's database functions: one ``<name>.sql`` file each, their whole text.

``record_event.sql`` is the SQL side of ``audit.services.record_event``: the one writer of
``audit_domainevent`` rows for PL/pgSQL code. Migrations never read these files: each runs a frozen
copy (see scheduling/sql/README.md); tests/scheduling/test_sql_files.py checks that the database
holds exactly what the files say.
"""

from __future__ import annotations

from pathlib import Path

DIR = Path(__file__).resolve().parent

FILES = ("record_event",)


def render(name: str) -> str:
    """The SQL of ``<name>.sql``, ready to run (audit's files have no placeholders)."""
    if name not in FILES:
        raise KeyError(f"no SQL file {name!r} in {DIR}")
    return (DIR / f"{name}.sql").read_text()
