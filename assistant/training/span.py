"""Train a span reader (issue #18): question + passage in, the answer's start and end out, or the
[CLS] position for "no answer here" (SQuAD 2.0 style); a passage longer than the window is read in
overlapping windows.

A run outlives a sitting on a 2-core CPU (~7.7 windows/s at 192 word pieces, fp32), so it is
resumable: every ``checkpoint_every`` steps the weights, the optimiser, the schedule and the RNG
state are written atomically into the checkpoint folder (outside git), and the data order is a
function of the seed and the step. A run started again with the same folder and recipe continues
from its last checkpoint and ends with the same weights as an uninterrupted run (a test kills one
with SIGKILL). Progress and ETA go to the log. Then ``finish`` exports the model and fits its
calibration on the VALIDATION mix (calibrate.py), as ``assistant train-reader --recalibrate`` does later::

    assistant train-reader --checkpoint ~/span-run [--max-questions 18000] [--bf16]     # ASSISTANT_READER=span, the default
    python -m assistant.training.span --data ../shared/training --checkpoints ~/span-run [--max-questions 18000]
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from assistant.datasets.mix import distractor, without_answer
from assistant.datasets.splits import document_key, split_of
from assistant.training.loop import train_resumable

UNANSWERABLE_SHARE = 0.25  # answerable questions also asked of another paragraph of their document without the answer
NAME_SWAP_SHARE = 0.15  # answerable questions with a name from their passage also asked of another name


@dataclass(frozen=True)
class SpanRecipe:
    seed: int = 13
    max_length: int = 192
    doc_stride: int = 64
    batch_size: int = 16
    learning_rate: float = 5e-5
    epochs: float = 1.0
    checkpoint_every: int = 200
    bf16: bool = False  # autocast: ~1.4x faster where the CPU has native bf16 (avx512_bf16/AMX); the weights stay fp32
    # A fine-tune of a trained reader (``--init``) toward SQuAD 2.0's written near-misses (``focused_rows``):
    focus: str = ""  # datasets (name prefix) whose TRAIN rows are all kept
    replay: int = 0  # rows drawn from the other datasets, so the reader keeps what it learnt there
    near_miss_repeats: int = 1  # each unanswerable question written by the data's authors (not made here) this many times
    # Issue #41: unanswerable rows whose passage holds a thing of the answer's type (``same_type_rows``), and the
    # weight of a window whose target is "no answer" in the loss (1.0: the plain mean over windows).
    same_type: int = 0
    no_answer_weight: float = 1.0
    # The made name swaps taught "a name the passage does not hold: no answer", which also refuses a paraphrase
    # ("Britain" for "the Government" in the £500 million question); False leaves them out.
    name_swaps: bool = True
    # Unanswerable rows made from SQuAD 1.1 questions by turning a word of the answer's sentence into its
    # opposite (``predicate_swaps``): the changed relation of SQuAD 2.0's written near-misses, at scale.
    predicate_swaps: int = 0
    # ... and by turning a name of the question into another name its passage mentions away from the answer
    # (``passage_name_swaps``): the passage holds both names, so only the relation tells them apart.
    passage_name_swaps: int = 0


def training_rows(rows: list[dict], seed: int, max_questions: int | None = None) -> list[dict]:
    """TRAIN documents only (splits.py), whole-paper contexts left out; plus honest unanswerable rows:
    a question against another paragraph of its own document that does not hold the answer string,
    and near-misses made from answerable questions (``near_misses``)."""
    rng = random.Random(seed)
    train = [r for r in rows if split_of(r) == "train" and len(r["context"]) < 4000]
    rng.shuffle(train)
    train = train[:max_questions] if max_questions else train
    paragraphs: dict[str, list[str]] = {}
    for row in rows:
        if split_of(row) == "train" and row["context"] not in paragraphs.setdefault(document_key(row), []):
            paragraphs[document_key(row)].append(row["context"])
    made = []
    for row in train:
        if not row["answerable"] or rng.random() >= UNANSWERABLE_SHARE:
            continue
        answers = [a["text"].lower() for a in row["answers"]]
        others = [p for p in paragraphs[document_key(row)] if p != row["context"] and not any(a in p.lower() for a in answers)]
        if others:
            made.append(row | {"id": row["id"] + "-other", "context": rng.choice(others), "answerable": False, "answers": []})
    return train + made + near_misses(train, rng)


# ids of the unanswerable rows made here (training_rows, near_misses, same_type_rows and the swaps below)
MADE = ("-other", "-year", "-name", "-without", "-typed", "-opposite", "-swapped")


def focused_rows(rows: list[dict], recipe: SpanRecipe) -> list[dict]:
    """A fine-tune's rows: every row of the ``focus`` datasets, their written near-misses repeated, and
    ``replay`` rows drawn from the others (all rows when the recipe has no focus)."""
    if not recipe.focus:
        return rows
    focus = [r for r in rows if r["dataset"].startswith(recipe.focus)]
    written = [r for r in focus if not r["answerable"] and not r["id"].endswith(MADE)]
    again = [r | {"id": f"{r['id']}-again{k}"} for k in range(1, recipe.near_miss_repeats) for r in written]
    others = [r for r in rows if not r["dataset"].startswith(recipe.focus)]
    return focus + again + random.Random(recipe.seed).sample(others, min(recipe.replay, len(others)))


def same_type_rows(rows: list[dict], count: int, seed: int) -> list[dict]:
    """``count`` unanswerable rows made from answerable TRAIN questions, half against their own paragraph with the
    answer's sentences removed and half against another paragraph of their document, each still holding a thing of
    the answer's type (a year for "when", a name for "who"): the wrong date next door that a reader answers from."""
    if count <= 0:
        return []
    rng = random.Random(f"{seed}-same-type")
    train = [r for r in rows if split_of(r) == "train" and r["answerable"] and len(r["context"]) < 4000]
    paragraphs: dict[str, list[str]] = {}
    for row in train:
        if row["context"] not in paragraphs.setdefault(document_key(row), []):
            paragraphs[document_key(row)].append(row["context"])
    rng.shuffle(train)
    made: list[dict] = []
    for row in train:
        if len(made) >= count:
            break
        own = len(made) % 2 == 0
        others = [p for p in paragraphs[document_key(row)] if p != row["context"]]
        rng.shuffle(others)
        context = without_answer(row) if own else distractor(row, others)
        if context:
            suffix = "-without" if own else "-typed"
            made.append(row | {"id": row["id"] + suffix, "context": context, "answerable": False, "answers": []})
    return made


YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
NAME = re.compile(r"(?<!^)(?<![.?!] )\b[A-Z][a-z]+(?: [A-Z][a-z]+)*\b")


def answer_sentence(row: dict) -> str:
    context, start = row["context"], row["answers"][0]["start"]
    return context[context.rfind(". ", 0, start) + 1 : (context.find(". ", start) + 1) or len(context)]


ADJECTIVE = re.compile(r"(an|ese|ish|ern|ic)$")  # "Italian", "Chinese", "Southern": not names of a thing to ask about


OPPOSITES = """first last|largest smallest|biggest smallest|highest lowest|most least|more less|before after|earliest latest|
oldest youngest|longest shortest|increase decrease|increased decreased|won lost|win lose|north south|east west|
northern southern|eastern western|began ended|started ended|opened closed|maximum minimum|upper lower|inside outside|
above below|earlier later|larger smaller|higher lower|longer shorter|older younger|best worst|better worse|strongest weakest|
allowed banned|legal illegal|accepted rejected|supported opposed|success failure|successful unsuccessful|positive negative|
major minor|male female|men women|born died|birth death|imports exports|bought sold|buy sell|arrived departed|hired fired|
fastest slowest|common rare|top bottom|internal external|private public|ancient modern|heaviest lightest|hottest coldest|
richest poorest|majority minority|gained lost|rich poor|strong weak|large small|high low|increasing decreasing|victory defeat"""
OPPOSITE = {w: pair.split()[1 - k] for pair in re.split(r"\|\s*", OPPOSITES) for k, w in enumerate(pair.split())}
WORD = re.compile(r"[A-Za-z]+")


def squad1_train(rows: list[dict]) -> list[dict]:
    """The answerable SQuAD 1.1 questions of TRAIN documents: what the swaps below are made from."""
    return [r for r in rows if r["dataset"].startswith("squad1") and r["answerable"] and split_of(r) == "train"]


def predicate_swaps(rows: list[dict], count: int, seed: int) -> list[dict]:
    """``count`` unanswerable rows made from answerable SQuAD 1.1 TRAIN questions: a lower-case word the question
    shares with the answer's sentence ("largest", "began", "north") turned into its opposite, where the passage
    never uses the opposite. The passage states one relation and the question asks the other, as most of SQuAD
    2.0's written near-misses do; names stay as they are (a changed name taught "absent name: no answer")."""
    if count <= 0:
        return []
    made = []
    for row in squad1_train(rows):
        context, sentence = row["context"], answer_sentence(row).lower()
        for match in WORD.finditer(row["question"]):
            word = match.group()
            opposite = OPPOSITE.get(word.lower())
            if not opposite or (word[0].isupper() and match.start() > 0):  # "North Africa" is a name
                continue
            if re.search(rf"\b{word.lower()}\b", sentence) and not re.search(rf"\b{opposite}\b", context.lower()):
                question = row["question"][: match.start()] + (opposite.capitalize() if word[0].isupper() else opposite)
                made.append(row | {"id": row["id"] + "-opposite", "question": question + row["question"][match.end() :],
                                   "answerable": False, "answers": []})  # fmt: skip
                break
    random.Random(f"{seed}-opposite").shuffle(made)
    return made[:count]


def passage_name_swaps(rows: list[dict], count: int, seed: int) -> list[dict]:
    """``count`` unanswerable rows made from answerable SQuAD 1.1 TRAIN questions: a name of the question turned
    into another name of as many words that its passage mentions, but not in the answer's sentence ("When did
    Tesla move?" asked as "When did Edison move?"). Both names are there, so a name's presence tells nothing."""
    if count <= 0:
        return []
    rng, made = random.Random(f"{seed}-swapped"), []
    for row in squad1_train(rows):
        question, context, sentence = row["question"], row["context"], answer_sentence(row)
        found = [m for m in NAME.finditer(question) if m.group() in context]
        if not found:
            continue
        name = found[0].group()
        others = sorted(
            n
            for n in {m.group() for m in NAME.finditer(context)}
            if len(n.split()) == len(name.split()) and not ADJECTIVE.search(n)
            and n not in sentence and n not in question and name not in n and n not in name
        )  # fmt: skip
        if others:
            changed = question[: found[0].start()] + rng.choice(others) + question[found[0].end() :]
            made.append(row | {"id": row["id"] + "-swapped", "question": changed, "answerable": False, "answers": []})
    rng.shuffle(made)
    return made[:count]


def near_misses(train: list[dict], rng: random.Random) -> list[dict]:
    """SQuAD 2.0's near-misses made honestly, so the reader learns to check the question's year and names:
    every answerable question whose year is in its passage, asked of another year the passage never
    mentions; and a share of those whose name is in the passage, asked of a name (from other
    training questions) the passage never mentions. Neither can be answered from that passage."""
    names = sorted({m.group() for r in train for m in NAME.finditer(r["question"])})
    made = []
    for row in (r for r in train if r["answerable"]):
        question, context = row["question"], row["context"]
        years = [m for m in YEAR.finditer(question) if m.group() in context]
        if years:
            year = years[0]
            other = next((y for y in rng.sample(range(-12, 13), 25) if y and str(int(year.group()) + y) not in context), 0)
            if other:  # else every nearby year is in the passage: no honest change
                changed = question[: year.start()] + str(int(year.group()) + other) + question[year.end() :]
                made.append(row | {"id": row["id"] + "-year", "question": changed, "answerable": False, "answers": []})
        found = [m for m in NAME.finditer(question) if m.group() in context]
        if found and rng.random() < NAME_SWAP_SHARE:
            name = found[0]
            words = len(name.group().split())
            pool = [n for n in rng.sample(names, min(50, len(names))) if len(n.split()) == words]
            other = next((n for n in pool if n.lower() not in context.lower() and n.lower() not in question.lower()), None)
            if other:
                changed = question[: name.start()] + other + question[name.end() :]
                made.append(row | {"id": row["id"] + "-name", "question": changed, "answerable": False, "answers": []})
    return made


def windows(tokenizer, rows: list[dict], max_length: int, doc_stride: int) -> list[dict]:
    """Every window of every row, with the answer's token positions in it (0, [CLS], where it has none).
    A question too long to leave a window room for more than its stride of passage is left out."""
    room = max_length - doc_stride - 32
    rows = [r for r, ids in zip(rows, tokenizer([r["question"] for r in rows])["input_ids"]) if len(ids) <= room]
    encoded = tokenizer(
        [r["question"] for r in rows], [r["context"] for r in rows], truncation="only_second", max_length=max_length,
        stride=doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length",
    )  # fmt: skip
    out = []
    for i, offsets in enumerate(encoded["offset_mapping"]):
        row = rows[encoded["overflow_to_sample_mapping"][i]]
        sequence = encoded.sequence_ids(i)
        start = end = 0
        if row["answerable"]:
            answer = row["answers"][0]
            first, last = answer["start"], answer["start"] + len(answer["text"])
            context = [k for k, s in enumerate(sequence) if s == 1]
            if context and offsets[context[0]][0] <= first and offsets[context[-1]][1] >= last:
                start = next((k for k in context if offsets[k][1] > first), 0)
                end = next((k for k in reversed(context) if offsets[k][0] < last), 0)
                if not 0 < start <= end:  # an answer of no word pieces (spaces, a stray character): no label to learn
                    continue
        out.append({
            "input_ids": encoded["input_ids"][i], "attention_mask": encoded["attention_mask"][i],
            "token_type_ids": encoded["token_type_ids"][i], "start": start, "end": end,
        })  # fmt: skip
    return out


def train(windows_: list[dict], base: Path, folder: Path, recipe: SpanRecipe, log=print):
    """Train (or continue training) in ``folder``; returns the model. The checkpoint is checked against the recipe."""
    import torch
    from transformers import AutoModelForQuestionAnswering
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    torch.manual_seed(recipe.seed)
    model = AutoModelForQuestionAnswering.from_pretrained(str(base))

    def loss_of(model, batch: list[dict]):
        length = max(sum(w["attention_mask"]) for w in batch)  # no compute spent on padding every window shares
        tensors = {k: torch.tensor([w[k][:length] for w in batch]) for k in ("input_ids", "attention_mask", "token_type_ids")}
        starts, ends = torch.tensor([w["start"] for w in batch]), torch.tensor([w["end"] for w in batch])
        if recipe.no_answer_weight == 1.0:
            return model(**tensors, start_positions=starts, end_positions=ends).loss
        out = model(**tensors)
        return weighted_span_loss(out.start_logits, out.end_logits, starts, ends, recipe.no_answer_weight)

    identity = {"recipe": asdict(recipe), "windows": len(windows_)}
    return train_resumable(
        model, windows_, folder, identity, loss_of, seed=recipe.seed, epochs=recipe.epochs, batch_size=recipe.batch_size,
        learning_rate=recipe.learning_rate, checkpoint_every=recipe.checkpoint_every, bf16=recipe.bf16, unit="windows", log=log,
    )  # fmt: skip


def weighted_span_loss(start_logits, end_logits, starts, ends, no_answer_weight: float):
    """The span loss (cross-entropy over start and end, averaged) with each window whose target is "no answer"
    ([CLS], position 0) weighing ``no_answer_weight`` times as much: at 1.0, transformers' own QA loss."""
    import torch

    each = torch.nn.functional.cross_entropy(start_logits.float(), starts, reduction="none")
    each = each + torch.nn.functional.cross_entropy(end_logits.float(), ends, reduction="none")
    weights = 1.0 + (no_answer_weight - 1.0) * (starts == 0).float()
    return (each * weights).sum() / weights.sum() / 2


def finish(
    model,
    tokenizer,
    data_dir: Path,
    out_dir: Path,
    recipe: SpanRecipe,
    stats: dict,
    per_domain: int | None = None,
    target: float | None = None,
    log=print,
) -> dict:
    """Export (int8 weights, run in fp32 on every CPU), fit the calibration on the VALIDATION mix, measure on
    TEST, write metrics.json and the model card: what ``assistant train-reader --recalibrate`` repeats later."""
    from assistant.training.calibrate import SPAN_PRECISION_TARGET, calibrate_and_measure
    from assistant.training.card import write_span_card
    from assistant.training.export import export

    started = time.perf_counter()
    fp32 = export(model, tokenizer, out_dir, quantize=True, outputs=("start_logits", "end_logits"))
    fp32.unlink(missing_ok=True)
    target = target or SPAN_PRECISION_TARGET
    figures, calibration = calibrate_and_measure(data_dir, out_dir, recipe.seed, per_domain, None, target, log, kind="span")
    figures["recipe"] = asdict(recipe) | stats | {"finish_seconds": round(time.perf_counter() - started, 1)}
    (out_dir / "metrics.json").write_text(json.dumps(figures, indent=1))
    write_span_card(out_dir, figures, calibration)
    return figures


def run(
    data_dir: Path,
    checkpoints: Path,
    out_dir: Path,
    recipe: SpanRecipe,
    max_questions: int | None = None,
    sample: int | None = None,
    target: float | None = None,
    log=print,
    init: Path | None = None,
) -> dict:
    """The whole recipe: train (or continue) in ``checkpoints``, then ``finish`` into ``out_dir``.
    ``sample`` is a quick check: that many questions and small calibration mixes. ``init``: a trained
    reader's weights (a run's ``model`` folder) to start from instead of the bundled MiniLM."""
    from transformers import AutoTokenizer

    from assistant.datasets.splits import read_rows
    from assistant.settings import bundled_model_path

    max_questions = sample or max_questions
    every = read_rows(data_dir)
    rows = focused_rows(training_rows(every, recipe.seed, max_questions), recipe)
    rows += same_type_rows(every, recipe.same_type, recipe.seed)
    rows += predicate_swaps(every, recipe.predicate_swaps, recipe.seed)
    rows += passage_name_swaps(every, recipe.passage_name_swaps, recipe.seed)
    rows = [r for r in rows if recipe.name_swaps or not r["id"].endswith("-name")]
    source = init  # what the card names: the folder given, not the checkpoint's copy of its weights
    if init is not None and not (init / "config.json").is_file():  # a shipped reader: its int8 weights, dequantized
        from assistant.training.export import recovered_model

        recovered_model(init)[0].save_pretrained(str(checkpoints / "init"))
        init = checkpoints / "init"
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    prepared = windows(tokenizer, rows, recipe.max_length, recipe.doc_stride)
    log(f"{len(rows)} questions, {len(prepared)} windows")
    model = train(prepared, init or bundled_model_path(), checkpoints, recipe, log=log)
    model.save_pretrained(str(checkpoints / "model"))
    tokenizer.save_pretrained(str(checkpoints / "model"))
    stats = {
        "max_questions": max_questions, "questions": len(rows), "unanswerable": sum(not r["answerable"] for r in rows),
        "near_misses_made": sum(r["id"].endswith(("-year", "-name")) for r in rows),
        "same_type_made": sum(r["id"].endswith(("-without", "-typed")) for r in rows),
        "predicate_swaps_made": sum(r["id"].endswith("-opposite") for r in rows),
        "passage_name_swaps_made": sum(r["id"].endswith("-swapped") for r in rows),
        "windows": len(prepared), "device": "cpu", "init": str(source) if source else None,
    }  # fmt: skip
    return finish(model, tokenizer, data_dir, out_dir, recipe, stats, sample and max(8, sample // 4), target, log)


def main(argv: list[str] | None = None) -> None:
    import argparse

    from assistant.answering.span_reader import SPAN_READER_DIR

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/training"))
    parser.add_argument("--checkpoints", type=Path, required=True, help="a folder outside git; reused to continue a run")
    parser.add_argument("--out", type=Path, default=SPAN_READER_DIR, help="where the trained reader goes")
    parser.add_argument("--max-questions", type=int, help="answerable and near-miss questions before the made unanswerable ones")
    parser.add_argument("--sample", type=int, help="a quick check of the recipe: this many questions, small mixes")
    parser.add_argument("--recipe", type=json.loads, default={}, help="overrides as JSON, e.g. '{\"batch_size\": 32}'")
    parser.add_argument("--init", type=Path, help="a trained reader's weights: a run's model folder or a shipped reader")
    args = parser.parse_args(argv)
    log = lambda line: print(line, flush=True)  # noqa: E731
    recipe = SpanRecipe(**args.recipe)
    figures = run(args.data, args.checkpoints, args.out, recipe, args.max_questions, args.sample, log=log, init=args.init)
    log(json.dumps({k: figures[k]["overall"] for k in ("validation", "test")}, indent=1))


if __name__ == "__main__":
    main()
