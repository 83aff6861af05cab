"""`assistant eval squad`: the official SQuAD metrics on hand-computed cases, and the real reader on a small file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from assistant.evaluation.squad import load_squad, normalize_answer, score, token_f1

SHORE = (
    "The French Government recently announced that officers could intercept boats leaving within 300 metres "
    "of the shoreline. While this has not come into effect yet, the interior ministry is set to change the current policy."
)


def squad_file(path, questions: list[tuple[str, str, list[str]]], context: str = SHORE):
    qas = [{"id": qid, "question": q, "answers": [{"text": a, "answer_start": context.find(a)} for a in answers],
            "is_impossible": not answers} for qid, q, answers in questions]  # fmt: skip
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}))
    return path


def test_answers_are_normalised_as_the_official_script_does():
    assert normalize_answer("The  300 Metres!") == "300 metres"
    assert token_f1("within 300 metres of the shore", "the 300 metres") == pytest.approx(2 * 0.4 * 1.0 / 1.4)
    assert token_f1("", "") == 1.0 and token_f1("Paris", "") == 0.0


def test_the_official_figures_computed_by_hand(tmp_path):
    rows = load_squad(squad_file(tmp_path / "small.json", [
        ("q1", "How far out?", ["the 300 metres", "300 metres"]),
        ("q2", "Which union?", ["Alliance"]),
        ("q3", "Which port?", []),
        ("q4", "Which capital?", []),
    ], context="within 300 metres of the shore, said Alliance."))  # fmt: skip
    predictions = {"q1": "within 300 metres of the shore", "q2": "Alliance.", "q3": "", "q4": "Paris"}
    no_answer = {"q1": 0.15, "q2": 0.1, "q3": 0.6, "q4": 0.2}
    best_guess = predictions | {"q3": "Le Havre"}
    figures = score(rows, predictions, no_answer, best_guess)
    f1_q1 = 2 * 0.4 * 1.0 / 1.4  # 2 of 5 predicted tokens, both gold tokens
    assert figures["exact"] == 50.0 and figures["total"] == 4
    assert figures["f1"] == pytest.approx(100 * (f1_q1 + 1 + 1 + 0) / 4, abs=1e-3)
    assert figures["HasAns_exact"] == 50.0 and figures["HasAns_f1"] == pytest.approx(100 * (f1_q1 + 1) / 2, abs=1e-3)
    assert figures["NoAns_exact"] == 50.0 and figures["NoAns_total"] == 2
    assert figures["HasAns_answered"] == 100.0 and figures["balanced_accuracy"] == 75.0  # (100 + 50) / 2
    assert figures["HasAns_guess_f1"] == pytest.approx(100 * (f1_q1 + 1) / 2, abs=1e-3)
    # the sweep answers questions by rising no-answer probability: q2 (+1), q1 (+0 exact, +f1_q1), q4 (-1), q3 (-1)
    assert figures["best_exact"] == 75.0 and figures["best_exact_thresh"] == 0.1
    assert figures["best_f1"] == pytest.approx(100 * (3 + f1_q1) / 4, abs=1e-3) and figures["best_f1_thresh"] == 0.15


def test_a_squad_v1_file_has_no_no_answer_figures(tmp_path):
    rows = load_squad(squad_file(tmp_path / "v1.json", [("q1", "How far out?", ["300 metres"])]))
    figures = score(rows, {"q1": "300 metres"}, {"q1": 0.2}, {"q1": "300 metres"})
    assert figures == {"exact": 100.0, "f1": 100.0, "total": 1, "HasAns_answered": 100.0, "HasAns_guess_f1": 100.0}


def test_the_command_scores_the_real_reader_deterministically(tmp_path):
    path = squad_file(tmp_path / "shore.json", [
        ("a", "Within what distance of the shore can French officers intercept boats?", ["300 metres", "within 300 metres"]),
        ("u", "What is the capital of Australia?", []),
    ])  # fmt: skip
    runs = []
    for n in range(2):
        out = tmp_path / f"run{n}.json"
        done = subprocess.run(
            [sys.executable, "-m", "assistant.cli", "eval", "squad", str(path), "--json", str(out)],
            capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(json.loads(out.read_text()))
    assert runs[0] == runs[1]
    figures = runs[0]
    assert figures["total"] == 2 and set(figures) >= {"HasAns_f1", "NoAns_exact", "best_f1", "best_f1_thresh"}
    # the span reader names the answer's words ("within 300 metres"); the unanswerable question is not answered
    assert figures["HasAns_exact"] == 100.0 and figures["NoAns_exact"] == 100.0


def test_a_missing_or_foreign_file_is_a_usage_error(tmp_path):
    (tmp_path / "foreign.json").write_text('{"rows": []}')
    for target in ("missing.json", "foreign.json"):
        done = subprocess.run(
            [sys.executable, "-m", "assistant.cli", "eval", "squad", str(tmp_path / target)],
            capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip
        assert done.returncode == 2 and "SQuAD-format file" in done.stderr
