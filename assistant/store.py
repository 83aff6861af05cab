"""Store: the three parts of an index and how they stay in step.

- ``Catalog`` (SQLite, ``index/catalog.sqlite``): documents, their text, hashes and chunk spans.
  It is the source of truth: a chunk exists when the catalog says so.
- ``VectorIndex``: the chunk embeddings in Chroma, embedded (``index/chroma``) or on a server.
- ``Bm25Index``: bm25s over the catalog's chunks (``index/bm25``), rebuilt whenever the catalog's
  generation moves on, so it can never disagree with the catalog for long.

One process writes at a time (``write_lock``); questions read without a lock, from any process.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.chunking import INDEXED_TEXT, indexed_text
from assistant.settings import Settings

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


class NoIndexError(Exception):
    """There is no index yet at the configured location."""


class IndexMismatchError(Exception):
    """The index was built with another model or chunking than the settings ask for."""


class IndexLockedError(Exception):
    """Another process is writing to the index."""


@contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's write lock, or raise IndexLockedError at once; the holder's pid is in the lock file."""
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


class VectorIndex:
    """Chunk vectors in Chroma: written through llama-index's ChromaVectorStore, queried directly; we always pass embeddings."""

    def __init__(self, settings: Settings):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if settings.chroma_url:
            from urllib.parse import urlparse

            url = urlparse(settings.chroma_url)
            self.client = chromadb.HttpClient(
                host=url.hostname or "127.0.0.1", port=url.port or 8000, ssl=url.scheme == "https", settings=chroma_settings
            )
        else:
            self.client = chromadb.PersistentClient(path=str(settings.index_dir / "chroma"), settings=chroma_settings)
        self.collection = self.client.get_or_create_collection(
            settings.collection,
            # Cosine space and ef values well above Chroma's defaults, which gave poor recall here.
            configuration={"hnsw": {"space": "cosine", "ef_construction": 200, "ef_search": 200, "max_neighbors": 32}},
        )
        self._store = None

    @property
    def store(self):
        """llama-index's ChromaVectorStore, made on the first write: importing llama-index costs ~0.9 s; questions only read."""
        if self._store is None:
            from llama_index.vector_stores.chroma import ChromaVectorStore

            self._store = ChromaVectorStore(chroma_collection=self.collection)
        return self._store

    def add(self, nodes: list) -> None:
        self.store.add(nodes)

    def delete_document(self, doc_id: str) -> None:
        self.store.delete(ref_doc_id=doc_id)

    def delete_ids(self, ids: list[str]) -> None:
        for first in range(0, len(ids), 5000):
            self.collection.delete(ids=ids[first : first + 5000])

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
        if k <= 0:
            return []
        # By hand, not ChromaVectorStore.query: that also fetches every hit's text and metadata (11 of
        # its 13 ms at 100k chunks here; the catalog has both). No count() first either: 7 ms at 100k,
        # and Chroma returns fewer hits when it holds fewer. Cosine distance is 1 - similarity.
        result = self.collection.query(query_embeddings=[vector.tolist()], n_results=k, include=["distances"])
        return [(cid, 1.0 - distance) for cid, distance in zip(result["ids"][0], result["distances"][0])]

    def similarities(self, vector: np.ndarray, ids: list[str]) -> dict[str, float]:
        if not ids:
            return {}
        got = self.collection.get(ids=ids, include=["embeddings"])
        return {cid: float(np.dot(vector, emb)) for cid, emb in zip(got["ids"], got["embeddings"])}

    def embeddings(self, ids: list[str], sha256: str) -> np.ndarray | None:
        """The stored vectors of these chunks, in the order given, if all are there and were embedded
        from the document version with this hash; otherwise None."""
        if not ids:
            return None
        got = self.collection.get(ids=ids, include=["embeddings", "metadatas"])
        by_id = {
            cid: vector for cid, vector, meta in zip(got["ids"], got["embeddings"], got["metadatas"])
            if (meta or {}).get("sha256") == sha256
        }  # fmt: skip
        if len(by_id) != len(ids):
            return None
        return np.asarray([by_id[cid] for cid in ids], dtype=np.float32)

    def id_shas(self) -> dict[str, str]:
        """Every stored chunk id with the hash of the document version it was embedded from."""
        out: dict[str, str] = {}
        total, page = self.collection.count(), 10000
        for offset in range(0, total, page):
            got = self.collection.get(include=["metadatas"], limit=page, offset=offset)
            out.update({cid: str((meta or {}).get("sha256", "")) for cid, meta in zip(got["ids"], got["metadatas"])})
        return out

    def count(self) -> int:
        return self.collection.count()


class Bm25Index:
    """bm25s over chunk texts, saved with the chunk ids and the catalog generation it reflects."""

    def __init__(self, retriever, ids: list[str], generation: int):
        self.retriever = retriever
        self.ids = ids
        self.generation = generation
        indptr = retriever.scores["indptr"]
        self._doc_freq = np.diff(np.asarray(indptr))  # CSC by term: entries per term = documents holding it

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> Bm25Index:
        """Index the catalog's chunks in memory."""
        import bm25s

        from assistant.text import tokenize

        generation = catalog.generation
        ids, texts = [], []
        for cid, text in catalog.iter_indexed_texts():
            ids.append(cid)
            texts.append(text)
        retriever = bm25s.BM25()
        retriever.index(tokenize(texts or ["empty"]), show_progress=False)
        return cls(retriever, ids, generation)

    def save(self, directory: Path) -> None:
        """Write beside ``directory`` and swap it in, so a reader never loads half an index."""
        partial = directory.with_name(directory.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        self.retriever.save(str(partial), show_progress=False)
        (partial / "ids.json").write_text(json.dumps({"generation": self.generation, "ids": self.ids}))
        old = directory.with_name(directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            directory.rename(old)
        partial.rename(directory)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> Bm25Index | None:
        import bm25s

        ids_file = directory / "ids.json"
        if not ids_file.exists():
            return None
        saved = json.loads(ids_file.read_text())
        retriever = bm25s.BM25.load(str(directory), mmap=True, show_progress=False)
        return cls(retriever, saved["ids"], saved["generation"])

    @staticmethod
    def saved_generation(directory: Path) -> int | None:
        ids_file = directory / "ids.json"
        return json.loads(ids_file.read_text())["generation"] if ids_file.exists() else None

    @staticmethod
    def accept_deletions(directory: Path, generation: int) -> None:
        """Declare the saved index current after documents were only removed: no rebuild.

        The removed chunks stay in BM25 until the next rebuild, and retrieval drops them because the
        catalog no longer lists them; that keeps deleting one document from 100k chunks well under 1 s.
        """
        ids_file = directory / "ids.json"
        if ids_file.exists():
            saved = json.loads(ids_file.read_text())
            saved["generation"] = generation
            partial = ids_file.with_suffix(".partial")
            partial.write_text(json.dumps(saved))
            partial.replace(ids_file)

    def query(self, text: str, k: int) -> list[tuple[str, float]]:
        from assistant.text import terms

        query_terms = [t for t in terms(text) if t in self.retriever.vocab_dict]
        if not query_terms or not self.ids:
            return []
        # get_scores and a top-k of our own: retrieve() gave the same scores with a long tail at 100k
        # chunks (p95 16.7 ms against 1.3 ms; p50 1.7 against 0.9 ms).
        scores = self.retriever.get_scores(query_terms)
        k = min(k, len(self.ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]  # best first, ties in index order
        return [(self.ids[d], float(scores[d])) for d in top if scores[d] > 0]

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency of a stemmed term (unknown terms count as rare)."""
        n = max(len(self.ids), 1)
        index = self.retriever.vocab_dict.get(term)
        df = int(self._doc_freq[index]) if index is not None and index < len(self._doc_freq) else 0
        return math.log(1 + (n - df + 0.5) / (df + 0.5))


class Index:
    """The catalog, the vectors and BM25, opened together and checked against the settings."""

    def __init__(self, settings: Settings, *, create: bool = False):
        self.settings = settings
        catalog_file = settings.index_dir / "catalog.sqlite"
        if not create and not catalog_file.exists():
            raise NoIndexError(f"no index at {settings.index_dir}")
        self.catalog = Catalog(catalog_file)
        self.vectors = VectorIndex(settings)
        self._bm25: Bm25Index | None = None
        self._bm25_stamp: tuple[int, int, int] | None = None  # of the saved index self._bm25 was loaded from

    @property
    def bm25_dir(self) -> Path:
        return self.settings.index_dir / "bm25"

    def check_compatible(self, fingerprint: str, dim: int) -> None:
        """Refuse to mix vectors from two models, or chunks cut two ways, in one index."""
        wanted = {
            "model_fingerprint": fingerprint,
            "dimension": str(dim),
            "chunk_size": str(self.settings.chunk_size),
            "chunk_overlap": str(self.settings.chunk_overlap),
            "indexed_text": INDEXED_TEXT,
        }
        recorded = {key: self.catalog.get_meta(key) for key in wanted}
        if all(value is None for value in recorded.values()):
            self.catalog.set_meta(model_name=self.settings.model_name, **wanted)
            return
        differing = [
            f"{key}: index has {recorded[key]}, settings give {wanted[key]}" for key in wanted if recorded[key] != wanted[key]
        ]
        if differing:
            raise IndexMismatchError(
                f"the index at {self.settings.index_dir} was built with model "
                f"{self.catalog.get_meta('model_name')} and other settings ({'; '.join(differing)}). "
                "Run `assistant ingest --rebuild` to rebuild it with the current settings."
            )

    def remove_document(self, doc_id: str) -> None:
        """Its vectors (by chunk id) and its catalog rows; the caller keeps BM25 in step."""
        self.vectors.delete_ids(self.catalog.chunk_ids(doc_id))
        self.catalog.remove_document(doc_id)

    def bm25(self) -> Bm25Index:
        """BM25 for a question: the saved index, rebuilt first if it lags behind the catalog.

        Only the holder of the write lock saves BM25. While an ingest runs (it saves a current index
        when it finishes) a reader keeps the last saved one: retrieval drops the chunks the catalog no
        longer lists, and new chunks are found by the dense search alone until then. With no writer
        running the lag is a crash's doing, and the reader takes the lock and rebuilds.
        """
        generation = self.catalog.generation
        if self._bm25 is not None and self._bm25.generation == generation:
            return self._bm25
        self._load_saved_bm25()
        if self._bm25 is not None and self._bm25.generation == generation:
            return self._bm25
        try:
            with write_lock(self.settings.index_dir):
                self._load_saved_bm25()  # a writer may have saved a current one and let go meanwhile
                if self._bm25 is None or self._bm25.generation != self.catalog.generation:
                    self.rebuild_bm25()
        except IndexLockedError:
            if self._bm25 is None:  # the first ingest is still running: this process's own copy, not saved
                self._bm25 = Bm25Index.from_catalog(self.catalog)
        return self._bm25

    def _load_saved_bm25(self) -> None:
        """Load the saved index if it is not the one in memory (a writer swaps it in whole)."""
        stamp = self._saved_bm25_stamp()
        if stamp is None or stamp == self._bm25_stamp:
            return
        try:
            loaded = Bm25Index.load(self.bm25_dir)
        except (OSError, ValueError):  # swapped while we read it: keep what we have, try at the next question
            return
        if loaded is not None and self._saved_bm25_stamp() == stamp:
            self._bm25, self._bm25_stamp = loaded, stamp

    def _saved_bm25_stamp(self) -> tuple[int, int, int] | None:
        try:
            saved = (self.bm25_dir / "ids.json").stat()
        except FileNotFoundError:
            return None
        return saved.st_ino, saved.st_mtime_ns, saved.st_size

    def rebuild_bm25(self) -> None:
        """Rebuild BM25 from the catalog and save it; the caller holds the write lock."""
        self._bm25 = Bm25Index.from_catalog(self.catalog)
        self._bm25.save(self.bm25_dir)
        self._bm25_stamp = self._saved_bm25_stamp()

    def stamp_ingest(self, seconds: float) -> None:
        self.catalog.set_meta(last_ingest=time.time(), last_ingest_seconds=round(seconds, 2))
