"""Retrieval benchmark on any data set in BEIR layout (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv).

Documents go through the normal ingest (each written as a .txt file, chunked and embedded as any
corpus is); a document's score is its best chunk's. Dense only, BM25 only and the hybrid fusion
are scored from the same candidate lists in one run. Metrics follow BEIR's definitions (pytrec_eval):
nDCG@10 with graded relevance, recall@10, recall@100, MRR@10.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from assistant.facade import Assistant
from assistant.retrieval import HybridRetriever, Rankings, fuse
from assistant.settings import Settings

DEPTH_DOCS = 100  # documents ranked per query (recall@100)
CHUNK_DEPTH = 300  # chunks fetched from each list to fill DEPTH_DOCS documents


@dataclass
class BeirData:
    corpus: dict[str, tuple[str, str]]  # doc id -> (title, text)
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]  # query id -> doc id -> relevance


def load(data_dir: Path, split: str) -> BeirData:
    corpus = {}
    for line in (data_dir / "corpus.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        corpus[str(row["_id"])] = (row.get("title") or "", row.get("text") or "")
    queries = {}
    for line in (data_dir / "queries.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        queries[str(row["_id"])] = row["text"]
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate((data_dir / "qrels" / f"{split}.tsv").open(encoding="utf-8")):
        parts = line.rstrip("\n").split("\t")
        if number == 0 and not parts[-1].lstrip("-").isdigit():
            continue  # header
        query_id, doc_id, score = parts[0], parts[1], int(parts[2])
        if score > 0:
            qrels.setdefault(query_id, {})[doc_id] = score
    return BeirData(corpus, queries, {q: rels for q, rels in qrels.items() if q in queries})


def file_name(doc_id: str) -> str:
    return quote(doc_id, safe="") + ".txt"


def write_corpus(data: BeirData, folder: Path) -> None:
    """One .txt file per document (title, blank line, text); files already there are kept."""
    folder.mkdir(parents=True, exist_ok=True)
    for doc_id, (title, text) in data.corpus.items():
        path = folder / file_name(doc_id)
        if not path.exists():
            path.write_text(f"{title}\n\n{text}" if title else text, encoding="utf-8")


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum((2 ** relevant.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum((2**r - 1) / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    return len(set(ranked[:k]) & set(relevant)) / len(relevant)


def mrr_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    return next((1 / (i + 1) for i, d in enumerate(ranked[:k]) if d in relevant), 0.0)


def score(runs: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    per_query = [(runs[q], rel) for q, rel in qrels.items()]
    n = len(per_query)
    return {
        "ndcg@10": round(sum(ndcg_at(r, rel) for r, rel in per_query) / n, 4),
        "recall@10": round(sum(recall_at(r, rel, 10) for r, rel in per_query) / n, 4),
        "recall@100": round(sum(recall_at(r, rel, 100) for r, rel in per_query) / n, 4),
        "mrr@10": round(sum(mrr_at(r, rel) for r, rel in per_query) / n, 4),
    }


class BeirBenchmark:
    """An index of one BEIR corpus and the candidate lists of one split's queries."""

    def __init__(self, data_dir: Path, split: str, index_dir: Path | None = None, **settings):
        self.data = load(data_dir, split)
        self.split = split
        index_dir = index_dir or Path("index") / f"beir-{data_dir.resolve().name}"
        self.settings = Settings(corpus_dir=index_dir / "corpus", index_dir=index_dir, **settings)
        self.assistant = Assistant(self.settings)
        self.ingest_seconds = 0.0

    def build(self) -> None:
        write_corpus(self.data, self.settings.corpus_dir)
        report = self.assistant.ingest()  # incremental: a second run embeds nothing
        self.ingest_seconds = report.seconds
        catalog = self.assistant.index.catalog
        self._beir_id = {doc.doc_id: unquote(Path(doc.path).name[: -len(".txt")]) for doc in catalog.documents()}

    def rankings(self) -> dict[str, Rankings]:
        retriever = HybridRetriever(self.assistant.index, self.assistant.encoder)
        return {q: retriever.rankings(self.data.queries[q], CHUNK_DEPTH) for q in self.data.qrels}

    def documents(self, chunk_scores: list[tuple[str, float]]) -> list[tuple[str, float]]:
        """Chunk ranking -> document ranking: each document with its best chunk's score, best first."""
        ranked: dict[str, float] = {}
        for cid, value in chunk_scores:
            doc = self._beir_id.get(cid.rsplit("-", 1)[0])
            if doc is not None and doc not in ranked:
                ranked[doc] = value
        return list(ranked.items())

    def runs(self, rankings: dict[str, Rankings], alpha: float, rrf_k: int) -> dict[str, dict[str, list[str]]]:
        """Document rankings per mode; the hybrids fuse the two document lists."""
        out: dict[str, dict[str, list[str]]] = {"dense": {}, "bm25": {}, "hybrid": {}, "hybrid_rrf": {}}
        for query_id, ranking in rankings.items():
            dense, bm25 = self.documents(ranking.dense), self.documents(ranking.bm25)
            out["dense"][query_id] = [doc for doc, _ in dense[:DEPTH_DOCS]]
            out["bm25"][query_id] = [doc for doc, _ in bm25[:DEPTH_DOCS]]
            for mode, method in (("hybrid", "zscore"), ("hybrid_rrf", "rrf")):
                fused = fuse(dense, bm25, method, alpha, rrf_k)
                out[mode][query_id] = sorted(fused, key=fused.__getitem__, reverse=True)[:DEPTH_DOCS]
        return out


def run(data_dir: Path, split: str, index_dir: Path | None = None, tune: bool = False) -> dict:
    """Scores of dense, BM25 and hybrid retrieval on one split (and, with tune, the fusion grid)."""
    started = time.perf_counter()
    bench = BeirBenchmark(data_dir, split, index_dir)
    bench.build()
    built = time.perf_counter()
    rankings = bench.rankings()
    retrieved = time.perf_counter()
    settings = bench.settings
    result = {
        "data": str(data_dir),
        "split": split,
        "documents": len(bench.data.corpus),
        "chunks": bench.assistant.index.catalog.count_chunks(),
        "queries": len(bench.data.qrels),
        "fusion_alpha": settings.fusion_alpha,
        "rrf_k": settings.rrf_k,
        "scores": {
            mode: score(ranked, bench.data.qrels)
            for mode, ranked in bench.runs(rankings, settings.fusion_alpha, settings.rrf_k).items()
        },
        "seconds": {
            "index": round(built - started, 1),
            "retrieve": round(retrieved - built, 1),
            "per_query_ms": round((retrieved - built) * 1000 / max(len(rankings), 1), 1),
        },
    }
    if tune:
        grid = []
        for alpha, rrf_k in zip((0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8), (1, 5, 10, 20, 40, 60, 100, 200)):
            runs = bench.runs(rankings, alpha, rrf_k)
            grid.append({"fusion": "zscore", "fusion_alpha": alpha, **score(runs["hybrid"], bench.data.qrels)})
            grid.append({"fusion": "rrf", "rrf_k": rrf_k, **score(runs["hybrid_rrf"], bench.data.qrels)})
        result["grid"] = sorted(grid, key=lambda row: row["ndcg@10"], reverse=True)
    return result


def table(result: dict) -> str:
    lines = [f"{result['data']} ({result['split']}): {result['documents']} documents, {result['chunks']} chunks, "
             f"{result['queries']} queries; hybrid = z-score mix, alpha {result['fusion_alpha']}; "
             f"hybrid_rrf = RRF, k {result['rrf_k']}",  # fmt: skip
             f"{'mode':10} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} {'MRR@10':>7}"]  # fmt: skip
    for mode, s in result["scores"].items():
        lines.append(f"{mode:10} {s['ndcg@10']:8.4f} {s['recall@10']:7.4f} {s['recall@100']:7.4f} {s['mrr@10']:7.4f}")
    seconds = result["seconds"]
    lines.append(f"index {seconds['index']} s, retrieval {seconds['retrieve']} s ({seconds['per_query_ms']} ms per query)")
    for row in result.get("grid", [])[:6]:
        setting = f"alpha={row['fusion_alpha']}" if row["fusion"] == "zscore" else f"k={row['rrf_k']}"
        lines.append(f"  grid: {row['fusion']:6} {setting:10} nDCG@10 {row['ndcg@10']:.4f}")
    return "\n".join(lines)
