"""Which questions of ../shared/training a reader may train on, and which are held out, by whole document.

One function for every reader and every recipe, so nothing held out for calibration (VALIDATION)
or for figures (TEST) is ever trained on. SQuAD 2.0 articles are held out by name (they carry
the near-miss questions); the SQuADShifts and Natural Questions sets by a stable hash of the
document, a tenth each.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

# SQuAD 2.0 dev articles: the first five came with span_qa.jsonl.gz, the others with span_qa_squad.jsonl.gz
# (issue #41: the near-miss parts of the held-out sets grow from tens of questions to hundreds).
VALIDATION_ARTICLES = {"Computational_complexity_theory", "Islamism", "Economic_inequality", "Geology", "Black_Death"}
TEST_ARTICLES = {"Normans", "Huguenot", "Steam_engine", "Rhine", "Oxygen", "University_of_Chicago", "Prime_number"}
SPAN_FILES = ("span_qa.jsonl.gz", "span_qa_extra.jsonl.gz", "span_qa_squad.jsonl.gz")
HASHED_DATASETS = {"squadshifts-new-wiki", "squadshifts-reddit", "squadshifts-amazon-reviews", "qed-nq"}
HELD_OUT_TENTHS = {0: "validation", 1: "test"}


def document_key(row: dict) -> str:
    """The document a question belongs to: its article, product or page; a Reddit post is its own document."""
    if row["dataset"] == "squadshifts-reddit":  # one title for every post
        return "reddit-" + hashlib.sha1(row["context"].encode()).hexdigest()[:12]
    return row["title"]


def split_of(row: dict) -> str:
    """'train', 'validation' or 'test', by the question's whole document."""
    if row["dataset"].startswith("squad2"):
        if row["title"] in TEST_ARTICLES:
            return "test"
        if row["title"] in VALIDATION_ARTICLES:
            return "validation"
        return "train"
    if row["dataset"] in HASHED_DATASETS:
        tenth = int(hashlib.sha1(f"{row['dataset']}/{document_key(row)}".encode()).hexdigest(), 16) % 10
        return HELD_OUT_TENTHS.get(tenth, "train")
    return "train"


def read_rows(data_dir: Path) -> list[dict]:
    """Every extractive question of ../shared/training (its README: sources, formats); a file not there is skipped
    (span_qa_squad.jsonl.gz came later)."""
    rows = []
    for name in SPAN_FILES:
        if name != SPAN_FILES[0] and not (data_dir / name).is_file():
            continue
        with gzip.open(data_dir / name, "rt", encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle]
    return rows


def write_squad(rows: list[dict], path: Path) -> None:
    """Flattened rows back into a SQuAD 2.0 file, one paragraph per context (for `assistant eval squad`)."""
    articles: dict[str, dict[str, list[dict]]] = {}
    for row in rows:
        qas = articles.setdefault(row["title"], {}).setdefault(row["context"], [])
        answers = [{"text": a["text"], "answer_start": a["start"]} for a in row["answers"]] if row["answerable"] else []
        qas.append({"id": row["id"], "question": row["question"], "answers": answers, "is_impossible": not row["answerable"]})
    data = [
        {"title": title, "paragraphs": [{"context": context, "qas": qas} for context, qas in paragraphs.items()]}
        for title, paragraphs in articles.items()
    ]
    path.write_text(json.dumps({"version": "v2.0", "data": data}, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":  # python -m assistant.datasets.splits ../shared/training test squad2 OUT.json
    import sys

    data_dir, split, prefix, out = sys.argv[1:5]
    chosen = [r for r in read_rows(Path(data_dir)) if split_of(r) == split and r["dataset"].startswith(prefix)]
    write_squad(chosen, Path(out))
    print(f"{len(chosen)} questions of the {split} documents ({prefix}*) written to {out}")
