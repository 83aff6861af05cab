"""The shipped models against reference outputs stored in the repository (tests/reference/build.py).

A CPU whose arithmetic moves the reader's logits or the query encoder's vectors fails here, with
its instruction sets named, rather than as a quality floor missed by one question. Tolerances come
from the measured spread (docs/same-answers-on-every-cpu.md): the reader runs its int8 weights in
fp32, where CPUs agree to ~1e-5; dynamic int8 arithmetic had put them up to 0.17 apart.
"""

import json

import numpy as np
import pytest

from assistant.answering.reader import Reader
from assistant.answering.span_reader import SpanReader
from assistant.inference import cpu_description
from tests.reference.build import ENCODER_REFERENCE, READER_REFERENCE, SPAN_REFERENCE

LOGIT_TOLERANCE = 0.02
COSINE_FLOOR = 0.99999


def _worst_logit(reader: Reader) -> tuple[float, str]:
    reference = json.loads(READER_REFERENCE.read_text())
    model_bytes = (reader.folder / "model.onnx").stat().st_size
    assert reference["model_bytes"] == model_bytes, "the reader changed: python -m tests.reference.build"
    worst = (0.0, "")
    for group in reference["groups"]:
        logits = reader.score(group["question"], group["sentences"])
        for got, want, sentence in zip(logits, group["logits"], group["sentences"]):
            worst = max(worst, (abs(float(got) - want), f"{group['question']!r} / {sentence[:60]!r}: {got:.4f} vs {want:.4f}"))
    assert sum(len(group["sentences"]) for group in reference["groups"]) >= 300
    return worst


@pytest.fixture(scope="module")
def sentence_reader() -> Reader:
    return Reader()


@pytest.fixture(scope="module")
def span_reader() -> SpanReader:
    return SpanReader()


def test_reader_logits_match_the_reference(sentence_reader):
    """The reader as every CPU runs it: its int8 weights in fp32 (assistant/inference.py)."""
    worst = _worst_logit(sentence_reader)
    assert worst[0] <= LOGIT_TOLERANCE, f"reader logit off by {worst[0]:.4f} ({worst[1]}) on {cpu_description()}"


def test_another_implementation_of_the_reader_computes_the_same_logits(sentence_reader):
    """OpenVINO runs the same fp32 model unfused, with its own kernels and summation orders: what another
    CPU's arithmetic does to the logits. Dynamic int8 failed this kind of check by up to 0.17."""
    import openvino as ov

    from assistant.inference import dequantized_model

    core = ov.Core()
    reader = sentence_reader
    model = core.read_model(dequantized_model(reader.folder / "model.onnx"))
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})  # not bf16 where the CPU has it
    reference = json.loads(READER_REFERENCE.read_text())
    worst = 0.0
    for group in reference["groups"][:40]:
        encodings = reader._tokenizer.encode_batch([(group["question"], s) for s in group["sentences"]])
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        theirs = compiled({k: v for k, v in feed.items() if k in {i.get_any_name() for i in compiled.inputs}})[0].reshape(-1)
        ours = reader.score(group["question"], group["sentences"], batch_size=len(group["sentences"]))
        worst = max(worst, float(np.abs(theirs - ours).max()))
    assert worst <= 1e-3, f"OpenVINO and ONNX Runtime differ by {worst:.5f} on {cpu_description()}"


def test_span_scores_match_the_reference(span_reader):
    """The span reader as every CPU runs it: the same best span, its score and the no-answer score within the tolerance."""
    reference = json.loads(SPAN_REFERENCE.read_text())
    assert reference["model_bytes"] == (span_reader.folder / "model.onnx").stat().st_size, "python -m tests.reference.build"
    worst = (0.0, "")
    for row in reference["rows"]:
        (reading,) = span_reader.read(row["question"], [row["passage"]])
        best, theirs = reading.best_span(), reading.best_span(row["start"], row["end"])  # ours, and the reference's span
        for got, want in ((best.score, row["score"]), (theirs.score, row["score"]), (reading.no_answer, row["no_answer"])):
            worst = max(worst, (abs(got - want), f"{row['question']!r}: {got:.4f} vs {want:.4f}"))
    assert len(reference["rows"]) >= 90
    assert worst[0] <= LOGIT_TOLERANCE, f"span score off by {worst[0]:.4f} ({worst[1]}) on {cpu_description()}"


def test_another_implementation_of_the_span_reader_computes_the_same_logits(span_reader):
    import openvino as ov

    from assistant.inference import dequantized_model

    core = ov.Core()
    model = core.read_model(dequantized_model(span_reader.folder / "model.onnx"))
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    worst = 0.0
    for row in json.loads(SPAN_REFERENCE.read_text())["rows"][:30]:
        encoding = span_reader._tokenizer.encode(row["question"], row["passage"])
        feed = {
            "input_ids": np.array([encoding.ids], dtype=np.int64),
            "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
        }
        theirs = compiled({k: v for k, v in feed.items() if k in {i.get_any_name() for i in compiled.inputs}})
        ours = span_reader._session.run(None, feed)
        for n in range(2):
            worst = max(worst, float(np.abs(theirs[n] - ours[n]).max()))
    assert worst <= 1e-3, f"OpenVINO and ONNX Runtime differ by {worst:.5f} on {cpu_description()}"


def test_query_vectors_match_sentence_transformers_fp32(encoder):
    rows = json.loads(ENCODER_REFERENCE.read_text())
    reference = np.array([row["vector"] for row in rows], dtype=np.float64)
    ours = np.array([encoder.encode_query(row["text"]) for row in rows], dtype=np.float64)
    cosines = (ours * reference).sum(axis=1) / np.linalg.norm(reference, axis=1)
    worst = int(cosines.argmin())
    assert len(rows) >= 40
    text = rows[worst]["text"][:60]
    assert cosines[worst] >= COSINE_FLOOR, f"query vector of {text!r} at cosine {cosines[worst]:.6f} on {cpu_description()}"
