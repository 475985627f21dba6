"""Prepared statements on Django's connection, for the few hot reads where planning cost more than running.

psycopg prepares a statement server-side once per connection (and re-plans it after DDL by itself)
when the connection allows it, which marketplace.pgbackend does (Django's stock backend turns it off);
Django's own cursors bind on the client and never prepare. Errors are wrapped as Django's
(IntegrityError, OperationalError...), as with any ORM query, and the statement is logged where
Django logs its own (DEBUG, CaptureQueriesContext).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import connection


def fetch_prepared(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``%s`` placeholders, values bound server-side) on the default connection."""
    connection.ensure_connection()
    start = time.monotonic()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cur:
        cur.execute(sql, params, prepare=True)
        rows = cur.fetchall()
    if connection.queries_logged:
        connection.queries_log.append(
            {"sql": f"{sql} -- prepared, params {list(params)!r}", "time": f"{time.monotonic() - start:.3f}"}
        )
    return rows
