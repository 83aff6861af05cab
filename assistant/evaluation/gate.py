"""``assistant eval gate``: can a design tell a passage that states the answer from one that does not? (issue #41)

Each held-out question is read against one passage, with no retrieval and no calibration: answerable
questions against their own paragraph, SQuAD 2.0's written near-misses against the paragraph they were
written for, and answerable questions against two same-type distractors: ``same_type``, their own paragraph
with the answer's sentences removed where the rest still holds a thing of the answer's type (a year for
"when", a number for "how many", a name for "who"), and ``other_paragraph``, another paragraph of their
article holding such a thing (``datasets.mix.distractor``, the mixes' same-type kind). A design's score
for a pair is one number; the gate is its ROC AUC, answerable against each kind of unanswerable.

Scores measured:
- ``reader``: the span reader's best span minus its no-answer score (what the calibration weighed alone);
- ``verifier``: the verifier's logit for the sentence of that best span, its words marked;
- ``reader+verifier``: a logistic over both, fitted on the VALIDATION pairs (never on TEST).
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import numpy as np

from assistant.answering.verifier import mark_span
from assistant.datasets.mix import DOMAINS, distractor, without_answer
from assistant.datasets.splits import document_key, read_rows, split_of
from assistant.text_analysis import sentence_spans

KINDS = ("answerable", "near_miss", "same_type", "other_paragraph")


def gate_pairs(rows: list[dict], split: str, seed: int = 13, limit: int = 600) -> list[tuple[str, str, str]]:
    """(kind, question, passage) for the split's Wikipedia questions: at most ``limit`` of each kind."""
    held = [r for r in rows if DOMAINS.get(r["dataset"]) == "wikipedia" and split_of(r) == split]
    paragraphs: dict[str, list[str]] = defaultdict(list)
    for row in held:
        if row["context"] not in paragraphs[document_key(row)]:
            paragraphs[document_key(row)].append(row["context"])
    rng = random.Random(f"{seed}-{split}-gate")
    answerable = [r for r in held if r["answerable"]]
    near_misses = [r for r in held if not r["answerable"] and r["dataset"].startswith("squad2")]
    rng.shuffle(answerable)
    rng.shuffle(near_misses)
    pairs = [("answerable", r["question"], r["context"]) for r in answerable[:limit]]
    pairs += [("near_miss", r["question"], r["context"]) for r in near_misses[:limit]]
    typed: dict[str, list] = {"same_type": [], "other_paragraph": []}
    for row in answerable[limit:]:  # questions not used as answerable ones
        own, other = without_answer(row), distractor(row, paragraphs[document_key(row)])
        for kind, paragraph in (("same_type", own), ("other_paragraph", other)):
            if paragraph and len(typed[kind]) < limit:
                typed[kind].append((kind, row["question"], paragraph))
    return pairs + typed["same_type"] + typed["other_paragraph"]


def score_pairs(pairs: list[tuple[str, str, str]], reader, verifier=None) -> dict[str, np.ndarray]:
    """Per pair: the reader's best-span score and, with a verifier, its logit for that span's sentence."""
    scores, sentences = [], []
    for _, question, passage in pairs:
        span = reader.read(question, [passage])[0].best_span()
        scores.append(span.score if span else -30.0)
        if span is None:
            sentences.append(passage[:200])
            continue
        start, end = next(((a, b) for a, b in sentence_spans(passage) if a <= span.start < b), (span.start, span.end))
        sentences.append(mark_span(passage[start:end], span.start - start, min(span.end, end) - start))
    out = {"reader": np.array(scores, dtype=np.float64)}
    if verifier is not None:
        out["verifier"] = np.array(
            [float(verifier.score(question, [sentence])[0]) for (_, question, _), sentence in zip(pairs, sentences)]
        )
    return out


def aucs(kinds: list[str], score: np.ndarray) -> dict[str, float]:
    """ROC AUC of the score, answerable against each unanswerable kind."""
    from sklearn.metrics import roc_auc_score

    kinds_ = np.array(kinds)
    result = {}
    for negative in KINDS[1:]:
        chosen = (kinds_ == "answerable") | (kinds_ == negative)
        if (kinds_ == negative).any():
            result[negative] = round(float(roc_auc_score(kinds_[chosen] == "answerable", score[chosen])), 3)
    return result


def run_gate(data_dir: Path, reader, verifier=None, limit: int = 600, log=print) -> dict:
    """The gate's table: {design: {split: {kind: AUC}}}, the combination fitted on VALIDATION."""
    from sklearn.linear_model import LogisticRegression

    rows = read_rows(data_dir)
    table: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    scored = {}
    for split in ("validation", "test"):
        pairs = gate_pairs(rows, split, limit=limit)
        log(f"{split}: {len(pairs)} pairs ({', '.join(f'{k} {sum(p[0] == k for p in pairs)}' for k in KINDS)})")
        scored[split] = ([p[0] for p in pairs], score_pairs(pairs, reader, verifier))
    for split, (kinds, scores) in scored.items():
        for design, values in scores.items():
            table[design][split] = aucs(kinds, values)
    if verifier is not None:
        kinds, scores = scored["validation"]
        features = np.column_stack([scores["reader"], scores["verifier"]])
        model = LogisticRegression(max_iter=1000).fit(features, np.array(kinds) == "answerable")
        for split, (kinds, scores) in scored.items():
            combined = model.decision_function(np.column_stack([scores["reader"], scores["verifier"]]))
            table["reader+verifier"][split] = aucs(kinds, combined)
    return dict(table)


def markdown(table: dict) -> str:
    lines = ["| design | VALIDATION " + " / ".join(KINDS[1:]) + " | TEST |", "|---|---|---|"]
    for design, splits in table.items():
        cells = [" / ".join(f"{splits[s].get(k, float('nan')):.3f}" for k in KINDS[1:]) for s in ("validation", "test")]
        lines.append(f"| {design} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)
