"""Lock: one process writes to an index at a time; questions read without a lock, from any process.

Embedded, the lock is a file lock on ``index/ingest.lock``. With the catalog in PostgreSQL it is a
session advisory lock, which every host sees: the server releases it when the holder's connection
ends, so a writer killed with -9 frees it at once and a lost host within about 30 s (TCP keepalives).
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from assistant.errors import AssistantError

WRITE_LOCK_KEY = 7_245_552  # the advisory lock's number; database.SCHEMA_LOCK_KEY is its neighbour


class IndexLockedError(AssistantError):
    """Another process is writing to the index."""

    exit_code, http_status, kind, code = 5, 409, "invalid_request_error", "index_locked"


@contextmanager
def write_lock(index_dir: Path, database_url: str | None = None) -> Iterator[None]:
    """Hold the index's write lock, or raise IndexLockedError at once, naming the holder."""
    with _advisory_lock(database_url) if database_url else _file_lock(index_dir):
        yield


@contextmanager
def _file_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / "ingest.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise IndexLockedError(
                f"another process (pid {holder}) is writing to {index_dir}; wait for it to finish and run again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _advisory_lock(database_url: str) -> Iterator[None]:
    """A connection of its own holds the lock: the pool's connections come and go."""
    import psycopg

    from assistant.index.database import IndexUnavailableError, redacted

    holder = f"assistant writer pid {os.getpid()} on {socket.gethostname()}"
    try:
        connection = psycopg.connect(database_url, autocommit=True, connect_timeout=5, application_name=holder[:63])
    except psycopg.OperationalError as exc:
        raise IndexUnavailableError(f"cannot reach the catalog database {redacted(database_url)}: {exc}") from None
    with connection:
        # The server drops a silent host's session (and so the lock) after ~10 + 5 x 4 s without an answer.
        connection.execute("SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 4")
        if not connection.execute("SELECT pg_try_advisory_lock(%s)", (WRITE_LOCK_KEY,)).fetchone()[0]:
            row = advisory_lock_holder(connection)
            who = (f"{row[0] or 'unknown'}" + (f" from {row[1]}" if row[1] else "")) if row else "unknown"
            raise IndexLockedError(
                f"another process ({who}) is writing to the index in {redacted(database_url)}; "
                "wait for it to finish and run again"
            )
        try:
            yield
        finally:
            with suppress(psycopg.Error):  # the connection is gone, and the lock with it
                connection.execute("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK_KEY,))


def advisory_lock_holder(connection) -> tuple[str, str | None] | None:
    """(application name, client address) of the session holding the write lock in PostgreSQL, if any;
    the name is "assistant writer pid N on HOST"."""
    return connection.execute(
        "SELECT a.application_name, a.client_addr::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.objid = %s AND l.granted",
        (WRITE_LOCK_KEY,),
    ).fetchone()
