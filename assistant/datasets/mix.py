"""The question mixes a reader's decision is calibrated on (VALIDATION) and measured on (TEST).

A corpus assistant is asked mostly about what its documents hold. Of what they do not answer,
most is about a topic they discuss (the payment, not its date), some is about something else
entirely, and a little is worded to look answerable (SQuAD 2.0's adversarial near-misses). A
decision fitted on near-misses alone is tuned for the rarest case, so each mix holds five kinds:

- ``answerable``: the question against the whole index (its document is in it);
- ``same_document``: the question against its own document with the passages that hold the
  answer removed (every chunk overlapping the answer's paragraph, and any chunk holding an
  answer string): the topic is there, the answer is not;
- ``same_type``: the question against one other paragraph of its own document that holds a thing of
  the answer's type (a year for "when", a number for "how many", a name for "who") but not the answer:
  the distractor a reader most readily answers from (the wrong date, the wrong person);
- ``off_topic``: the question against the index without its own document;
- ``near_miss``: SQuAD 2.0's unanswerable questions, written against the paragraph they ask about.

Proportions (``PROPORTIONS``): half answerable, since people mostly ask what they indexed; of the
rest, topic-present-answer-absent most (a tenth of them same-type distractors), off-topic next,
near-misses least. Near-misses exist only in SQuAD 2.0 (Wikipedia); the other domains share their
tenth between same-document and off-topic. A question with no typed answer or no distractor
paragraph in its document cannot be a same-type question: its share goes to same-document.

Four domains (``DOMAINS``), so a shift shows up: Wikipedia (SQuAD 2.0 and SQuADShifts new-wiki
articles), Reddit posts and Amazon reviews (SQuADShifts), and Natural Questions (real search
questions). Documents are held out whole (``splits.py``) and indexed through the real pipeline:
each question is answered from the passages the assistant would actually retrieve and read.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from assistant.datasets.splits import document_key, split_of
from assistant.text_analysis import sentence_spans

KINDS = ("answerable", "same_document", "same_type", "off_topic", "near_miss")
PROPORTIONS = {"answerable": 0.50, "same_type": 0.10, "same_document": 0.15, "off_topic": 0.15, "near_miss": 0.10}
PROPORTIONS_WITHOUT_NEAR_MISSES = {"answerable": 0.50, "same_type": 0.10, "same_document": 0.20, "off_topic": 0.20}
# What a question asks for (at its start), and how a paragraph shows a thing of that type.
ANSWER_TYPES = [
    (re.compile(r"\s*(when|(in )?(what|which) year)\b", re.I), re.compile(r"\b(1[5-9]|20)\d\d\b")),
    (re.compile(r"\s*(how (many|much)|what (percentage|number|amount))\b", re.I), re.compile(r"\d")),
    (re.compile(r"\s*(who|whom)\b", re.I), re.compile(r"\b[A-Z][a-z]+ (?:[A-Z]\. )?[A-Z][a-z]+\b")),
]
DOMAINS = {
    "squad2-dev": "wikipedia",
    "squad2-train": "wikipedia",
    "squad2-dev-more": "wikipedia",
    "squadshifts-new-wiki": "wikipedia",
    "squadshifts-reddit": "reddit",
    "squadshifts-amazon-reviews": "reviews",
    "qed-nq": "nq",
}
QUESTIONS_PER_DOMAIN = 400
# Written near-misses are a tenth of the Wikipedia domain (40 questions): too few to measure the kind. Five times
# as many more are asked as well (``MixQuestion.extra``) and counted in the near-miss figures only, so the
# calibration and every other figure keep the stated proportions.
EXTRA_NEAR_MISSES = 5


@dataclass(frozen=True)
class MixQuestion:
    row: dict
    kind: str
    domain: str
    document: str  # document_key(row): the file it is indexed as
    distractor: str | None = None  # same_type: the paragraph it is asked of
    extra: bool = False  # asked beyond the proportions, for its kind's own figures (EXTRA_NEAR_MISSES)

    @property
    def question(self) -> str:
        return self.row["question"]

    @property
    def answers(self) -> list[str]:
        return [a["text"].strip() for a in self.row.get("answers", []) if a["text"].strip()] if self.row["answerable"] else []

    def holds_answer(self, text: str) -> bool:
        """Only an answerable question's answer counts: every other kind has none to hold."""
        return self.kind == "answerable" and any(a.lower() in text.lower() for a in self.answers)


def build_mix(
    rows: list[dict], split: str, seed: int, per_domain: int = QUESTIONS_PER_DOMAIN
) -> tuple[list[MixQuestion], dict[str, list[str]]]:
    """The split's questions, each given one kind in the stated proportions (a question is used once),
    and every held-out document they come from: {document key: its paragraphs, in order}."""
    rng = random.Random(f"{seed}-{split}")
    held_out = [r for r in rows if r["dataset"] in DOMAINS and split_of(r) == split]
    paragraphs: dict[str, list[str]] = defaultdict(list)
    by_domain: dict[str, list[dict]] = defaultdict(list)
    for row in held_out:
        by_domain[DOMAINS[row["dataset"]]].append(row)
        if row["context"] not in paragraphs[document_key(row)]:
            paragraphs[document_key(row)].append(row["context"])
    mix = []
    for domain in sorted(by_domain):
        answerable = [r for r in by_domain[domain] if r["answerable"]]
        near_misses = [r for r in by_domain[domain] if not r["answerable"]]
        rng.shuffle(answerable)
        rng.shuffle(near_misses)
        shares = PROPORTIONS if near_misses else PROPORTIONS_WITHOUT_NEAR_MISSES
        total = min(per_domain, int(len(answerable) / (1 - shares.get("near_miss", 0.0))))
        counts = {kind: round(share * total) for kind, share in shares.items()}
        asked = counts.pop("near_miss", 0)
        chosen = [(row, "near_miss", None) for row in near_misses[:asked]]
        more = near_misses[asked : asked + EXTRA_NEAR_MISSES * asked]
        extra = [MixQuestion(row, "near_miss", domain, document_key(row), None, True) for row in more]
        pool = answerable[: sum(counts.values())]
        typed = [(row, paragraph) for row in pool if (paragraph := distractor(row, paragraphs[document_key(row)]))]
        wanted = counts.pop("same_type")
        same_type = typed[:wanted]
        chosen += [(row, "same_type", paragraph) for row, paragraph in same_type]
        counts["same_document"] += wanted - len(same_type)  # too few distractors: same-document questions instead
        taken = {id(row) for row, _ in same_type}
        rest = [row for row in pool if id(row) not in taken]
        start = 0
        for kind, count in counts.items():
            chosen += [(row, kind, None) for row in rest[start : start + count]]
            start += count
        mix += [MixQuestion(row, kind, domain, document_key(row), paragraph) for row, kind, paragraph in chosen] + extra
    # Whole documents, not only the paragraphs questions were picked from.
    return mix, {question.document: paragraphs[question.document] for question in mix}


def distractor(row: dict, paragraphs: list[str]) -> str | None:
    """Another paragraph of the question's document holding a thing of its answer's type but no answer, if any."""
    answers = [a["text"].strip().lower() for a in row.get("answers", []) if a["text"].strip()]
    for question_type, thing in ANSWER_TYPES:
        if question_type.match(row["question"]):
            for paragraph in paragraphs:
                lowered = paragraph.lower()
                if paragraph != row["context"] and thing.search(paragraph) and not any(a in lowered for a in answers):
                    return paragraph
            return None
    return None


def file_name(document: str) -> str:
    return re.sub(r"[^\w.-]+", "_", document)[:120] + ".txt"


def write_corpus(documents: dict[str, list[str]], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for document, paragraphs in documents.items():
        (folder / file_name(document)).write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")


def proportions(mix: list[MixQuestion]) -> dict[str, dict[str, int]]:
    """{domain: {kind: questions}} in the stated proportions (the extra near-misses left out), for the report and the
    model card."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    for question in (q for q in mix if not q.extra):
        table[question.domain][question.kind] += 1
    return {domain: table[domain] for domain in sorted(table)}


def without_answer(row: dict) -> str | None:
    """The question's own paragraph with every sentence holding an answer removed, if what is left still holds a
    thing of the answer's type (a year for "when", ...): the news reader's trap, the wrong date next door."""
    answers = [a["text"].strip().lower() for a in row["answers"] if a["text"].strip()]
    context = row["context"]
    kept = [context[a:b] for a, b in sentence_spans(context) if not any(x in context[a:b].lower() for x in answers)]
    rest = " ".join(kept)
    for question_type, thing in ANSWER_TYPES:
        if question_type.match(row["question"]):
            return rest if kept and thing.search(rest) and not any(x in rest.lower() for x in answers) else None
    return None
