"""Store: the three parts of an index and how they stay in step.

- ``Catalog``: documents, their text, hashes and chunk spans, in SQLite (``index/catalog.sqlite``)
  or PostgreSQL (``ASSISTANT_DATABASE_URL``). It is the source of truth: a chunk exists when the
  catalog says so.
- ``VectorIndex``: the chunk embeddings in Chroma, embedded (``index/chroma``) or on a server.
- ``Bm25Index``: bm25s over the catalog's chunks, saved in ``index/bm25`` or in the catalog's
  database, rebuilt whenever the catalog's generation moves on, so it can never disagree with the
  catalog for long.

One process writes at a time (``write_lock``: a file lock, or an advisory lock in PostgreSQL);
questions read without a lock, from any process on any host. Every question reads the catalog's
generation, so a change made through one host is seen by the next question on every other.
"""

from __future__ import annotations

import time
from pathlib import Path

from assistant.errors import AssistantError
from assistant.index.catalog import INDEXED_TEXT, Catalog
from assistant.index.database import open_database
from assistant.index.lexical import Bm25Files, Bm25InDatabase, Bm25Index
from assistant.index.lock import IndexLockedError, write_lock
from assistant.index.vectors import ExactVectors, VectorIndex
from assistant.settings import Settings


class NoIndexError(AssistantError):
    """There is no index yet at the configured location."""

    exit_code, http_status, code = 3, 503, "no_index"


class IndexMismatchError(AssistantError):
    """The index was built with another model or chunking than the settings ask for."""

    exit_code, http_status, code = 4, 503, "index_mismatch"


def has_index(settings: Settings) -> bool:
    """Whether an index may be there to open: a catalog file, or a database (checked when opened)."""
    return bool(settings.database_url) or (settings.index_dir / "catalog.sqlite").exists()


class Index:
    """The catalog, the vectors and BM25, opened together and checked against the settings."""

    def __init__(self, settings: Settings, *, create: bool = False):
        self.settings = settings
        if not create and not has_index(settings):
            raise NoIndexError(f"no index at {settings.index_dir}. Build it first: assistant ingest {settings.corpus_dir}")
        database = open_database(settings.index_dir, settings.database_url)
        if not create and not database.exists():
            raise NoIndexError(f"no index in {database.description}. Build it first: assistant ingest {settings.corpus_dir}")
        self.catalog = Catalog(database)
        self.vectors = VectorIndex(settings)
        self.saved_bm25 = (
            Bm25InDatabase(database, settings.index_dir / "bm25-cache") if settings.database_url else Bm25Files(self.bm25_dir)
        )
        self._bm25: Bm25Index | None = None
        self._bm25_stamp: object | None = None  # of the saved index self._bm25 was loaded from
        self._exact: ExactVectors | None = None
        self._vectors_generation = self.catalog.generation  # of the catalog when self.vectors was opened

    @property
    def bm25_dir(self) -> Path:
        return self.settings.index_dir / "bm25"

    @property
    def location(self) -> str:
        """Where the catalog is, for messages: a folder, or the database URL without its password."""
        return self.catalog.database.description if self.settings.database_url else str(self.settings.index_dir)

    def write_lock(self):
        return write_lock(self.settings.index_dir, self.settings.database_url)

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
                f"the index at {self.location} was built with model "
                f"{self.catalog.get_meta('model_name')} and other settings ({'; '.join(differing)}). "
                "Run `assistant ingest --rebuild` to rebuild it with the current settings."
            )

    def remove_document(self, doc_id: str) -> None:
        """Its vectors (by chunk id) and its catalog rows; the caller keeps BM25 in step."""
        self.vectors.delete_ids(self.catalog.chunk_ids(doc_id))
        self.catalog.remove_document(doc_id)

    def dense(self, vector, k: int, documents: frozenset[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the k nearest chunks (of ``documents`` only, when given): exact search
        up to ``exact_search_max_chunks`` (ExactVectors), Chroma's HNSW above it."""
        exact = self._current_vectors()
        return exact.query(vector, k, documents) if exact is not None else self.vectors.query(vector, k, documents)

    def similarities(self, vector, ids: list[str]) -> dict[str, float]:
        exact = self._current_vectors()
        return exact.similarities(vector, ids) if exact is not None else self.vectors.similarities(vector, ids)

    def _current_vectors(self) -> ExactVectors | None:
        """Vectors as of the catalog's generation. Another process's ingest moves the generation on; an embedded
        Chroma client does not see what another process wrote ("Error finding id"), so it is opened afresh."""
        generation = self.catalog.generation
        if generation != self._vectors_generation:
            self.vectors = VectorIndex(self.settings, fresh=not self.settings.chroma_url)
            self._vectors_generation = generation
        if self._exact is not None and self._exact.generation == generation:
            return self._exact
        ids = self.catalog.chunk_id_list()
        if len(ids) > self.settings.exact_search_max_chunks:
            self._exact = None
        else:
            self._exact = ExactVectors.load(ids, self.vectors, generation, self._exact)
        return self._exact

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
            with self.write_lock():
                self._load_saved_bm25()  # a writer may have saved a current one and let go meanwhile
                if self._bm25 is None or self._bm25.generation != self.catalog.generation:
                    self.rebuild_bm25()
        except IndexLockedError:
            if self._bm25 is None:  # the first ingest is still running: this process's own copy, not saved
                self._bm25 = Bm25Index.from_catalog(self.catalog)
        return self._bm25

    def _load_saved_bm25(self) -> None:
        """Load the saved index if it is not the one in memory (a writer swaps it in whole)."""
        stamp = self.saved_bm25.stamp()
        if stamp is None or stamp == self._bm25_stamp:
            return
        try:
            loaded = self.saved_bm25.load(self._bm25)
        except (OSError, ValueError):  # swapped while we read it: keep what we have, try at the next question
            return
        if loaded is not None and self.saved_bm25.stamp() == stamp:
            self._bm25, self._bm25_stamp = loaded, stamp

    def rebuild_bm25(self) -> None:
        """Rebuild BM25 from the catalog and save it; the caller holds the write lock."""
        self._bm25 = Bm25Index.from_catalog(self.catalog)
        self.saved_bm25.save(self._bm25)
        self._bm25_stamp = self.saved_bm25.stamp()

    def stamp_ingest(self, seconds: float) -> None:
        self.catalog.set_meta(last_ingest=time.time(), last_ingest_seconds=round(seconds, 2))
