"""Vector recall (issue #42): Chroma's HNSW top 50 against exact search over the same vectors, and what each costs.

The dense list comes from exact search up to ``exact_search_max_chunks`` (index/vectors.py, ExactVectors); this
step shows why, on SciFact, on a corpus of templated ledgers beside the seed articles, and on the scale indexes:
recall@50 of HNSW against the exact top 50, and the p50 of each search. The ledger corpus also answers the six
questions issue #42 asked of it (the seed articles' answers must survive 8,120 ledger chunks).
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from pathlib import Path

from assistant.bench.common import ROOT, embedded_settings
from assistant.facade import Assistant
from assistant.index.vectors import ExactVectors

DEPTH = 50
LEDGER_LINE = "The {name} ledger records that the {name} shipment number is {name}-17 .\n"
LEDGER_QUESTIONS = [  # issue #42: answered over the seed articles alone, and so they must be beside the ledgers
    "Within what distance of the shore can French officers intercept boats?",
    "Which party does Marc de Fleurian belong to?",
    "Who is the Shadow Home Secretary?",
    "What is the largest police union in France?",
    "Which tactic for stopping dinghies have the police unions blocked?",
    "How many migrants crossed the Channel in small boats so far this year?",
]


def recall(assistant: Assistant, queries: list[str]) -> dict:
    """recall@50 of HNSW against exact search, and the p50 of each, over these queries."""
    index = assistant.index
    exact = ExactVectors.load(index.catalog.chunk_id_list(), index.vectors, index.catalog.generation)
    recalls, exact_ms, hnsw_ms = [], [], []
    for query in queries:
        vector = assistant.encoder.encode_query(query)
        started = time.perf_counter()
        truth = {cid for cid, _ in exact.query(vector, DEPTH)}
        exact_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        found = {cid for cid, _ in index.vectors.query(vector, DEPTH)}
        hnsw_ms.append((time.perf_counter() - started) * 1000)
        # A repeated vector is searched once under its first id: HNSW's copy of it counts as found.
        found = {exact.first_ids[exact.rows[exact.position(cid)]] for cid in found if exact.position(cid) is not None}
        recalls.append(len(truth & found) / max(1, len(truth)))
    return {
        "chunks": len(exact.ids),
        "distinct_vectors": len(exact.first_ids),
        "hnsw_recall_at_50": round(statistics.mean(recalls), 4),
        "hnsw_recall_at_50_min": round(min(recalls), 4),
        "exact_p50_ms": round(statistics.median(exact_ms), 2),
        "hnsw_p50_ms": round(statistics.median(hnsw_ms), 2),
    }


def bench_ledgers(workdir: Path, copies: int = 10, lines: int = 5714) -> dict:
    """The seed articles beside ``copies`` copies of two templated ledgers: recall, and the six questions' outcomes."""
    corpus, index = workdir / "ledger-corpus", workdir / "ledger-index"
    shutil.copytree(ROOT / "corpus", corpus, dirs_exist_ok=True)
    for n in range(copies):
        for name in ("alpha", "beta"):
            (corpus / f"{name}-ledger-{n:02}.txt").write_text(LEDGER_LINE.format(name=name) * lines)
    alone = Assistant(embedded_settings(workdir / "ledger-seed-index", corpus_dir=ROOT / "corpus"))
    alone.ingest()
    assistant = Assistant(embedded_settings(index, corpus_dir=corpus))
    assistant.ingest()
    answers = [assistant.ask(question) for question in LEDGER_QUESTIONS]
    without = [alone.ask(question) for question in LEDGER_QUESTIONS]
    return recall(assistant, LEDGER_QUESTIONS * 5) | {
        "questions": len(answers),
        "answered": sum(a.outcome == "answered" for a in answers),
        "answered_without_ledgers": sum(a.outcome == "answered" for a in without),
        "same_outcome_as_without": sum(a.outcome == b.outcome and a.answer == b.answer for a, b in zip(answers, without)),
        "cited_the_articles": sum(bool(a.citations) and "ledger" not in Path(a.citations[0].path).name for a in answers),
    }


def scifact_queries(scifact: Path, n: int) -> list[str]:
    with (scifact / "queries.jsonl").open() as handle:
        return [json.loads(line)["text"] for line, _ in zip(handle, range(n))]
