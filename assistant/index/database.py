"""Database: where the catalog lives. SQLite in ``index/catalog.sqlite`` (the default, one host), or
PostgreSQL (``ASSISTANT_DATABASE_URL``, psycopg 3) so that any number of app hosts share one index.

The catalog's SQL is written once, with ``?`` placeholders and only what both dialects accept
(``INSERT ... ON CONFLICT``, ``CAST``); the PostgreSQL side turns ``?`` into ``%s``. The schema is
versioned (``meta.schema_version``) and brought up to date by ``migrate_schema`` when a catalog opens.
"""

from __future__ import annotations

import atexit
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from assistant.errors import AssistantError

# Each step brings the schema from version i to i + 1; a new version is a new step at the end, never an edit.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS documents (
        doc_id TEXT PRIMARY KEY, path TEXT UNIQUE NOT NULL, title TEXT NOT NULL, sha256 TEXT NOT NULL,
        text TEXT NOT NULL, n_chunks INTEGER NOT NULL, indexed_at DOUBLE PRECISION NOT NULL);
    CREATE TABLE IF NOT EXISTS chunks (
        chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
        n INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc_id);
    """,
    # The saved BM25 index, for hosts that share a database (lexical.Bm25InDatabase): one row, swapped whole.
    """
    CREATE TABLE IF NOT EXISTS bm25 (
        slot INTEGER PRIMARY KEY CHECK (slot = 1), version INTEGER NOT NULL, generation INTEGER NOT NULL,
        archive BYTEA NOT NULL);
    """,
    # The text encoding a plain-text file was decoded with ('' for files a library reads: PDF, DOCX, HTML).
    """
    ALTER TABLE documents ADD COLUMN encoding TEXT NOT NULL DEFAULT '';
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
SCHEMA_LOCK_KEY = 7_245_551  # a PostgreSQL advisory lock: hosts opening a new database at once create it once


class IndexUnavailableError(AssistantError):
    """A server holding part of the index (the catalog's PostgreSQL, the Chroma server) cannot be reached."""

    exit_code, http_status, code = 7, 503, "index_unavailable"


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence = ()) -> Cursor: ...
    def executemany(self, sql: str, rows: Sequence[Sequence]) -> None: ...


class Cursor(Protocol):
    def fetchone(self) -> tuple | None: ...
    def fetchall(self) -> list[tuple]: ...


class Database(Protocol):
    description: str

    def read(self) -> AbstractContextManager[Connection]: ...
    def write(self) -> AbstractContextManager[Connection]: ...  # one transaction
    def exists(self) -> bool: ...
    def migrate_schema(self) -> None: ...


class SqliteDatabase:
    """One file; one connection shared by the process's threads (SQLite serialises them)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.description = str(path.resolve())
        self.connection = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA foreign_keys=ON")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        yield self.connection

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        with self.connection:
            yield self.connection

    def exists(self) -> bool:
        return self.connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'documents'").fetchone() is not None

    def migrate_schema(self) -> None:
        with self.write() as db:
            has_meta = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is not None
            for step in MIGRATIONS[_schema_version(db, has_meta) :]:
                for statement in filter(str.strip, step.split(";")):
                    db.execute(statement.replace("BYTEA", "BLOB"))
            _set_schema_version(db)


class _PgConnection:
    """A psycopg connection that takes the catalog's ``?`` placeholders."""

    def __init__(self, connection):
        self.connection = connection

    def execute(self, sql: str, params: Sequence = ()):
        return self.connection.execute(sql.replace("?", "%s"), params)

    def executemany(self, sql: str, rows: Sequence[Sequence]) -> None:
        with self.connection.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)


class PostgresDatabase:
    """A small pool of connections (psycopg_pool): questions arrive on many threads at once.

    A connection broken by a server restart is found by the pool's check and replaced, so a host
    answers again as soon as the server is back; meanwhile calls raise IndexUnavailableError.
    """

    def __init__(self, url: str, *, max_connections: int = 8, timeout: float = 5.0):
        import psycopg
        from psycopg_pool import ConnectionPool

        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)  # a warning per failed reconnect; we raise one clear error
        self.url = url
        self.description = redacted(url)
        self._errors = (psycopg.OperationalError, psycopg.InterfaceError)
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(timeout)), "application_name": "assistant"},
            check=ConnectionPool.check_connection,
            timeout=timeout,
            open=False,
        )
        try:
            self.pool.open(wait=True, timeout=timeout)
        except Exception as exc:
            self.pool.close()
            raise IndexUnavailableError(f"cannot reach the catalog database {self.description}: {_first_line(exc)}") from None

    @contextmanager
    def _connection(self, transaction: bool) -> Iterator[_PgConnection]:
        from psycopg_pool import PoolTimeout

        try:
            with self.pool.connection() as connection:
                if transaction:
                    with connection.transaction():
                        yield _PgConnection(connection)
                else:
                    yield _PgConnection(connection)
        except (PoolTimeout, *self._errors) as exc:
            raise IndexUnavailableError(f"the catalog database {self.description} is unavailable: {_first_line(exc)}") from None

    def read(self):
        return self._connection(transaction=False)

    def write(self):
        return self._connection(transaction=True)

    def exists(self) -> bool:
        with self.read() as db:
            return db.execute("SELECT to_regclass('documents') IS NOT NULL").fetchone()[0]

    def migrate_schema(self) -> None:
        with self.write() as db:
            db.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK_KEY,))
            has_meta = db.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0]
            for step in MIGRATIONS[_schema_version(db, has_meta) :]:
                db.execute(step)
            _set_schema_version(db)


def _schema_version(db: Connection, has_meta: bool) -> int:
    """0 for an empty database; 1 for a catalog made before versions were recorded (it has the first step)."""
    if not has_meta:
        return 0
    recorded = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(recorded[0]) if recorded else 1


def _set_schema_version(db: Connection) -> None:
    db.execute(
        "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(SCHEMA_VERSION),),
    )


_POOLS: dict[str, PostgresDatabase] = {}
_POOLS_LOCK = threading.Lock()


@atexit.register
def _close_pools() -> None:
    """Close the pools at exit, while the interpreter is whole: left to the garbage collector during its
    shutdown, psycopg_pool's finaliser prints a traceback (it did when `assistant ask` failed while the
    preload thread was still loading the reader)."""
    with _POOLS_LOCK:
        for database in _POOLS.values():
            database.pool.close()
        _POOLS.clear()


def open_database(index_dir: Path, database_url: str | None) -> SqliteDatabase | PostgresDatabase:
    """The catalog's database; in server mode one pool per URL for the whole process, however often
    the index is reopened (after each write), so connections are not opened per question."""
    if not database_url:
        return SqliteDatabase(index_dir / "catalog.sqlite")
    with _POOLS_LOCK:
        if database_url not in _POOLS:
            _POOLS[database_url] = PostgresDatabase(database_url)
        return _POOLS[database_url]


def redacted(url: str) -> str:
    """The URL without its password, for messages and `assistant status`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
