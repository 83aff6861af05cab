"""Numbers that differ in their last bits between CPUs or modes never change what the user is told."""

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from assistant.answering.extractive import ExtractiveAnswerer, mark_competition
from assistant.evaluation.gold import load_gold
from assistant.facade import follow_up_context
from assistant.index.vectors import as_float32
from tests.answers import NUMBER_TOLERANCE, differences

SEED = Path(__file__).parent / "evalsets" / "seed.jsonl"
# Ten times the spread measured between machines (docs/same-answers-on-every-cpu.md): span scores 1.4e-5,
# query-vector cosines 1e-5 (so dense similarities about as much).
LOGIT_SPREAD, DENSE_SPREAD = 1.4e-4, 1e-4


def test_a_distance_reads_the_same_from_an_embedded_chroma_and_from_a_server():
    distances = np.array([0.1, 0.20754, 1 / 3, 0.792461], dtype=np.float32)
    embedded = [float(d) for d in distances]  # a float32 widened exactly
    served = json.loads(json.dumps([float(str(d)) for d in distances]))  # the shortest decimal, as JSON carries it
    assert embedded != served  # the two roads do differ in float64 ...
    assert as_float32(embedded).tobytes() == as_float32(served).tobytes()  # ... and agree once read as float32


def test_answers_compare_on_their_words_exactly_and_their_numbers_within_the_tolerance():
    answer = {"outcome": "answered", "confidence": 0.712, "citations": [{"start": 636, "end": 756, "support": 1.0}]}
    close = copy.deepcopy(answer) | {"confidence": 0.712 + NUMBER_TOLERANCE / 2}
    assert differences(answer, close) == []
    moved = copy.deepcopy(answer)
    moved["citations"][0]["end"] = 757
    assert differences(answer, moved) == ["$.citations[0].end: 756 != 757"]
    assert differences(answer, answer | {"confidence": 0.712 + 2 * NUMBER_TOLERANCE})
    assert differences(answer, answer | {"outcome": "uncertain"})


@pytest.fixture(scope="module")
def seed_readings(seed_assistant):
    """Each seed question's candidates as read (retrieval and reader), before the decision."""
    answerer = ExtractiveAnswerer(seed_assistant.index.bm25().idf, seed_assistant.reader)
    readings = []
    for row in load_gold(SEED):
        context = follow_up_context(row["question"], row.get("history"))
        chunks = seed_assistant._retrieve(row["question"], context, None)
        readings.append((row["question"], answerer.read(row["question"], chunks, context)))
    return answerer, readings


def _perturbed(candidates, logit_signs: np.ndarray, dense_sign: float):
    """The candidates with each reader score moved by its sign times LOGIT_SPREAD, and every dense score by DENSE_SPREAD."""
    out = []
    for candidate, sign in zip(candidates, logit_signs):
        passage = dataclasses.replace(candidate.passage, dense=candidate.passage.dense + dense_sign * DENSE_SPREAD)
        out.append(dataclasses.replace(candidate, reader_logit=candidate.reader_logit + sign * LOGIT_SPREAD, passage=passage))
    mark_competition(out)
    return out


def test_no_seed_outcome_flips_when_the_scores_move_by_the_measured_spread(seed_readings):
    """A seed question whose confidence sat on a threshold would flip here: the decision is not that close to any.
    Every score up, every score down, and four random patterns of ups and downs (seeded)."""
    answerer, readings = seed_readings
    rng = np.random.default_rng(0)
    flips = []
    for question, candidates in readings:
        outcome = answerer.decide(question, _perturbed(candidates, np.zeros(len(candidates)), 0.0)).outcome
        patterns = [np.ones(len(candidates)), -np.ones(len(candidates))]
        patterns += [rng.choice([-1.0, 1.0], len(candidates)) for _ in range(4)]
        for n, signs in enumerate(patterns):
            moved = answerer.decide(question, _perturbed(candidates, signs, 1.0 if n % 2 else -1.0)).outcome
            if moved != outcome:
                flips.append((question, outcome, moved, n))
    assert len(readings) >= 90
    assert not flips, flips
