"""Server mode: the same code path against a real `chroma run` (and a real PostgreSQL) on 127.0.0.1."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.facade import Assistant
from assistant.settings import Settings
from tests.answers import assert_same_answer
from tests.conftest import CORPUS, SHORE_QUESTION, free_port

QUESTIONS = [
    SHORE_QUESTION,
    "What is the largest police union in France?",
    "How many migrants have crossed the Channel so far this year?",
    "What is the population of Calais?",
]


@pytest.fixture(params=["chroma server", "chroma server and postgresql"])
def remote(request, chroma_server) -> dict:
    """Server mode: the vectors on a `chroma run`, and the catalog in PostgreSQL too in the second run."""
    if request.param == "chroma server":
        return {"chroma_url": chroma_server.url, "collection": f"c{free_port()}"}
    return request.getfixturevalue("new_server_index")()


def test_server_mode_gives_the_same_answers_as_embedded(remote, seed_assistant, encoder, tmp_path):
    settings = remote
    remote = Assistant(Settings(corpus_dir=CORPUS, index_dir=tmp_path / "index", **settings), encoder=encoder)
    report = remote.ingest()
    assert len(report.added) == 2
    assert not (tmp_path / "index" / "chroma").exists()  # the vectors live on the server
    if "database_url" in settings:  # and the catalog and BM25 in the database
        assert not (tmp_path / "index" / "catalog.sqlite").exists() and not (tmp_path / "index" / "bm25").exists()
    assert remote.status()["vectors"] == seed_assistant.status()["vectors"]
    for question in QUESTIONS:
        assert_same_answer(remote.ask(question).to_json(), seed_assistant.ask(question).to_json(), question)

    assert remote.ingest().chunks_embedded == 0


def test_server_mode_upload_and_delete(remote, encoder, tmp_path):
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", **remote)
    remote = Assistant(settings, encoder=encoder)
    remote.ingest()
    remote.upload("lighthouse.txt", b"The lighthouse keeper of Port Ellery is Agnes Trevelyan.")
    question = "Who is the lighthouse keeper of Port Ellery?"
    assert "Agnes Trevelyan" in remote.ask(question).answer
    doc_id = next(d.doc_id for d in remote.documents() if d.path.endswith("lighthouse.txt"))
    assert remote.delete(doc_id)
    assert remote.ask(question).abstained
    assert remote.status()["vectors"] == remote.status()["chunks"] == 10
    # --rebuild empties the collection (and the database) in place: other hosts keep valid handles
    assert remote.ingest(rebuild=True).chunks_embedded == 10
    assert remote.status()["vectors"] == remote.status()["chunks"] == 10
    assert "300 metres" in remote.ask(SHORE_QUESTION).answer


def test_the_benchmark_runs_against_the_server(chroma_server, postgres, tmp_path):
    scifact = Path(__file__).resolve().parent.parent.parent / "shared" / "bench" / "scifact"
    if not (scifact / "corpus.jsonl").exists():
        scifact = tmp_path / "mini-scifact"  # a stand-in with the same layout when the shared data is absent
        scifact.mkdir()
        docs = [f'{{"_id": "{i}", "title": "Claim {i}", "text": "Vitamin {i} changes the risk of fractures in study {i}."}}'
                for i in range(40)]  # fmt: skip
        (scifact / "corpus.jsonl").write_text("\n".join(docs) + "\n")
        (scifact / "queries.jsonl").write_text('{"_id": "1", "text": "Does vitamin 3 change fracture risk?"}\n' * 25)
    env = {**os.environ, "ASSISTANT_CHROMA_URL": chroma_server.url, "ASSISTANT_COLLECTION": "bench"}
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "assistant.bench", "--scifact", str(scifact), "--docs", "20", "--rounds", "1",
         "--scale", "150", "--queries", "20", "--workdir", str(tmp_path / "work"), "--json", str(out),
         "--server-scale", "150", "--database-url", postgres.create_database("bench"), "--chroma-url", chroma_server.url],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["settings"]["chroma_url"] == chroma_server.url
    scale = figures["scale_150"]
    assert scale["chunks"] >= 100 and scale["answers_after_delete"] and scale["delete_one_document_s"] < 5
    assert not (tmp_path / "work" / "scale-150-index" / "chroma").exists()  # vectors went to the server
    server = figures["scale_150_server"]  # and in server mode, the catalog and BM25 to PostgreSQL
    assert server["chunks"] == scale["chunks"] and server["answers_after_delete"]
    assert 0 < server["change_seen_elsewhere_s"] < 2
    assert not (tmp_path / "work" / "scale-150-server-index" / "catalog.sqlite").exists()
    assert "| 150 chunks, server mode: an upload through one host" in done.stdout.replace(f"{server['chunks']:,}", "150")
