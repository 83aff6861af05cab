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
        reader = SpanReader(folder or READER_DIRS[kind], threads, cache_dir)
        if "verifier" in reader.calibration.answer.features:  # calibrated with the verifier: it must be there
            from assistant.answering.verifier import Verifier

            reader.verifier = Verifier(threads=threads, cache_dir=cache_dir)
        return reader
    return Reader(folder or READER_DIRS[kind], threads, cache_dir)
