"""Evaluate: deterministic answer-quality checks on a gold set (no LLM judge), and threshold calibration.

Gold format, one JSON object per line::

    {"id": "a01", "question": "...", "answerable": true, "facts": ["300 metres"],
     "source": "file-name.txt", "history": [{"role": "user", "content": "..."}]}

``facts`` are any-of strings; an answer is correct when one of them is in the answer text *and*
in the quote of a citation. Unanswerable questions are correct when the assistant refuses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from assistant.answer import Answer
from assistant.service import Assistant


@dataclass
class GoldResult:
    gold: dict
    answer: Answer

    @property
    def answerable(self) -> bool:
        return bool(self.gold.get("answerable", True))

    @property
    def fact_cited(self) -> bool:
        """An expected fact is in the answer and in the quote of one of its citations."""
        facts = [f.lower() for f in self.gold.get("facts", [])]
        text = self.answer.answer.lower()
        quotes = [c.quote.lower() for c in self.answer.citations]
        return any(f in text and any(f in q for q in quotes) for f in facts)

    @property
    def correct(self) -> bool:
        if self.answerable:
            return not self.answer.abstained and self.fact_cited
        return self.answer.abstained


def load_gold(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_gold(assistant: Assistant, gold: list[dict]) -> list[GoldResult]:
    return [GoldResult(row, assistant.ask(row["question"], row.get("history"))) for row in gold]


def rates(results: list[GoldResult]) -> dict[str, float]:
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    return {
        "answered_with_cited_fact": sum(r.correct for r in answerable) / max(len(answerable), 1),
        "refused_unanswerable": sum(r.correct for r in unanswerable) / max(len(unanswerable), 1),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
    }


def calibrate(assistant: Assistant, gold: list[dict]) -> tuple[float, list[tuple[float, float, float]]]:
    """The refusal threshold that best separates the gold set, and the sweep behind it.

    Every question is answered with refusals off; a threshold t then refuses each answer whose
    evidence is below t. We pick the t that maximises the worse of the two rates (answered
    correctly, refused correctly); among ties, the median one, away from both edges.
    """
    saved = assistant.settings.min_evidence
    assistant.settings.min_evidence = 0.0
    try:
        results = run_gold(assistant, gold)
    finally:
        assistant.settings.min_evidence = saved
    evidence = sorted({round(r.answer.evidence, 4) for r in results} | {0.0, 1.01})
    cuts = [(a + b) / 2 for a, b in zip(evidence, evidence[1:])]
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    sweep = []
    for cut in cuts:
        answered = sum(r.fact_cited and r.answer.evidence >= cut for r in answerable) / max(len(answerable), 1)
        refused = sum(r.answer.evidence < cut for r in unanswerable) / max(len(unanswerable), 1)
        sweep.append((cut, answered, refused))
    best = max(min(a, r) for _, a, r in sweep)
    tied = [cut for cut, a, r in sweep if min(a, r) == best]
    return round(tied[len(tied) // 2], 3), sweep
