"""Retrieve: dense (Chroma) and BM25 candidates, fused by weighted reciprocal rank fusion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assistant.embedding import Encoder
from assistant.store import ChunkRecord, Index


@dataclass(frozen=True)
class RetrievedChunk:
    chunk: ChunkRecord
    score: float  # fused RRF score
    dense: float  # cosine similarity between the query and the chunk
    dense_rank: int | None
    bm25_rank: int | None


@dataclass(frozen=True)
class Rankings:
    """The two candidate lists for one query: (chunk id, score), best first."""

    vector: np.ndarray
    dense: list[tuple[str, float]]
    bm25: list[tuple[str, float]]


def fuse(rankings: Rankings, rrf_k: int, dense_weight: float = 1.0) -> dict[str, float]:
    """Weighted reciprocal rank fusion: w / (k + rank), summed over the lists a chunk appears in."""
    fused: dict[str, float] = {}
    for weight, ranking in ((dense_weight, rankings.dense), (1.0, rankings.bm25)):
        for rank, (cid, _) in enumerate(ranking):
            fused[cid] = fused.get(cid, 0.0) + weight / (rrf_k + rank + 1)
    return fused


class HybridRetriever:
    def __init__(self, index: Index, encoder: Encoder, candidates: int = 50, rrf_k: int = 60, dense_weight: float = 1.0):
        self.index = index
        self.encoder = encoder
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight

    def rankings(self, query: str, depth: int | None = None) -> Rankings:
        depth = depth or self.candidates
        vector = self.encoder.encode([query])[0]
        return Rankings(vector, self.index.vectors.query(vector, depth), self.index.bm25().query(query, depth))

    def retrieve(self, query: str, top_k: int) -> list[RetrievedChunk]:
        rankings = self.rankings(query)
        fused = fuse(rankings, self.rrf_k, self.dense_weight)
        # The catalog is the source of truth: vectors it does not list (a crashed ingest) are skipped.
        ranked = sorted(fused, key=fused.__getitem__, reverse=True)[: top_k * 2]
        records = self.index.catalog.chunks(ranked)
        ranked = [cid for cid in ranked if cid in records][:top_k]
        similarity = dict(rankings.dense)
        missing = [cid for cid in ranked if cid not in similarity]
        similarity.update(self.index.vectors.similarities(rankings.vector, missing))
        dense_rank = {cid: rank for rank, (cid, _) in enumerate(rankings.dense)}
        bm25_rank = {cid: rank for rank, (cid, _) in enumerate(rankings.bm25)}
        return [
            RetrievedChunk(records[cid], fused[cid], similarity.get(cid, 0.0), dense_rank.get(cid), bm25_rank.get(cid))
            for cid in ranked
        ]
