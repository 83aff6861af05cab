"""A candidate answer: one sentence of a retrieved passage, with the signals the calibration weighs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.retrieval import RetrievedChunk

UNREAD_LOGIT = -10.0  # the reader's logit for a sentence it did not read (past READ_LIMIT): below any it gives


@dataclass
class Candidate:
    """One sentence of a retrieved passage, with the signals the calibration weighs."""

    passage: RetrievedChunk
    rank: int  # the passage's retrieval rank, 0 first
    start: int
    end: int
    text: str
    coverage: float  # idf-weighted share of the question's terms found in the sentence
    context: float  # the same for terms of the earlier turn (follow-ups)
    kind_ok: bool
    numbers_ok: bool
    years_ok: bool  # the sentence's document (text, title or file name) names every year the question does
    reader_logit: float = UNREAD_LOGIT  # sentences the reader did not read keep this floor
    margin: float = 0.0  # reader_logit minus the best logit of the other sentences read
    answer_span: tuple[int, int] | None = None  # the span reader's answer words in the sentence (document characters)
    probability: float = 0.0  # calibrated: the sentence states the answer

    @property
    def lexical(self) -> float:
        # A sentence without the kind of thing asked for (a number for "how many") cannot be the answer.
        return self.coverage * (1.0 if self.kind_ok else 0.25) * (1.0 if self.numbers_ok else 0.5)

    @property
    def prior(self) -> float:
        """Order in which sentences are read when there are more than READ_LIMIT."""
        return self.lexical + 0.25 * self.context + 0.3 * self.passage.dense
