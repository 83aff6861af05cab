"""Training pairs from ../shared/training: the answer sentence against the passage's other sentences and near-misses.
Only TRAIN documents are used (splits.py); the held-out ones make the calibration mixes (mix.py)."""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from assistant.datasets.splits import read_rows, split_of
from assistant.text_analysis import match_terms, sentence_spans

HARD_NEGATIVES = 2  # the passage's sentences sharing the most terms with the question
RANDOM_NEGATIVES = 1
SWAP_SHARE = 0.25  # answerable questions that also give a swapped near-miss
COVID_WINDOW = 8  # sentences either side of the answer kept from a whole-paper context


@dataclass(frozen=True)
class Pair:
    question: str
    sentence: str
    label: int


def read_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def passage_sentences(row: dict) -> tuple[list[str], list[bool]]:
    """The context's sentences and whether each holds (the start of) an answer."""
    context = row["context"]
    spans = sentence_spans(context)
    starts = [answer["start"] for answer in row.get("answers", [])] if row["answerable"] else []
    holds = [any(a <= s < b for s in starts) for a, b in spans]
    if row["dataset"] == "covid-qa" and any(holds):  # whole papers: the answer's neighbourhood only
        centre = holds.index(True)
        window = slice(max(0, centre - COVID_WINDOW), centre + COVID_WINDOW + 1)
        spans, holds = spans[window], holds[window]
    return [context[a:b] for a, b in spans], holds


def _overlap(question_terms: set[str], sentence: str) -> int:
    return len(question_terms & set(match_terms(sentence)))


_NUMBER = re.compile(r"\b\d[\d,.]*\b")
_NAME = re.compile(r"(?<=\w )[A-Z][a-z]{2,}(?: [A-Z][a-z]{2,})*")


def swapped_question(question: str, sentence: str, pool: dict[str, list[str]], rng: random.Random) -> str | None:
    """The question with one number or name that its answer sentence contains replaced by another."""
    for kind, pattern in (("number", _NUMBER), ("name", _NAME)):
        found = [m for m in pattern.finditer(question) if m.group() in sentence]
        if found:
            match = rng.choice(found)
            choices = [c for c in pool[kind] if c != match.group() and c not in sentence]
            if choices:
                return question[: match.start()] + rng.choice(choices) + question[match.end() :]
    return None


def _normal(question: str) -> str:
    return " ".join(question.lower().split())


def build_pairs(data_dir: Path, seed: int, sample: int | None = None) -> list[Pair]:
    """Training pairs from the TRAIN documents (splits.py), shuffled, deterministic for a seed."""
    rng = random.Random(seed)
    span_rows = read_jsonl(data_dir / "span_qa.jsonl.gz")
    by_split: dict[str, list[dict]] = defaultdict(list)
    for row in span_rows:
        by_split[split_of(row)].append(row)
    # A question asked word for word in a held-out document too ("When did the Roman empire fall?") stays out.
    held_out = {_normal(row["question"]) for row in read_rows(data_dir) if split_of(row) != "train"}
    train_rows = [row for row in by_split["train"] if _normal(row["question"]) not in held_out]
    if sample:
        rng.shuffle(train_rows)
        train_rows = train_rows[:sample]

    pool: dict[str, list[str]] = {"number": [], "name": []}
    for row in train_rows:
        pool["number"] += _NUMBER.findall(row["question"])
        pool["name"] += _NAME.findall(row["question"])
    pool = {kind: sorted(set(values)) for kind, values in pool.items()}

    pairs: list[Pair] = []
    for row in train_rows:
        sentences, holds = passage_sentences(row)
        question_terms = set(match_terms(row["question"]))
        negatives = [s for s, h in zip(sentences, holds) if not h]
        negatives.sort(key=lambda s: _overlap(question_terms, s), reverse=True)
        hard, rest = negatives[:HARD_NEGATIVES], negatives[HARD_NEGATIVES:]
        chosen = hard + rng.sample(rest, min(RANDOM_NEGATIVES, len(rest)))
        if not row["answerable"]:
            chosen = negatives[: HARD_NEGATIVES + RANDOM_NEGATIVES]  # near-misses: the closest are the lesson
        pairs += [Pair(row["question"], s, 0) for s in chosen]
        positives = [s for s, h in zip(sentences, holds) if h]
        pairs += [Pair(row["question"], s, 1) for s in positives]
        if positives and rng.random() < SWAP_SHARE:
            swapped = swapped_question(row["question"], positives[0], pool, rng)
            if swapped:
                pairs.append(Pair(swapped, positives[0], 0))

    # AdvGLUE's QNLI pairs are SQuAD questions, some from held-out articles: those stay out too.
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in read_jsonl(data_dir / "sentence_pairs.jsonl.gz"):
        if _normal(row["question"]) not in held_out:
            groups[row["group"]].append(row)
    group_names = sorted(groups)
    if sample:
        group_names = rng.sample(group_names, min(len(group_names), max(1, sample // 4)))
    for name in group_names:
        rows = groups[name]
        positives = [r for r in rows if r["label"]]
        negatives = [r for r in rows if not r["label"]]
        chosen = rng.sample(negatives, min(len(negatives), HARD_NEGATIVES + RANDOM_NEGATIVES))
        pairs += [Pair(r["question"], r["sentence"], int(r["label"])) for r in positives + chosen]

    rng.shuffle(pairs)
    return pairs
