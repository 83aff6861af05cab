"""Latency: warm `ask` on the seed index, cold `assistant ask`, and a cold server until its first answer."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from assistant.bench.common import ROOT, bench_env, bench_settings, percentile
from assistant.evaluation.gold import load_gold
from assistant.facade import Assistant


def bench_latency(index_dir: Path, rounds: int) -> dict:
    assistant = Assistant(bench_settings(index_dir, corpus_dir=ROOT / "corpus"))
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


def bench_cold_ask(
    index_dir: Path, runs: int, question: str = "Within what distance of the shore can French officers intercept boats?"
) -> dict:
    command = [str(Path(sys.executable).parent / "assistant"), "ask", question]
    env = bench_env(index_dir)
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
    return {"runs": runs, "median_s": round(statistics.median(walls), 2), "max_s": round(max(walls), 2)}


def bench_cold_ui(index_dir: Path, corpus: Path) -> float:
    """Seconds from starting `python app.py --no-ingest` to its first answer through the API."""
    import socket

    from gradio_client import Client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = bench_env(index_dir, ASSISTANT_CORPUS_DIR=str(corpus))
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--no-ingest", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while True:
            try:
                Client(f"http://127.0.0.1:{port}/", verbose=False).predict("What is SciFact about?", [], api_name="/ask")
                return round(time.perf_counter() - started, 2)
            except Exception:
                if server.poll() is not None or time.perf_counter() - started > 120:
                    raise
                time.sleep(0.1)
    finally:
        server.terminate()
        server.wait()
