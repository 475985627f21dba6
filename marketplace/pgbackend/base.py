"""Django's PostgreSQL backend, with a health check that costs no round trip and prepared statements
for the few queries that ask for them.

With ``CONN_HEALTH_CHECKS`` Django checks a reused connection before a request first uses it; its
PostgreSQL backend does so with ``SELECT 1``: a round trip on every request (on the search API, one
of three, about a tenth of the database's and the worker's time per request). A server that goes
away (restart, ``pg_terminate_backend``, idle timeout) tells the client first: it sends its error
and closes the socket. So here a connection is unusable when libpq already knows it is broken, or
when its idle socket has something to read and reading it ends in an error or end of file. An idle
connection has nothing to say otherwise (the marketplace does not LISTEN), and a read that would
block never happens.

Django turns psycopg's prepared statements off (``prepare_threshold=None``, for transaction-mode
connection poolers, which the marketplace does not use), and with them ``prepare=True``: the hot
reads of marketplace.lib.db.fetch_prepared were parsed and planned on every call. Here they are
on, for statements that ask only (Django's own cursors bind on the client and never prepare). An
explicit ``prepare_threshold`` in OPTIONS still wins. Everything else is Django's backend as it is.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from django.db.backends.postgresql import base

# psycopg prepares a statement after this many runs, or at once with prepare=True: in effect, only then.
ONLY_WHEN_ASKED = 2**31 - 1


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if "prepare_threshold" not in self.settings_dict["OPTIONS"]:
            params["prepare_threshold"] = ONLY_WHEN_ASKED
        return params

    def is_usable(self) -> bool:
        if self.connection is None:
            return False
        pgconn = self.connection.pgconn
        try:
            poller = select.poll()
            poller.register(pgconn.socket, select.POLLIN)
            for _ in range(4):  # the server's goodbye, then its end of file
                if pgconn.status != psycopg.pq.ConnStatus.OK:
                    return False
                if not poller.poll(0):
                    return True  # nothing to read: as the server left it
                pgconn.consume_input()  # reads what is there; raises on end of file
        except (psycopg.Error, OSError, ValueError):
            return False
        return False  # still talking while idle: do not trust it
