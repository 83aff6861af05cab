"""Retrieve: dense (Chroma) and BM25 candidates, fused by reciprocal rank fusion."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.embedding import Encoder
from assistant.store import ChunkRecord, Index


@dataclass(frozen=True)
class RetrievedChunk:
    chunk: ChunkRecord
    score: float  # fused RRF score
    dense: float  # cosine similarity between the query and the chunk
    dense_rank: int | None
    bm25_rank: int | None


class HybridRetriever:
    def __init__(self, index: Index, encoder: Encoder, candidates: int = 50, rrf_k: int = 60):
        self.index = index
        self.encoder = encoder
        self.candidates = candidates
        self.rrf_k = rrf_k

    def retrieve(self, query: str, top_k: int) -> list[RetrievedChunk]:
        vector = self.encoder.encode([query])[0]
        dense = self.index.vectors.query(vector, self.candidates)
        sparse = self.index.bm25().query(query, self.candidates)
        dense_rank = {cid: rank for rank, (cid, _) in enumerate(dense)}
        bm25_rank = {cid: rank for rank, (cid, _) in enumerate(sparse)}
        fused: dict[str, float] = {}
        for ranking in (dense_rank, bm25_rank):
            for cid, rank in ranking.items():
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        # The catalog is the source of truth: vectors it does not list (a crashed ingest) are skipped.
        ranked = sorted(fused, key=fused.__getitem__, reverse=True)[: top_k * 2]
        records = self.index.catalog.chunks(ranked)
        ranked = [cid for cid in ranked if cid in records][:top_k]
        similarity = dict(dense)
        similarity.update(self.index.vectors.similarities(vector, [cid for cid in ranked if cid not in similarity]))
        return [
            RetrievedChunk(records[cid], fused[cid], similarity.get(cid, 0.0), dense_rank.get(cid), bm25_rank.get(cid))
            for cid in ranked
        ]
