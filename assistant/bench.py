"""Benchmark: ingest throughput against the raw encoder, warm ask latency, cold `ask` wall time.

    python -m assistant.bench [--docs 300] [--scifact ../shared/bench/scifact]

Everything is measured in one run on this machine, so the figures compare like with like.
Ingest runs on SciFact abstracts written out as .txt files (the data stays outside the repo);
latency and cold start run on the two seed articles in corpus/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assistant.evaluate import load_gold
from assistant.service import Assistant
from assistant.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_ingest(scifact: Path, docs: int, workdir: Path) -> dict:
    corpus = workdir / "scifact-corpus"
    corpus.mkdir()
    with (scifact / "corpus.jsonl").open(encoding="utf-8") as lines:
        for _, line in zip(range(docs), lines):
            row = json.loads(line)
            (corpus / f"{row['_id']}.txt").write_text(f"{row['title']}\n{row['text']}", encoding="utf-8")

    assistant = Assistant(Settings(corpus_dir=corpus, index_dir=workdir / "scifact-index"))
    _ = assistant.encoder  # load (and export once) outside the timing, as the raw encoder's load is outside too
    report = assistant.ingest()
    texts = [text for _, text in assistant.index.catalog.iter_chunk_texts()]

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(assistant.settings.resolved_model_path()), device="cpu")
    model.encode(texts[:32])  # warm-up
    started = time.perf_counter()
    model.encode(texts, batch_size=assistant.settings.embed_batch_size, normalize_embeddings=True)
    raw_seconds = time.perf_counter() - started
    ingest_rate = report.chunks_embedded / report.seconds
    raw_rate = len(texts) / raw_seconds
    return {
        "documents": docs,
        "chunks": report.chunks_embedded,
        "ingest_chunks_per_s": round(ingest_rate, 1),
        "raw_encode_chunks_per_s": round(raw_rate, 1),
        "ratio": round(ingest_rate / raw_rate, 2),
    }


def bench_latency(index_dir: Path, rounds: int) -> dict:
    assistant = Assistant(Settings(corpus_dir=ROOT / "corpus", index_dir=index_dir))
    assistant.ingest()
    gold = load_gold(ROOT / "tests" / "evalsets" / "seed.jsonl")
    for row in gold:  # warm-up
        assistant.ask(row["question"], row.get("history"))
    totals, retrieve, answer = [], [], []
    for _ in range(rounds):
        for row in gold:
            started = time.perf_counter()
            result = assistant.ask(row["question"], row.get("history"))
            totals.append((time.perf_counter() - started) * 1000)
            retrieve.append(result.timings["retrieve_ms"])
            answer.append(result.timings["answer_ms"])
    return {
        "questions": len(totals),
        "p50_ms": round(statistics.median(totals), 1),
        "p95_ms": round(percentile(totals, 0.95), 1),
        "retrieve_p50_ms": round(statistics.median(retrieve), 1),
        "answer_p50_ms": round(statistics.median(answer), 1),
    }


def bench_cold_ask(index_dir: Path, runs: int) -> dict:
    command = [
        str(Path(sys.executable).parent / "assistant"),
        "ask",
        "Within what distance of the shore can French officers intercept boats?",
    ]
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir)}
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
    return {"runs": runs, "median_s": round(statistics.median(walls), 2), "max_s": round(max(walls), 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scifact", type=Path, default=ROOT.parent / "shared" / "bench" / "scifact")
    parser.add_argument("--docs", type=int, default=300, help="SciFact abstracts to ingest")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the seed questions for latency")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if (args.scifact / "corpus.jsonl").exists():
            results["ingest"] = bench_ingest(args.scifact, args.docs, workdir)
        else:
            print(f"(no SciFact at {args.scifact}: ingest throughput skipped)")
        results["warm_ask"] = bench_latency(workdir / "seed-index", args.rounds)
        results["cold_ask"] = bench_cold_ask(workdir / "seed-index", runs=5)

    print("| measure | value | goal |\n|---|---|---|")
    if "ingest" in results:
        i = results["ingest"]
        print(f"| ingest, {i['documents']} SciFact abstracts ({i['chunks']} chunks) | {i['ingest_chunks_per_s']} chunks/s | |")
        print(f"| raw `SentenceTransformer.encode`, same chunks | {i['raw_encode_chunks_per_s']} chunks/s | |")
        print(f"| ingest / raw encode | {i['ratio']} | ≥ 0.9 |")
    w, c = results["warm_ask"], results["cold_ask"]
    print(f"| warm `ask` p50 / p95 ({w['questions']} questions) | {w['p50_ms']} / {w['p95_ms']} ms | p50 ≤ 30 ms |")
    print(f"| of which retrieve / answer, p50 | {w['retrieve_p50_ms']} / {w['answer_p50_ms']} ms | |")
    print(f"| cold `assistant ask`, median of {c['runs']} | {c['median_s']} s (max {c['max_s']} s) | ≤ 3 s |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
