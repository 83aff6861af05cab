"""Calibration fitting and held-out measurement: questions run through the answerer's own candidate stage
over simulated retrieval; the logistic models fitted on VALIDATION, the figures measured on TEST."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def idf_from(texts: list[str]):
    """BM25's idf over these texts, as the index computes it over the chunks."""
    from assistant.text_analysis import terms

    n = len(texts)
    df: dict[str, int] = defaultdict(int)
    for text in texts:
        for term in set(terms(text)):
            df[term] += 1
    return lambda term: math.log(1 + (n - df.get(term, 0) + 0.5) / (df.get(term, 0) + 0.5))


@dataclass
class Example:
    """One question run through the answerer's candidate stage over simulated retrieval."""

    row: dict
    on_topic: bool  # retrieved from its own article, or from another one (nothing there is about it)
    candidates: list


def _answer_in(sentence: str, row: dict) -> bool:
    return row["answerable"] and any(a["text"].strip().lower() in sentence.lower() for a in row["answers"] if a["text"].strip())


def simulate(rows: list[dict], encoder, reader, top_k: int = 5) -> list[Example]:
    """Each question against its own article's paragraphs (top_k by cosine) and against another article's."""
    from assistant.answering.extractive import ExtractiveAnswerer
    from assistant.index.catalog import ChunkRecord
    from assistant.retrieval import RetrievedChunk

    by_article: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row["context"] not in by_article[row["title"]]:
            by_article[row["title"]].append(row["context"])
    articles = sorted(by_article)
    vectors = {title: encoder.encode(by_article[title]) for title in articles}
    answerer = ExtractiveAnswerer(idf_from([p for ps in by_article.values() for p in ps]), reader)
    examples = []
    for row in rows:
        question_vector = encoder.encode_query(row["question"])
        other = articles[(articles.index(row["title"]) + 1) % len(articles)]
        targets = [(row["title"], True)] + ([(other, False)] if other != row["title"] else [])
        for title, on_topic in targets:
            cosines = vectors[title] @ question_vector
            top = np.argsort(-cosines)[:top_k]
            chunks = [
                RetrievedChunk(
                    ChunkRecord(f"{title}-{i}", title, int(i), 0, len(by_article[title][i]), title, title, by_article[title][i]),
                    float(cosines[i]),
                    float(cosines[i]),
                    rank,
                    None,
                )
                for rank, i in enumerate(top)
            ]
            examples.append(Example(row, on_topic, answerer.read(row["question"], chunks)))
    return examples


def fit_calibration(examples: list[Example], seed: int):
    """Two logistic models, and the answer threshold that best separates answerable from near-miss validation questions."""
    from assistant.answering.calibration import UNREAD_LOGIT, Calibration, answer_features, fit_logistic, related_features

    read = [(e, c) for e in examples if e.on_topic for c in e.candidates if c.reader_logit > UNREAD_LOGIT]
    answer = fit_logistic([answer_features(c) for _, c in read], [int(_answer_in(c.text, e.row)) for e, c in read], seed)
    related = fit_logistic([related_features(e.candidates) for e in examples], [int(e.on_topic) for e in examples], seed)
    calibration = Calibration(answer, related, 0.5, 0.5)
    decisions = decide(examples, calibration)
    confidences, answerable = [c for c, _, _ in decisions], [row["answerable"] for *_, row in decisions]
    calibration.answer_threshold = round(float(best_threshold(confidences, answerable)), 4)  # balanced accuracy
    return calibration


def decide(examples: list[Example], calibration) -> list[tuple[float, bool, dict]]:
    """(confidence, whether the best sentence holds the answer, example's row) per on-topic example."""
    from assistant.answering.calibration import answer_features

    out = []
    for example in examples:
        if not example.on_topic or not example.candidates:
            continue
        best = max(example.candidates, key=lambda c: calibration.answer.probability(answer_features(c)))
        out.append((calibration.answer.probability(answer_features(best)), _answer_in(best.text, example.row), example.row))
    return out


def balanced_accuracy(scores: list[float], answerable: list[bool], threshold: float) -> float:
    positives = [s >= threshold for s, a in zip(scores, answerable) if a]
    negatives = [s < threshold for s, a in zip(scores, answerable) if not a]
    return (sum(positives) / max(1, len(positives)) + sum(negatives) / max(1, len(negatives))) / 2


def best_threshold(scores: list[float], answerable: list[bool]) -> float:
    return max(sorted(set(scores)), key=lambda t: balanced_accuracy(scores, answerable, t))


def reader_scores(examples: list[Example], rows: list[tuple[float, bool, dict]]) -> list[float]:
    """The reader alone, per decided row: its best logit over the question's own paragraph (the plain recipe's measure)."""
    from assistant.answering.calibration import UNREAD_LOGIT

    own = {e.row["id"]: e for e in examples if e.on_topic}
    return [
        max(
            (c.reader_logit for c in own[row["id"]].candidates if c.passage.record.document_text == row["context"]),
            default=UNREAD_LOGIT,
        )
        for _, _, row in rows
    ]


def measure(examples: list[Example], calibration, reader_threshold: float) -> dict:
    """Held-out figures: answerable vs near-miss, top-sentence accuracy, answered precision, relatedness."""
    rows = decide(examples, calibration)
    answerable = [row["answerable"] for _, _, row in rows]
    confidences = [confidence for confidence, _, _ in rows]
    scores = reader_scores(examples, rows)
    answered = [(confidence >= calibration.answer_threshold, correct) for confidence, correct, _ in rows]
    related_right = [
        (calibration.related.probability(_related(e)) >= calibration.related_threshold) == e.on_topic for e in examples
    ]
    reader_best = best_threshold(scores, answerable)
    calibrated_best = best_threshold(confidences, answerable)
    return {
        "questions": len(rows),
        "answerable": sum(answerable),
        "reader_balanced_accuracy_best_threshold": round(balanced_accuracy(scores, answerable, reader_best), 4),
        "reader_balanced_accuracy_validation_threshold": round(balanced_accuracy(scores, answerable, reader_threshold), 4),
        "calibrated_balanced_accuracy": round(balanced_accuracy(confidences, answerable, calibration.answer_threshold), 4),
        "calibrated_balanced_accuracy_best_threshold": round(balanced_accuracy(confidences, answerable, calibrated_best), 4),
        "top_sentence_holds_answer": round(sum(c for (_, c, row) in rows if row["answerable"]) / max(1, sum(answerable)), 4),
        "answered_share": round(sum(a for a, _ in answered) / max(1, len(answered)), 4),
        "answered_precision": round(sum(c for a, c in answered if a) / max(1, sum(a for a, _ in answered)), 4),
        "relatedness_accuracy": round(sum(related_right) / max(1, len(related_right)), 4),
    }  # fmt: skip


def _related(example: Example) -> dict[str, float]:
    from assistant.answering.calibration import related_features

    return related_features(example.candidates)


def calibrate_and_measure(data: dict[str, list], out_dir: Path, seed: int, fp32_file: Path | None = None):
    """Steps 4-5 for the model in out_dir: the calibration fitted on VALIDATION, figures on both splits
    (and on TEST for the fp32 model in fp32_file, to show what int8 costs). Writes calibration.json."""
    import shutil
    import tempfile

    from assistant.answering.calibration import Calibration, Logistic
    from assistant.answering.reader import Reader
    from assistant.index.embedding import Encoder
    from assistant.settings import bundled_model_path

    neutral = Logistic(["reader"], [1.0], 0.0, [0.0], [1.0])
    with tempfile.TemporaryDirectory() as scratch:
        Calibration(neutral, Logistic(["best_reader"], [1.0], 0.0, [0.0], [1.0]), 0.5, 0.5).save(out_dir / "calibration.json")
        encoder = Encoder(bundled_model_path(), Path(scratch) / "encoder")
        validation = simulate(data["validation"], encoder, Reader(out_dir))
        calibration = fit_calibration(validation, seed)
        calibration.save(out_dir / "calibration.json")
        reader = Reader(out_dir)
        rows = decide(validation, calibration)
        reader_threshold = best_threshold(reader_scores(validation, rows), [row["answerable"] for *_, row in rows])
        figures = {
            "validation": measure(validation, calibration, reader_threshold),
            "test": measure(simulate(data["test"], encoder, reader), calibration, reader_threshold),
        }
        if fp32_file is not None:
            fp32_dir = Path(scratch) / "fp32"
            fp32_dir.mkdir()
            for name in ("tokenizer.json", "calibration.json"):
                (fp32_dir / name).write_bytes((out_dir / name).read_bytes())
            shutil.copyfile(fp32_file, fp32_dir / "model.onnx")  # 90 MB: copied on disk, not through memory
            figures["test_fp32"] = measure(simulate(data["test"], encoder, Reader(fp32_dir)), calibration, reader_threshold)
    return figures, calibration
