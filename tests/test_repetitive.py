"""Issue #42, findings 1 and 2: answers found among thousands of near-identical chunks, and a running
assistant seeing what another process ingested. Real Chroma, the real encoder and reader."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import numpy as np

from assistant.index.vectors import ExactVectors
from tests.conftest import CORPUS, SHORE_QUESTION

LEDGER_LINE = "The {name} ledger records that the {name} shipment number is {name}-17 .\n"


def write_ledgers(folder, copies: int, lines: int) -> None:
    for n in range(copies):
        for name in ("alpha", "beta"):
            (folder / f"{name}-ledger-{n}.txt").write_text(LEDGER_LINE.format(name=name) * lines)


def test_the_articles_answered_beside_thousands_of_ledger_chunks(tmp_path, make_assistant):
    """The seed articles beside 10 copies of two templated ledgers (issue #42 measured 1 of 6 answered)."""
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    write_ledgers(corpus, copies=10, lines=600)
    assistant = make_assistant(corpus)
    report = assistant.ingest()
    assert not report.failed
    assert assistant.index.catalog.count_chunks() > 800
    answer = assistant.ask(SHORE_QUESTION)
    assert answer.outcome == "answered"
    assert answer.answer_span is not None and answer.answer_span.text == "300 metres"
    # The passages read are distinct: the ledgers' copies are not read five times over.
    texts = [" ".join(r["text"].split()) for r in answer.retrieved]
    assert len(set(texts)) == len(texts)
    # Exact dense search: the closest article chunk is the dense list's first, as a brute-force product says.
    vector = assistant.encoder.encode_query(SHORE_QUESTION)
    dense = assistant.index.dense(vector, 50)
    ids = assistant.index.catalog.chunk_id_list()
    _, matrix = assistant.index.vectors.fetch(ids)
    assert dense[0][1] == float(np.max(matrix @ vector))


def test_exact_vectors_search_a_repeated_vector_once():
    ids = ["a", "b", "c", "d"]
    matrix = np.array([[1, 0], [0, 1], [1, 0], [0.6, 0.8]], dtype=np.float32)
    exact = ExactVectors(ids, matrix, generation=1)
    assert exact.query(np.array([1, 0], dtype=np.float32), 3) == [("a", 1.0), ("d", 0.6000000238418579), ("b", 0.0)]
    assert exact.similarities(np.array([1, 0], dtype=np.float32), ["c", "zz"]) == {"c": 1.0}


def test_a_running_assistant_sees_another_process_ingest(tmp_path, make_assistant):
    """One process asks, another ingests a new file: the next question answers from it (embedded Chroma)."""
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    assistant = make_assistant(corpus)
    assistant.ingest()
    assert assistant.ask(SHORE_QUESTION).outcome == "answered"  # the index is open, its Chroma client too
    (corpus / "lighthouse.txt").write_text(
        "The Harbour Lighthouse Trust looks after the old lighthouse on the headland.\n\n"
        "A volunteer group of 14 people runs guided tours of the lighthouse every Saturday in summer.\n"
    )
    env_index = str(tmp_path / "index")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ingest", str(corpus / "lighthouse.txt")],
        env={"ASSISTANT_INDEX_DIR": env_index, "ASSISTANT_CORPUS_DIR": str(corpus), "HF_HUB_OFFLINE": "1"},
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    answer = assistant.ask("How many people are in the volunteer group that runs the lighthouse tours?")
    assert answer.outcome in ("answered", "uncertain")
    assert answer.citations and answer.citations[0].path.endswith("lighthouse.txt")
    assert answer.answer_span is not None and answer.answer_span.text == "14"
    assert time.perf_counter() - started < 120
