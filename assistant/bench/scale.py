"""Scale: the SciFact text replicated to 10k or 100k chunks, ingested with replayed vectors, served
and measured in worker processes."""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from assistant.bench.common import bench_settings, directory_mb, embedded_settings, peak_rss_mb, percentile, run_worker
from assistant.bench.latency import bench_cold_ask, bench_cold_ui
from assistant.facade import Assistant


class ReplayEncoder:
    """Vectors for chunk texts seen in an earlier ingest, nudged per copy; the real encoder for anything else."""

    def __init__(self, encoder, known: dict[str, np.ndarray], seed: int = 0):
        self.encoder = encoder
        self.known = known
        self.fingerprint, self.dim, self.load = encoder.fingerprint, encoder.dim, encoder.load
        self.random = np.random.default_rng(seed)
        self.replayed = 0

    def encode(self, texts: list[str], batch_size: int = 32, *, bulk: bool | None = None) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing = [i for i, text in enumerate(texts) if text not in self.known]
        if missing:
            out[missing] = self.encoder.encode([texts[i] for i in missing])
        for i, text in enumerate(texts):
            if text in self.known:
                vector = self.known[text] + self.random.normal(0, 0.02, self.dim).astype(np.float32)
                out[i] = vector / np.linalg.norm(vector)
                self.replayed += 1
        return out


def known_vectors(index_dir: Path) -> dict[str, np.ndarray]:
    """Chunk text -> vector, read back from an index."""
    assistant = Assistant(embedded_settings(index_dir))
    texts = dict(assistant.index.catalog.iter_indexed_texts())
    collection = assistant.index.vectors.collection
    known = {}
    ids = list(texts)
    for first in range(0, len(ids), 5000):
        got = collection.get(ids=ids[first : first + 5000], include=["embeddings"])
        known.update({texts[cid]: np.asarray(vector, dtype=np.float32) for cid, vector in zip(got["ids"], got["embeddings"])})
    return known


def write_replicas(source: Path, target: Path, chunks_wanted: int, chunks_per_copy: int) -> None:
    """Copies of the source corpus (copy-000/, copy-001/, ...), the last one partial, to about chunks_wanted chunks."""
    files = sorted(source.glob("*.txt"))
    per_file = chunks_per_copy / max(len(files), 1)
    needed_files = round(chunks_wanted / per_file)
    for n in range(needed_files):
        copy, original = divmod(n, len(files))
        folder = target / f"copy-{copy:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        # Trailing newlines make each copy's bytes differ (ingest would copy the first copy's vectors
        # for identical files) while its chunks stay the same.
        (folder / files[original].name).write_bytes(files[original].read_bytes() + b"\n" * copy)


def worker_ingest(args) -> None:
    """Subprocess: ingest the scale corpus with replayed vectors; prints the report as JSON."""
    from assistant.ingest.pipeline import ingest

    settings = bench_settings(args.index, corpus_dir=args.corpus)
    base = Assistant(embedded_settings(args.cache))
    encoder = ReplayEncoder(base.encoder, known_vectors(args.cache))
    report = ingest(settings, encoder=encoder)
    print(json.dumps({"chunks": report.chunks_embedded, "seconds": report.seconds, "replayed": encoder.replayed,
                      "peak_rss_mb": peak_rss_mb()}))  # fmt: skip


def worker_serve(args) -> None:
    """Subprocess: open an index, answer SciFact queries warm, then delete one document; prints JSON."""
    from assistant.ingest.pipeline import delete_documents

    assistant = Assistant(bench_settings(args.index, corpus_dir=args.corpus))
    queries = [json.loads(line)["text"] for line in (args.scifact / "queries.jsonl").open(encoding="utf-8")][: args.queries]
    for query in queries[:20]:  # warm-up
        assistant.ask(query)
    totals, retrieve, answer = [], [], []
    for query in queries:
        started = time.perf_counter()
        result = assistant.ask(query)
        totals.append((time.perf_counter() - started) * 1000)
        retrieve.append(result.timings["retrieve_ms"])
        answer.append(result.timings["answer_ms"])
    from assistant.bench.recall import recall

    dense_recall = {k: v for k, v in recall(assistant, queries[:50]).items() if k != "chunks"}
    victim = assistant.documents()[len(assistant.documents()) // 2]
    started = time.perf_counter()
    delete_documents(assistant.settings, [victim.doc_id])
    delete_seconds = time.perf_counter() - started
    after = assistant.ask(queries[0])  # the index still answers after the delete
    chunks, peak_rss = assistant.status()["chunks"], peak_rss_mb()  # before a second assistant joins this process
    change = change_reaches_another_host(assistant, args.index) if assistant.settings.database_url else {}
    print(json.dumps({
        "chunks": chunks,
        "questions": len(totals),
        "p50_ms": round(statistics.median(totals), 1),
        "p95_ms": round(percentile(totals, 0.95), 1),
        "retrieve_p50_ms": round(statistics.median(retrieve), 1),
        "retrieve_p95_ms": round(percentile(retrieve, 0.95), 1),
        "answer_p50_ms": round(statistics.median(answer), 1),
        "answer_p95_ms": round(percentile(answer, 0.95), 1),
        "delete_one_document_s": round(delete_seconds, 3),
        "answers_after_delete": bool(after.answer),
        "peak_rss_mb": peak_rss,
        **dense_recall,
        **change,
    }))  # fmt: skip


def change_reaches_another_host(assistant: Assistant, index: Path) -> dict:
    """Server mode: upload a document through this assistant and time until a second one over the same
    servers (another index folder, other connections and BM25 copy: another host but for the network) answers from it."""
    other = Assistant(assistant.settings.model_copy(update={"index_dir": index.with_name(index.name + "-host-b")}))
    question = "Who is the lighthouse keeper of Port Ellery?"
    other.ask(question)  # warm
    started = time.perf_counter()
    assistant.upload("bench-change.txt", b"The lighthouse keeper of Port Ellery is Agnes Trevelyan, since 1998.\n")
    uploaded = time.perf_counter()
    while "Trevelyan" not in other.ask(question).answer:
        if time.perf_counter() - uploaded > 60:
            raise RuntimeError("the change did not reach the other host within 60 s")
    return {"change_upload_s": round(uploaded - started, 3), "change_seen_elsewhere_s": round(time.perf_counter() - uploaded, 3)}


def bench_scale(
    scifact: Path, cache_index: Path, cache_corpus: Path, chunks_wanted: int, workdir: Path, queries: int, mode: str = ""
) -> dict:
    """One scale step; ``mode`` "server" names its folders apart (its workers find the servers in the environment)."""
    name = f"scale-{chunks_wanted}" + (f"-{mode}" if mode else "")
    corpus, index = workdir / f"{name}-corpus", workdir / f"{name}-index"
    cache_chunks = Assistant(embedded_settings(cache_index)).status()["chunks"]
    write_replicas(cache_corpus, corpus, chunks_wanted, cache_chunks)
    if (cache_index / "encoder").is_dir():  # an export kept in the index folder (else the machine's encoder cache serves)
        shutil.copytree(cache_index / "encoder", index / "encoder", dirs_exist_ok=True)
    module = [sys.executable, "-m", "assistant.bench", "--worker"]
    paths = ["--corpus", str(corpus), "--index", str(index), "--cache", str(cache_index), "--scifact", str(scifact)]
    ingested = run_worker([*module, "ingest", *paths])
    served = run_worker([*module, "serve", *paths, "--queries", str(queries)])
    cold = bench_cold_ask(index, runs=3, question="Does vitamin D deficiency increase the risk of fractures?")
    return {
        "chunks": served["chunks"],
        "ingest_replayed_per_s": round(ingested["chunks"] / ingested["seconds"], 1),
        "ingest_peak_rss_mb": ingested["peak_rss_mb"],
        "serve_peak_rss_mb": served["peak_rss_mb"],
        "index_mb": None if mode == "server" else round(directory_mb(index)),
        "cold_ask_s": cold["median_s"],
        "cold_ui_first_answer_s": bench_cold_ui(index, corpus),
        **{k: v for k, v in served.items() if k not in ("chunks", "peak_rss_mb")},
    }
