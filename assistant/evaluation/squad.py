"""``assistant eval squad FILE.json``: the reader on a SQuAD-format file (v1.1 or v2.0), with the official metrics.

Each question is answered from its own paragraph, read by the answerer as it reads a retrieved
passage (no retrieval: the paragraph is given). The prediction is the answer's words (the span
reader's ``answer_span``; the sentence reader's whole sentence) when the outcome is ``answered``,
else the empty string (no answer); ``1 - confidence`` is the no-answer probability.

Scoring follows the official SQuAD 2.0 script (``evaluate-v2.0.py``): answers are normalised
(lower case, no punctuation, no articles, single spaces), exact match and token F1 are the best
over the gold answers, an unanswerable question is right when the prediction is empty, and the
best thresholds sweep the no-answer probability over the always-answer predictions (the best
span). Beside them: ``HasAns_answered`` (answerable questions answered), ``HasAns_guess_f1`` (the
best span's F1 whether or not it was stated) and ``balanced_accuracy`` (answerable answered and
unanswerable not, weighted equally). Written here because the official script is not a library.
"""

from __future__ import annotations

import collections
import json
import math
import re
import string
from pathlib import Path

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> int:
    return int(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    predicted, wanted = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not predicted or not wanted:  # no answer on either side: right only if both are empty
        return float(predicted == wanted)
    common = sum((collections.Counter(predicted) & collections.Counter(wanted)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


def load_squad(path: Path) -> list[dict]:
    """{id, question, context, answers (texts; empty for an unanswerable question)} per question."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    rows = []
    for article in data:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = [a["text"] for a in qa.get("answers", []) if normalize_answer(a["text"])]
                rows.append({"id": qa["id"], "question": qa["question"], "context": paragraph["context"], "answers": answers})
    return rows


def score(rows: list[dict], predictions: dict[str, str], no_answer: dict[str, float], best_guess: dict[str, str]) -> dict:
    """The official figures, in percent: exact and f1 overall, HasAns_* and NoAns_* where there are
    both kinds, and best_exact/best_f1 with their no-answer thresholds (over ``best_guess``)."""
    has_answer = {row["id"]: bool(row["answers"]) for row in rows}
    gold = {row["id"]: row["answers"] or [""] for row in rows}

    def per_question(chosen: dict[str, str]) -> tuple[dict[str, float], dict[str, float]]:
        exact = {q: max(exact_match(chosen[q], g) for g in gold[q]) for q in gold}
        f1 = {q: max(token_f1(chosen[q], g) for g in gold[q]) for q in gold}
        return exact, f1

    def mean(values: dict[str, float], ids: list[str]) -> float:
        return round(100.0 * sum(values[q] for q in ids) / len(ids), 4) if ids else 0.0

    exact, f1 = per_question(predictions)
    ids = list(gold)
    figures: dict[str, float] = {"exact": mean(exact, ids), "f1": mean(f1, ids), "total": len(ids)}
    answerable = [q for q in ids if has_answer[q]]
    unanswerable = [q for q in ids if not has_answer[q]]
    if answerable:  # ours, beside the official ones: how often it answers, and its best guess whether or not it did
        answered = {q: float(bool(predictions[q])) for q in ids}
        guess_f1 = per_question(best_guess)[1]
        figures |= {"HasAns_answered": mean(answered, answerable), "HasAns_guess_f1": mean(guess_f1, answerable)}
    if answerable and unanswerable:
        for prefix, group in (("HasAns", answerable), ("NoAns", unanswerable)):
            figures |= {f"{prefix}_exact": mean(exact, group), f"{prefix}_f1": mean(f1, group), f"{prefix}_total": len(group)}
        guess_exact, guess_f1 = per_question(best_guess)
        for name, values in (("exact", guess_exact), ("f1", guess_f1)):
            best, threshold = _best_threshold(best_guess, values, no_answer, has_answer)
            figures |= {f"best_{name}": best, f"best_{name}_thresh": threshold}
        # answerable answered and near-misses not, weighted equally: the decision at the shipped threshold
        figures["balanced_accuracy"] = round((figures["HasAns_answered"] + figures["NoAns_exact"]) / 2, 4)
    return figures


def claims(rows: list[dict], outcomes: dict[str, str]) -> dict:
    """Beside the official figures (which measure the answers), the claims of absence: how many of each outcome,
    how often "not stated" / "not found" was true, and the answerable told the answer is not there (percent)."""
    has_answer = {row["id"]: bool(row["answers"]) for row in rows}
    absent = [q for q, outcome in outcomes.items() if outcome in ("not_stated", "not_found")]
    answerable = [q for q in outcomes if has_answer[q]]
    unanswerable = [q for q in outcomes if not has_answer[q]]

    def share(hits: list[bool]) -> float | None:
        return round(100.0 * sum(hits) / len(hits), 4) if hits else None

    counts = collections.Counter(outcomes.values())
    return {
        **{f"outcome_{name}": counts.get(name, 0) for name in ("answered", "uncertain", "not_stated", "not_found")},
        "absence_precision": share([not has_answer[q] for q in absent]),
        "HasAns_false_absence": share([outcomes[q] in ("not_stated", "not_found") for q in answerable]),
        "NoAns_denied": share([outcomes[q] in ("not_stated", "not_found") for q in unanswerable]),
    }


def _best_threshold(
    guesses: dict[str, str], scores: dict[str, float], no_answer: dict[str, float], has_answer: dict[str, bool]
) -> tuple[float, float]:
    """The official sweep: questions by rising no-answer probability, each answered in turn."""
    current = best = sum(not h for h in has_answer.values())
    threshold = 0.0
    for q in sorted(no_answer, key=no_answer.__getitem__):
        if has_answer[q]:
            current += scores[q]
        else:
            current += -1 if guesses[q] else 0
        if current > best:
            best, threshold = current, no_answer[q]
    return round(100.0 * best / len(scores), 4), round(threshold, 6)


def predict(rows: list[dict], encoder, reader, log=print, outcomes: dict[str, str] | None = None):
    """(prediction, no-answer probability, best guess) per question id, the paragraph as the one passage read.
    The prediction is the span reader's answer words (the sentence reader's: the best sentence), "" unless answered.
    ``outcomes``, when given, receives each question's outcome (for ``claims``)."""
    from assistant.answering.extractive import ExtractiveAnswerer
    from assistant.index.catalog import ChunkRecord
    from assistant.retrieval import RetrievedChunk

    contexts = sorted({row["context"] for row in rows})
    vectors = dict(zip(contexts, encoder.encode(contexts)))
    answerer = ExtractiveAnswerer(_idf_from(contexts), reader)
    predictions, no_answer, best_guess = {}, {}, {}
    for n, row in enumerate(rows, start=1):
        context = row["context"]
        dense = float(vectors[context] @ encoder.encode_query(row["question"]))
        record = ChunkRecord("squad-0", "squad", 0, 0, len(context), "squad", "squad", context)
        candidates = answerer.read(row["question"], [RetrievedChunk(record, dense, dense, 0, None)])
        answer = answerer.decide(row["question"], candidates)  # sorts the candidates, best first
        top = candidates[0] if candidates else None
        best = "" if top is None else context[slice(*top.answer_span)] if top.answer_span else top.text
        predictions[row["id"]] = best if answer.outcome == "answered" else ""
        no_answer[row["id"]] = round(1.0 - (answer.confidence or 0.0), 6)
        best_guess[row["id"]] = best
        if outcomes is not None:
            outcomes[row["id"]] = answer.outcome
        if n % 200 == 0:
            log(f"  {n}/{len(rows)} questions read")
    return predictions, no_answer, best_guess


def _idf_from(texts: list[str]):
    """BM25's idf over the paragraphs, as the index computes it over its chunks."""
    from assistant.text_analysis import terms

    df: collections.Counter[str] = collections.Counter(term for text in texts for term in set(terms(text)))
    n = len(texts)
    return lambda term: math.log(1 + (n - df.get(term, 0) + 0.5) / (df.get(term, 0) + 0.5))
