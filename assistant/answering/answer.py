"""The answer a question gets, whichever answerer made it: sentences, citations by exact character span, outcome."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from assistant.index.catalog import ChunkRecord

REFUSAL = "The corpus does not answer this question."
NOT_STATED = "The documents do not state this directly."


# How a possible answer (outcome "uncertain") begins: what was found, hedged once; the confidence is shown beside it
# (the chat's badge, the CLI's label, the JSON), not in the text.
UNCERTAIN_LEAD = "Possibly:"
ALSO_CLOSE = "Also close:"


def possible_answer_text(sentences: list[AnswerSentence]) -> str:
    """An uncertain answer's text: the best candidate first, hedged once, then the next closest."""
    quoted = [f"\u201c{s.text}\u201d [{s.cites[0]}]" for s in sentences]
    return f"{UNCERTAIN_LEAD} {quoted[0]}" + (f" {ALSO_CLOSE} {' '.join(quoted[1:])}" if len(quoted) > 1 else "")


def not_english(language: str) -> str:
    """What a question the models cannot read is told: no claim either way about the documents."""
    return (
        f"This question seems to be in {language}. The assistant's models read English only, so it cannot tell "
        "whether the documents answer it; please ask in English."
    )


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


@dataclass(frozen=True)
class AnswerSpan:
    """The answer's own words (the span reader's), inside the sentence cited as [citation]."""

    text: str
    start: int  # characters of the document
    end: int
    citation: int
    doc_id: str


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
    outcome: str = ""  # "answered", "uncertain", "not_stated" or "not_found"; derived from abstained when not given
    confidence: float | None = None  # calibrated probability that the best sentence states the answer
    passage_scores: dict[str, float] = field(default_factory=dict, repr=False)  # chunk id -> its best sentence's probability
    answer_span: AnswerSpan | None = None  # the span reader's answer words, when "answered" or "uncertain"

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
            "answer_span": asdict(self.answer_span) if self.answer_span else None,
            "abstained": self.abstained,
            "evidence": round(self.evidence, 3),
            "sentences": [asdict(s) for s in self.sentences],
            "citations": [asdict(c) for c in self.citations],
            "related": [asdict(c) for c in self.related],
            "retrieved": self.retrieved,
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
        }


def marked(answer: Answer, before: str = "**", after: str = "**") -> str:
    """The answer text with its answer words marked (bold in the chat and the CLI); unmarked without a span."""
    span = answer.answer_span
    if span is None:
        return answer.answer
    cited = answer.citations[span.citation - 1]
    at = answer.answer.find(cited.quote)
    if at < 0 or not cited.start <= span.start < span.end <= cited.end:
        return answer.answer
    first, last = at + span.start - cited.start, at + span.end - cited.start
    return answer.answer[:first] + before + answer.answer[first:last] + after + answer.answer[last:]


def sources_block(answer: Answer) -> str:
    """The cited sources as plain text, for clients that show only a reply's text (OpenAI-compatible chats, MCP):
    ``[n] title — file, characters a–b: “quote”``; empty when nothing is cited."""
    if not answer.citations:
        return ""
    lines = ["Sources:"] + [
        f"[{c.n}] {c.title} \u2014 {Path(c.path).name}, characters {c.start}\u2013{c.end}: \u201c{c.quote}\u201d"
        for c in answer.citations
    ]
    return "\n".join(lines)


def with_sources(answer: Answer) -> str:
    """The answer's text, then its Sources block."""
    block = sources_block(answer)
    return f"{answer.answer}\n\n{block}" if block else answer.answer


def cite(n: int, record: ChunkRecord, start: int, end: int, support: float) -> Citation:
    """Citation [n] of the characters start:end of record's document; its quote is always that text."""
    return Citation(
        n, record.title, record.path, start, end, record.document_text[start:end], support, record.doc_id, record.chunk_id
    )
