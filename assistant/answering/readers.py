"""Pick the reader: the span reader (the default) or the sentence scorer, by ``Settings.reader``."""

from __future__ import annotations

from pathlib import Path

from assistant.answering.model_files import READER_DIRS
from assistant.answering.reader import Reader
from assistant.answering.span_reader import SpanReader


def load_reader(kind: str = "span", folder: Path | None = None, threads: int = 0, cache_dir: Path | None = None):
    """The reader of that kind (Settings.reader): "span" names the answer's words, "sentence" scores whole sentences."""
    if kind not in READER_DIRS:
        raise ValueError(f"unknown reader {kind!r}: 'span' or 'sentence'")
    if kind == "span":
        return SpanReader(folder or READER_DIRS[kind], threads, cache_dir)
    return Reader(folder or READER_DIRS[kind], threads, cache_dir)
