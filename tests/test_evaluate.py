"""The evaluation harness: deterministic metrics, reports, comparison, and the BEIR benchmark on a tiny data set."""

import json
from pathlib import Path

import pytest

from assistant.evaluation import beir
from assistant.evaluation.gold import compare, evaluate, fact_matches, load_gold, markdown_report, metrics_table

SEED = Path(__file__).parent / "evalsets" / "seed.jsonl"


def without_timing(report: dict) -> dict:
    report = json.loads(json.dumps(report))
    for key in ("latency_p50_ms", "latency_p95_ms"):
        report["metrics"].pop(key)
    for question in report["questions"]:
        question.pop("seconds")
    return report


def test_two_runs_on_the_same_index_give_identical_reports(seed_assistant):
    first, second = evaluate(seed_assistant, SEED), evaluate(seed_assistant, SEED)
    assert without_timing(first) == without_timing(second)
    measured = first["metrics"]
    assert measured["questions"] == len(load_gold(SEED))
    assert measured["citation_precision"] is None  # extractive: nothing generated to check
    assert measured["retrieval_hit@5"] >= 0.95 and 0 < measured["retrieval_mrr"] <= 1


def test_the_report_lists_failures_first_with_their_evidence_and_compares_runs(seed_assistant):
    report = evaluate(seed_assistant, SEED)
    markdown = markdown_report(report)
    failures = [q for q in report["questions"] if not q["correct"]]
    assert failures, "the seed set has known misses (see README)"
    first_failure = markdown.index(f"`{failures[0]['id']}`")
    assert markdown.index("## Failures") < first_failure < markdown.index("## Passed")
    assert "retrieved (expected source at rank" in markdown

    earlier = json.loads(json.dumps(report))
    flipped_right = next(q for q in earlier["questions"] if q["correct"])
    flipped_wrong = next(q for q in earlier["questions"] if not q["correct"])
    flipped_right["correct"], flipped_wrong["correct"] = False, True
    assert compare(report, earlier) == {"improved": [flipped_right["id"]], "regressed": [flipped_wrong["id"]]}
    assert "before" in metrics_table(report, earlier)


def test_facts_are_strings_or_regular_expressions():
    assert fact_matches("300 Metres", "within 300 metres of the shore")
    assert fact_matches(r"re:\b300 ?m(etres)?\b", "within 300m of the shore")
    assert not fact_matches("re:^300", "within 300 metres")


def test_ranking_metrics_match_hand_computed_values():
    relevant = {"a": 1, "b": 2}
    assert beir.ndcg_at(["b", "a", "x"], relevant) == pytest.approx(1.0)
    assert beir.ndcg_at(["x", "a"], relevant) == pytest.approx((1 / 1.58496) / (3 + 1 / 1.58496), rel=1e-4)
    assert beir.recall_at(["x", "a"], relevant, 10) == 0.5
    assert beir.mrr_at(["x", "y", "b"], relevant) == pytest.approx(1 / 3)


def test_beir_benchmark_on_a_tiny_data_set(tmp_path):
    data = tmp_path / "tiny"
    (data / "qrels").mkdir(parents=True)
    docs = {
        "d1": ("Lighthouses", "The lighthouse at Port Ellery was kept by Agnes Trevelyan for thirty-one years."),
        "d2": ("Bread", "Sourdough bread rises slowly because wild yeast ferments the dough overnight."),
        "d3": ("Tides", "Spring tides happen when the sun and the moon pull along the same line."),
        "d/4": ("Bees", "Honey bees dance to tell their sisters where the flowers are."),
    }
    with (data / "corpus.jsonl").open("w") as out:
        for doc_id, (title, text) in docs.items():
            out.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    queries = {
        "q1": "Who kept the lighthouse at Port Ellery?",
        "q2": "Why does sourdough rise slowly?",
        "q3": "How do bees tell where flowers are?",
    }
    (data / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td/4\t1\n")

    result = beir.run(data, "test", tmp_path / "index")
    assert result["documents"] == 4 and result["queries"] == 3
    for mode in ("dense", "bm25", "hybrid"):
        assert result["scores"][mode]["ndcg@10"] == pytest.approx(1.0), (mode, result["scores"])
    again = beir.run(data, "test", tmp_path / "index")  # the index is reused: nothing embedded twice
    assert again["scores"] == result["scores"]


def test_outcome_metrics_and_calibration_error_on_hand_made_answers():
    from assistant.answering.answer import Answer, AnswerSentence, Citation
    from assistant.evaluation.gold import GoldResult, metrics

    def result(answerable: bool, outcome: str, confidence: float, quote: str | None) -> GoldResult:
        citations = [Citation(1, "t", "/a.txt", 0, len(quote), quote, 1.0, "d", "c")] if quote else []
        sentences = [AnswerSentence(quote, [1], 1.0)] if quote else []
        text = f"{quote} [1]" if quote else "The corpus does not answer this question."
        answer = Answer("q", text, outcome != "answered", sentences, citations, [], 0.5, outcome=outcome, confidence=confidence)
        return GoldResult({"id": outcome, "question": "q", "answerable": answerable, "facts": ["300 metres"]}, answer)

    results = [
        result(True, "answered", 0.9, "within 300 metres"),  # right, confident
        result(True, "not_stated", 0.4, "within 300 metres"),  # useful: the fact is in the quote
        result(True, "not_found", 0.1, None),  # a miss
        result(False, "answered", 0.8, "within 300 metres"),  # a false assertion
        result(False, "not_stated", 0.2, "about boats"),
    ]
    measured = metrics(results)
    assert measured["useful"] == pytest.approx(2 / 3, abs=1e-4)
    assert measured["false_assertion"] == 0.5
    assert measured["answered_share"] == pytest.approx(1 / 3, abs=1e-4)
    assert measured["confident_precision"] == 0.5
    # one answer per bin: |0.9 - 1|, |0.4 - 1|, |0.1 - 0|, |0.8 - 0|, |0.2 - 0| averaged
    assert measured["calibration_ece"] == pytest.approx((0.1 + 0.6 + 0.1 + 0.8 + 0.2) / 5)
    assert (measured["outcome_answered"], measured["outcome_not_stated"], measured["outcome_not_found"]) == (2, 2, 1)
