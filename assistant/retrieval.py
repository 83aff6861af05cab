"""Retrieve: dense (Chroma) and BM25 candidates, fused.

Two fusions: ``zscore`` (the default) standardises each list's scores and mixes them,
``alpha * dense + (1 - alpha) * bm25``; ``rrf`` is reciprocal rank fusion. On SciFact train the
z-score mix gave nDCG@10 0.731 against RRF's 0.714 (README, "Retrieval benchmark"), in line with
Bruch et al., "An Analysis of Fusion Functions for Hybrid Retrieval" (2023).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from assistant.index.catalog import ChunkRecord
from assistant.index.embedding import Encoder
from assistant.index.store import Index


@dataclass(frozen=True)
class RetrievedChunk:
    record: ChunkRecord
    score: float  # fused score
    dense: float  # cosine similarity between the query and the chunk
    dense_rank: int | None
    bm25_rank: int | None


@dataclass(frozen=True)
class Rankings:
    """The two candidate lists for one query: (chunk id, score), best first."""

    vector: np.ndarray
    dense: list[tuple[str, float]]
    bm25: list[tuple[str, float]]


def fuse_zscore(dense: list[tuple[str, float]], bm25: list[tuple[str, float]], alpha: float) -> dict[str, float]:
    """alpha * z(dense) + (1 - alpha) * z(bm25); an id missing from a list gets that list's lowest z."""
    fused: dict[str, float] = {}
    for weight, ranking in ((alpha, dense), (1 - alpha, bm25)):
        if not ranking:
            continue
        scores = np.array([score for _, score in ranking], dtype=np.float64)
        z = (scores - scores.mean()) / (scores.std() + 1e-9)
        floor = float(z.min())
        for (key, _), value in zip(ranking, z):
            fused[key] = fused.get(key, 0.0) + weight * (float(value) - floor)
    return fused


def fuse_rrf(dense: list[tuple[str, float]], bm25: list[tuple[str, float]], rrf_k: int) -> dict[str, float]:
    """Reciprocal rank fusion: 1 / (k + rank), summed over the lists an id appears in."""
    fused: dict[str, float] = {}
    for ranking in (dense, bm25):
        for rank, (key, _) in enumerate(ranking):
            fused[key] = fused.get(key, 0.0) + 1.0 / (rrf_k + rank + 1)
    return fused


Ranking = list[tuple[str, float]]


def fuse(dense: Ranking, bm25: Ranking, method: str, alpha: float, rrf_k: int) -> dict[str, float]:
    return fuse_rrf(dense, bm25, rrf_k) if method == "rrf" else fuse_zscore(dense, bm25, alpha)


class HybridRetriever:
    def __init__(
        self, index: Index, encoder: Encoder, candidates: int = 50, fusion: str = "zscore", alpha: float = 0.55, rrf_k: int = 60
    ):
        self.index = index
        self.encoder = encoder
        self.candidates = candidates
        self.fusion, self.alpha, self.rrf_k = fusion, alpha, rrf_k

    def rankings(self, query: str, depth: int | None = None, documents: frozenset[str] | None = None) -> Rankings:
        """Both lists; with ``documents`` (doc ids), each restricted to their chunks before it is ranked."""
        depth = depth or self.candidates
        bm25 = self.index.bm25()
        # BM25 scores in a worker thread while the query is encoded (~1 ms of ~9 at 100k chunks, README)
        lexical = _bm25_thread().submit(bm25.query, query, depth, documents)
        vector = self.encoder.encode_query(query)
        return Rankings(vector, self.index.dense(vector, depth, documents), lexical.result())

    def retrieve(
        self,
        query: str,
        top_k: int,
        keep: Callable[[ChunkRecord], bool] | None = None,
        depth: int | None = None,
        documents: frozenset[str] | None = None,
    ) -> list[RetrievedChunk]:
        """The top_k fused chunks; with ``keep``, only chunks it accepts (the calibration mixes leave passages out).
        Near-identical chunks (copies, templated lines) count once, and the first hit of each list is always kept:
        when one list is noise the other's best is not fused away."""
        rankings = self.rankings(query, depth, documents)
        fused = fuse(rankings.dense, rankings.bm25, self.fusion, self.alpha, self.rrf_k)
        # The catalog is the source of truth: vectors it does not list (a crashed ingest) are skipped.
        ranked = sorted(fused, key=fused.__getitem__, reverse=True)
        firsts = [ranking[0][0] for ranking in (rankings.bm25, rankings.dense) if ranking]
        records = self.index.catalog.chunks(ranked if keep else list(dict.fromkeys(ranked[: top_k * 4] + firsts)))
        accepted = {cid for cid in records if keep is None or keep(records[cid])}
        must = [next((cid for cid, _ in ranking if cid in accepted), None) for ranking in (rankings.bm25, rankings.dense)]
        ranked = distinct([cid for cid in ranked if cid in accepted], records, top_k, [cid for cid in must if cid])
        similarity = dict(rankings.dense)
        missing = [cid for cid in ranked if cid not in similarity]
        similarity.update(self.index.similarities(rankings.vector, missing))
        dense_rank = {cid: rank for rank, (cid, _) in enumerate(rankings.dense)}
        bm25_rank = {cid: rank for rank, (cid, _) in enumerate(rankings.bm25)}
        return [
            RetrievedChunk(records[cid], fused[cid], similarity.get(cid, 0.0), dense_rank.get(cid), bm25_rank.get(cid))
            for cid in ranked
        ]


def _shape(text: str) -> frozenset[str]:
    """A chunk's words with digits masked: two chunks of one template ("shipment alpha-17", "alpha-18") look alike."""
    return frozenset(re.sub(r"\d+", "0", word) for word in text.lower().split())


def distinct(ranked: list[str], records: dict[str, ChunkRecord], top_k: int, must: list[str]) -> list[str]:
    """The best top_k of ranked that are not near-copies of a better one (NEAR_COPY of their masked words
    shared), with each chunk of ``must`` that survives among them: in for the worst of the others."""
    kept: list[str] = []
    shapes: list[frozenset[str]] = []
    for cid in ranked:
        shape = _shape(records[cid].text)
        if not any(len(shape & other) >= NEAR_COPY * max(len(shape), len(other)) for other in shapes):
            kept.append(cid)
            shapes.append(shape)
    chosen = kept[:top_k]
    for cid in must:
        if cid in kept and cid not in chosen and chosen:
            chosen.remove(next(c for c in reversed(chosen) if c not in must))
            chosen.append(cid)
    return sorted(chosen, key=kept.index)


NEAR_COPY = 0.9


@lru_cache(maxsize=1)
def _bm25_thread() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="bm25")
