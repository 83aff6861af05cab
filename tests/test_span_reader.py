"""The shipped span reader on passages made for it: windows, spans inside a sentence, the no-answer score."""

import json
import shutil

import pytest

from assistant.answering.model_files import READER_DIR, ReaderError
from assistant.answering.span_reader import MAX_LENGTH, SPAN_READER_DIR, SpanReader

FILLER = " ".join(
    f"In {year} the harbour of Calais handled more ferries than the year before, and the town council met {n} times."
    for n, year in enumerate(range(1950, 1975), start=2)
)
ANSWER = "The treaty on fishing rights was signed in Lisbon by both governments."


@pytest.fixture(scope="module")
def span_reader(reader):
    return reader if isinstance(reader, SpanReader) else SpanReader()  # tested whichever reader the run is set to


def test_a_passage_longer_than_the_window_is_read_in_windows_and_its_answer_found_in_the_second(span_reader):
    passage = f"{FILLER} {ANSWER}"
    assert span_reader.count_tokens(passage) > MAX_LENGTH
    (reading,) = span_reader.read("Where was the treaty on fishing rights signed?", [passage])
    assert len(reading.windows) >= 2
    span = reading.best_span()
    assert passage[span.start : span.end] == "Lisbon"
    assert span.start > reading.windows[0].offsets[-1][1]  # past the end of the first window


def test_the_best_span_of_a_sentence_lies_inside_it(span_reader):
    passage = "French officers patrol the beaches every night. They may intercept boats within 300 metres of the shore."
    (reading,) = span_reader.read("How close to the shore can boats be intercepted?", [passage])
    second = passage.index("They")
    inside_first = reading.best_span(0, second)
    best = reading.best_span()
    assert passage[best.start : best.end] in ("300 metres", "within 300 metres")
    assert inside_first.end <= second and inside_first.score < best.score
    assert best.score > 0  # the model prefers the span to "no answer here"


def test_a_passage_without_the_answer_scores_below_one_with_it(span_reader):
    question = "Where was the treaty on fishing rights signed?"
    without, with_answer = span_reader.read(question, ["The harbour of Calais handled many ferries in 1960.", ANSWER])
    assert without.best_span().score < 0 < with_answer.best_span().score


def test_the_shipped_span_reader_is_small_and_has_its_card():
    assert (SPAN_READER_DIR / "model.onnx").stat().st_size < 50_000_000
    card = (SPAN_READER_DIR / "README.md").read_text().lower()
    for needed in ("licence", "squad", "assistant.training.span", "reliability", "reddit", "nq", "windows", "cc by-sa"):
        assert needed in card, needed
    metrics = json.loads((SPAN_READER_DIR / "metrics.json").read_text())
    assert metrics["test"]["overall"]["questions"] > 1000  # held-out documents, never trained or calibrated on
    assert metrics["recipe"]["questions"] >= 18_000


def test_the_shipped_card_is_what_the_card_writer_makes_of_the_shipped_metrics(tmp_path):
    from assistant.answering.calibration import Calibration
    from assistant.training.card import write_span_card

    figures = json.loads((SPAN_READER_DIR / "metrics.json").read_text())
    write_span_card(tmp_path, figures, Calibration.load(SPAN_READER_DIR / "calibration.json"))
    assert (tmp_path / "README.md").read_text() == (SPAN_READER_DIR / "README.md").read_text()


@pytest.mark.parametrize("missing", ["model.onnx", "tokenizer.json", "calibration.json"])
def test_a_missing_span_reader_file_is_named_with_the_command_that_rebuilds_it(tmp_path, missing):
    copy = tmp_path / "span_reader"
    shutil.copytree(SPAN_READER_DIR, copy)
    (copy / missing).unlink()
    with pytest.raises(ReaderError, match=rf"{missing} is missing; rebuild it with `python -m assistant.training.span"):
        SpanReader(copy)


def test_a_sentence_reader_given_as_the_span_reader_is_a_clear_error():
    with pytest.raises(ReaderError, match="is not a span reader"):
        SpanReader(READER_DIR)
