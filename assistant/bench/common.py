"""What the benchmark's steps share: settings and environment of its indexes, worker processes, memory and size."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from pathlib import Path

from assistant.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent


def bench_settings(index_dir: Path, **values) -> Settings:
    """Settings for one of the benchmark's indexes; with a Chroma server, each index gets a collection of its own."""
    return Settings(index_dir=index_dir, collection=f"{Settings().collection}-{index_dir.name}", **values)


def bench_env(index_dir: Path, **values: str) -> dict[str, str]:
    settings = bench_settings(index_dir)
    return {**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir), "ASSISTANT_COLLECTION": settings.collection, **values}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not getrusage: on Linux a child inherits its parent's maximum."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def run_worker(command: list[str]) -> dict:
    """A worker subprocess (memory is measured in a process of its own); the JSON it prints."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def directory_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
