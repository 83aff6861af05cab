"""Answer: an extractive synthesizer that needs no LLM.

It picks the sentences of the retrieved passages that best answer the question, cites each one
by its exact character span, and refuses when the best sentence's evidence falls below the
threshold calibrated on the gold set (``Settings.min_evidence``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from assistant.retrieval import RetrievedChunk
from assistant.text import QUESTION_WORDS, match_terms, numbers, same_term, sentence_spans, terms
from assistant.verify import support

REFUSAL = "The corpus does not answer this question."

# The kind of thing a question asks for, and a test that a sentence contains such a thing.
# The question patterns are matched at the question's first wh-word only: a later "when" or
# "who" opens a clause ("What were they doing when he ran past?") and says nothing of the answer.
_MONTHS = r"january|february|march|april|may|june|july|august|september|october|november|december"
_WH_WORD = re.compile(r"\b(what|which|who|whom|whose|when|where|why|how)\b", re.I)
_EXPECTED_KIND = [
    (
        re.compile(
            r"how (many|much|far|long|big|large|old)\b|(what|which) (number|percentage|share|distance|amount|sum)\b",
            re.I,
        ),
        re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|dozen|hundred|thousand|million|billion)\b", re.I),
    ),
    (
        re.compile(r"when\b|(what|which) (date|day|month|year)\b", re.I),
        re.compile(
            rf"\b({_MONTHS}|monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|today|tomorrow|morning|"
            r"afternoon|evening|night|noon|midnight|o'clock|week|month|year|(19|20)\d\d|\d{1,2}(:\d\d)?\s?[ap]\.?m)\b",
            re.I,
        ),
    ),
    (re.compile(r"what(?: is|'s|was|are|were)\b[^?]*\bnames?\b", re.I), re.compile(r"(?<=\S )[A-Z][a-z]+")),
]


def _kind_tests(question: str) -> list[re.Pattern]:
    """The tests an answer sentence must pass for the kind of thing the question asks for."""
    wh_word = _WH_WORD.search(question)
    if wh_word is None:
        return []
    return [sentence_test for question_test, sentence_test in _EXPECTED_KIND if question_test.match(question, wh_word.start())]


# "Which newspaper ...", "how much money ...": the noun names the kind of answer, which the answer
# sentence rarely repeats ("The Mail on Sunday"), so it counts for little in the evidence.
_ANSWER_CATEGORY = re.compile(r"\b(?:which|what|whose|how much)\s+(\w+)", re.I)
CATEGORY_WEIGHT = 0.25
RERANK = 3  # sentences re-scored by embedding similarity (~6 ms of encoding each; 4, 3 and 2 gave the same seed answers)
DENSE_SHARE = 0.2  # weight of question-sentence cosine in the evidence, against term coverage


@dataclass(frozen=True)
class Citation:
    n: int
    title: str
    path: str
    start: int
    end: int
    quote: str
    support: float
    doc_id: str
    chunk_id: str


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    cites: list[int]
    support: float
    verdict: str = "supported"  # "supported", "unsupported" (shown marked) or "uncited"


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    sentences: list[AnswerSentence]
    citations: list[Citation]
    related: list[Citation]
    evidence: float
    timings: dict[str, float] = field(default_factory=dict)
    retrieved: list[dict] = field(default_factory=list)  # the passages retrieved, best first (set by the service)
    mode: str = "extractive"  # or "generative"
    notice: str | None = None  # e.g. why a generative answer fell back to the extractive answerer

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "mode": self.mode,
            "notice": self.notice,
            "answer": self.answer,
            "abstained": self.abstained,
            "evidence": round(self.evidence, 3),
            "sentences": [asdict(s) for s in self.sentences],
            "citations": [asdict(c) for c in self.citations],
            "related": [asdict(c) for c in self.related],
            "retrieved": self.retrieved,
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
        }


@dataclass
class _Candidate:
    chunk: RetrievedChunk
    start: int
    end: int
    text: str
    coverage: float  # idf-weighted share of the question's terms found in the sentence
    context: float  # the same for terms of the earlier turn (follow-ups)
    kind_ok: bool
    numbers_ok: bool
    cosine: float | None = None  # question-sentence embedding similarity, for the best few only

    @property
    def lexical(self) -> float:
        # A sentence without the kind of thing asked for (a number for "how many") cannot be the answer.
        return self.coverage * (1.0 if self.kind_ok else 0.25) * (1.0 if self.numbers_ok else 0.5)

    @property
    def evidence(self) -> float:
        if self.cosine is None:
            return self.lexical
        return (1 - DENSE_SHARE) * self.lexical + DENSE_SHARE * self.cosine

    @property
    def score(self) -> float:
        return self.evidence + 0.25 * self.context + 0.3 * self.chunk.dense


class ExtractiveAnswerer:
    def __init__(
        self,
        idf: Callable[[str], float],
        encode: Callable[[list[str]], object],
        min_evidence: float,
        max_sentences: int = 3,
        encode_query: Callable[[str], np.ndarray] | None = None,
    ):
        self.idf = idf
        self.encode = encode
        self.encode_query = encode_query or (lambda text: encode([text])[0])
        self.min_evidence = min_evidence
        self.max_sentences = max_sentences

    def answer(self, question: str, chunks: list[RetrievedChunk], context: str = "") -> Answer:
        question_terms = [t for t in dict.fromkeys(match_terms(question)) if t not in QUESTION_WORDS]
        context_terms = [t for t in dict.fromkeys(match_terms(context)) if t not in QUESTION_WORDS and t not in question_terms]
        candidates = self._candidates(question, question_terms, context_terms, chunks)
        candidates.sort(key=lambda c: c.score, reverse=True)
        # The re-rank costs most of the answer time; skip it when it cannot lift any sentence over the
        # threshold (a cosine of 1 adds at most DENSE_SHARE) or when there is nothing to look for.
        top = candidates[:RERANK]
        reachable = any((1 - DENSE_SHARE) * c.lexical + DENSE_SHARE >= self.min_evidence for c in top)
        if question_terms and reachable:
            self._rerank(f"{context} {question}".strip(), top)
        candidates.sort(key=lambda c: (c.cosine is not None, c.score), reverse=True)
        best = candidates[0] if candidates else None
        if best is None or not question_terms or best.evidence < self.min_evidence:
            related = [
                _citation(i + 1, c.chunk.chunk.start, c.chunk.chunk.end, c.chunk, support=0.0)
                for i, c in enumerate(_by_chunk(candidates))
            ]
            return Answer(question, REFUSAL, True, [], [], related[:3], best.evidence if best else 0.0)

        chosen = [best]
        for candidate in candidates[1:]:
            if len(chosen) >= self.max_sentences:
                break
            if (
                candidate.evidence >= self.min_evidence
                and candidate.score >= 0.85 * best.score
                and not any(_near_duplicate(candidate.text, c.text) for c in chosen)
            ):
                chosen.append(candidate)

        citations, sentences = [], []
        for n, candidate in enumerate(chosen, start=1):
            quote = candidate.chunk.chunk.document_text[candidate.start : candidate.end]
            score = support(candidate.text, quote)
            citations.append(_citation(n, candidate.start, candidate.end, candidate.chunk, support=score))
            sentences.append(AnswerSentence(candidate.text, [n], score))
        text = " ".join(f"{s.text} [{s.cites[0]}]" for s in sentences)
        return Answer(question, text, False, sentences, citations, [], best.evidence)

    def _rerank(self, query: str, best: list[_Candidate]) -> None:
        if best:
            question = self.encode_query(query)  # cached: retrieval has usually just encoded it
            for candidate, vector in zip(best, self.encode([c.text for c in best])):
                candidate.cosine = float(vector @ question)

    def _candidates(
        self, question: str, question_terms: list[str], context_terms: list[str], chunks: list[RetrievedChunk]
    ) -> list[_Candidate]:
        kind_tests = _kind_tests(question)
        question_numbers = numbers(question)
        sentences: list[tuple[RetrievedChunk, int, int, str, set[str]]] = []
        seen: set[str] = set()
        for chunk in chunks:
            text = chunk.chunk.document_text
            for start, end in sentence_spans(text, chunk.chunk.start, chunk.chunk.end):
                sentence = text[start:end]
                key = " ".join(sentence.lower().split())
                if key not in seen:  # overlapping chunks and repeated paragraphs
                    seen.add(key)
                    sentences.append((chunk, start, end, sentence, set(match_terms(sentence))))
        # Weights come from the retrieved sentences themselves: a term that every candidate shares
        # (the topic) tells them apart less than the one term that only the right sentence has.
        weights = {}
        for term in question_terms + context_terms:
            df = sum(1 for *_, present in sentences if any(same_term(term, p) for p in present))
            weights[term] = math.log(1 + (len(sentences) - df + 0.5) / (df + 0.5)) * self.idf(term) ** 0.5
        for category in _ANSWER_CATEGORY.findall(question):
            for term in terms(category):
                if term in weights:
                    weights[term] *= CATEGORY_WEIGHT
        return [
            _Candidate(
                chunk,
                start,
                end,
                sentence,
                _coverage(question_terms, present, weights),
                _coverage(context_terms, present, weights),
                all(test.search(sentence) for test in kind_tests),
                question_numbers <= numbers(sentence),
            )
            for chunk, start, end, sentence, present in sentences
        ]


def _coverage(wanted: list[str], present: set[str], weights: dict[str, float]) -> float:
    total = sum(weights[t] for t in wanted)
    if total == 0:
        return 0.0
    found = sum(weights[t] for t in wanted if any(same_term(t, p) for p in present))
    return found / total


def _near_duplicate(a: str, b: str) -> bool:
    ta, tb = set(terms(a)), set(terms(b))
    return bool(ta and tb) and len(ta & tb) / min(len(ta), len(tb)) >= 0.8  # one mostly repeats the other


def _by_chunk(candidates: list[_Candidate]) -> list[_Candidate]:
    """The best candidate of each chunk, best first."""
    picked, seen = [], set()
    for candidate in candidates:
        if candidate.chunk.chunk.chunk_id not in seen:
            seen.add(candidate.chunk.chunk.chunk_id)
            picked.append(candidate)
    return picked


def _citation(n: int, start: int, end: int, chunk: RetrievedChunk, support: float) -> Citation:
    record = chunk.chunk
    return Citation(
        n, record.title, record.path, start, end, record.document_text[start:end], support, record.doc_id, record.chunk_id
    )
