"""The library's PostgreSQL datastore with the durability the ledger promises.

Every session sets ``synchronous_commit=on``, whatever the server, database or role default
says: a COMMIT returns only after its WAL record is flushed to the server's disk (and, if the
server names synchronous standbys, to theirs). A server configured with ``synchronous_commit``
off, ``remote_write`` or ``local`` cannot weaken what an acknowledgement means. What it cannot
fix is a server running with ``fsync=off``: that is the operator's promise to keep.

Imported only when a postgresql:// ledger is opened (psycopg costs start-up time).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresFactory

# libpq's "options": server settings for the session, applied at connection start-up, so
# they hold before the first statement and on every connection the pool opens later.
SESSION_OPTIONS = "-c synchronous_commit=on"


class DurablePostgresFactory(PostgresFactory):
    """``PostgresFactory`` whose connections commit synchronously."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.datastore.pool.kwargs["options"] = SESSION_OPTIONS
