"""Benchmark: ingest throughput against the raw encoder, latency, memory, cold start and delete at scale.

    python -m assistant.bench [--docs 300] [--scale 10000 100000] [--scifact ../shared/bench/scifact]
    python -m assistant.bench --docs 100 --scale 10000 --server-scale 10000 100000 \
        --database-url postgresql://postgres@127.0.0.1:5432/bench --chroma-url http://127.0.0.1:8000

Everything is measured in one run on this machine, so the figures compare like with like.
Ingest runs on SciFact abstracts written out as .txt files (the data stays outside the repo);
seed latency and cold start run on the two articles in corpus/. The scale indexes replicate the
SciFact text to the chunk counts asked for; their chunks reuse the vectors computed in the
ingest step (nudged per copy, so the HNSW graph holds distinct points): every other part of
ingest runs for real, and latency, memory and delete are measured on real indexes of that size.
``--server-scale`` runs the same steps in server mode (a database per index on that PostgreSQL, a
collection per index on that Chroma server) and times a change made through one host until another answers from it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assistant.bench.common import ROOT, embedded_settings
from assistant.bench.ingest import bench_ingest
from assistant.bench.latency import bench_cold_ask, bench_latency, bench_mcp_search
from assistant.bench.recall import bench_ledgers, recall, scifact_queries
from assistant.bench.report import report_table
from assistant.bench.scale import bench_scale, worker_ingest, worker_serve
from assistant.facade import Assistant
from assistant.index.database import redacted
from assistant.inference import cpu_description
from assistant.settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scifact", type=Path, default=ROOT.parent / "shared" / "bench" / "scifact")
    parser.add_argument("--docs", type=int, default=300, help="SciFact abstracts to ingest")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the seed questions for latency")
    parser.add_argument("--scale", type=int, nargs="*", default=[], help="chunk counts of the scale indexes, e.g. 10000 100000")
    parser.add_argument("--queries", type=int, default=200, help="SciFact queries asked per scale index")
    parser.add_argument("--server-scale", type=int, nargs="*", default=[], help="chunk counts to run in server mode too")
    parser.add_argument("--database-url", help="server mode: a PostgreSQL the benchmark may create databases on")
    parser.add_argument("--chroma-url", help="server mode: a Chroma server")
    parser.add_argument("--workdir", type=Path, help="keep the indexes here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--mcp", action="store_true", help="warm MCP search over HTTP against in process (issue #40)")
    parser.add_argument("--ledgers", action="store_true", help="seed articles beside 20 templated ledgers (issue #42)")
    parser.add_argument("--recall", action="store_true", help="HNSW recall@50 against exact search on SciFact (issue #42)")
    parser.add_argument("--worker", choices=["ingest", "serve"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        {"ingest": worker_ingest, "serve": worker_serve}[args.worker](args)
        return

    results: dict = {"settings": {"chroma_url": Settings().chroma_url or "embedded", "cpu": cpu_description()}}
    if args.server_scale:
        results["settings"]["server_mode"] = {"database_url": redacted(args.database_url or ""), "chroma_url": args.chroma_url}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        has_scifact = (args.scifact / "corpus.jsonl").exists()
        if has_scifact:
            results["ingest"] = bench_ingest(args.scifact, args.docs, workdir)
        else:
            print(f"(no SciFact at {args.scifact}: ingest throughput and scale skipped)")
        results["warm_ask"] = bench_latency(workdir / "seed-index", args.rounds)
        if args.mcp:
            results["mcp_search"] = bench_mcp_search(workdir / "seed-index", args.rounds)
        if args.ledgers:
            results["recall_ledgers"] = bench_ledgers(workdir)
            print(f"ledgers: {json.dumps(results['recall_ledgers'])}", file=sys.stderr)
        if has_scifact and args.recall:
            scifact_index = Assistant(embedded_settings(workdir / "scifact-index"))
            results["recall_scifact"] = recall(scifact_index, scifact_queries(args.scifact, args.queries))
        results["cold_ask"] = bench_cold_ask(workdir / "seed-index", runs=5)
        for chunks in args.scale if has_scifact else []:
            results[f"scale_{chunks}"] = bench_scale(
                args.scifact, workdir / "scifact-index", workdir / "scifact-corpus", chunks, workdir, args.queries
            )
            print(f"scale {chunks}: {json.dumps(results[f'scale_{chunks}'])}", file=sys.stderr)
        for chunks in args.server_scale if has_scifact else []:
            if not (args.database_url and args.chroma_url):
                parser.error("--server-scale needs --database-url and --chroma-url")
            with server_environment(args.database_url, args.chroma_url):
                results[f"scale_{chunks}_server"] = bench_scale(
                    args.scifact, workdir / "scifact-index", workdir / "scifact-corpus", chunks, workdir, args.queries, "server"
                )
            print(f"scale {chunks}, server mode: {json.dumps(results[f'scale_{chunks}_server'])}", file=sys.stderr)
    print(report_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


@contextmanager
def server_environment(database_url: str, chroma_url: str) -> Iterator[None]:
    """Server mode for this process and its workers, for the duration of a step."""
    saved = {key: os.environ.get(key) for key in ("ASSISTANT_DATABASE_URL", "ASSISTANT_CHROMA_URL")}
    os.environ.update(ASSISTANT_DATABASE_URL=database_url, ASSISTANT_CHROMA_URL=chroma_url)
    try:
        yield
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.update({key: value})


if __name__ == "__main__":
    main()
