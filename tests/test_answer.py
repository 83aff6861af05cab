"""Answers over the two articles: the real model, a real Chroma, the seed gold set."""

from pathlib import Path

from assistant.evaluate import load_gold, rates, run_gold
from tests.conftest import SHORE_QUESTION

SEED = Path(__file__).parent / "evalsets" / "seed.jsonl"
# Floors measured on seed.jsonl (94 questions: 0.742 / 0.750 at the calibrated threshold 0.44); a
# drop fails CI. The goals of issues #2 and #4 (0.90-0.95) are not met: README, "Answer quality".
ANSWERED_FLOOR = 0.74
REFUSED_FLOOR = 0.75


def test_the_shore_question_cites_the_300_metres_passage(seed_assistant):
    answer = seed_assistant.ask(SHORE_QUESTION)
    assert not answer.abstained
    assert "300 metres" in answer.answer and answer.answer.rstrip().endswith("[1]")
    first = answer.citations[0]
    assert first.n == 1 and "300 metres" in first.quote and first.path.endswith(".txt")
    assert first.support == 1.0


def test_every_citation_is_the_exact_text_at_its_span(seed_assistant):
    for question in [SHORE_QUESTION, "What is the largest police union in France?", "Who is the Shadow Home Secretary?"]:
        answer = seed_assistant.ask(question)
        assert answer.citations
        for citation in answer.citations:
            text = seed_assistant.index.catalog.document_text(citation.doc_id)
            assert text[citation.start : citation.end] == citation.quote
        # every sentence of the answer carries a citation to a source that exists
        assert [s.cites for s in answer.sentences] == [[c.n] for c in answer.citations]
        for sentence in answer.sentences:
            assert f"{sentence.text} [{sentence.cites[0]}]" in answer.answer


def test_an_unanswerable_question_is_refused_with_related_reading(seed_assistant):
    answer = seed_assistant.ask("What is the population of Calais?")
    assert answer.abstained and answer.answer == "The corpus does not answer this question."
    assert not answer.citations and answer.related and all(r.quote for r in answer.related)


def test_a_follow_up_uses_the_earlier_turn(seed_assistant):
    history = [
        {"role": "user", "content": "What is the largest police union in France?"},
        {"role": "assistant", "content": "Alliance [1]"},
    ]
    answer = seed_assistant.ask("What did it say about arrests at sea?", history)
    assert not answer.abstained and "too dangerous" in answer.answer


def test_the_kind_of_answer_comes_from_the_questions_own_wh_word(seed_assistant):
    # "when" opens a clause here; the question asks "what", so no time is needed in the answer.
    answer = seed_assistant.ask("What were the two officers not doing when the young man ran past them?")
    assert not answer.abstained and "not looking in his direction" in answer.citations[0].quote
    # "what is the name of" asks for a name: a sentence about him without one does not answer it.
    assert seed_assistant.ask("What is the name of the young man who ran across the beach?").abstained


def test_seed_gold_set_quality_floors(seed_assistant):
    gold = load_gold(SEED)
    assert len(gold) >= 60
    assert sum(row["answerable"] for row in gold) >= 20
    assert sum(not row["answerable"] for row in gold) >= 8
    assert sum(bool(row.get("history")) for row in gold) >= 3
    measured = rates(run_gold(seed_assistant, gold))
    assert measured["answered_with_cited_fact"] >= ANSWERED_FLOOR, measured
    assert measured["refused_unanswerable"] >= REFUSED_FLOOR, measured


def test_answers_are_deterministic(seed_assistant):
    first = seed_assistant.ask(SHORE_QUESTION).to_json()
    second = seed_assistant.ask(SHORE_QUESTION).to_json()
    first.pop("timings"), second.pop("timings")
    assert first == second
