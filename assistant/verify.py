"""Verify: how well a passage supports a sentence that cites it."""

from __future__ import annotations

from assistant.text import numbers, same_term, terms

SUPPORTED = 0.8  # a sentence at or above this support counts as supported


def support(sentence: str, passage: str) -> float:
    """Share of the sentence's content terms found in the passage; a number the passage lacks caps it at 0.3.

    Lexical on purpose: deterministic, explainable, and strict about the things that are easy to
    get wrong (numbers, names). A sentence quoted verbatim from its passage scores 1.0.
    """
    sentence_terms = set(terms(sentence))
    if not sentence_terms:
        return 0.0
    passage_terms = set(terms(passage))
    found = sum(1 for t in sentence_terms if any(same_term(t, p) for p in passage_terms))
    score = found / len(sentence_terms)
    if not numbers(sentence) <= numbers(passage):
        score = min(score, 0.3)
    return round(score, 3)
