"""The database holds exactly what scheduling/sql/*.sql and audit/sql/*.sql say, so they cannot drift.

Each test snapshots the definitions PostgreSQL holds (pg_get_functiondef for every ``scheduling_`` and
``audit_`` function, pg_get_triggerdef for every trigger, pg_get_indexdef for every index), drops
those functions (and with them their triggers), runs the rendered files, and snapshots again: the
two must be equal, whitespace aside. PostgreSQL prints both sides in its own form (a trigger's WHEN
clause as it parsed it, types by their full names), so the files can be written to be read. All of it
happens in the test's transaction, rolled back at its end.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.db import connection

from audit import sql as audit_sql
from scheduling import sql as scheduling_sql
from scheduling.models import CLAIMING_STATES

pytestmark = pytest.mark.django_db

OWNED = "(p.proname LIKE 'scheduling\\_%' OR p.proname LIKE 'audit\\_%')"

_FUNCTIONS = f"""
    SELECT 'function ' || p.oid::regprocedure::text, pg_get_functiondef(p.oid)
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = current_schema() AND {OWNED}
"""
_TRIGGERS = """
    SELECT 'trigger ' || t.tgname || ' on ' || c.relname, pg_get_triggerdef(t.oid)
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema() AND NOT t.tgisinternal
"""
_INDEXES = "SELECT 'index ' || indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"


def _rendered() -> list[tuple[str, str]]:
    """(file, SQL) for every file, audit's first (scheduling's functions call them)."""
    return [(f"audit/sql/{name}.sql", audit_sql.render(name)) for name in audit_sql.FILES] + [
        (f"scheduling/sql/{name}.sql", scheduling_sql.render(name)) for name in scheduling_sql.FILES
    ]


def _normal(text: str) -> str:
    return " ".join(text.split())


def _snapshot() -> dict[str, str]:
    with connection.cursor() as cur:
        rows: list[tuple[str, str]] = []
        for query in (_FUNCTIONS, _TRIGGERS, _INDEXES):
            cur.execute(query)
            rows += cur.fetchall()
    return {key: _normal(definition) for key, definition in rows}


def _recreate_from_files(edit: Callable[[str, str], str] = lambda path, text: text) -> None:
    """Drop every scheduling_/audit_ function (their triggers go with them), then run the files."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT p.oid::regprocedure::text FROM pg_proc p WHERE {OWNED}")
        for (signature,) in cur.fetchall():
            cur.execute(f"DROP FUNCTION {signature} CASCADE")
        for path, text in _rendered():
            cur.execute(edit(path, text))


def _drift(before: dict[str, str], after: dict[str, str]) -> list[str]:
    problems = [f"{key}: in the database, made by no file" for key in sorted(before.keys() - after.keys())]
    problems += [f"{key}: made by a file, not in the database" for key in sorted(after.keys() - before.keys())]
    problems += [
        f"{key} differs:\n  database: {before[key]}\n  files:    {after[key]}"
        for key in sorted(before.keys() & after.keys())
        if before[key] != after[key]
    ]
    return problems


def test_the_database_holds_exactly_the_files() -> None:
    before = _snapshot()
    assert any(key.startswith("function scheduling_booking_request(") for key in before)
    _recreate_from_files()
    problems = _drift(before, _snapshot())
    assert not problems, "The SQL files and the migrated database differ:\n" + "\n".join(problems)


def test_every_function_in_the_database_has_a_file() -> None:
    with connection.cursor() as cur:
        cur.execute(f"SELECT DISTINCT p.proname FROM pg_proc p WHERE {OWNED}")
        in_database = {name for (name,) in cur.fetchall()}
    created = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(\w+)\s*\(", re.IGNORECASE)
    in_files = {name for _, text in _rendered() for name in created.findall(text)}
    assert in_database - in_files == set(), "functions with no file"
    assert in_files - in_database == set(), "files whose functions the migrations did not create"


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        ("scheduling/sql/booking_request.sql", "status := 'stale';", "status := 'old';"),
        ("scheduling/sql/booking_capacity.sql", "OLD.vcpus <> NEW.vcpus OR ", ""),
        ("scheduling/sql/claims_index.sql", "'notice'", "'running'"),
        ("audit/sql/record_event.sql", "coalesce(p_source, 'system')", "coalesce(p_source, 'sql')"),
    ],
)
def test_a_changed_file_is_caught(path: str, old: str, new: str) -> None:
    """The comparison sees an edit of a function body, a trigger's condition and an index predicate."""
    before = _snapshot()

    def edit(file: str, text: str) -> str:
        if file != path:
            return text
        assert old in text
        return text.replace(old, new, 1)

    _recreate_from_files(edit)
    assert _drift(before, _snapshot())


def test_the_claiming_states_come_from_the_constant() -> None:
    listed = "(" + ", ".join(f"'{state.value}'" for state in CLAIMING_STATES) + ")"
    assert scheduling_sql.placeholders() == {"CLAIMING_STATES": listed}
    for path, text in _rendered():
        assert "{{" not in text, path
        assert "'confirmed', 'provisioning'" not in (scheduling_sql.DIR.parent.parent / path).read_text(), (
            f"{path} spells out the claiming states: use {{{{ CLAIMING_STATES }}}}"
        )
    assert scheduling_sql.render("search_claims").count(listed) == 1
    with pytest.raises(KeyError):
        scheduling_sql.fill("WHERE state IN {{ CLAIMED }}")
