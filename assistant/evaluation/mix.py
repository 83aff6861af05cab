"""The reader's decision measured on the held-out question mixes of ``assistant/datasets/mix.py``, per domain and kind.

``assistant eval mix --data ../shared/training`` measures the reader in use on the TEST mix (or
VALIDATION, with ``--split``); ``assistant eval GOLD.jsonl`` prints the figures stored with the
reader beside its own, so a shift between the seed questions and the mix shows up. The calibration
(``assistant/training/calibrate.py``) fits its thresholds on what ``run_mix`` reads here.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from assistant.datasets.mix import KINDS, QUESTIONS_PER_DOMAIN, MixQuestion, build_mix, file_name, proportions, write_corpus
from assistant.datasets.splits import read_rows

TOP_K = 5  # passages read per question, as Settings.top_k
FILTER_DEPTH = 200  # candidates fused before a kind's filter leaves passages out
RELIABILITY_BINS = 10


@dataclass
class Example:
    """One mix question with the candidates the answerer read for it."""

    question: MixQuestion
    candidates: list


@dataclass
class Decided:
    example: Example
    outcome: str
    confidence: float
    related: float
    first_holds: bool  # the first cited sentence holds the answer
    any_holds: bool  # some cited sentence does (answered or quoted)


def _overlaps(record, spans: list[tuple[int, int]]) -> bool:
    return any(record.start < end and start < record.end for start, end in spans)


def _keep(question: MixQuestion, doc_id: str, text: str, single_paragraph: bool):
    """Which retrieved chunks a question of this kind may be answered from (None: all of them)."""
    if question.kind in ("answerable", "near_miss"):
        return None
    answers = [a.lower() for a in question.answers]
    paragraph = text.find(question.row["context"])
    if paragraph < 0:
        removed = []
    elif single_paragraph:  # a post or review: only the answer's own characters can go
        removed = [(paragraph + a["start"], paragraph + a["start"] + len(a["text"])) for a in question.row["answers"]]
    else:
        removed = [(paragraph, paragraph + len(question.row["context"]))]

    distractor = None
    if question.kind == "same_type":  # only the chunks of the one paragraph that holds a thing of the answer's type
        at = text.find(question.distractor)
        distractor = [(at, at + len(question.distractor))] if at >= 0 else []

    def keep(record) -> bool:
        lowered = record.text.lower()
        if any(a in lowered for a in answers):
            return False
        if question.kind == "off_topic":
            return record.doc_id != doc_id
        if distractor is not None:
            return record.doc_id == doc_id and _overlaps(record, distractor) and not _overlaps(record, removed)
        return record.doc_id == doc_id and not _overlaps(record, removed)

    return keep


def run_mix(mix: list[MixQuestion], documents: dict[str, list[str]], encoder, reader, scratch: Path, log=print):
    """Index the mix's documents, then retrieve and read every question; returns (examples, answerer)."""
    from assistant.answering.extractive import ExtractiveAnswerer
    from assistant.facade import Assistant
    from assistant.settings import Settings

    write_corpus(documents, scratch / "corpus")
    settings = Settings(corpus_dir=scratch / "corpus", index_dir=scratch / "index", reader_path=reader.folder)
    assistant = Assistant(settings, encoder=encoder, reader=reader)
    started = time.perf_counter()
    report = assistant.ingest()
    log(f"mix indexed: {len(documents)} documents, {report.chunks_embedded} chunks in {time.perf_counter() - started:.0f} s")
    index, retriever = assistant.index, assistant.retriever
    answerer = ExtractiveAnswerer(index.bm25().idf, reader, settings.max_answer_sentences)
    by_name = {Path(d.path).name: d.doc_id for d in index.catalog.documents()}
    texts = {doc_id: index.catalog.document_text(doc_id) or "" for doc_id in by_name.values()}
    examples = []
    for n, question in enumerate(mix, start=1):
        doc_id = by_name[file_name(question.document)]
        keep = _keep(question, doc_id, texts[doc_id], len(documents[question.document]) == 1)
        chunks = retriever.retrieve(question.question, TOP_K, keep, FILTER_DEPTH if keep else None)
        if chunks:  # a one-chunk document has nothing left once its answer is removed
            examples.append(Example(question, answerer.read(question.question, chunks)))
        if n % 200 == 0:
            log(f"  {n}/{len(mix)} questions read ({time.perf_counter() - started:.0f} s)")
    return examples, answerer


def decide_all(examples: list[Example], answerer, calibration) -> list[Decided]:
    from assistant.answering.calibration import related_features

    answerer.calibration = calibration
    decided = []
    for example in examples:
        answer = answerer.decide(example.question.question, example.candidates)
        quotes = [c.quote for c in answer.citations] if answer.outcome != "not_found" else []
        decided.append(Decided(
            example, answer.outcome, answer.confidence or 0.0,
            calibration.related.probability(related_features(example.candidates)),
            bool(quotes) and example.question.holds_answer(quotes[0]),
            any(example.question.holds_answer(q) for q in quotes),
        ))  # fmt: skip
    return decided


def _share(hits: list[bool]) -> float | None:
    return round(sum(hits) / len(hits), 4) if hits else None


ABSENCE = ("not_stated", "not_found")  # the outcomes that claim the documents do not hold the answer
OUTCOMES = ("answered", "uncertain", "not_stated", "not_found")


def figures(decided: list[Decided]) -> dict:
    """The outcome figures for one group of questions (any mix of kinds): every claim's precision among them."""
    answerable = [d for d in decided if d.example.question.kind == "answerable"]
    negatives = [d for d in decided if d.example.question.kind != "answerable"]
    answered = [d for d in decided if d.outcome == "answered"]
    absent = [d for d in decided if d.outcome in ABSENCE]
    return {
        "questions": len(decided),
        "outcomes": {outcome: sum(d.outcome == outcome for d in decided) for outcome in OUTCOMES},
        "answered_share": _share([d.outcome == "answered" for d in answerable]),  # of the answerable
        "answered_with_answer": _share([d.outcome == "answered" and d.first_holds for d in answerable]),
        "useful": _share([d.any_holds for d in answerable]),  # the answer is in a cited sentence, answered or quoted
        "false_not_found": _share([d.outcome == "not_found" for d in answerable]),
        "false_absence": _share([d.outcome in ABSENCE for d in answerable]),  # told the answer is not there
        "false_assertion": _share([d.outcome == "answered" for d in negatives]),
        "not_found_share_of_negatives": _share([d.outcome == "not_found" for d in negatives]),
        "denied_share_of_negatives": _share([d.outcome in ABSENCE for d in negatives]),  # not merely hedged
        "answered_precision": _share([d.any_holds for d in answered]),  # a cited sentence holds the answer
        "absence_precision": _share([d.example.question.kind != "answerable" for d in absent]),
        "not_stated_precision": _share([d.example.question.kind != "answerable" for d in absent if d.outcome == "not_stated"]),
        "not_found_precision": _share([d.example.question.kind != "answerable" for d in absent if d.outcome == "not_found"]),
        "top_sentence_holds_answer": _share([d.first_holds for d in answerable]),
    }


def reliability(decided: list[Decided]) -> tuple[list[dict], float]:
    """Confidence bins against how often the first cited sentence holds the answer, and the ECE."""
    bins, total = [], 0.0
    for b in range(RELIABILITY_BINS):
        low, high = b / RELIABILITY_BINS, (b + 1) / RELIABILITY_BINS
        members = [d for d in decided if low <= d.confidence < high or (high == 1.0 and d.confidence == 1.0)]
        if members:
            confidence = sum(d.confidence for d in members) / len(members)
            accuracy = sum(d.first_holds for d in members) / len(members)
            total += len(members) * abs(confidence - accuracy)
            bins.append({"bin": f"{low:.1f}-{high:.1f}", "questions": len(members),
                         "mean_confidence": round(confidence, 4), "holds_answer": round(accuracy, 4)})  # fmt: skip
    return bins, round(total / max(1, len(decided)), 4)


def false_assertion_by_kind(decided: list[Decided]) -> dict[str, float | None]:
    """How often each kind of unanswerable question was answered anyway."""
    return {kind: figures([d for d in decided if d.example.question.kind == kind])["false_assertion"] for kind in KINDS[1:]}


def denied_by_kind(decided: list[Decided]) -> dict[str, float | None]:
    """How often each kind of unanswerable question was met with "not stated" or "not found" (not merely hedged)."""
    return {
        kind: figures([d for d in decided if d.example.question.kind == kind])["denied_share_of_negatives"] for kind in KINDS[1:]
    }


def measure(decided: list[Decided]) -> dict:
    """Overall and per domain (with the false assertions per kind of question), the reliability table and the ECE.
    The extra near-misses (``MixQuestion.extra``) count in the per-kind figures only."""
    core = [d for d in decided if not d.example.question.extra]
    by_domain: dict[str, list[Decided]] = defaultdict(list)
    for d in decided:
        by_domain[d.example.question.domain].append(d)
    bins, ece = reliability(core)
    return {
        "overall": figures(core),
        "false_assertion_by_kind": false_assertion_by_kind(decided),
        "denied_by_kind": denied_by_kind(decided),
        "near_misses_measured": sum(d.example.question.kind == "near_miss" for d in decided),
        "by_domain": {
            domain: figures([d for d in rows if not d.example.question.extra])
            | {"false_assertion_by_kind": false_assertion_by_kind(rows), "denied_by_kind": denied_by_kind(rows)}
            for domain, rows in sorted(by_domain.items())
        },
        "reliability": bins,
        "ece": ece,
    }


DOMAIN_ROWS = [
    ("answered share (answerable questions)", "answered_share"),
    ("precision of the answers (a cited sentence holds the answer)", "answered_precision"),
    ("useful (the shown rate): the answer is in a cited sentence, any outcome", "useful"),
    ("told \"not in the documents\" although it is (false not_found)", "false_not_found"),
    ("told \"not stated\" or \"not found\" although it is (false absence)", "false_absence"),
    ("precision of \"not stated\" and \"not found\" (absence precision)", "absence_precision"),
    ("unanswerable met with \"not stated\" or \"not found\"", "denied_share_of_negatives"),
    ("false assertions, all unanswerable kinds", "false_assertion"),
]  # fmt: skip


def cell(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def mix_table(mix: dict[str, dict[str, int]]) -> str:
    kinds = list(next(iter(mix.values())))
    lines = ["| domain | " + " | ".join(kinds) + " |", "|---" * (len(kinds) + 1) + "|"]
    lines += [f"| {domain} | " + " | ".join(str(counts[k]) for k in kinds) + " |" for domain, counts in mix.items()]
    return "\n".join(lines)


def domain_table(measured: dict, before: dict | None = None) -> str:
    """Rows: the outcome figures, then false assertions and denials per kind; columns: all, then each domain.
    A figure an older measurement lacks shows as –."""
    domains = list(measured["by_domain"])
    lines = ["| figure | all | " + " | ".join(domains) + " |", "|---" * (len(domains) + 2) + "|"]

    def row(label: str, value_of) -> None:
        cells = [cell(value_of(measured))] + [cell(value_of(measured["by_domain"][d])) for d in domains]
        if before:
            cells[0] += f" (before {cell(value_of(before))})"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    for label, key in DOMAIN_ROWS:
        row(label, lambda m, key=key: m.get("overall", m).get(key))
    for group, label in (("false_assertion_by_kind", "false assertions"), ("denied_by_kind", "denied (not stated / not found)")):
        for kind in measured.get(group, {}):
            row(f"{label}, {kind.replace('_', '-')}", lambda m, group=group, kind=kind: m.get(group, {}).get(kind))
    return "\n".join(lines)


def reliability_table(measured: dict) -> str:
    lines = ["| confidence | questions | mean confidence | first cited sentence holds the answer | |", "|---|---|---|---|---|"]
    for b in measured["reliability"]:
        bar = "█" * round(20 * b["holds_answer"])
        lines.append(f"| {b['bin']} | {b['questions']} | {b['mean_confidence']:.3f} | {b['holds_answer']:.3f} | `{bar:<20}` |")
    return "\n".join(lines)


def run(data_dir: Path, split: str, encoder, reader, seed: int = 13, per_domain: int | None = None, log=print) -> dict:
    """Index the split's mix in a scratch folder, answer every question with the reader's calibration, measure."""
    mix, documents = build_mix(read_rows(data_dir), split, seed, per_domain or QUESTIONS_PER_DOMAIN)
    with tempfile.TemporaryDirectory() as scratch:
        examples, answerer = run_mix(mix, documents, encoder, reader, Path(scratch) / split, log)
        measured = measure(decide_all(examples, answerer, reader.calibration))
    return {"split": split, "mix": proportions([e.question for e in examples]), **measured}


def table(measured: dict) -> str:
    mix = mix_table(measured["mix"])
    counts = f"questions per domain and kind:\n{mix}"
    if measured.get("near_misses_measured"):
        counts += f"\n\nnear-miss rows: {measured['near_misses_measured']} written near-misses (mix.EXTRA_NEAR_MISSES)"
    return f"{counts}\n\n{domain_table(measured)}\n\nECE (expected calibration error) {measured['ece']:.3f}"


def stored_table(reader_dir: Path) -> str | None:
    """The TEST-mix figures measured when the reader was calibrated (its metrics.json), if it has them."""
    path = reader_dir / "metrics.json"
    figures = json.loads(path.read_text()) if path.is_file() else {}
    if "by_domain" not in figures.get("test", {}):
        return None
    return table(figures["test"] | {"mix": figures["mix"]["test"]})
