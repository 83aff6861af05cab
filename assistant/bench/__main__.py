"""Benchmark: ingest throughput against the raw encoder, latency, memory, cold start and delete at scale.

    python -m assistant.bench [--docs 300] [--scale 10000 100000] [--scifact ../shared/bench/scifact]

Everything is measured in one run on this machine, so the figures compare like with like.
Ingest runs on SciFact abstracts written out as .txt files (the data stays outside the repo);
seed latency and cold start run on the two articles in corpus/. The scale indexes replicate the
SciFact text to the chunk counts asked for; their chunks reuse the vectors computed in the
ingest step (nudged per copy, so the HNSW graph holds distinct points): every other part of
ingest runs for real, and latency, memory and delete are measured on real indexes of that size.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from assistant.bench.common import ROOT
from assistant.bench.ingest import bench_ingest
from assistant.bench.latency import bench_cold_ask, bench_latency
from assistant.bench.report import report_table
from assistant.bench.scale import bench_scale, worker_ingest, worker_serve
from assistant.inference import cpu_description
from assistant.settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scifact", type=Path, default=ROOT.parent / "shared" / "bench" / "scifact")
    parser.add_argument("--docs", type=int, default=300, help="SciFact abstracts to ingest")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the seed questions for latency")
    parser.add_argument("--scale", type=int, nargs="*", default=[], help="chunk counts of the scale indexes, e.g. 10000 100000")
    parser.add_argument("--queries", type=int, default=200, help="SciFact queries asked per scale index")
    parser.add_argument("--workdir", type=Path, help="keep the indexes here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--worker", choices=["ingest", "serve"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        {"ingest": worker_ingest, "serve": worker_serve}[args.worker](args)
        return

    results: dict = {"settings": {"chroma_url": Settings().chroma_url or "embedded", "cpu": cpu_description()}}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        has_scifact = (args.scifact / "corpus.jsonl").exists()
        if has_scifact:
            results["ingest"] = bench_ingest(args.scifact, args.docs, workdir)
        else:
            print(f"(no SciFact at {args.scifact}: ingest throughput and scale skipped)")
        results["warm_ask"] = bench_latency(workdir / "seed-index", args.rounds)
        results["cold_ask"] = bench_cold_ask(workdir / "seed-index", runs=5)
        for chunks in args.scale if has_scifact else []:
            results[f"scale_{chunks}"] = bench_scale(
                args.scifact, workdir / "scifact-index", workdir / "scifact-corpus", chunks, workdir, args.queries
            )
            print(f"scale {chunks}: {json.dumps(results[f'scale_{chunks}'])}", file=sys.stderr)
    print(report_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
