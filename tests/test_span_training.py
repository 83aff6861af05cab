"""The span reader's training (assistant/training/span.py): windows over long passages, and a run killed
with SIGKILL that continues from its checkpoint to the same weights as an uninterrupted run."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from assistant.settings import bundled_model_path
from assistant.training.span import (
    SpanRecipe,
    focused_rows,
    near_misses,
    passage_name_swaps,
    predicate_swaps,
    same_type_rows,
    train,
    weighted_span_loss,
    windows,
)

ROOT = Path(__file__).resolve().parent.parent
SHORE = "The French Government recently announced that officers could intercept boats leaving within 300 metres of the shoreline."
UNION = "Alliance, the largest police union in France, has said it is too dangerous for its members to carry out arrests at sea."
WEIGHT_TOLERANCE = 5e-4  # the measured spread between two runs, with room (test_a_killed_run_continues_...)
LOGIT_TOLERANCE = 1e-3  # PyTorch against onnxruntime over the same fp32 weights (measured below 1e-4)
RECIPE = SpanRecipe(max_length=64, doc_stride=16, batch_size=2, epochs=3.0, checkpoint_every=2)


def rows() -> list[dict]:
    def row(question, context, answer):
        answers = [{"text": answer, "start": context.index(answer)}] if answer else []
        return {"question": question, "context": context, "answerable": bool(answer), "answers": answers}

    return [
        row("Within what distance can officers intercept boats?", SHORE, "300 metres"),
        row("Who announced the policy?", SHORE, "The French Government"),
        row("Which union called it too dangerous?", UNION, "Alliance"),
        row("What is too dangerous?", UNION, "to carry out arrests at sea"),
        row("What is the capital of Germany?", UNION, None),
        row("How many boats crossed?", SHORE, None),
    ]


def prepared() -> list[dict]:
    from transformers import AutoTokenizer

    return windows(AutoTokenizer.from_pretrained(str(bundled_model_path())), rows(), RECIPE.max_length, RECIPE.doc_stride)


def run(folder: str) -> None:
    """Entry point of the training subprocesses."""
    train(prepared(), bundled_model_path(), Path(folder), RECIPE, log=lambda line: print(line, flush=True))


def test_near_misses_change_a_year_or_a_name_to_one_the_passage_never_mentions():
    import random

    context = "In 2019 the Home Office counted 1,843 crossings; Yvette Cooper said in 2024 that France must act."
    asked = [
        {"id": "a", "question": "How many crossings did the Home Office count in 2019?", "context": context,
         "answerable": True, "answers": [{"text": "1,843", "start": context.index("1,843")}]},
        {"id": "b", "question": "What did Rishi Sunak want Germany to do?", "context": SHORE, "answerable": True,
         "answers": [{"text": "act", "start": 0}]},
    ]  # fmt: skip
    made = near_misses(asked * 30, random.Random(1))
    years = [r for r in made if r["id"] == "a-year"]
    names = [r for r in made if r["id"] == "a-name"]
    assert years and names and all(not r["answerable"] and not r["answers"] for r in made)
    for row in years:
        year = row["question"].split(" in ")[-1].rstrip("?")
        assert year.isdigit() and year not in context and row["question"].replace(year, "2019") == asked[0]["question"]
    for row in names:  # a name of the passage replaced by a name of as many words from another question
        assert row["question"] == "How many crossings did the Rishi Sunak count in 2019?"
    assert not [r for r in made if r["id"].startswith("b")]  # no year in it, and its names are not in its passage


def test_a_focused_fine_tune_keeps_its_datasets_repeats_their_written_near_misses_and_replays_others():
    def row(dataset, n, answerable, suffix=""):
        return {"dataset": dataset, "id": f"{dataset}-{n}{suffix}", "answerable": answerable}

    squad = [row("squad2-dev", 1, True), row("squad2-dev", 2, False), row("squad2-train", 3, False, "-year")]
    others = [row("qed-nq", n, True) for n in range(20)]
    recipe = SpanRecipe(focus="squad2", replay=5, near_miss_repeats=3)

    chosen = focused_rows(squad + others, recipe)

    ids = [r["id"] for r in chosen]
    assert ids[:3] == [r["id"] for r in squad]  # every row of the focus
    # the written near-miss twice more; the one made here (-year) and the answerable one not
    assert ids[3:5] == ["squad2-dev-2-again1", "squad2-dev-2-again2"]
    assert len(ids) == 10 and {r["dataset"] for r in chosen[5:]} == {"qed-nq"} and len(set(ids[5:])) == 5
    assert focused_rows(squad + others, recipe) == chosen  # drawn by the recipe's seed
    assert focused_rows(squad + others, SpanRecipe()) == squad + others  # no focus: every row, as before


def test_a_passage_longer_than_the_window_is_read_in_windows_with_the_answer_in_the_second():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    context = "The beach at Calais was quiet that morning. " * 12 + SHORE
    question = "Within what distance can officers intercept boats?"
    long_row = {"question": question, "context": context, "answerable": True,
                "answers": [{"text": "300 metres", "start": context.index("300 metres")}]}  # fmt: skip
    found = windows(tokenizer, [long_row], max_length=96, doc_stride=24)
    assert len(found) >= 2
    assert found[0]["start"] == 0 and found[0]["end"] == 0  # the first window does not hold it: no answer there
    holding = [w for w in found if w["start"] > 0]
    assert holding and found.index(holding[0]) >= 1
    w = holding[0]
    assert tokenizer.decode(w["input_ids"][w["start"] : w["end"] + 1]) == "300 metres"


def test_a_killed_run_continues_from_its_checkpoint_to_the_same_weights(tmp_path):
    uninterrupted = tmp_path / "whole"
    done = subprocess.run([sys.executable, "-c", f"from tests.test_span_training import run; run({str(uninterrupted)!r})"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]

    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-c", f"from tests.test_span_training import run; run({str(killed)!r})"],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
    for line in process.stdout:  # the first checkpoint is written: kill it in the middle of the run
        if line.startswith("step 2/"):
            break
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    time.sleep(0.1)

    resumed = subprocess.run([sys.executable, "-c", f"from tests.test_span_training import run; run({str(killed)!r})"],
                             cwd=ROOT, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "continuing from step" in resumed.stdout
    whole = torch.load(uninterrupted / "checkpoint.pt", weights_only=False)
    again = torch.load(killed / "checkpoint.pt", weights_only=False)
    assert whole["step"] == again["step"] == 9  # 6 windows x 3 epochs / batch 2
    # every step taken once, by the optimiser's own count (a resume that repeated or skipped steps would differ)
    assert {int(s["step"]) for s in again["optimiser"]["state"].values()} == {9}
    # Two uninterrupted runs of this recipe differed by up to 8.6e-5 in a weight on an AMX machine (CPU kernels
    # are not bit-reproducible between processes there); the resumed run by 7e-6. A step missed or repeated moves
    # weights by about the learning rate, 5e-5, in every tensor at once, which the optimiser's count above catches.
    worst = max(float((tensor - again["model"][name]).abs().max()) for name, tensor in whole["model"].items())
    assert worst <= WEIGHT_TOLERANCE, f"resumed weights {worst:.2e} from the uninterrupted run's"


def test_a_checkpoint_of_another_recipe_is_refused(tmp_path):
    run(str(tmp_path))
    other = SpanRecipe(max_length=64, doc_stride=16, batch_size=3, epochs=3.0, checkpoint_every=2)
    try:
        train(prepared(), bundled_model_path(), tmp_path, other, log=lambda line: None)
    except ValueError as exc:
        assert "another run" in str(exc)
    else:
        raise AssertionError("a checkpoint of another recipe was used")


TRAINING_DATA = ROOT.parent / "shared" / "training"


@pytest.mark.skipif(not (TRAINING_DATA / "span_qa.jsonl.gz").is_file(), reason="no ../shared/training here")
def test_the_training_command_runs_end_to_end_on_a_tiny_sample(tmp_path, seed_assistant):
    import json
    import os

    out = tmp_path / "span_reader"
    done = subprocess.run(
        [sys.executable, "-m", "assistant.training.span", "--data", str(TRAINING_DATA), "--checkpoints",
         str(tmp_path / "run"), "--out", str(out), "--sample", "16", "--recipe", '{"max_length": 96, "doc_stride": 32}'],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("model.onnx", "tokenizer.json", "calibration.json", "metrics.json", "README.md"):
        assert (out / name).is_file(), name
    figures = json.loads((out / "metrics.json").read_text())
    assert figures["recipe"]["max_length"] == 96 and figures["recipe"]["questions"] >= 16
    assert figures["test"]["overall"]["questions"] > 0 and 0 <= figures["test"]["ece"] <= 1
    asked = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ask", "Who is the Shadow Home Secretary?", "--json", "--index",
         str(seed_assistant.settings.index_dir), "--reader", str(out)],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "ASSISTANT_READER": "span"},
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["outcome"] in ("answered", "uncertain", "not_stated", "not_found")


def test_same_type_rows_ask_a_question_of_a_passage_with_a_thing_of_its_type_but_not_its_answer():
    paragraphs = {
        "Miners": ["The strike began in 1984. It ended in 1985 after a year of talks.", "Talks resumed in 1991 in London."],
        "Ports": ["Calais opened a terminal in 1994. It cost a fortune.", "Dover was bombed in 1940. It was rebuilt by 1950."],
    }
    asked = []
    for title, (first, second) in paragraphs.items():
        for n, (context, year) in enumerate(((first, first.split(" in ")[1][:4]), (second, second.split(" in ")[1][:4]))):
            answers = [{"text": year, "start": context.index(year)}]
            asked.append({"dataset": "squad1-train", "title": title, "id": f"{title}{n}", "question": "When did it happen?",
                          "context": context, "answerable": True, "answers": answers})  # fmt: skip
    asked.append(asked[0] | {"id": "where", "question": "Where did talks resume?"})  # asks for no typed thing: no row

    made = same_type_rows(asked, 10, seed=13)

    assert {r["id"].rsplit("-", 1)[1] for r in made} == {"without", "typed"}
    for row in made:
        source = next(a for a in asked if a["id"] == row["id"].rsplit("-", 1)[0])
        answer = source["answers"][0]["text"]
        assert not row["answerable"] and not row["answers"] and answer not in row["context"]
        assert re.search(r"\b1\d\d\d\b", row["context"])  # a year still there: the wrong date next door
        if row["id"].endswith("-without"):  # its own paragraph less the answer's sentence
            assert row["context"] in source["context"] and row["context"] != source["context"]
        else:  # another paragraph of its own document
            assert row["context"] in paragraphs[source["title"]] and row["context"] != source["context"]
    assert same_type_rows(asked, 10, seed=13) == made  # drawn by the seed


def test_the_no_answer_weight_is_the_plain_qa_loss_at_one_and_weighs_no_answer_windows_above_it():
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    model = AutoModelForQuestionAnswering.from_pretrained(str(bundled_model_path()))
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    encoded = tokenizer(["Who announced it?", "What is too dangerous?"], [SHORE, UNION], padding=True, return_tensors="pt")
    starts, ends = torch.tensor([0, 14]), torch.tensor([0, 19])  # the first window has no answer
    with torch.no_grad():
        out = model(**encoded, start_positions=starts, end_positions=ends)  # transformers' own QA loss
    plain = weighted_span_loss(out.start_logits, out.end_logits, starts, ends, 1.0)
    assert float(plain) == pytest.approx(float(out.loss), rel=1e-6)

    each = torch.nn.functional.cross_entropy(out.start_logits, starts, reduction="none")
    each += torch.nn.functional.cross_entropy(out.end_logits, ends, reduction="none")
    weighted = weighted_span_loss(out.start_logits, out.end_logits, starts, ends, 2.0)
    assert float(weighted) == pytest.approx(float((2 * each[0] + each[1]) / 3 / 2), rel=1e-6)
    assert float(weighted) != pytest.approx(float(plain))  # the no-answer window counts twice


def test_a_shipped_reader_is_recovered_in_pytorch_with_the_logits_it_gives_in_onnx():
    from transformers import AutoTokenizer

    from assistant.answering.span_reader import SPAN_READER_DIR, SpanReader
    from assistant.training.export import recovered_model

    model, outputs = recovered_model(SPAN_READER_DIR)
    question = "Within what distance can officers intercept boats?"
    encoded = AutoTokenizer.from_pretrained(str(bundled_model_path()))([question], [SHORE], return_tensors="pt")
    with torch.no_grad():
        logits = model(**encoded).start_logits[0].numpy()
    window = SpanReader().read(question, [SHORE])[0].windows[0]
    passage = encoded.sequence_ids(0).index(1)  # the passage's first word piece
    assert outputs == ("start_logits", "end_logits")
    # ONNX runs the same dequantized weights with other kernels: the logits agree to float rounding
    assert abs(logits[passage : passage + len(window.starts)] - window.starts).max() < LOGIT_TOLERANCE


def test_predicate_swaps_ask_for_the_opposite_of_what_the_answer_sentence_states():
    context = "The largest city of the region is Leeds. North Africa traded with it. The bridge opened in 1901."
    rows = [
        {"question": "What is the largest city of the region?", "answer": "Leeds"},  # "smallest": never in the passage
        {"question": "What traded with North Africa?", "answer": "North Africa"},  # a name: left alone
        {"question": "When did the bridge open?", "answer": "1901"},  # "open" has no listed opposite
        {"question": "When was the bridge opened, the largest one?", "answer": "1901"},  # "largest" not in its sentence
    ]
    asked = [{"dataset": "squad1-train", "title": "Leeds", "id": f"q{n}", "question": r["question"], "context": context,
              "answerable": True, "answers": [{"text": r["answer"], "start": context.index(r["answer"])}]}
             for n, r in enumerate(rows)]  # fmt: skip

    made = predicate_swaps(asked, 10, seed=13)

    assert [(r["id"], r["question"]) for r in made] == [
        ("q0-opposite", "What is the smallest city of the region?"),
        ("q3-opposite", "When was the bridge closed, the largest one?"),
    ]
    assert all(not r["answerable"] and not r["answers"] and r["context"] == context for r in made)
    assert predicate_swaps(asked, 1, seed=13) == made[:1] and predicate_swaps(asked, 0, seed=13) == []


def test_passage_name_swaps_ask_about_another_name_the_passage_mentions_away_from_the_answer():
    context = "Tesla moved to New York in 1884. Edison stayed in Menlo Park. The Italian press wrote of Marconi."
    asked = [{"dataset": "squad1-train", "title": "Tesla", "id": "q0", "question": "When did Tesla move to New York?",
              "context": context, "answerable": True, "answers": [{"text": "1884", "start": context.index("1884")}]}]  # fmt: skip

    made = passage_name_swaps(asked, 10, seed=13)

    # "New York" is in the answer's sentence, "Menlo Park" has two words, "Italian" is no name to ask about and
    # "Edison" opens a sentence (NAME skips a capital that may only be the sentence's): Marconi is the one left
    assert [r["question"] for r in made] == ["When did Marconi move to New York?"]
    assert made[0]["id"] == "q0-swapped" and not made[0]["answerable"] and made[0]["context"] == context
    assert passage_name_swaps(asked, 10, seed=13) == made and passage_name_swaps(asked, 0, seed=13) == []
