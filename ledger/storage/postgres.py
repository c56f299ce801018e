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

import psycopg
from eventsourcing.persistence import ApplicationRecorder, OperationalError
from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import strtobool

# libpq's "options": server settings for the session, applied at connection start-up, so
# they hold before the first statement and on every connection the pool opens later.
SESSION_OPTIONS = "-c synchronous_commit=on"
# Held while the library creates its tables and types: it does so at every start-up, and two
# processes doing it at once on a new database fail with "tuple concurrently updated".
CREATE_LOCK = 0x637573746F6479  # "custody"


class DurablePostgresFactory(PostgresFactory):
    """``PostgresFactory`` whose connections commit synchronously, and whose start-ups may
    run side by side on one database."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.datastore.pool.kwargs["options"] = SESSION_OPTIONS

    def env_create_table(self) -> bool:
        return False  # created in application_recorder, under CREATE_LOCK

    def application_recorder(self) -> ApplicationRecorder:
        recorder = super().application_recorder()
        if strtobool(self.env.get(self.CREATE_TABLE) or "yes"):
            timeout = int(self.env.get(self.POSTGRES_CONNECT_TIMEOUT) or 10)
            try:
                lock = psycopg.connect(**self.datastore.pool.kwargs, autocommit=True,
                                       connect_timeout=timeout)
            except psycopg.Error as exc:
                raise OperationalError(str(exc)) from exc
            with lock:
                lock.execute("SELECT pg_advisory_lock(%s)", (CREATE_LOCK,))
                recorder.create_table()  # type: ignore[attr-defined]
        return recorder  # closing the lock's session released the lock
