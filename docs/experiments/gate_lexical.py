"""Issue #41, a design tried at the gate and not kept: the span reader's scores with lexical evidence.

Each gate pair (``assistant/evaluation/gate.py``) gets 19 features: the reader's best span minus no-answer,
the no-answer and raw span scores apart, the margin over the best span of another sentence, idf-weighted
coverage of the question's terms in the span's sentence, its neighbours and the passage (and the idf of
the rarest term missing there), capitalised question words the passage lacks, the numbers, year and kind
checks of the answerer, a negation in the question, the span's length and overlap with the question.
A logistic regression (and gradient boosting) over them is fitted on VALIDATION and measured on TEST::

    python docs/experiments/gate_lexical.py ../shared/training
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from assistant.answering.extractive import _kind_tests
from assistant.answering.span_reader import SpanReader
from assistant.datasets.splits import read_rows
from assistant.evaluation.gate import aucs, gate_pairs
from assistant.text_analysis import QUESTION_WORDS, match_terms, match_terms_of, numbers, same_term, sentence_spans, years_stated

NEGATION = re.compile(r"\b(not|never|no|nor|without)\b|n't\b", re.I)
CAPITALISED = re.compile(r"(?<=\S )[A-Z][\w'-]+")


def main(data_dir: Path) -> None:
    rows = read_rows(data_dir)
    document_frequency = Counter()
    contexts = list({r["context"] for r in rows})
    for found in match_terms_of(contexts):
        document_frequency.update(set(found))

    def idf(term: str) -> float:
        return math.log(1 + (len(contexts) - document_frequency[term] + 0.5) / (document_frequency[term] + 0.5))

    def coverage(wanted: list[str], present: set[str]) -> tuple[float, float]:
        total = sum(idf(t) for t in wanted)
        missing = [t for t in wanted if not any(same_term(t, p) for p in present)]
        return (1 - sum(idf(t) for t in missing) / total if total else 1.0), max((idf(t) for t in missing), default=0.0)

    reader = SpanReader()

    def features(question: str, passage: str) -> list[float]:
        reading = reader.read(question, [passage])[0]
        best = reading.best_span()
        if best is None:
            return [-30.0, reading.no_answer, -30.0 + reading.no_answer] + [0.0] * 16
        spans = sentence_spans(passage) or [(0, len(passage))]
        at = next((i for i, (a, b) in enumerate(spans) if a <= best.start < b), 0)
        others = [reading.best_span(a, b) for i, (a, b) in enumerate(spans) if i != at]
        second = max((o.score for o in others if o is not None), default=-30.0)
        sentence = passage[spans[at][0] : spans[at][1]]
        around = passage[spans[max(0, at - 1)][0] : spans[min(len(spans) - 1, at + 1)][1]]
        wanted = [t for t in dict.fromkeys(match_terms(question)) if t not in QUESTION_WORDS]
        span = passage[best.start : best.end]
        span_terms = set(match_terms(span))
        return [
            best.score, reading.no_answer, best.score + reading.no_answer, best.score - second,
            *coverage(wanted, set(match_terms(sentence))), *coverage(wanted, set(match_terms(around))),
            *coverage(wanted, set(match_terms(passage))),
            sum(c.lower() not in passage.lower() for c in set(CAPITALISED.findall(question))),
            float(numbers(question) <= numbers(passage)), float(years_stated(question, passage)),
            float(all(t.search(sentence) for t in _kind_tests(question))),
            float(all(t.search(span) for t in _kind_tests(question))),
            float(bool(NEGATION.search(question))),
            sum(any(same_term(t, w) for w in wanted) for t in span_terms) / max(1, len(span_terms)),
            len(span.split()), len(wanted),
        ]  # fmt: skip

    scored = {}
    for split in ("validation", "test"):
        pairs = gate_pairs(rows, split, limit=600)
        scored[split] = (np.array([features(q, p) for _, q, p in pairs]), [kind for kind, _, _ in pairs])
    (x_fit, kinds_fit), (x_test, kinds_test) = scored["validation"], scored["test"]
    scaler = StandardScaler().fit(x_fit)
    answerable = np.array(kinds_fit) == "answerable"
    logistic = LogisticRegression(max_iter=2000).fit(scaler.transform(x_fit), answerable)
    boosted = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=0)
    boosted.fit(x_fit, answerable)
    print("span reader alone, TEST:", aucs(kinds_test, x_test[:, 0]))
    print("logistic over 19 features, TEST:", aucs(kinds_test, logistic.decision_function(scaler.transform(x_test))))
    print("gradient boosting over 19 features, TEST:", aucs(kinds_test, boosted.decision_function(x_test)))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
