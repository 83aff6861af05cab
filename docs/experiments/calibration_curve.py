"""Issue #41: compare span readers at equal answered share, not only at the shipped precision target.

Each reader reads the VALIDATION and TEST mixes once (as ``assistant train-reader --recalibrate`` does);
its calibration is then fitted on VALIDATION at several precision targets and measured on both mixes.
One line per reader and target: answered share, answer precision, false assertions (all unanswerable,
near-miss, same-type), unanswerable denied, false absence::

    python docs/experiments/calibration_curve.py assistant/models/span_reader OTHER_READER_DIR
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from assistant.answering.readers import load_reader
from assistant.datasets.mix import QUESTIONS_PER_DOMAIN, build_mix
from assistant.datasets.splits import read_rows
from assistant.evaluation.mix import decide_all, measure, run_mix
from assistant.index.embedding import Encoder
from assistant.settings import bundled_model_path
from assistant.training.calibrate import fit_calibration
from assistant.training.span import SpanRecipe

SEED = SpanRecipe().seed  # the mixes a span reader's calibration is fitted and measured on
TARGETS = (0.82, 0.84, 0.86, 0.88, 0.90, 0.92, 0.94)


def row(figures: dict) -> list:
    overall, by_kind = figures["overall"], figures["false_assertion_by_kind"]
    return [
        overall["answered_share"], overall["answered_precision"], overall["false_assertion"],
        by_kind["near_miss"], by_kind["same_type"], overall["denied_share_of_negatives"], overall["false_absence"],
    ]  # fmt: skip


def main(readers: list[str], data_dir: Path = Path("../shared/training")) -> None:
    rows = read_rows(data_dir)
    mixes = {split: build_mix(rows, split, SEED, QUESTIONS_PER_DOMAIN) for split in ("validation", "test")}
    print("reader target | VALIDATION, TEST: answered, precision, false assertions, near-miss, same-type, denied, false absence")
    with tempfile.TemporaryDirectory() as scratch:
        encoder = Encoder(bundled_model_path(), Path(scratch) / "encoder")
        for n, folder in enumerate(readers):
            reader = load_reader("span", Path(folder))
            runs = {s: run_mix(*mixes[s], encoder, reader, Path(scratch) / f"{n}-{s}", lambda *_: None) for s in mixes}
            for target in TARGETS:
                calibration = fit_calibration(*runs["validation"], SEED, target)
                figures = {s: row(measure(decide_all(*runs[s], calibration))) for s in runs}
                print(folder, target, json.dumps(figures), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
