"""Catalog: documents, their text, hashes and chunk spans in SQLite (``index/catalog.sqlite``).

The source of truth of an index: a chunk exists when the catalog says so.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from assistant.ingest.chunking import indexed_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, path TEXT UNIQUE NOT NULL, title TEXT NOT NULL, sha256 TEXT NOT NULL,
    text TEXT NOT NULL, n_chunks INTEGER NOT NULL, indexed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    n INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc_id);
"""


@dataclass(frozen=True)
class DocumentRecord:
    doc_id: str
    path: str
    title: str
    sha256: str
    n_chunks: int
    indexed_at: float


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


class Catalog:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, **values: object) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in values.items()])

    @property
    def generation(self) -> int:
        return int(self.get_meta("generation", "0"))

    def documents(self) -> list[DocumentRecord]:
        rows = self.db.execute("SELECT doc_id, path, title, sha256, n_chunks, indexed_at FROM documents ORDER BY path")
        return [DocumentRecord(*row) for row in rows]

    def document_text(self, doc_id: str) -> str | None:
        row = self.db.execute("SELECT text FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return row[0] if row else None

    def count_chunks(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def put_document(self, record: DocumentRecord, text: str, spans: list[tuple[int, int]]) -> None:
        with self.db:
            self.db.execute("DELETE FROM documents WHERE doc_id = ? OR path = ?", (record.doc_id, record.path))
            self.db.execute(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record.doc_id, record.path, record.title, record.sha256, text, record.n_chunks, record.indexed_at),
            )
            self.db.executemany(
                "INSERT INTO chunks VALUES (?, ?, ?, ?, ?)",
                [(chunk_id(record.doc_id, n), record.doc_id, n, start, end) for n, (start, end) in enumerate(spans)],
            )
            self._bump_generation()

    def remove_document(self, doc_id: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
            self._bump_generation()

    def _bump_generation(self) -> None:
        self.db.execute(
            "INSERT INTO meta VALUES ('generation', '1') ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def chunks(self, ids: list[str]) -> dict[str, ChunkRecord]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f'SELECT c.chunk_id, c.doc_id, c.n, c.start, c."end", d.title, d.path '
            f"FROM chunks c JOIN documents d USING (doc_id) WHERE c.chunk_id IN ({marks})",
            ids,
        ).fetchall()
        # Each document's text is read once, however many of its chunks were hit.
        texts = {doc_id: self.document_text(doc_id) or "" for doc_id in {row[1] for row in rows}}
        return {row[0]: ChunkRecord(*row, texts[row[1]]) for row in rows}

    def iter_chunk_texts(self) -> Iterator[tuple[str, str]]:
        """(chunk id, chunk text) for every chunk, in a stable order."""
        current_doc, text = None, ""
        rows = self.db.execute('SELECT c.chunk_id, c.doc_id, c.start, c."end" FROM chunks c ORDER BY c.doc_id, c.n').fetchall()
        for cid, doc_id, start, end in rows:
            if doc_id != current_doc:
                current_doc, text = doc_id, self.document_text(doc_id) or ""
            yield cid, text[start:end]

    def iter_indexed_texts(self) -> Iterator[tuple[str, str]]:
        """(chunk id, the text embedded and BM25-indexed for it) for every chunk, in a stable order."""
        titles = dict(self.db.execute("SELECT doc_id, title FROM documents").fetchall())
        for cid, text in self.iter_chunk_texts():
            yield cid, indexed_text(titles.get(cid.rsplit("-", 1)[0], ""), text)

    def chunk_ids(self, doc_id: str) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT chunk_id FROM chunks WHERE doc_id = ? ORDER BY n", (doc_id,))]

    def document(self, doc_id: str) -> DocumentRecord | None:
        row = self.db.execute(
            "SELECT doc_id, path, title, sha256, n_chunks, indexed_at FROM documents WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        return DocumentRecord(*row) if row else None

    def chunk_shas(self) -> dict[str, str]:
        rows = self.db.execute("SELECT c.chunk_id, d.sha256 FROM chunks c JOIN documents d USING (doc_id)")
        return dict(rows.fetchall())
