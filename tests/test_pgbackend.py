"""The database backend's health check (marketplace.pgbackend): a reused connection the server has
dropped is replaced before a request uses it, and a healthy one is not asked a query to prove it."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from tests.market_fixtures import commit_elsewhere

pytestmark = pytest.mark.django_db(transaction=True)


def _backend_pid() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


def _start_of_request() -> None:
    """What Django does when a request first uses a reused connection (CONN_HEALTH_CHECKS)."""
    connection.health_check_enabled = True
    connection.health_check_done = False
    connection.close_if_health_check_failed()


def test_a_healthy_connection_is_kept_without_a_query():
    pid = _backend_pid()
    raw = connection.connection
    sent: list[str] = []
    execute = raw.execute

    def spy(query, *args, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(str(query))
        return execute(query, *args, **kwargs)

    raw.execute = spy  # type: ignore[method-assign]
    try:
        for _ in range(3):
            _start_of_request()
    finally:
        raw.execute = execute  # type: ignore[method-assign]
    assert sent == []
    assert _backend_pid() == pid  # the same server process: kept


@pytest.mark.parametrize("how", ["terminated", "idle timeout"])
def test_a_connection_the_server_dropped_is_replaced_before_the_request_uses_it(how):
    pid = _backend_pid()
    if how == "terminated":  # an administrator, or a restart: the server says goodbye and closes
        commit_elsewhere("SELECT pg_terminate_backend(%s)", [pid])
    else:
        with connection.cursor() as cur:
            cur.execute("SET idle_session_timeout = '50ms'")
    deadline = time.monotonic() + 5
    while connection.is_usable() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not connection.is_usable()
    _start_of_request()
    assert _backend_pid() != pid  # a new server process, and no error for the request


def test_fetch_prepared_statements_are_prepared_once_per_connection():
    """marketplace.lib.db.fetch_prepared's statements are planned once per connection (Django turns
    psycopg's prepared statements off by default; the backend turns them on for those asking)."""
    from marketplace.lib.db import fetch_prepared

    sql = "SELECT %s::int + 1"
    assert [fetch_prepared(sql, [n])[0][0] for n in (1, 2, 3)] == [2, 3, 4]
    with connection.cursor() as cur:
        cur.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%::int + 1%"])
        assert [row[0] for row in cur.fetchall()] == ["SELECT $1::int + 1"]
        cur.execute("SELECT 'plain' WHERE %s", [True])  # Django's own cursors: bound on the client, not prepared
        cur.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%plain%"])
        assert cur.fetchone()[0] == 0
