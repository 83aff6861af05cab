"""Calibration: the reader's logit and the answerer's term signals turned into probabilities.

Two logistic models, fitted on held-out training articles by ``assistant train-reader`` (never on
tests/evalsets), over the features defined here:

- ``answer``: the probability that a sentence states the answer (reported as ``confidence``);
- ``related``: the probability that the retrieved passages are about the question at all.

Three thresholds over them make four outcomes, each a claim whose precision is measured on the mixes:
``answered`` (confidence at or above ``answer_threshold``), ``uncertain`` (between it and
``absent_threshold``: the best candidate shown as a possible answer), ``not_stated`` (below
``absent_threshold``) and ``not_found`` (relatedness below ``related_threshold``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from assistant.answering.candidate import UNREAD_LOGIT, Candidate


@dataclass
class Logistic:
    """p = sigmoid(bias + sum(weight * (value - mean) / scale)) over named features."""

    features: list[str]
    weights: list[float]
    bias: float
    mean: list[float]
    scale: list[float]

    def probability(self, values: dict[str, float]) -> float:
        z = self.bias + sum(
            w * (values[name] - m) / s for name, w, m, s in zip(self.features, self.weights, self.mean, self.scale)
        )
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass
class Calibration:
    answer: Logistic
    related: Logistic
    answer_threshold: float  # confidence at or above which the answer is stated
    related_threshold: float  # below this, nothing in the documents is about the question
    # Below this confidence (and related), "the documents do not state this"; between it and the answer threshold
    # the best candidate is shown as a possible answer, claiming neither way. Fitted so that the claim is true of
    # 95 % of the VALIDATION questions it is said of; 0.0 where no confidence is that precise (the span reader's
    # case: it never says "not stated"), and for a calibration from before the claim was measured.
    absent_threshold: float = 0.0

    @classmethod
    def load(cls, path: Path) -> Calibration:
        data = json.loads(path.read_text())
        return cls(
            Logistic(**data["answer"]), Logistic(**data["related"]), data["answer_threshold"], data["related_threshold"],
            data.get("absent_threshold", 0.0),
        )  # fmt: skip

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))


def answer_features(candidate: Candidate) -> dict[str, float]:
    """What the answer calibration weighs for one sentence (Calibration.answer)."""
    return {
        "reader": candidate.reader_logit,
        "coverage": candidate.coverage,
        "kind_ok": float(candidate.kind_ok),
        "numbers_ok": float(candidate.numbers_ok),
        "dense": candidate.passage.dense,
        "first_passage": float(candidate.rank == 0),
        "margin": min(5.0, max(-5.0, candidate.margin)),  # past a clear win or loss, how clear says nothing more
    }


def related_features(candidates: list[Candidate]) -> dict[str, float]:
    """What the relatedness calibration weighs: are the retrieved passages about the question at all?"""
    if not candidates:
        return {"best_reader": UNREAD_LOGIT, "best_coverage": 0.0, "best_dense": 0.0}
    return {
        "best_reader": max(c.reader_logit for c in candidates),
        "best_coverage": max(c.coverage for c in candidates),
        "best_dense": max(c.passage.dense for c in candidates),
    }


def fit_logistic(features: list[dict[str, float]], labels: list[int], seed: int) -> Logistic:
    """A Logistic over the named features, standardised; scikit-learn is imported only here (training)."""
    from sklearn.linear_model import LogisticRegression

    names = list(features[0])
    x = np.array([[f[name] for name in names] for f in features], dtype=np.float64)
    mean, scale = x.mean(0), x.std(0)
    scale[scale < 1e-6] = 1.0  # a feature constant in the fit must not blow up when it varies at run time
    model = LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit((x - mean) / scale, labels)
    return Logistic(names, model.coef_[0].round(6).tolist(), round(float(model.intercept_[0]), 6), mean.tolist(), scale.tolist())
