"""Train the reader: a MiniLM cross-encoder that scores (question, sentence) pairs, and its calibration.

`assistant train-reader` runs the whole recipe, deterministically for a seed:

1. pairs from ``../shared/training`` (README of that folder: sources and licences). Whole
   documents are held out twice (splits.py): VALIDATION ones fit the calibration, TEST ones only
   measure it. Positives are the sentences holding an answer; negatives are the other sentences of the same
   passage (the most question-like first), every sentence of an unanswerable question's passage
   (SQuAD 2.0's near-misses), and near-misses of our own: an answerable question with one of its
   numbers or names swapped for another, against the sentence that answered the original;
2. fine-tuning from the bundled all-MiniLM-L6-v2 weights with a one-logit head (BCE loss);
3. export to ONNX and dynamic int8 quantisation (onnxruntime, per-channel weights); the reader runs
   it in the form whose integer products are exact on each CPU (``assistant/inference.py``);
4. the calibration (assistant/answering/calibration.py, ``Calibration``), fitted on the VALIDATION
   mix (mix.py: answerable questions and three kinds of unanswerable ones, four domains, indexed and
   retrieved for real) with thresholds chosen for an outcome (calibrate.py);
5. the held-out figures on the TEST mix, per domain and kind, written to ``metrics.json`` and the model card.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np

from assistant.answering.extractive import READ_LIMIT
from assistant.training.calibrate import PRECISION_TARGET, PRECISION_TARGETS, calibrate_and_measure
from assistant.training.card import write_card, write_span_card
from assistant.training.export import export
from assistant.training.fine_tune import fine_tune
from assistant.training.pairs import build_pairs


def train_reader(
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int = 13,
    epochs: float = 1.0,
    batch_size: int = 32,
    max_length: int = 160,
    learning_rate: float = 5e-5,
    sample: int | None = None,
    max_pairs: int | None = 40_000,
    checkpoint: Path | None = None,
    quantize: bool = True,
    target: float = PRECISION_TARGET,
    log=print,
) -> dict:
    """The whole recipe (module docstring); returns the figures also written to out_dir/metrics.json."""
    import torch

    from assistant.settings import bundled_model_path

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    started = time.perf_counter()
    pairs = build_pairs(data_dir, seed, sample)[:max_pairs]  # shuffled: a fixed CPU budget, the same pairs for a seed
    log(f"{len(pairs)} training pairs ({sum(p.label for p in pairs)} positive)")

    base = bundled_model_path()
    if checkpoint and (checkpoint / "config.json").is_file():
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        log(f"reusing the fine-tuned weights in {checkpoint}")
        model = AutoModelForSequenceClassification.from_pretrained(str(checkpoint)).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
        train_seconds = json.loads((checkpoint / "trained.json").read_text())["train_seconds"]
        reused = True
    else:
        model, tokenizer = fine_tune(pairs, base, seed, epochs, batch_size, max_length, learning_rate, log)
        train_seconds, reused = round(time.perf_counter() - started, 1), False
        if checkpoint:
            model.save_pretrained(str(checkpoint))
            tokenizer.save_pretrained(str(checkpoint))
            (checkpoint / "trained.json").write_text(json.dumps({"train_seconds": train_seconds}))

    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = export(model, tokenizer, out_dir, quantize)
    figures, calibration = calibrate_and_measure(
        data_dir, out_dir, seed, _per_domain(sample), fp32 if quantize else None, target, log
    )
    fp32.unlink(missing_ok=True)
    figures["recipe"] = {
        "seed": seed, "epochs": epochs, "batch_size": batch_size, "max_length": max_length, "learning_rate": learning_rate,
        "sample": sample, "max_pairs": max_pairs, "pairs": len(pairs), "positives": sum(p.label for p in pairs),
        "quantized": quantize, "train_seconds": train_seconds, "reused_checkpoint": reused,
        "total_seconds": round(time.perf_counter() - started, 1), "device": "cuda" if torch.cuda.is_available() else "cpu",
        "read_limit": READ_LIMIT, "precision_target": target,
    }  # fmt: skip
    (out_dir / "metrics.json").write_text(json.dumps(figures, indent=1))
    write_card(out_dir, figures, calibration)
    log(json.dumps(figures, indent=1))
    return figures


def recalibrate(
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int = 13,
    sample: int | None = None,
    target: float | None = None,
    kind: str = "sentence",
    log=print,
) -> dict:
    """Steps 4-5 only, for the model already in out_dir: after a change to the answerer's candidates
    (READ_LIMIT, features) or to the mixes the calibration must be fitted again; the weights stay as they are.
    ``sample`` makes the mixes small, as it does in train_reader (a quick run; the shipped one uses the default)."""
    previous = json.loads((out_dir / "metrics.json").read_text()) if (out_dir / "metrics.json").is_file() else {}
    target = target or PRECISION_TARGETS[kind]
    started = time.perf_counter()
    figures, calibration = calibrate_and_measure(data_dir, out_dir, seed, _per_domain(sample), target=target, log=log, kind=kind)
    if "test_fp32" in previous:  # the fp32 weights are not kept; what int8 cost was measured when they were
        figures["test_fp32_when_trained"] = previous.get("test_fp32_when_trained", previous["test_fp32"])
    figures["recipe"] = previous.get("recipe", {}) | {
        "read_limit": READ_LIMIT if kind == "sentence" else None,
        "precision_target": target,
        "recalibrated": True,
        "recalibration_seconds": round(time.perf_counter() - started, 1),
    }
    (out_dir / "metrics.json").write_text(json.dumps(figures, indent=1))
    if kind == "span":
        write_span_card(out_dir, figures, calibration)
    else:
        write_card(out_dir, figures, calibration)
    log(json.dumps({k: v for k, v in figures.items() if k in ("mix", "test")}, indent=1))
    return figures


def _per_domain(sample: int | None) -> int | None:
    """Questions per domain of each calibration mix for a quick --sample run (None: mix.QUESTIONS_PER_DOMAIN)."""
    return sample and max(8, sample // 4)
