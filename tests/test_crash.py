"""Crash- and concurrency-safety of indexing, with real processes: kill -9 mid-ingest, two writers, readers meanwhile."""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.facade import Assistant
from assistant.index.lexical import Bm25Files
from assistant.index.lock import IndexLockedError, advisory_lock_holder, write_lock
from assistant.index.store import Index
from assistant.ingest.uploads import UploadError
from assistant.settings import Settings
from tests.conftest import SHORE_QUESTION, settings_env

ASSISTANT = str(Path(sys.executable).parent / "assistant")
TOPICS = ["harbour", "orchard", "glacier", "library", "railway", "vineyard", "observatory", "bakery", "quarry", "ferry"]


def write_corpus(folder: Path, documents: int) -> None:
    folder.mkdir(parents=True)
    for i in range(documents):
        topic = TOPICS[i % len(TOPICS)]
        (folder / f"note-{i:05d}.txt").write_text(
            f"Note {i} about the {topic}. The {topic} logbook entry {i} records {i * 7 % 113} visitors on day {i % 31}.\n"
        )


def ingest_process(corpus: Path, index: Path, server: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(index), "ASSISTANT_CORPUS_DIR": str(corpus), **settings_env(server or {})}
    return subprocess.Popen([ASSISTANT, "ingest"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def lock_holder_pid(index: Path, server: dict) -> str | None:
    """The pid the write lock names: in the lock file, or in the advisory lock holder's application name."""
    if not server:
        lock_file = index / "ingest.lock"
        return lock_file.read_text().strip() if lock_file.exists() else None
    import psycopg

    with psycopg.connect(server["database_url"]) as connection:
        row = advisory_lock_holder(connection)
    return row[0].split()[3] if row else None  # "assistant writer pid N on HOST"


def wait_for_lock_holder(index: Path, process: subprocess.Popen, server: dict | None = None, seconds: float = 120) -> None:
    """Until the process has taken the index's write lock."""
    deadline = time.time() + seconds
    while lock_holder_pid(index, server or {}) != str(process.pid):
        assert process.poll() is None, f"the writer ended early: {process.stderr.read()}"
        assert time.time() < deadline, "the writer never took the lock"
        time.sleep(0.05)


def with_encoder(index: Path, encoder) -> Path:
    """Seed the index folder with the ONNX export the test session already made (saves an export per index)."""
    (index / "encoder").mkdir(parents=True)
    for exported in Path(encoder.onnx_file).parent.glob("*.onnx"):
        shutil.copy(exported, index / "encoder")
    return index


def snapshot(corpus: Path, index: Path, server: dict | None = None) -> dict:
    assistant = Assistant(Settings(corpus_dir=corpus, index_dir=index, **(server or {})))
    catalog = assistant.index.catalog
    chunk_shas = catalog.chunk_shas()
    vector_shas = assistant.index.vectors.id_shas()
    bm25 = assistant.index.saved_bm25.load()
    return {
        "documents": sorted((Path(d.path).name, d.sha256, d.n_chunks) for d in catalog.documents()),
        "chunks": sorted(chunk_shas.items()),
        "vectors": sorted(vector_shas.items()),
        "vector_count": assistant.index.vectors.count(),
        "bm25_ids": sorted(bm25.ids),
        "bm25_current": bm25.generation == catalog.generation,
        "dirty": catalog.get_meta("dirty"),
    }


def test_kill_9_at_random_points_then_ingest_equals_a_clean_ingest(tmp_path, encoder, index_mode):
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 2000)
    # The clean ingest first: its time from taking the write lock to the end sets where the kills fall, so
    # they land mid-ingest on a fast CPU as on a slow one (fixed delays let a fast machine finish first).
    clean, clean_server = with_encoder(tmp_path / "clean", encoder), index_mode()
    process = ingest_process(corpus, clean, clean_server)
    wait_for_lock_holder(clean, process, clean_server)
    started = time.monotonic()
    assert process.wait(timeout=300) == 0, process.stderr.read()
    writing_seconds = time.monotonic() - started

    crashed, crashed_server = with_encoder(tmp_path / "crashed", encoder), index_mode()
    chance = random.Random(int(os.environ.get("CRASH_SEED", "20261125")))
    kills = 0
    for _ in range(8):
        process = ingest_process(corpus, crashed, crashed_server)
        while lock_holder_pid(crashed, crashed_server) != str(process.pid) and process.poll() is None:
            time.sleep(0.02)
        time.sleep(chance.uniform(0.05, 0.6) * writing_seconds)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        if kills == 3:
            break
    assert kills >= 2, "the ingest finished before it could be killed: raise the document count"
    finished = ingest_process(corpus, crashed, crashed_server)
    assert finished.wait(timeout=300) == 0, finished.stderr.read()

    after_crashes, reference = snapshot(corpus, crashed, crashed_server), snapshot(corpus, clean, clean_server)
    assert len(reference["documents"]) == 2000 and len(reference["chunks"]) == 2000
    assert after_crashes == reference
    assert after_crashes["vector_count"] == len(after_crashes["chunks"])  # no duplicates
    assert after_crashes["bm25_current"] and after_crashes["dirty"] == "0"


def test_a_second_writer_stops_with_a_message_and_readers_keep_getting_answers(tmp_path, encoder, index_mode):
    corpus = tmp_path / "corpus"
    shutil.copytree(Path(__file__).parent.parent / "corpus", corpus)
    index, server = with_encoder(tmp_path / "index", encoder), index_mode()
    assistant = Assistant(Settings(corpus_dir=corpus, index_dir=index, **server), encoder=encoder)
    assistant.ingest()
    write_corpus(corpus / "notes", 1500)

    writer = ingest_process(corpus, index, server)
    wait_for_lock_holder(index, writer, server)
    elsewhere = with_encoder(tmp_path / "other-host", encoder) if server else index  # server mode: a folder of its own
    second = ingest_process(corpus, elsewhere, server)
    assert second.wait(timeout=60) == 5
    assert "is writing to" in second.stderr.read()

    answers = 0
    while writer.poll() is None:
        answer = assistant.ask(SHORE_QUESTION)
        assert "300 metres" in answer.answer
        answers += 1
    assert writer.returncode == 0, writer.stderr.read()
    assert answers >= 3
    assistant.ingest()  # the next ingest finds nothing to do: the writer's work is complete and consistent
    assert assistant.status()["chunks"] == assistant.status()["vectors"] == 10 + 1500


def test_readers_leave_bm25_to_the_writer_and_rebuild_it_only_when_no_writer_is_running(tmp_path, encoder):
    corpus = tmp_path / "corpus"
    shutil.copytree(Path(__file__).parent.parent / "corpus", corpus)
    settings = Settings(corpus_dir=corpus, index_dir=with_encoder(tmp_path / "index", encoder))
    reader = Assistant(settings, encoder=encoder)
    reader.ingest()
    saved = settings.index_dir / "bm25" / "ids.json"
    before = saved.read_text()
    other = next(doc for doc in reader.documents() if "fail-to-stop" not in doc.path)  # the shore answer is in that one

    with write_lock(settings.index_dir):  # a writer half-way: the catalog has moved on, BM25 not yet
        Index(settings).remove_document(other.doc_id)
        assert "300 metres" in reader.ask(SHORE_QUESTION).answer
        assert saved.read_text() == before
        assert not saved.parent.with_name("bm25.partial").exists()
        shutil.rmtree(saved.parent)  # and a first ingest has saved none yet: a reader makes its own, unsaved
        assert "300 metres" in Assistant(settings, encoder=encoder).ask(SHORE_QUESTION).answer
        assert not saved.parent.exists()

    # The writer is gone without saving BM25 (a crash): the next question rebuilds and saves it.
    assert "300 metres" in reader.ask(SHORE_QUESTION).answer
    rebuilt = Bm25Files(saved.parent).load()
    assert rebuilt.generation == Index(settings).catalog.generation
    assert not any(cid.startswith(other.doc_id) for cid in rebuilt.ids)


def test_an_upload_or_delete_while_another_process_writes_is_refused_and_changes_nothing(writable_assistant):
    settings = writable_assistant.settings
    corpus_before = sorted(p.name for p in settings.corpus_dir.iterdir())
    victim = writable_assistant.documents()[0]
    with write_lock(settings.index_dir):
        with pytest.raises(UploadError, match="lighthouse.txt: not indexed, another process .* is writing"):
            writable_assistant.upload("lighthouse.txt", b"The lighthouse keeper is Agnes Trevelyan.")
        with pytest.raises(IndexLockedError):
            writable_assistant.delete(victim.doc_id)
    assert sorted(p.name for p in settings.corpus_dir.iterdir()) == corpus_before
    assert writable_assistant.documents() == Index(settings).catalog.documents()
    assert victim in writable_assistant.documents()
    assert writable_assistant.delete(victim.doc_id, remove_file=True) == victim.path  # once the writer is done, it goes ahead
    assert not Path(victim.path).exists()
