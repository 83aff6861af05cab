"""The decision's calibration: the held-out question mixes it is fitted and measured on, and its thresholds.

The mixes come from ../shared/training (skipped where it is absent); the mix test indexes real
documents with the real encoder and reads them with the shipped reader."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from assistant.datasets.mix import EXTRA_NEAR_MISSES, PROPORTIONS, PROPORTIONS_WITHOUT_NEAR_MISSES, build_mix, file_name
from assistant.datasets.splits import read_rows, split_of
from assistant.evaluation.mix import run_mix
from assistant.training.calibrate import absence_threshold, precision_threshold, relatedness_threshold

TRAINING_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "training"
needs_data = pytest.mark.skipif(not (TRAINING_DATA / "span_qa_extra.jsonl.gz").is_file(), reason="no ../shared/training")


def test_the_answer_threshold_is_the_lowest_confidence_that_keeps_the_precision_target():
    scored = [(0.9, True), (0.8, True), (0.7, False), (0.6, True), (0.5, False), (0.4, False)]
    # at or above 0.6: 3 of 4 right (0.75); at or above 0.5: 3 of 5 (0.6)
    assert precision_threshold(scored, 0.75, min_answered=1) == pytest.approx(0.55)
    assert precision_threshold(scored, 0.95, min_answered=1) == pytest.approx(0.75)
    # fewer answers than min_answered never count as the target reached: nothing is answered
    assert precision_threshold(scored, 0.95, min_answered=3) == 1.0


def test_the_absence_threshold_is_the_highest_under_which_claims_of_absence_keep_their_precision():
    scored = [(0.01, True)] * 30 + [(0.05, False)] + [(0.06, True)] * 10 + [(0.3, False)] * 5  # (confidence, unanswerable)
    # under 0.18: 40 of 41 unanswerable (0.976); under 0.5: 40 of 46 (0.87)
    assert absence_threshold(scored, 0.95, min_claims=25, ceiling=0.69) == pytest.approx(0.18)
    assert absence_threshold(scored, 0.99, min_claims=25, ceiling=0.69) == pytest.approx(0.03)  # only the first 30
    assert absence_threshold(scored, 0.95, min_claims=100, ceiling=0.69) == 0.0  # too few claims: none made


def test_the_relatedness_threshold_leaves_at_most_the_allowed_answerable_questions_below_it():
    unanswered = [0.9, 0.1, 0.3, 0.2]
    assert relatedness_threshold(unanswered, 1) == pytest.approx(0.15)
    assert sum(r < relatedness_threshold(unanswered, 2) for r in unanswered) == 2
    assert relatedness_threshold(unanswered, 0) < 0.1
    assert relatedness_threshold(unanswered, 4) == 1.0


@pytest.fixture(scope="module")
def rows():
    return read_rows(TRAINING_DATA)


@needs_data
def test_the_mixes_hold_every_kind_in_the_stated_proportions_from_held_out_documents_only(rows):
    validation, validation_documents = build_mix(rows, "validation", seed=13, per_domain=200)
    test, test_documents = build_mix(rows, "test", seed=13, per_domain=200)
    assert not set(validation_documents) & set(test_documents)
    for whole, split in ((validation, "validation"), (test, "test")):
        assert all(split_of(q.row) == split for q in whole)
        assert len({q.row["id"] for q in whole}) == len(whole)  # a question is used once
        extra = [q for q in whole if q.extra]  # near-misses beyond the proportions, for the near-miss figures
        assert {(q.kind, q.domain) for q in extra} == {("near_miss", "wikipedia")}
        assert len(extra) == EXTRA_NEAR_MISSES * round(PROPORTIONS["near_miss"] * 200)
        mix = [q for q in whole if not q.extra]
        assert {q.domain for q in mix} == {"wikipedia", "reddit", "reviews", "nq"}
        for domain in ("wikipedia", "reddit", "reviews", "nq"):
            counts = Counter(q.kind for q in mix if q.domain == domain)
            shares = PROPORTIONS if domain == "wikipedia" else PROPORTIONS_WITHOUT_NEAR_MISSES
            for kind, share in shares.items():
                if kind in ("same_type", "same_document"):  # a question with no same-type distractor is same-document
                    assert counts[kind] <= round((shares["same_type"] + shares["same_document"]) * 200), (domain, counts)
                else:
                    assert counts[kind] == round(share * 200), (domain, kind, counts)
            assert counts["same_type"] + counts["same_document"] == round((shares["same_type"] + shares["same_document"]) * 200)
        assert sum(q.kind == "same_type" for q in mix) >= 40  # Wikipedia, reviews and NQ documents have distractors
    assert build_mix(rows, "test", seed=13, per_domain=200)[0] == test  # deterministic for a seed


@needs_data
def test_each_kind_reads_what_it_should_through_the_real_index(rows, encoder, reader, tmp_path):
    mix, documents = build_mix(rows, "validation", seed=13, per_domain=8)
    examples, _ = run_mix(mix, documents, encoder, reader, tmp_path, log=lambda line: None)
    assert {e.question.kind for e in examples} == {"answerable", "same_document", "same_type", "off_topic", "near_miss"}
    for example in examples:
        question = example.question
        files_read = {Path(c.passage.record.path).name for c in example.candidates}
        passages = [c.passage.record.text.lower() for c in example.candidates]
        assert any(c.reader_logit > -10 for c in example.candidates)  # the reader read them
        if question.kind in ("same_document", "same_type", "off_topic"):  # the answer is never there to read
            assert not any(a.lower() in p for a in question.answers for p in passages), question.question
        if question.kind == "same_document":  # the topic is: its own document, less the answer's passages
            assert files_read == {file_name(question.document)}
        if question.kind == "off_topic":
            assert file_name(question.document) not in files_read
        if question.kind == "same_type":  # only the distractor paragraph of its own document, which has a thing of the type
            assert files_read == {file_name(question.document)}
            for candidate in example.candidates:
                record = candidate.passage.record
                at = record.document_text.find(question.distractor)
                assert at >= 0 and record.start < at + len(question.distractor) and at < record.end, question.question
    answerable = [e for e in examples if e.question.kind == "answerable"]
    assert sum(any(e.question.holds_answer(c.text) for c in e.candidates) for e in answerable) >= len(answerable) / 2
