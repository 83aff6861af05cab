"""The answer a question gets, whichever answerer made it: sentences, citations by exact character span, outcome."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from assistant.index.catalog import ChunkRecord

REFUSAL = "The corpus does not answer this question."
NOT_STATED = "The documents do not state this directly."


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
    verdict: str = "supported"  # "supported", "unsupported" (shown marked), "uncited", or "quoted" (the source itself)


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool  # true unless the outcome is "answered"
    sentences: list[AnswerSentence]
    citations: list[Citation]
    related: list[Citation]
    evidence: float  # the best sentence's term evidence (lexical), kept for comparison with older reports
    timings: dict[str, float] = field(default_factory=dict)
    retrieved: list[dict] = field(default_factory=list)  # the passages retrieved, best first (set by the service)
    mode: str = "extractive"  # or "generative"
    notice: str | None = None  # e.g. why a generative answer fell back to the extractive answerer
    outcome: str = ""  # "answered", "not_stated" or "not_found"; derived from abstained when not given
    confidence: float | None = None  # calibrated probability that the best sentence states the answer
    passage_scores: dict[str, float] = field(default_factory=dict, repr=False)  # chunk id -> its best sentence's probability

    def __post_init__(self):
        if not self.outcome:
            self.outcome = "not_found" if self.abstained else "answered"

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "mode": self.mode,
            "notice": self.notice,
            "outcome": self.outcome,
            "confidence": None if self.confidence is None else round(self.confidence, 3),
            "answer": self.answer,
            "abstained": self.abstained,
            "evidence": round(self.evidence, 3),
            "sentences": [asdict(s) for s in self.sentences],
            "citations": [asdict(c) for c in self.citations],
            "related": [asdict(c) for c in self.related],
            "retrieved": self.retrieved,
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
        }


def cite(n: int, record: ChunkRecord, start: int, end: int, support: float) -> Citation:
    """Citation [n] of the characters start:end of record's document; its quote is always that text."""
    return Citation(
        n, record.title, record.path, start, end, record.document_text[start:end], support, record.doc_id, record.chunk_id
    )
