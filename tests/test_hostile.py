"""What a hostile or careless user found (issue #42), against `python app.py` as a real process over real HTTP:
oversized conversations refused before they are read, two uploads of one name at once, concurrent first requests."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from assistant.facade import check_history
from tests.conftest import CORPUS, SHORE_QUESTION
from tests.test_openai_api import start_app


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024


@pytest.fixture
def app(make_assistant, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    assistant = make_assistant(corpus)
    assistant.ingest()
    process, url = start_app(assistant.settings.index_dir, env={"ASSISTANT_CORPUS_DIR": str(corpus)})
    yield process, url, corpus
    process.terminate()
    process.wait()


def test_a_huge_conversation_is_refused_before_it_is_read_and_questions_go_on(app):
    process, url, _ = app
    question = {"model": "corpus-assistant", "messages": [{"role": "user", "content": SHORE_QUESTION}]}
    with ThreadPoolExecutor(4) as pool:  # concurrent first requests: the index is opened once, before serving
        replies = list(pool.map(lambda _: httpx.post(f"{url}/v1/chat/completions", json=question, timeout=120), range(4)))
    assert [r.status_code for r in replies] == [200] * 4
    before = rss_mb(process.pid)
    history = [{"role": "user", "content": "x" * 1000}] * 20_000  # 20 MB, as the probe sent to Gradio's /ask
    started = time.perf_counter()
    refused = httpx.post(f"{url}/gradio_api/call/ask", json={"data": [SHORE_QUESTION, history, 0, ""]}, timeout=60)
    assert refused.status_code == 413 and "limit" in refused.json()["error"]["message"]
    assert time.perf_counter() - started < 5
    assert httpx.post(f"{url}/v1/chat/completions", json=question, timeout=60).status_code == 200
    assert rss_mb(process.pid) - before < 100


def test_the_facade_bounds_every_front_ends_history():
    with pytest.raises(ValueError, match="limit is 100"):
        check_history([{"role": "user", "content": "a"}] * 101)
    with pytest.raises(ValueError, match="1,000,000 characters"):
        check_history([{"role": "user", "content": "a" * 600_000}] * 2)


def test_two_uploads_of_one_name_at_once_one_wins_the_other_is_told(app):
    _, url, corpus = app
    text = b"The lighthouse keeper of Port Ellery is Agnes Trevelyan.\n"

    def upload(_):
        return httpx.post(f"{url}/v1/documents", params={"name": "keeper.txt"}, content=text, timeout=120)

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(r.status_code for r in pool.map(upload, range(2)))
    assert statuses == [200, 409]
    assert (corpus / "keeper.txt").read_bytes() == text
    assert not list(corpus.glob(".*.part"))


def test_a_full_disk_is_named_as_such_not_blamed_on_the_reader():
    import errno
    import sqlite3

    from assistant.errors import DiskFullError, disk_full

    for error in (OSError(errno.ENOSPC, "No space left on device"), sqlite3.OperationalError("database or disk is full")):
        full = disk_full(error)
        assert isinstance(full, DiskFullError) and full.exit_code == 8 and "free some space" in str(full)
    assert disk_full(ValueError("something else")) is None


def test_a_file_a_killed_upload_left_unindexed_is_removed_at_the_next_start(make_assistant, tmp_path):
    """kill -9 between the file reaching the corpus and the index holding it: the next start undoes the upload."""
    import subprocess
    import sys

    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    assistant = make_assistant(corpus)
    assistant.ingest()
    script = (
        "import os, sys\n"
        "from assistant.facade import Assistant\n"
        "from assistant.settings import Settings\n"
        "a = Assistant(Settings(corpus_dir=sys.argv[1], index_dir=sys.argv[2]))\n"
        "a.ingest = lambda paths: os.kill(os.getpid(), 9)\n"  # killed as the ingest of the upload starts
        "a.upload('keeper.txt', b'The keeper of Port Ellery is Agnes Trevelyan.\\n')\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(corpus), str(assistant.settings.index_dir)], timeout=120)
    assert killed.returncode == -9 and (corpus / "keeper.txt").exists()
    assert assistant.recover_uploads() == [str(corpus / "keeper.txt")]
    assert not (corpus / "keeper.txt").exists()
    assistant.upload("keeper.txt", b"The keeper of Port Ellery is Agnes Trevelyan.\n")  # and it can be uploaded again
    assert assistant.recover_uploads() == []


def test_a_question_with_a_lone_surrogate_is_a_clear_error(seed_assistant):
    with pytest.raises(ValueError, match="not valid UTF-8"):
        seed_assistant.ask("Who is \udcff the keeper?")


def test_a_delete_repairs_a_crashed_write_before_it_clears_the_flag(make_assistant, corpus_copy):
    """Issue #42, 10: a killed delete left a chunk without its vector; the next delete must not declare that clean."""
    assistant = make_assistant(corpus_copy)
    assistant.ingest()
    first, second = assistant.documents()
    index = assistant.index
    index.vectors.delete_ids(index.catalog.chunk_ids(first.doc_id)[:1])  # what a kill between the two writes leaves
    index.catalog.set_meta(dirty=1)
    assert assistant.delete(second.doc_id) == second.path
    assert assistant.index.catalog.get_meta("dirty") == "0"
    assert assistant.index.catalog.count_chunks() == assistant.index.vectors.count()  # the broken document went too
    assert assistant.ingest().added == [first.path]  # and the next ingest indexes it again, whole


def test_the_viewer_says_when_a_cited_document_changed(seed_assistant):
    from assistant.server.render import viewer_html

    answer = seed_assistant.ask(SHORE_QUESTION).to_json()
    citation = answer["citations"][0]
    assert "<mark>" in viewer_html(seed_assistant, answer, "cited:1")
    stale = {**answer, "citations": [{**citation, "quote": "…Jean Valmont, appointed in March."}]}
    shown = viewer_html(seed_assistant, stale, "cited:1")
    assert "This document has changed since this answer" in shown and "Jean Valmont" in shown and "<mark>" not in shown
