"""Evaluate: deterministic answer-quality metrics on a gold set (no LLM judge), reports and comparison.

Gold format, one JSON object per line::

    {"id": "a01", "question": "...", "answerable": true,
     "facts": ["300 metres", "re:300 ?m(etres)?"],
     "sources": [{"document": "file-name.txt", "contains": "300 metres"}],
     "history": [{"role": "user", "content": "..."}]}

``facts`` are any-of: plain strings match case-insensitively, ``re:`` strings are regular
expressions. ``sources`` (or a single ``"source": "file-name.txt"``) name the documents, by file
name, that retrieval should find, optionally with text the retrieved passage must contain.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from assistant.answering.answer import Answer
from assistant.facade import Assistant

ABSENCE = ("not_stated", "not_found")  # the outcomes that claim the documents do not hold the answer
GATE_METRICS = ("answered_with_cited_fact", "refused_unanswerable")
BATCH_METRICS = (*GATE_METRICS, "useful", "false_assertion", "answered_share", "confident_precision", "false_absence")
CALIBRATION_BINS = 10


def load_gold(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            if "question" not in row:
                raise ValueError(f"{path}:{number}: a gold row needs a question")
            row.setdefault("id", f"q{number}")
            rows.append(row)
    return rows


def fact_matches(fact: str, text: str) -> bool:
    if fact.startswith("re:"):
        return re.search(fact[3:], text, re.I) is not None
    return fact.lower() in text.lower()


def expected_sources(gold: dict) -> list[dict]:
    sources = gold.get("sources") or ([gold["source"]] if gold.get("source") else [])
    return [{"document": s} if isinstance(s, str) else s for s in sources]


@dataclass
class GoldResult:
    gold: dict
    answer: Answer
    seconds: float = 0.0

    @property
    def answerable(self) -> bool:
        return bool(self.gold.get("answerable", True))

    @property
    def facts(self) -> list[str]:
        return list(self.gold.get("facts", []))

    @property
    def fact_in_answer(self) -> bool:
        return not self.answer.abstained and any(fact_matches(f, self.answer.answer) for f in self.facts)

    @property
    def fact_cited(self) -> bool:
        """An answer sentence holding an expected fact cites a passage that holds it too."""
        quotes = {c.n: c.quote for c in self.answer.citations}
        return not self.answer.abstained and any(
            fact_matches(f, sentence.text) and any(fact_matches(f, quotes.get(n, "")) for n in sentence.cites)
            for sentence in self.answer.sentences
            for f in self.facts
        )

    @property
    def fact_quoted(self) -> bool:
        """An expected fact is in a cited quote, whether the answer states it or quotes the closest passage."""
        return self.answer.outcome != "not_found" and any(
            fact_matches(f, c.quote) for c in self.answer.citations for f in self.facts
        )

    @property
    def best_holds_fact(self) -> bool:
        """What the confidence predicts: the best sentence (the first cited) holds an expected fact."""
        first = self.answer.citations[0].quote if self.answer.citations else ""
        return self.answerable and any(fact_matches(f, first) for f in self.facts)

    @property
    def correct(self) -> bool:
        return self.fact_cited if self.answerable else self.answer.abstained

    @property
    def source_rank(self) -> int | None:
        """Rank of the first retrieved passage from an expected source (and holding its text), if any."""
        wanted = expected_sources(self.gold)
        if not wanted:
            return None
        for passage in self.answer.retrieved:
            name = Path(passage["path"]).name
            for source in wanted:
                if name == source["document"]:
                    contains = source.get("contains")
                    if not contains or fact_matches(contains, passage.get("text", "")):
                        return passage["rank"]
        return 0  # expected, not found

    def to_json(self) -> dict:
        return {
            "id": self.gold["id"],
            "question": self.gold["question"],
            "history": self.gold.get("history", []),
            "answerable": self.answerable,
            "facts": self.facts,
            "correct": self.correct,
            "fact_in_answer": self.fact_in_answer,
            "fact_cited": self.fact_cited,
            "fact_quoted": self.fact_quoted,
            "outcome": self.answer.outcome,
            "confidence": self.answer.confidence,
            "source_rank": self.source_rank,
            "seconds": round(self.seconds, 4),
            "answer": {k: v for k, v in self.answer.to_json().items() if k != "timings"},
        }


def run_gold(assistant: Assistant, gold: list[dict], mode: str | None = None) -> list[GoldResult]:
    results = []
    for row in gold:
        started = time.perf_counter()
        answer = assistant.ask(row["question"], row.get("history"), mode=mode)
        results.append(GoldResult(row, answer, time.perf_counter() - started))
    return results


def _share(hits: list[bool]) -> float | None:
    return round(sum(hits) / len(hits), 4) if hits else None


def metrics(results: list[GoldResult]) -> dict:
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    refused = [r for r in results if r.answer.abstained]
    # Generated claims only: an extractive sentence is the cited text itself, supported by construction.
    cited_sentences = [s for r in results if r.answer.mode == "generative" for s in r.answer.sentences if s.cites]
    ranks = [r.source_rank for r in answerable if r.source_rank is not None]
    latencies = sorted(r.seconds * 1000 for r in results)
    k = max((len(r.answer.retrieved) for r in results), default=0)
    return {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answer_correct": _share([r.fact_in_answer for r in answerable]),
        "answered_with_cited_fact": _share([r.fact_cited for r in answerable]),
        "citation_precision": _share([s.verdict == "supported" for s in cited_sentences]),
        "abstention_precision": _share([not r.answerable for r in refused]),
        "abstention_recall": _share([r.answer.abstained for r in unanswerable]),
        "refused_unanswerable": _share([r.answer.abstained for r in unanswerable]),
        "useful": _share([r.fact_quoted for r in answerable]),  # the shown rate: the fact is in a shown quote, any outcome
        "false_assertion": _share([r.answer.outcome == "answered" for r in unanswerable]),
        "answered_share": _share([r.answer.outcome == "answered" for r in answerable]),
        "confident_precision": _share([r.answerable and r.fact_cited for r in results if r.answer.outcome == "answered"]),
        "calibration_ece": expected_calibration_error(results),
        # Every claim is measured: answers (above), claims of absence, and what was shown without a claim.
        "false_absence": _share([r.answer.outcome in ABSENCE for r in answerable]),  # told the answer is not there
        "absence_precision": _share([not r.answerable for r in results if r.answer.outcome in ABSENCE]),
        "denied_unanswerable": _share([r.answer.outcome in ABSENCE for r in unanswerable]),  # not merely hedged
        "outcome_answered": sum(r.answer.outcome == "answered" for r in results),
        "outcome_uncertain": sum(r.answer.outcome == "uncertain" for r in results),
        "outcome_not_stated": sum(r.answer.outcome == "not_stated" for r in results),
        "outcome_not_found": sum(r.answer.outcome == "not_found" for r in results),
        f"retrieval_hit@{k}": _share([rank > 0 for rank in ranks]),
        "retrieval_mrr": round(sum(1 / rank for rank in ranks if rank > 0) / len(ranks), 4) if ranks else None,
        "latency_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "latency_p95_ms": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 1) if latencies else None,
    }


def expected_calibration_error(results: list[GoldResult]) -> float | None:
    """Mean |confidence - accuracy| over equal-width confidence bins, weighted by their size."""
    scored = [(r.answer.confidence, r.best_holds_fact) for r in results if r.answer.confidence is not None]
    if not scored:
        return None
    total = 0.0
    for b in range(CALIBRATION_BINS):
        low, high = b / CALIBRATION_BINS, (b + 1) / CALIBRATION_BINS
        members = [(c, ok) for c, ok in scored if low <= c < high or (b == CALIBRATION_BINS - 1 and c == 1.0)]
        if members:
            confidence = sum(c for c, _ in members) / len(members)
            accuracy = sum(ok for _, ok in members) / len(members)
            total += len(members) * abs(confidence - accuracy)
    return round(total / len(scored), 4)


def batch_metrics(results: list[GoldResult], cuts: list[int]) -> list[dict]:
    """The headline metrics for consecutive slices of the gold set (the batches it was written in)."""
    edges = [0, *sorted(c for c in cuts if 0 < c < len(results)), len(results)]
    slices = [(f"{a + 1}-{b}", metrics(results[a:b])) for a, b in zip(edges, edges[1:])]
    return [{"batch": name} | {k: v for k, v in measured.items() if k in BATCH_METRICS} for name, measured in slices]


def evaluate(assistant: Assistant, gold_path: Path, mode: str | None = None, batches: list[int] | None = None) -> dict:
    """Answer every gold question and return the report: metrics and every question's outcome."""
    from assistant.answering.llm import describe

    mode = mode or assistant.answer_modes[-1]
    results = run_gold(assistant, load_gold(gold_path), mode)
    return {
        "gold": str(gold_path),
        "backend": f"generative: {describe(assistant.settings)}" if mode == "generative" else "extractive",
        "settings": {
            "top_k": assistant.settings.top_k,
            "model": assistant.settings.model_name,
            "reader": str(assistant.settings.reader_path or "shipped"),
        },
        "metrics": metrics(results),
        "batches": batch_metrics(results, batches or []),
        "fallbacks": sum(bool(r.answer.notice) for r in results),
        "questions": [r.to_json() for r in results],
    }


def metrics_table(report: dict, previous: dict | None = None) -> str:
    rows = [f"{'metric':28} {'value':>9}" + (f" {'before':>9} {'change':>8}" if previous else "")]
    for key, value in report["metrics"].items():
        line = f"{key:28} {_fmt(value):>9}"
        if previous:
            old = previous["metrics"].get(key)
            change = value - old if isinstance(value, int | float) and isinstance(old, int | float) else None
            line += f" {_fmt(old):>9} {('+' if change and change > 0 else '') + _fmt(change) if change else '':>8}"
        rows.append(line)
    if report.get("batches") and len(report["batches"]) > 1:
        keys = [k for k in report["batches"][0] if k != "batch"]
        rows += ["", "per batch " + " ".join(f"{k[:14]:>14}" for k in keys)]
        rows += [f"{b['batch']:9} " + " ".join(f"{_fmt(b[k]):>14}" for k in keys) for b in report["batches"]]
    return "\n".join(rows)


def compare(report: dict, previous: dict) -> dict[str, list[str]]:
    """Question ids that went from wrong to right and from right to wrong."""
    before = {q["id"]: q["correct"] for q in previous["questions"]}
    return {
        "improved": [q["id"] for q in report["questions"] if q["correct"] and before.get(q["id"]) is False],
        "regressed": [q["id"] for q in report["questions"] if not q["correct"] and before.get(q["id"]) is True],
    }


def markdown_report(report: dict, previous: dict | None = None) -> str:
    lines = [f"# Evaluation: `{report['gold']}` ({report['backend']})", "", "| metric | value |", "|---|---|"]
    lines += [f"| {key} | {_fmt(value)} |" for key, value in report["metrics"].items()]
    if previous:
        flips = compare(report, previous)
        lines += ["", f"Against `{previous['gold']}` ({previous['backend']}): improved {', '.join(flips['improved']) or '—'}; "
                  f"regressed {', '.join(flips['regressed']) or '—'}."]  # fmt: skip
    failures = [q for q in report["questions"] if not q["correct"]]
    lines += ["", f"## Failures ({len(failures)})", ""]
    for q in failures:
        lines += _question_markdown(q, detailed=True)
    lines += ["", f"## Passed ({len(report['questions']) - len(failures)})", ""]
    lines += [f"- `{q['id']}` {q['question']}" for q in report["questions"] if q["correct"]]
    return "\n".join(lines) + "\n"


def _question_markdown(q: dict, detailed: bool) -> list[str]:
    answer = q["answer"]
    expected = "answerable, expects " + " | ".join(f"`{f}`" for f in q["facts"]) if q["answerable"] else "unanswerable"
    lines = [f"### `{q['id']}` {q['question']}", "", f"- expected: {expected}"]
    if q["history"]:
        lines.append("- history: " + " / ".join(turn["content"] for turn in q["history"] if turn.get("role") == "user"))
    lines.append(f"- answer ({answer['outcome']}, confidence {answer['confidence']}): {answer['answer']}")
    for c in answer["citations"]:
        lines.append(f"  - [{c['n']}] `{Path(c['path']).name}` {c['start']}–{c['end']}, support {c['support']}: {c['quote']}")
    if detailed:
        lines.append(f"- retrieved (expected source at rank {q['source_rank']}):")
        for p in answer["retrieved"]:
            lines.append(f"  {p['rank']}. `{Path(p['path']).name}` {p['start']}–{p['end']} (score {p['score']}): "
                         f"{' '.join(p.get('text', '').split())[:300]}")  # fmt: skip
    return [*lines, ""]


def _fmt(value) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
