"""Vectors: the chunk embeddings in Chroma, embedded (``index/chroma``) or on a server (``ASSISTANT_CHROMA_URL``)."""

from __future__ import annotations

import functools

import numpy as np

from assistant.index.catalog import doc_id_of
from assistant.index.database import IndexUnavailableError
from assistant.settings import Settings


def _server_call(method):
    """A Chroma server that cannot be reached raises IndexUnavailableError (a 503 in the API), not httpx's error."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        import httpx

        try:
            return method(self, *args, **kwargs)
        except httpx.TransportError as exc:
            raise IndexUnavailableError(f"the Chroma server {self.url} is unavailable: {exc}") from None

    return call


def as_float32(values) -> np.ndarray:
    """Chroma's numbers as the float32 it computed them in, whichever way they came.

    Embedded, a distance arrives as float32 widened exactly to a Python float; from a server it
    arrives as JSON text, the shortest decimal that reads back as that float32, which Python parses
    to a different float64 (0.1f is 0.10000000149… here, 0.1 there). Rounding both to float32 first
    gives both modes the same bits, so fused scores and every decision after them agree.
    """
    return np.asarray(values, dtype=np.float32)


class VectorIndex:
    """Chunk vectors in Chroma: written through llama-index's ChromaVectorStore, queried directly; we always pass embeddings."""

    def __init__(self, settings: Settings, fresh: bool = False):
        """``fresh``: an embedded client opened anew, not the one this process already has for the folder (which
        does not see what another process wrote since it was opened)."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        self.url = settings.chroma_url
        if settings.chroma_url:
            from urllib.parse import urlparse

            url = urlparse(settings.chroma_url)
            try:
                self.client = chromadb.HttpClient(
                    host=url.hostname or "127.0.0.1", port=url.port or 8000, ssl=url.scheme == "https", settings=chroma_settings
                )
            except ValueError as exc:  # "Could not connect to a Chroma server"
                raise IndexUnavailableError(f"the Chroma server {self.url} is unavailable: {exc}") from None
        else:
            if fresh:
                from chromadb.api.shared_system_client import SharedSystemClient

                # Forget this folder's cached client; one still held (a question in flight) keeps its own system.
                SharedSystemClient._identifier_to_system.pop(str(settings.index_dir / "chroma"), None)
            self.client = chromadb.PersistentClient(path=str(settings.index_dir / "chroma"), settings=chroma_settings)
        self.collection = self._open_collection(settings.collection)
        self._store = None

    @_server_call
    def _open_collection(self, name: str):
        return self.client.get_or_create_collection(
            name,
            # Cosine space and ef values well above Chroma's defaults, which gave poor recall here.
            configuration={"hnsw": {"space": "cosine", "ef_construction": 200, "ef_search": 200, "max_neighbors": 32}},
        )

    @property
    def store(self):
        """llama-index's ChromaVectorStore, made on the first write: importing llama-index costs ~0.9 s; questions only read."""
        if self._store is None:
            from llama_index.vector_stores.chroma import ChromaVectorStore

            self._store = ChromaVectorStore(chroma_collection=self.collection)
        return self._store

    @_server_call
    def add(self, nodes: list) -> None:
        """In batches Chroma takes (5,461 here): a document of 9,363 chunks was refused whole."""
        batch = self.client.get_max_batch_size()
        for first in range(0, len(nodes), batch):
            self.store.add(nodes[first : first + batch])

    @_server_call
    def delete_document(self, doc_id: str) -> None:
        self.store.delete(ref_doc_id=doc_id)

    @_server_call
    def delete_ids(self, ids: list[str]) -> None:
        for first in range(0, len(ids), 5000):
            self.collection.delete(ids=ids[first : first + 5000])

    @_server_call
    def query(self, vector: np.ndarray, k: int, documents: frozenset[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first; with ``documents``, among those doc ids' chunks only."""
        if k <= 0:
            return []
        where = {"ref_doc_id": {"$in": sorted(documents)}} if documents is not None else None
        # By hand, not ChromaVectorStore.query: that also fetches every hit's text and metadata (11 of
        # its 13 ms at 100k chunks here; the catalog has both). No count() first either: 7 ms at 100k,
        # and Chroma returns fewer hits when it holds fewer. Cosine distance is 1 - similarity.
        result = self.collection.query(query_embeddings=[vector.tolist()], n_results=k, where=where, include=["distances"])
        distances = as_float32(result["distances"][0])
        return [(cid, 1.0 - float(distance)) for cid, distance in zip(result["ids"][0], distances)]

    @_server_call
    def similarities(self, vector: np.ndarray, ids: list[str]) -> dict[str, float]:
        if not ids:
            return {}
        got = self.collection.get(ids=ids, include=["embeddings"])
        embeddings = as_float32(got["embeddings"])
        return {cid: float(np.dot(vector, emb)) for cid, emb in zip(got["ids"], embeddings)}

    @_server_call
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

    @_server_call
    def id_shas(self) -> dict[str, str]:
        """Every stored chunk id with the hash of the document version it was embedded from."""
        out: dict[str, str] = {}
        total, page = self.collection.count(), 10000
        for offset in range(0, total, page):
            got = self.collection.get(include=["metadatas"], limit=page, offset=offset)
            out.update({cid: str((meta or {}).get("sha256", "")) for cid, meta in zip(got["ids"], got["metadatas"])})
        return out

    @_server_call
    def count(self) -> int:
        return self.collection.count()

    @_server_call
    def fetch(self, ids: list[str]) -> tuple[list[str], np.ndarray]:
        """The stored vectors of those ids that Chroma holds (ids it lacks are left out), in pages Chroma takes."""
        found, vectors = [], []
        for first in range(0, len(ids), 5000):
            got = self.collection.get(ids=ids[first : first + 5000], include=["embeddings"])
            found += got["ids"]
            vectors.append(as_float32(got["embeddings"]).reshape(len(got["ids"]), -1))
        return found, (np.concatenate(vectors) if vectors else np.zeros((0, 0), dtype=np.float32))


class ExactVectors:
    """Every chunk vector of the index in one float32 matrix, searched exactly: a matrix-vector product and a
    partial sort (100k x 384 is ~150 MB and a few ms here; ``python -m assistant.bench`` measures it against HNSW).

    Chroma's HNSW graph loses its way among thousands of identical or near-identical vectors (templated logs,
    ledgers: issue #42 measured the seed articles' chunks missing from its top 200 beside 8,000 ledger chunks),
    so up to ``Settings.exact_search_max_chunks`` the dense list comes from here. A vector repeated exactly (a
    chunk text indexed many times) is searched once, under its first chunk id, so copies cannot fill the list.
    """

    def __init__(self, ids: list[str], matrix: np.ndarray, generation: int):
        self.ids, self.generation = ids, generation
        self._positions: dict[str, int] | None = None
        if len(ids) == 0:
            self.unique, self.rows, self.first_ids = np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64), []
            self.doc_ids = np.array([], dtype=str)
            return
        as_bytes = np.ascontiguousarray(matrix).view(np.dtype((np.void, matrix.dtype.itemsize * matrix.shape[1])))
        _, first, self.rows = np.unique(as_bytes.ravel(), return_index=True, return_inverse=True)
        self.unique = np.ascontiguousarray(matrix[first])
        self.first_ids = [ids[i] for i in first]
        self.doc_ids = np.array([doc_id_of(chunk) for chunk in ids])

    def position(self, chunk_id: str) -> int | None:
        """The chunk's row in ``ids`` (None if it has no vector here)."""
        if self._positions is None:
            self._positions = {cid: n for n, cid in enumerate(self.ids)}
        return self._positions.get(chunk_id)

    def similarities(self, vector: np.ndarray, ids: list[str]) -> dict[str, float]:
        found = [cid for cid in ids if self.position(cid) is not None]
        if not found:
            return {}
        scores = self.unique[self.rows[[self.position(cid) for cid in found]]] @ vector.astype(np.float32)
        return dict(zip(found, scores.tolist()))

    @classmethod
    def load(cls, ids: list[str], vectors: VectorIndex, generation: int, previous: ExactVectors | None = None) -> ExactVectors:
        """The matrix for these chunk ids: rows of ``previous`` kept, only the new ids fetched from Chroma
        (ids Chroma does not hold, a crashed ingest's, are left out)."""
        rows = [previous.position(cid) if previous is not None else None for cid in ids]
        kept = [cid for cid, row in zip(ids, rows) if row is not None]
        fetched_ids, fetched = vectors.fetch([cid for cid, row in zip(ids, rows) if row is None])
        parts = [previous.unique[previous.rows[[row for row in rows if row is not None]]]] if kept else []
        if fetched_ids:
            parts.append(fetched)
        matrix = np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros((0, 0), dtype=np.float32)
        return cls(kept + fetched_ids, matrix, generation)

    def query(self, vector: np.ndarray, k: int, documents: frozenset[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first: the vectors are unit length, so a dot product. With
        ``documents``, only those doc ids' chunks (each searched under its own id, copies or not)."""
        if k <= 0 or len(self.first_ids) == 0:
            return []
        if documents is not None:
            rows = np.flatnonzero(np.isin(self.doc_ids, list(documents)))
            if rows.size == 0:
                return []
            scores = self.unique[self.rows[rows]] @ vector.astype(np.float32)
            top = np.argsort(-scores, kind="stable")[:k]
            return [(self.ids[rows[i]], float(scores[i])) for i in top]
        scores = self.unique @ vector.astype(np.float32)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.first_ids[i], float(scores[i])) for i in top]
