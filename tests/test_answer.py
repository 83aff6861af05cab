"""Answers over the two articles: the real reader model, the real encoder, a real Chroma, the seed gold set."""

from pathlib import Path

import pytest

from assistant.answering.answer import NOT_STATED, REFUSAL, UNCERTAIN_LEAD, marked, not_english
from assistant.answering.extractive import SPAN_READ_PASSAGES, YEAR_NOT_STATED_CAP, ExtractiveAnswerer
from assistant.evaluation.gold import load_gold, metrics, run_gold
from assistant.index.catalog import ChunkRecord
from assistant.retrieval import RetrievedChunk
from assistant.text_analysis import question_language
from tests.conftest import SHORE_QUESTION

SEED = Path(__file__).parent / "evalsets" / "seed.jsonl"
# Floors at the figures measured on seed.jsonl with the shipped span reader (docs/answer-quality.md);
# a drop fails CI. The reader and its calibration were fitted on ../shared/training, never on this set.
# Measured: useful 0.9677, answered 0.5323, answered with the fact cited 0.5323, confident precision 0.9706,
# false assertion 0.0312 (1 of 32), false absence 0.0323 (2 of 62), absence precision 0.818 (9 of 11).
# Every CPU computes the same answers (tests/test_reference.py), so no slack is left.
FLOORS = {"useful": 0.967, "answered_share": 0.532, "answered_with_cited_fact": 0.532, "confident_precision": 0.970}
# False absence: 2 of 62 answerable questions told "not in the documents" ("What is the Prime Minister's name?").
CEILINGS = {"false_assertion": 0.032, "false_absence": 0.033}
ALLIANCE = [
    {"role": "user", "content": "What is the largest police union in France?"},
    {"role": "assistant", "content": "Alliance [1]"},
]


def test_the_shore_question_cites_the_300_metres_passage(seed_assistant):
    answer = seed_assistant.ask(SHORE_QUESTION)
    assert answer.outcome == "answered" and not answer.abstained
    assert "300 metres" in answer.answer and "[1]" in answer.answer
    first = answer.citations[0]
    assert first.n == 1 and "300 metres" in first.quote and first.path.endswith(".txt")
    assert first.support == 1.0


PARAPHRASE = "How much has Britain paid France to stop the boats?"


def test_a_paraphrased_question_shows_the_sentence_that_answers_it_first(seed_assistant):
    answer = seed_assistant.ask(PARAPHRASE)
    assert answer.outcome in ("answered", "uncertain"), answer.answer  # never "not stated" nor "not in the documents"
    assert "£500 million" in answer.citations[0].quote and "[1]" in answer.answer


def test_the_span_reader_names_the_answer_words_of_the_paraphrased_question(seed_assistant):
    chunks = seed_assistant.retriever.retrieve(PARAPHRASE, seed_assistant.settings.top_k)
    answerer = ExtractiveAnswerer(seed_assistant.index.bm25().idf, seed_assistant.reader)
    candidates = answerer.read(PARAPHRASE, chunks)
    answerer.decide(PARAPHRASE, candidates)  # best first
    start, end = candidates[0].answer_span
    assert candidates[0].passage.record.document_text[start:end] == "£500 million"


def test_the_paraphrased_question_shows_the_500_million_with_its_words_marked_and_claims_no_absence(seed_assistant):
    """It was "not stated" (confidence 0.21) while quoting the sentence that states it: now a possible answer."""
    answer = seed_assistant.ask(PARAPHRASE)
    assert answer.outcome in ("answered", "uncertain"), (answer.outcome, answer.answer)
    assert answer.answer_span is not None and "£500 million" in answer.answer_span.text
    assert "£500 million" in answer.citations[0].quote and answer.answer_span.citation == 1
    assert NOT_STATED not in answer.answer and REFUSAL not in answer.answer
    if answer.outcome == "uncertain":
        assert answer.answer.startswith(UNCERTAIN_LEAD) and answer.abstained
        assert "**£500 million**" in marked(answer)


def test_the_shadow_home_secretary_is_shown_with_his_name_marked(seed_assistant):
    answer = seed_assistant.ask("Who is the Shadow Home Secretary?")
    assert answer.outcome in ("answered", "uncertain"), (answer.outcome, answer.answer)
    assert "Chris Philp" in answer.answer_span.text and "Chris Philp" in answer.citations[0].quote


def test_between_the_thresholds_the_best_candidate_is_shown_hedged_and_below_them_absence_is_said(seed_assistant):
    """The four outcomes, on one question, by where its confidence sits between a calibration's thresholds."""
    import dataclasses

    chunks = seed_assistant.retriever.retrieve(PARAPHRASE, seed_assistant.settings.top_k)
    shipped = seed_assistant.reader.calibration
    answerer = ExtractiveAnswerer(seed_assistant.index.bm25().idf, seed_assistant.reader)
    confidence = answerer.answer(PARAPHRASE, chunks).confidence
    for thresholds, outcome in [
        ({"answer_threshold": confidence - 0.01}, "answered"),
        ({"answer_threshold": confidence + 0.01, "absent_threshold": confidence - 0.01}, "uncertain"),
        ({"answer_threshold": confidence + 0.02, "absent_threshold": confidence + 0.01}, "not_stated"),
        ({"related_threshold": 1.0}, "not_found"),
    ]:
        answerer.calibration = dataclasses.replace(shipped, **thresholds)
        answer = answerer.answer(PARAPHRASE, chunks)
        assert answer.outcome == outcome, (thresholds, answer.outcome)
        assert answer.abstained == (outcome != "answered")
        if outcome in ("answered", "uncertain"):  # the answer's words marked, in the sentence cited first
            assert answer.answer_span.text == "£500 million" and answer.answer_span.citation == 1
        if outcome == "uncertain":
            assert answer.answer.startswith(UNCERTAIN_LEAD) and NOT_STATED not in answer.answer
            assert all(s.verdict == "quoted" for s in answer.sentences)
        if outcome == "not_stated":
            assert answer.answer.startswith(NOT_STATED) and answer.answer_span is None
            for sentence, citation in zip(answer.sentences, answer.citations):
                assert f"\u201c{citation.quote}\u201d [{citation.n}]" in answer.answer and sentence.text == citation.quote
        if outcome == "not_found":
            assert answer.answer == REFUSAL and not answer.citations and answer.related


def test_an_answer_marks_its_own_words_inside_the_cited_sentence(seed_assistant):
    answer = seed_assistant.ask("Who said that Britain and France should cooperate to stop small boats reaching the UK?")
    assert answer.outcome == "answered", (answer.answer, answer.confidence)
    span, cited = answer.answer_span, answer.citations[0]
    assert span is not None and span.text == "Marc de Fleurian" and span.citation == 1
    assert cited.start <= span.start < span.end <= cited.end  # inside the cited sentence
    assert seed_assistant.index.catalog.document_text(span.doc_id)[span.start : span.end] == span.text
    assert "**Marc de Fleurian**" in marked(answer) and marked(answer).replace("**", "") == answer.answer
    assert answer.to_json()["answer_span"] == {
        "text": "Marc de Fleurian", "start": span.start, "end": span.end, "citation": 1, "doc_id": span.doc_id
    }  # fmt: skip


def test_a_near_miss_is_not_answered(seed_assistant):
    # The reader finds "18,000" (this year's figure) at 0.70; the documents never mention 2019: capped, hedged
    answer = seed_assistant.ask("How many migrants crossed the Channel in 2019?")
    assert answer.outcome == "uncertain" and answer.abstained and answer.confidence <= YEAR_NOT_STATED_CAP
    assert answer.answer.startswith(UNCERTAIN_LEAD) and any("18,000" in c.quote for c in answer.citations)
    this_year = seed_assistant.ask("How many migrants have crossed the Channel this year?")
    assert this_year.outcome == "answered" and this_year.answer_span.text == "18,000"


def test_an_unrelated_question_is_not_found(seed_assistant):
    answer = seed_assistant.ask("What is the capital of Germany?")
    assert answer.outcome == "not_found" and answer.answer == REFUSAL
    assert not answer.citations and answer.related and all(r.quote for r in answer.related)


def test_a_follow_up_is_read_with_the_conversation_and_cites_the_unions_passage(seed_assistant):
    answer = seed_assistant.ask("What did the union say about it?", ALLIANCE)
    # the span reader is not sure enough to state it (below the answer threshold), so it is shown as a possible
    # answer; the question is read with the earlier turn: the union's own sentence comes first
    assert answer.outcome in ("answered", "uncertain"), answer.answer
    first = answer.citations[0]
    assert "french-police-union-blocks-channel-crackdown" in first.path
    assert "Alliance" in first.quote and "too dangerous" in first.quote


def test_every_citation_is_the_exact_text_at_its_span(seed_assistant):
    for question in [SHORE_QUESTION, "What is the largest police union in France?", "Who is the Shadow Home Secretary?"]:
        answer = seed_assistant.ask(question)
        assert answer.citations
        for citation in answer.citations:
            text = seed_assistant.index.catalog.document_text(citation.doc_id)
            assert text[citation.start : citation.end] == citation.quote
        assert [s.cites for s in answer.sentences] == [[c.n] for c in answer.citations]
        for sentence in answer.sentences:
            assert f"{sentence.text} [{sentence.cites[0]}]" in answer.answer or f"\u201c{sentence.text}\u201d" in answer.answer


def _chunk(text: str, rank: int, dense: float) -> RetrievedChunk:
    record = ChunkRecord(f"c{rank}", f"d{rank}", 0, 0, len(text), f"doc {rank}", f"/doc{rank}.txt", text)
    return RetrievedChunk(record, dense, dense, rank, rank)


def test_confidence_rises_with_the_evidence_on_a_constructed_set(reader):
    """The same question over passages that say more and more of the answer: confidence never falls."""
    question = "How far from the shore can French officers intercept migrant boats?"
    passages = [
        "The weather in Lyon was mild this spring, and the markets were busy.",
        "French officers patrol the beaches of northern France every night.",
        "French officers may now intercept migrant boats at sea, the Government said.",
        "French officers can intercept migrant boats within 300 metres of the shore.",
    ]
    answerer = ExtractiveAnswerer(lambda term: 2.0, reader)
    confidences = [answerer.answer(question, [_chunk(p, 0, 0.2 + 0.15 * i)]).confidence for i, p in enumerate(passages)]
    assert confidences == sorted(confidences), confidences
    assert confidences[-1] - confidences[0] > 0.5


def test_the_span_reader_reads_the_passages_that_match_the_question_not_only_the_first_retrieved(reader):
    """Only SPAN_READ_PASSAGES of the retrieved passages are read (reading is most of an answer's time): those whose
    sentences best match the question, so an answer retrieved fifth is still read and answered."""
    question = "Within what distance of the shore can French officers intercept migrant boats?"
    filler = [
        "The weather in Lyon was mild this spring, and the markets were busy.",
        "Ferries from Dover to Calais ran on time all week.",
        "A new bakery opened near the harbour in Boulogne.",
        "Tourists queued for the cathedral in Amiens on Sunday.",
    ]
    answer_passage = "French officers can intercept migrant boats within 300 metres of the shore, the ministry said."
    chunks = [_chunk(text, rank, 0.5 - 0.05 * rank) for rank, text in enumerate([*filler, answer_passage])]
    answerer = ExtractiveAnswerer(lambda term: 2.0, reader)
    candidates = answerer.read(question, chunks)
    read = {c.rank for c in candidates if c.answer_span is not None}
    assert len(read) == SPAN_READ_PASSAGES < len(chunks) and 4 in read, read
    answer = answerer.decide(question, candidates)
    assert answer.outcome == "answered" and answer.answer_span.text == "300 metres", (answer.outcome, answer.answer)


@pytest.mark.parametrize(
    "question",
    ["Quelle est la capitale de l'Allemagne ?", "德国的首都是哪里？", "?!", "the the the", "1234567"],
)
def test_questions_in_other_languages_or_without_words_get_a_sensible_outcome(seed_assistant, question):
    answer = seed_assistant.ask(question)
    assert answer.outcome in ("not_found", "not_stated", "uncertain") and answer.abstained  # never an assertion


def test_an_empty_or_huge_question_is_a_clear_error(seed_assistant):
    with pytest.raises(ValueError, match="empty"):
        seed_assistant.ask("   ")
    with pytest.raises(ValueError, match="99,999 characters long; the limit is 2,000"):
        seed_assistant.ask("why " * 25_000)


def test_seed_gold_set_quality_floors(seed_assistant):
    gold = load_gold(SEED)
    assert len(gold) >= 90 and sum(not row["answerable"] for row in gold) >= 30
    measured = metrics(run_gold(seed_assistant, gold))
    for key, floor in FLOORS.items():
        assert measured[key] >= floor, (key, measured)
    for key, ceiling in CEILINGS.items():
        assert measured[key] <= ceiling, (key, measured)


def test_answers_are_deterministic(seed_assistant):
    first = seed_assistant.ask(SHORE_QUESTION).to_json()
    second = seed_assistant.ask(SHORE_QUESTION).to_json()
    first.pop("timings"), second.pop("timings")
    assert first == second


def test_a_question_in_another_language_is_told_the_models_read_english_not_that_the_documents_are_silent(seed_assistant):
    answer = seed_assistant.ask("¿Cuánto pagó Gran Bretaña a Francia?")
    assert answer.outcome == "not_found" and answer.abstained and answer.notice == "language: Spanish"
    assert answer.answer == not_english("Spanish") and "English only" in answer.answer
    assert REFUSAL not in answer.answer and NOT_STATED not in answer.answer


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("¿Cuánto pagó Gran Bretaña a Francia?", "Spanish"),
        ("Combien de migrants ont traversé la Manche ?", "French"),
        ("Wer ist der Innenminister?", "German"),
        ("Quanti migranti hanno attraversato la Manica?", "Italian"),
        ("Сколько заплатила Британия?", "a non-Latin script"),
        ("What did Macron say about la frontière?", None),
        ("Who is Le Pen?", None),
        ("barcelona vs sevilla copa del rey final stadium", None),
    ],
)
def test_the_question_language(question, language):
    assert question_language(question) == language


def test_no_seed_question_is_taken_for_another_language():
    # On the 50,596 English training questions of ../shared/training one is ("who sang na na na na hey hey hey goodbye").
    assert [row["question"] for row in load_gold(SEED) if question_language(row["question"])] == []
