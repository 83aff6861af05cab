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
    """Settings for one of the benchmark's indexes. With a Chroma server each index gets a collection of
    its own, and in server mode (ASSISTANT_DATABASE_URL) a database of its own, made on first use."""
    settings = Settings(index_dir=index_dir, collection=f"{Settings().collection}-{index_dir.name}", **values)
    if settings.database_url:
        settings = settings.model_copy(update={"database_url": index_database(settings.database_url, index_dir.name)})
    return settings


def embedded_settings(index_dir: Path, **values) -> Settings:
    """An index that stays on this machine whatever the mode (the SciFact index whose vectors are replayed)."""
    return bench_settings(index_dir, database_url=None, chroma_url=None, **values)


def index_database(url: str, index_name: str) -> str:
    """``url`` with its database name suffixed by the index's name; the database is created if missing."""
    import re
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(url)
    name = re.sub(r"[^a-z0-9_]+", "_", f"{parts.path.lstrip('/') or 'assistant'}_{index_name}".lower())[:63]
    with psycopg.connect(url, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def bench_env(index_dir: Path, **values: str) -> dict[str, str]:
    settings = bench_settings(index_dir)
    server = {"ASSISTANT_DATABASE_URL": settings.database_url} if settings.database_url else {}
    return {
        **os.environ, "ASSISTANT_INDEX_DIR": str(index_dir), "ASSISTANT_COLLECTION": settings.collection, **server, **values
    }  # fmt: skip


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
