"""Verify: how well a passage supports a sentence that cites it, and checking a generated answer sentence by sentence."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from assistant.text_analysis import match_terms, numbers, same_term, sentence_spans

SUPPORTED = 0.8  # a sentence at or above this support counts as supported
MIN_SIMILARITY = 0.5  # and its meaning must be this close (cosine) to the passage sentence it leans on
_CITATION = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_WORD = re.compile(r"[A-Za-z][\w'’-]*")


def names(sentence: str) -> set[str]:
    """Capitalised words after the first: the names a sentence relies on."""
    words = _WORD.findall(sentence)
    return {w for w in words[1:] if w[0].isupper() and w[1:2].islower()}


def support(sentence: str, passage: str) -> float:
    """Share of the sentence's content terms found in the passage; a number the passage lacks caps it at 0.3.

    Lexical on purpose: deterministic, explainable, and strict about the things that are easy to
    get wrong (numbers, names). A sentence quoted verbatim from its passage scores 1.0.
    """
    sentence_terms = set(match_terms(sentence))
    if not sentence_terms:
        return 0.0
    passage_terms = set(match_terms(passage))
    found = sum(1 for t in sentence_terms if any(same_term(t, p) for p in passage_terms))
    score = found / len(sentence_terms)
    if not numbers(sentence) <= numbers(passage):
        score = min(score, 0.3)
    if any(name not in passage for name in names(sentence)):
        score = min(score, 0.5)  # a name the passage never mentions
    return round(score, 3)


@dataclass(frozen=True)
class CheckedSentence:
    text: str  # the sentence without its citation marks
    cites: list[int]  # source numbers that exist, as written
    invented: list[int]  # citation numbers that name no source (removed)
    support: float  # best lexical support among the cited passages' sentences
    similarity: float  # cosine between the sentence and that passage sentence
    evidence: tuple[int, int, int] | None  # (source number, start, end) of the passage sentence it leans on
    verdict: str  # "supported", "unsupported" or "uncited"


def split_cited(answer: str) -> list[tuple[str, list[int]]]:
    """A generated answer as (sentence, citation numbers); a citation after a sentence's end belongs to it."""
    marked = re.sub(r"([.!?])\s*((?:\[\d+(?:\s*,\s*\d+)*\]\s*)+)", r" \2\1 ", answer)  # "... end. [1]" -> "... end [1]."
    out = []
    for start, end in sentence_spans(marked):
        sentence = marked[start:end]
        cites = [int(n) for group in _CITATION.findall(sentence) for n in re.split(r"\s*,\s*", group)]
        text = " ".join(_CITATION.sub("", sentence).split())
        text = re.sub(r"\s+([.!?,;:])", r"\1", text)
        if text:
            out.append((text, list(dict.fromkeys(cites))))
    return out


def check_answer(
    answer: str, passages: dict[int, tuple[str, int, int]], encode: Callable[[list[str]], np.ndarray]
) -> list[CheckedSentence]:
    """Check each sentence of a generated answer against the passages it cites.

    ``passages`` maps source number -> (document text, start, end). A sentence is supported when
    one sentence of a cited passage holds its terms, numbers and names (lexical support ≥ 0.8)
    and is close to it in meaning (cosine ≥ 0.5).
    """
    found = []
    for text, cites in split_cited(answer):
        valid = [n for n in cites if n in passages]
        invented = [n for n in cites if n not in passages]
        best = (0.0, None, "")
        for n in valid:
            document, start, end = passages[n]
            for a, b in sentence_spans(document, start, end):
                score = support(text, document[a:b])
                if score > best[0]:
                    best = (score, (n, a, b), document[a:b])
            whole = support(text, document[start:end])  # facts spread over two sentences of one passage
            if whole > best[0] + 0.2:
                best = (whole, (n, start, end), document[start:end])
        found.append((text, valid, invented, best))
    # One encoding call for every (sentence, evidence) pair of the answer.
    pairs = [(text, best[2]) for text, _, _, best in found if best[1] is not None]
    vectors = iter(encode([t for pair in pairs for t in pair])) if pairs else iter(())
    checked = []
    for text, valid, invented, best in found:
        similarity = float(next(vectors) @ next(vectors)) if best[1] is not None else 0.0
        if not valid:
            verdict = "uncited"
        elif best[0] >= SUPPORTED and similarity >= MIN_SIMILARITY:
            verdict = "supported"
        else:
            verdict = "unsupported"
        checked.append(CheckedSentence(text, valid, invented, best[0], round(similarity, 3), best[1], verdict))
    return checked
