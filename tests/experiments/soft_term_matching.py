"""Experiment (not adopted): credit paraphrased question words by contextual token similarity.

The extractive answerer refuses when too few of the question's terms are in the best sentence.
Here a question word missing from a sentence gets partial credit from the model's own contextual
token vectors (all-MiniLM-L6-v2, last layer: "photographed" ~ "picture" 0.73, "died" ~ "migrants"
0.24). The credit ramp and the threshold are tuned on the first 42 questions of the seed set and
then measured on the 52 written later; a last grid tunes on all of them, which shows the best any
setting of these features can do on this set (an optimistic ceiling, since it tunes on the test).

    assistant ingest && python tests/experiments/soft_term_matching.py [tests/evalsets/seed.jsonl]

Result on 2026-11-25 (README, "Answer quality"), answered / refused: exact terms 0.73 / 0.75 on
all 94; soft matching tuned on the first 42 reaches 0.89 / 0.86 there but 0.82 / 0.61 on the 52
held-out questions (it answers near-misses); tuned on all 94 its best is 0.79 / 0.81. None
reaches the 0.90 / 0.90 goal, so the answerer keeps exact terms.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.answer import _ANSWER_CATEGORY, CATEGORY_WEIGHT, DENSE_SHARE, ExtractiveAnswerer  # noqa: E402
from assistant.evaluate import fact_matches, load_gold  # noqa: E402
from assistant.service import Assistant, follow_up_context  # noqa: E402
from assistant.text import QUESTION_WORDS, match_terms, same_term, terms  # noqa: E402

TUNED_ON = 42  # the questions written before the answerer was tuned; the rest are held out
CANDIDATES = 8


class WordVectors:
    """One contextual vector per word (mean of its word pieces), from the model's last layer."""

    def __init__(self, model_path: Path):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_path))
        self.model = AutoModel.from_pretrained(str(model_path)).eval()

    def __call__(self, texts: list[str]) -> list[list[tuple[str, np.ndarray]]]:
        encoded = self.tokenizer(
            texts, padding=True, truncation=True, max_length=256, return_tensors="pt", return_offsets_mapping=True
        )
        offsets = encoded.pop("offset_mapping").numpy()
        with self.torch.no_grad():
            hidden = self.model(**encoded).last_hidden_state.numpy()
        result = []
        for i, text in enumerate(texts):
            pieces: dict[int, list[int]] = {}
            for j, word in enumerate(encoded.word_ids(i)):
                if word is not None:
                    pieces.setdefault(word, []).append(j)
            words = []
            for js in pieces.values():
                vector = hidden[i][js].mean(0)
                words.append((text[offsets[i][js[0]][0] : offsets[i][js[-1]][1]], vector / np.linalg.norm(vector)))
            result.append(words)
        return result


def features(assistant: Assistant, gold: list[dict]) -> list[dict]:
    """For each question, its best few candidate sentences with each question term's best match."""
    vectors = WordVectors(assistant.settings.resolved_model_path())
    bm25 = assistant.index.bm25()
    answerer = ExtractiveAnswerer(bm25.idf, assistant.encoder.encode, assistant.settings.min_evidence)
    rows = []
    for item in gold:
        question = item["question"]
        context = follow_up_context(question, item.get("history"))
        chunks = assistant._retrieve(question, context, None)
        question_terms = [t for t in dict.fromkeys(match_terms(question)) if t not in QUESTION_WORDS]
        context_terms = [t for t in dict.fromkeys(match_terms(context)) if t not in QUESTION_WORDS and t not in question_terms]
        candidates = answerer._candidates(question, question_terms, context_terms, chunks)
        answerer._rerank(f"{context} {question}".strip(), candidates)
        # The same term weights as the answerer's (rarer among the candidates and in the corpus = heavier).
        present = [set(match_terms(c.text)) for c in candidates]
        weights = {}
        for term in question_terms:
            df = sum(1 for p in present if any(same_term(term, x) for x in p))
            weights[term] = math.log(1 + (len(present) - df + 0.5) / (df + 0.5)) * bm25.idf(term) ** 0.5
        for category in _ANSWER_CATEGORY.findall(question):
            for term in terms(category):
                if term in weights:
                    weights[term] *= CATEGORY_WEIGHT
        candidates.sort(key=lambda c: c.score, reverse=True)
        top = candidates[:CANDIDATES]
        question_words, *sentence_words = vectors([question] + [c.text for c in top])
        rows.append({"answerable": item.get("answerable", True), "weights": weights, "candidates": []})
        for candidate, words in zip(top, sentence_words):
            sentence_terms = set(match_terms(candidate.text))
            match: dict[str, float] = {}
            for word, vector in question_words:
                word_terms = match_terms(word)
                if not word_terms or word_terms[0] not in weights:
                    continue
                term = word_terms[0]
                exact = any(same_term(term, p) for p in sentence_terms)
                best = 1.0 if exact else max(float(vector @ v) for _, v in words)
                match[term] = max(match.get(term, 0.0), best)
            rows[-1]["candidates"].append(
                {
                    "match": match,
                    "kind_ok": candidate.kind_ok,
                    "numbers_ok": candidate.numbers_ok,
                    "cosine": candidate.cosine,
                    "rank_bonus": 0.25 * candidate.context + 0.3 * candidate.chunk.dense,
                    "has_fact": any(fact_matches(f, candidate.text) for f in item.get("facts") or []),
                }
            )
    return rows


def decide(row: dict, low: float, high: float, cap: float) -> tuple[float, bool]:
    """The evidence of the best sentence under soft matching, and whether it holds the fact."""
    total = sum(row["weights"].values()) or 1.0

    def credit(similarity: float) -> float:
        return 1.0 if similarity >= 0.999 else cap * min(max((similarity - low) / (high - low), 0.0), 1.0)

    best = (-1.0, 0.0, False)
    for c in row["candidates"]:
        coverage = sum(row["weights"][t] * credit(m) for t, m in c["match"].items()) / total
        lexical = coverage * (1.0 if c["kind_ok"] else 0.25) * (1.0 if c["numbers_ok"] else 0.5)
        evidence = (1 - DENSE_SHARE) * lexical + DENSE_SHARE * c["cosine"]
        if evidence + c["rank_bonus"] > best[0]:
            best = (evidence + c["rank_bonus"], evidence, c["has_fact"])
    return best[1], best[2]


def rates(rows: list[dict], params: tuple[float, float, float], threshold: float) -> tuple[float, float]:
    decided = [(row["answerable"], *decide(row, *params)) for row in rows]
    answered = [ev >= threshold and fact for answerable, ev, fact in decided if answerable]
    refused = [ev < threshold for answerable, ev, _ in decided if not answerable]
    return sum(answered) / len(answered), sum(refused) / len(refused)


def best_setting(rows: list[dict]) -> tuple[tuple[float, float, float], float]:
    grid = [
        ((low, high, cap), round(float(threshold), 2))
        for low, high, cap in itertools.product([0.3, 0.4, 0.5, 0.55, 0.6], [0.7, 0.8, 0.9, 1.0], [0.5, 0.75, 1.0])
        for threshold in np.arange(0.2, 0.8, 0.02)
    ]
    return max(grid, key=lambda setting: min(rates(rows, *setting)))


def main(gold_path: str = "tests/evalsets/seed.jsonl") -> None:
    assistant = Assistant()
    rows = features(assistant, load_gold(Path(gold_path)))
    tuned, held_out = rows[:TUNED_ON], rows[TUNED_ON:]
    parts = {f"first {TUNED_ON}": tuned, "held out": held_out, f"all {len(rows)}": rows}
    print(f"{'answered / refused':46}" + "".join(f"{name:>14}" for name in parts))

    def line(name: str, setting: tuple, only: tuple[str, ...] = tuple(parts)) -> None:
        cells = ["{:.2f} / {:.2f}".format(*rates(part, *setting)) if key in only else "" for key, part in parts.items()]
        print(f"{name:46}" + "".join(f"{cell:>14}" for cell in cells))

    line("exact terms only (all 8 sentences re-ranked)", ((0.0, 1.0, 0.0), assistant.settings.min_evidence))
    setting = best_setting(tuned)
    line(f"soft, tuned on the first {TUNED_ON}", setting)
    ceiling = best_setting(rows)
    line(f"soft, tuned on all {len(rows)} (ceiling)", ceiling, only=(f"all {len(rows)}",))
    print(json.dumps({"tuned_on_42": setting, "tuned_on_all": ceiling}))


if __name__ == "__main__":
    main(*sys.argv[1:])
