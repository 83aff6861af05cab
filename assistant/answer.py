"""Answer: an extractive synthesizer that needs no LLM.

It picks the sentences of the retrieved passages that best answer the question, cites each one
by its exact character span, and refuses when the best sentence's evidence falls below the
threshold calibrated on the gold set (``Settings.min_evidence``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from assistant.retrieval import RetrievedChunk
from assistant.text import QUESTION_WORDS, numbers, same_term, sentence_spans, terms
from assistant.verify import support

REFUSAL = "The corpus does not answer this question."

# The kind of thing a question asks for, and a test that a sentence contains such a thing.
_MONTHS = r"january|february|march|april|may|june|july|august|september|october|november|december"
_EXPECTED_KIND = [
    (re.compile(r"\bhow (many|much|far|long|big|large|old)\b|\bwhat (number|percentage|share|distance|amount|sum)\b|\bby what percentage\b", re.I),
     re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|dozen|hundred|thousand|million|billion)\b", re.I)),
    (re.compile(r"\bwhen\b|\bwhat (date|day|month|year)\b|\bwhich (date|day|month|year)\b", re.I),
     re.compile(rf"\b({_MONTHS}|monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|today|night|week|month|year|(19|20)\d\d)\b", re.I)),
    (re.compile(r"\bwho\b|\bwhose\b", re.I),
     re.compile(r"(?<=\S )[A-Z][a-z]+")),
]


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

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "evidence": round(self.evidence, 3),
            "sentences": [asdict(s) for s in self.sentences],
            "citations": [asdict(c) for c in self.citations],
            "related": [asdict(c) for c in self.related],
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

    @property
    def evidence(self) -> float:
        value = self.coverage * (1.0 if self.kind_ok else 0.5) * (1.0 if self.numbers_ok else 0.5)
        return value

    @property
    def score(self) -> float:
        return self.evidence + 0.25 * self.context + 0.3 * self.chunk.dense


class ExtractiveAnswerer:
    def __init__(self, idf: Callable[[str], float], min_evidence: float, max_sentences: int = 3):
        self.idf = idf
        self.min_evidence = min_evidence
        self.max_sentences = max_sentences

    def answer(self, question: str, chunks: list[RetrievedChunk], context: str = "") -> Answer:
        question_terms = [t for t in dict.fromkeys(terms(question)) if t not in QUESTION_WORDS]
        context_terms = [t for t in dict.fromkeys(terms(context)) if t not in QUESTION_WORDS and t not in question_terms]
        candidates = self._candidates(question, question_terms, context_terms, chunks)
        candidates.sort(key=lambda c: c.score, reverse=True)
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
            if candidate.evidence >= self.min_evidence and candidate.score >= 0.85 * best.score and not any(
                _near_duplicate(candidate.text, c.text) for c in chosen
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

    def _candidates(self, question: str, question_terms: list[str], context_terms: list[str], chunks: list[RetrievedChunk]) -> list[_Candidate]:
        kind_tests = [sentence_test for question_test, sentence_test in _EXPECTED_KIND if question_test.search(question)]
        question_numbers = numbers(question)
        weights = {t: self.idf(t) for t in question_terms + context_terms}
        seen: set[str] = set()
        out = []
        for chunk in chunks:
            text = chunk.chunk.document_text
            for start, end in sentence_spans(text, chunk.chunk.start, chunk.chunk.end):
                sentence = text[start:end]
                key = " ".join(sentence.lower().split())
                if key in seen:  # overlapping chunks and repeated paragraphs
                    continue
                seen.add(key)
                sentence_terms = set(terms(sentence))
                out.append(
                    _Candidate(
                        chunk,
                        start,
                        end,
                        sentence,
                        _coverage(question_terms, sentence_terms, weights),
                        _coverage(context_terms, sentence_terms, weights),
                        all(test.search(sentence) for test in kind_tests),
                        question_numbers <= numbers(sentence),
                    )
                )
        return out


def _coverage(wanted: list[str], present: set[str], weights: dict[str, float]) -> float:
    total = sum(weights[t] for t in wanted)
    if total == 0:
        return 0.0
    found = sum(weights[t] for t in wanted if any(same_term(t, p) for p in present))
    return found / total


def _near_duplicate(a: str, b: str) -> bool:
    ta, tb = set(terms(a)), set(terms(b))
    return bool(ta and tb) and len(ta & tb) / len(ta | tb) >= 0.7


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
    return Citation(n, record.title, record.path, start, end, record.document_text[start:end], support, record.doc_id, record.chunk_id)
