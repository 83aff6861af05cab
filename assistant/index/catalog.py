"""Catalog: documents, their text, hashes and chunk spans, in SQLite (``index/catalog.sqlite``) or
PostgreSQL (``ASSISTANT_DATABASE_URL``); database.py holds the connections and the schema.

The source of truth of an index: a chunk exists when the catalog says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from assistant.index.database import Database

INDEXED_TEXT = "title+chunk"  # recorded in the index: how chunk texts were turned into what is embedded


def indexed_text(title: str, chunk: str) -> str:
    """What is embedded and BM25-indexed for a chunk: its text, headed by the document's title when it lacks it.

    A passage deep in a document rarely names what the document is about; with the title it can
    be found by it (SciFact train nDCG@10, README). Citations still point at the chunk's own span.
    """
    return chunk if not title or chunk.startswith(title) else f"{title}\n{chunk}"


DOCUMENT_COLUMNS = "doc_id, path, title, sha256, n_chunks, indexed_at, encoding"


@dataclass(frozen=True)
class DocumentRecord:
    doc_id: str
    path: str
    title: str
    sha256: str
    n_chunks: int
    indexed_at: float
    encoding: str = ""  # what a plain-text file was decoded with; '' where a library read the file


@dataclass(frozen=True)
class ChunkRecord:
    chunk_id: str
    doc_id: str
    n: int
    start: int
    end: int
    title: str
    path: str
    document_text: str

    @property
    def text(self) -> str:
        return self.document_text[self.start : self.end]


def chunk_id(doc_id: str, n: int) -> str:
    return f"{doc_id}-{n:05d}"


def doc_id_of(chunk: str) -> str:
    """The document a chunk id belongs to (the inverse of chunk_id)."""
    return chunk.rsplit("-", 1)[0]


class Catalog:
    def __init__(self, database: Database):
        self.database = database
        database.migrate_schema()

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self.database.read() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, **values: object) -> None:
        with self.database.write() as db:
            db.executemany(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [(k, str(v)) for k, v in values.items()],
            )

    def all_meta(self) -> dict[str, str]:
        with self.database.read() as db:
            return dict(db.execute("SELECT key, value FROM meta").fetchall())

    @property
    def generation(self) -> int:
        """Moves on with every change of documents: hosts compare it to know that their BM25 is current."""
        return int(self.get_meta("generation", "0"))

    def documents(self) -> list[DocumentRecord]:
        with self.database.read() as db:
            rows = db.execute(f"SELECT {DOCUMENT_COLUMNS} FROM documents ORDER BY path").fetchall()
        return [DocumentRecord(*row) for row in rows]

    def document(self, doc_id: str) -> DocumentRecord | None:
        with self.database.read() as db:
            row = db.execute(f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return DocumentRecord(*row) if row else None

    def document_text(self, doc_id: str) -> str | None:
        with self.database.read() as db:
            row = db.execute("SELECT text FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return row[0] if row else None

    def count_chunks(self) -> int:
        with self.database.read() as db:
            return db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def put_document(self, record: DocumentRecord, text: str, spans: list[tuple[int, int]]) -> None:
        with self.database.write() as db:
            db.execute("DELETE FROM documents WHERE doc_id = ? OR path = ?", (record.doc_id, record.path))
            db.execute(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.doc_id,
                    record.path,
                    record.title,
                    record.sha256,
                    text,
                    record.n_chunks,
                    record.indexed_at,
                    record.encoding,
                ),  # fmt: skip
            )
            db.executemany(
                "INSERT INTO chunks VALUES (?, ?, ?, ?, ?)",
                [(chunk_id(record.doc_id, n), record.doc_id, n, start, end) for n, (start, end) in enumerate(spans)],
            )
            _bump_generation(db)

    def remove_document(self, doc_id: str) -> None:
        with self.database.write() as db:
            db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
            _bump_generation(db)

    def clear(self) -> None:
        """Every document, chunk, setting and saved BM25 gone (``ingest --rebuild``); the schema stays."""
        with self.database.write() as db:
            for table in ("chunks", "documents", "bm25"):
                db.execute(f"DELETE FROM {table}")
            db.execute("DELETE FROM meta WHERE key <> 'schema_version'")  # the schema itself stays as it is

    def copy_from(self, source: Catalog) -> None:
        """Every row of another catalog, in one transaction, generation included (``assistant migrate``)."""
        with source.database.read() as db:
            documents = db.execute(f"SELECT {DOCUMENT_COLUMNS.replace('n_chunks', 'text, n_chunks')} FROM documents").fetchall()
            chunks = db.execute('SELECT chunk_id, doc_id, n, start, "end" FROM chunks').fetchall()
        meta = {key: value for key, value in source.all_meta().items() if key != "schema_version"}
        with self.database.write() as db:
            db.executemany("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)", documents)
            db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?)", chunks)
            db.executemany(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", list(meta.items())
            )

    def chunks(self, ids: list[str]) -> dict[str, ChunkRecord]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self.database.read() as db:
            rows = db.execute(
                f'SELECT c.chunk_id, c.doc_id, c.n, c.start, c."end", d.title, d.path '
                f"FROM chunks c JOIN documents d USING (doc_id) WHERE c.chunk_id IN ({marks})",
                ids,
            ).fetchall()
            # Each document's text is read once, however many of its chunks were hit.
            doc_ids = sorted({row[1] for row in rows})
            marks = ",".join("?" * len(doc_ids))
            texts = {}
            if doc_ids:
                texts = dict(db.execute(f"SELECT doc_id, text FROM documents WHERE doc_id IN ({marks})", doc_ids).fetchall())
        return {row[0]: ChunkRecord(*row, texts.get(row[1], "")) for row in rows}

    def iter_chunk_texts(self) -> Iterator[tuple[str, str]]:
        """(chunk id, chunk text) for every chunk, in a stable order."""
        for cid, _title, text in self._iter_chunks():
            yield cid, text

    def iter_indexed_texts(self) -> Iterator[tuple[str, str]]:
        """(chunk id, the text embedded and BM25-indexed for it) for every chunk, in a stable order."""
        for cid, title, text in self._iter_chunks():
            yield cid, indexed_text(title, text)

    def _iter_chunks(self) -> Iterator[tuple[str, str, str]]:
        """(chunk id, title, chunk text), document by document: two queries whatever the size of the index."""
        with self.database.read() as db:
            spans = db.execute('SELECT chunk_id, doc_id, start, "end" FROM chunks ORDER BY doc_id, n').fetchall()
            documents = {doc_id: (title, text) for doc_id, title, text in db.execute("SELECT doc_id, title, text FROM documents")}
        for cid, doc_id, start, end in spans:
            title, text = documents.get(doc_id, ("", ""))
            yield cid, title, text[start:end]

    def chunk_ids(self, doc_id: str) -> list[str]:
        with self.database.read() as db:
            return [row[0] for row in db.execute("SELECT chunk_id FROM chunks WHERE doc_id = ? ORDER BY n", (doc_id,)).fetchall()]

    def excluded_paths(self) -> set[str]:
        """Files removed from the index with `delete` while left on disk: a folder ingest does not add them again."""
        return set(json.loads(self.get_meta("excluded_paths", "[]")))

    def set_excluded_paths(self, paths: set[str]) -> None:
        self.set_meta(excluded_paths=json.dumps(sorted(paths)))

    def chunk_id_list(self) -> list[str]:
        """Every chunk id, in index order."""
        with self.database.read() as db:
            return [row[0] for row in db.execute("SELECT chunk_id FROM chunks ORDER BY doc_id, n").fetchall()]

    def chunk_shas(self) -> dict[str, str]:
        with self.database.read() as db:
            return dict(db.execute("SELECT c.chunk_id, d.sha256 FROM chunks c JOIN documents d USING (doc_id)").fetchall())


def _bump_generation(db) -> None:
    db.execute(
        "INSERT INTO meta VALUES ('generation', '1') "
        "ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)"
    )
