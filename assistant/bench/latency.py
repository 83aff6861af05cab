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


def bench_mcp_search(index_dir: Path, rounds: int) -> dict:
    """Warm `search` through MCP over HTTP (`python app.py`, the SDK's client) against the same retrieval in
    process (`Assistant.search`, what the CLI runs): p50 of each over the seed questions."""
    import asyncio
    import socket

    from mcp import Client

    questions = [row["question"] for row in load_gold(ROOT / "tests" / "evalsets" / "seed.jsonl")]
    assistant = Assistant(bench_settings(index_dir, corpus_dir=ROOT / "corpus"))
    assistant.ingest()  # incremental: nothing to do after bench_latency
    for question in questions:  # warm-up
        assistant.search(question)
    local = []
    for _ in range(rounds):
        for question in questions:
            started = time.perf_counter()
            assistant.search(question)
            local.append((time.perf_counter() - started) * 1000)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, str(ROOT / "app.py"), "--no-ingest", "--port", str(port)]
    server = subprocess.Popen(command, env=bench_env(index_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def over_mcp() -> list[float]:
        async with Client(f"http://127.0.0.1:{port}/mcp", read_timeout_seconds=120) as client:
            for question in questions:  # warm-up
                await client.call_tool("search", {"query": question})
            times = []
            for _ in range(rounds):
                for question in questions:
                    started = time.perf_counter()
                    await client.call_tool("search", {"query": question})
                    times.append((time.perf_counter() - started) * 1000)
            return times

    try:
        deadline = time.perf_counter() + 120
        while True:
            try:
                remote = asyncio.run(over_mcp())
                break
            except Exception:
                if server.poll() is not None or time.perf_counter() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait()
    return {
        "questions": len(remote),
        "mcp_http_p50_ms": round(statistics.median(remote), 1),
        "in_process_p50_ms": round(statistics.median(local), 1),
        "difference_p50_ms": round(statistics.median(remote) - statistics.median(local), 1),
    }
