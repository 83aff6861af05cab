"""The reader: the shipped model's files, what happens when they are missing or corrupt, and the training command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.answering.model_files import READER_DIR, ReaderError
from assistant.answering.reader import Reader
from assistant.datasets.splits import read_rows, split_of
from assistant.training.pairs import build_pairs
from tests.conftest import SHORE_QUESTION

TRAINING_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "training"
needs_data = pytest.mark.skipif(not (TRAINING_DATA / "span_qa.jsonl.gz").is_file(), reason="no ../shared/training here")


def test_the_shipped_reader_is_small_and_has_its_card():
    assert (READER_DIR / "model.onnx").stat().st_size < 50_000_000
    card = (READER_DIR / "README.md").read_text()
    for needed in ("Licence", "SQuAD", "assistant train-reader", "precision", "Reliability", "reddit", "nq"):
        assert needed in card
    metrics = json.loads((READER_DIR / "metrics.json").read_text())
    assert metrics["test"]["overall"]["questions"] > 1000  # held-out documents, never trained or calibrated on
    assert set(metrics["test"]["by_domain"]) == {"wikipedia", "reddit", "reviews", "nq"}


@pytest.fixture(scope="module")
def sentence_reader() -> Reader:
    return Reader()


def test_the_reader_prefers_the_sentence_that_answers(sentence_reader):
    logits = sentence_reader.score(
        SHORE_QUESTION,
        [
            "French police were photographed on the beach at Calais.",
            "Officers could intercept boats leaving within 300 metres of the shoreline.",
        ],
    )
    assert logits[1] > logits[0]


def test_a_pair_longer_than_the_window_is_cut_not_refused(sentence_reader):
    long_sentence = "The officers stood on the beach. " * 200
    assert sentence_reader.score("Where did the officers stand?", [long_sentence]).shape == (1,)


@pytest.mark.parametrize("missing", ["model.onnx", "tokenizer.json", "calibration.json"])
def test_a_missing_reader_file_is_named_with_the_command_that_rebuilds_it(tmp_path, missing):
    copy = tmp_path / "reader"
    shutil.copytree(READER_DIR, copy)
    (copy / missing).unlink()
    with pytest.raises(ReaderError, match=rf"{missing} is missing; rebuild it with `assistant train-reader`"):
        Reader(copy)


def test_a_corrupt_reader_file_is_a_clear_error_in_the_cli(seed_assistant, tmp_path):
    copy = tmp_path / "reader"
    shutil.copytree(READER_DIR, copy)
    (copy / "model.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ReaderError, match="cannot be loaded"):
        Reader(copy)
    done = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ask", SHORE_QUESTION, "--index", str(seed_assistant.settings.index_dir),
         "--reader", str(copy)],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "ASSISTANT_READER": "sentence"},
    )  # fmt: skip
    assert done.returncode == 6
    assert "cannot be loaded" in done.stderr and "assistant train-reader" in done.stderr and "Traceback" not in done.stderr


@needs_data
def test_training_pairs_are_deterministic_for_a_seed_and_keep_the_held_out_documents_out():
    first, second = build_pairs(TRAINING_DATA, seed=3, sample=50), build_pairs(TRAINING_DATA, seed=3, sample=50)
    assert first == second and first
    held_out = {row["question"] for row in read_rows(TRAINING_DATA) if split_of(row) != "train"}
    assert not held_out & {pair.question for pair in build_pairs(TRAINING_DATA, seed=3)}
    assert {0, 1} == {pair.label for pair in first}


@needs_data
def test_the_training_command_runs_end_to_end_on_a_tiny_sample(tmp_path, seed_assistant):
    out = tmp_path / "reader"
    done = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "train-reader", "--data", str(TRAINING_DATA), "--out", str(out),
         "--sample", "16", "--max-pairs", "64", "--seed", "5"],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "ASSISTANT_READER": "sentence"}, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("model.onnx", "tokenizer.json", "calibration.json", "metrics.json"):
        assert (out / name).is_file(), name
    figures = json.loads((out / "metrics.json").read_text())
    assert figures["recipe"]["pairs"] == 64 and figures["recipe"]["quantized"]
    assert figures["test"]["overall"]["questions"] > 0 and 0 <= figures["test"]["ece"] <= 1
    # --recalibrate keeps the weights and, on the same data and seed, fits the same calibration again
    model, calibration = (out / "model.onnx").read_bytes(), (out / "calibration.json").read_bytes()
    (out / "calibration.json").write_text("{}")
    again = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "train-reader", "--recalibrate", "--data", str(TRAINING_DATA),
         "--out", str(out), "--sample", "16", "--seed", "5"],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "ASSISTANT_READER": "sentence"}, timeout=1200,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert (out / "model.onnx").read_bytes() == model and (out / "calibration.json").read_bytes() == calibration
    assert json.loads((out / "metrics.json").read_text())["recipe"]["recalibrated"]
    # the assistant answers with the model it wrote
    asked = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ask", SHORE_QUESTION, "--json", "--index",
         str(seed_assistant.settings.index_dir), "--reader", str(out)],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "ASSISTANT_READER": "sentence"},
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["outcome"] in ("answered", "uncertain", "not_stated", "not_found")


def test_the_fp32_form_is_made_once_and_replaces_earlier_forms(tmp_path):
    cache = tmp_path / "reader-cache"
    cache.mkdir()
    (cache / "uint8-123-456.onnx").write_bytes(b"the form readers ran before 2026-12-02")
    first = Reader(cache_dir=cache)
    made = list(cache.iterdir())
    assert [p.name.split("-")[0] for p in made] == ["fp32"]
    stamp = made[0].stat().st_mtime_ns
    second = Reader(cache_dir=cache)
    assert list(cache.iterdir()) == made and made[0].stat().st_mtime_ns == stamp  # reused, not made again
    pair = ("Within what distance can officers intercept boats?", ["within 300 metres of the shoreline"])
    assert first.score(*pair).tolist() == second.score(*pair).tolist()


def test_the_shipped_readers_run_with_fused_attention(tmp_path):
    """Reading is most of an answer's time; ONNX Runtime's fused kernels make it ~20 % faster (assistant/inference.py).
    A model exported so that the fusion no longer matches would still answer, only slower: this says so."""
    import onnx

    from assistant.answering.model_files import READER_DIRS
    from assistant.inference import reader_model_for_every_cpu

    for kind, folder in READER_DIRS.items():
        form = reader_model_for_every_cpu(folder / "model.onnx", tmp_path / kind)
        operators = {node.op_type for node in onnx.load(str(form)).graph.node}
        assert {"Attention", "SkipLayerNormalization", "BiasGelu"} <= operators, f"{kind} reader: {sorted(operators)}"


def test_a_reader_exported_again_from_its_int8_weights_scores_the_same(tmp_path):
    """`python -m assistant.training.export FOLDER` (how the shipped readers got eager attention): the same integers
    (reexport refuses otherwise), the same logits, and a form whose attention is fused."""
    import onnx

    from assistant.training.export import reexport

    folder = tmp_path / "reader"
    shutil.copytree(READER_DIR, folder)
    reexport(folder)
    assert {e.key: e.value for e in onnx.load(str(folder / "model.onnx")).metadata_props}["attention_heads"] == "12"
    question = "Within what distance can officers intercept boats?"
    sentences = ["within 300 metres of the shoreline", "Dover is a port."]
    again = Reader(folder, cache_dir=tmp_path / "cache")
    assert abs(Reader().score(question, sentences) - again.score(question, sentences)).max() < 1e-4
    (form,) = (tmp_path / "cache").glob("*.onnx")
    assert "Attention" in {node.op_type for node in onnx.load(str(form)).graph.node}
