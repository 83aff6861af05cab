"""The reader's decision on the held-out question mixes of ``assistant/training/mix.py``, per domain and kind.

``assistant eval mix --data ../shared/training`` measures the reader in use on the TEST mix (or
VALIDATION, with ``--split``); ``assistant eval GOLD.jsonl`` prints the figures stored with the
reader beside its own, so a shift between the seed questions and the mix shows up.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path


def run(data_dir: Path, split: str, encoder, reader, seed: int = 13, per_domain: int | None = None, log=print) -> dict:
    """Index the split's mix in a scratch folder, answer every question with the reader's calibration, measure."""
    from assistant.training.calibrate import decide_all, measure, run_mix
    from assistant.training.mix import QUESTIONS_PER_DOMAIN, build_mix, proportions, read_rows

    mix, documents = build_mix(read_rows(data_dir), split, seed, per_domain or QUESTIONS_PER_DOMAIN)
    with tempfile.TemporaryDirectory() as scratch:
        examples, answerer = run_mix(mix, documents, encoder, reader, Path(scratch) / split, log)
        measured = measure(decide_all(examples, answerer, reader.calibration))
    return {"split": split, "mix": proportions([e.question for e in examples]), **measured}


def table(measured: dict) -> str:
    from assistant.training.card import domain_table, mix_table

    mix = mix_table(measured["mix"])
    counts = f"questions per domain and kind:\n{mix}"
    return f"{counts}\n\n{domain_table(measured)}\n\nECE (expected calibration error) {measured['ece']:.3f}"


def stored_table(reader_dir: Path) -> str | None:
    """The TEST-mix figures measured when the reader was calibrated (its metrics.json), if it has them."""
    path = reader_dir / "metrics.json"
    figures = json.loads(path.read_text()) if path.is_file() else {}
    if "by_domain" not in figures.get("test", {}):
        return None
    return table(figures["test"] | {"mix": figures["mix"]["test"]})
