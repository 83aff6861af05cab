"""Ingest against real files, the real model and a real embedded Chroma."""

import os
import shutil
import zipfile
from pathlib import Path

import pytest

from assistant.index.lock import IndexLockedError, write_lock
from assistant.index.store import IndexMismatchError
from tests.conftest import CORPUS, SHORE_QUESTION


def write_pdf(path, lines):
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    for i, line in enumerate(lines):
        pdf.drawString(72, 750 - 16 * i, line)
    pdf.save()


def write_docx(path, paragraphs):
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    document.save(str(path))


def chunk_ids_in_chroma(assistant):
    return set(assistant.index.vectors.collection.get(include=[])["ids"])


def chunk_ids_in_bm25(assistant):
    return set(assistant.index.bm25().ids)


def test_reingesting_an_unchanged_corpus_embeds_nothing(make_assistant, corpus_copy):
    assistant = make_assistant(corpus_copy)
    first = assistant.ingest()
    assert len(first.added) == 2 and first.chunks_embedded == assistant.status()["chunks"] > 0
    second = assistant.ingest()
    assert second.chunks_embedded == 0
    assert len(second.unchanged) == 2 and not (second.added or second.updated or second.removed)


def test_a_changed_file_replaces_its_chunks_and_a_deleted_file_leaves(make_assistant, corpus_copy):
    assistant = make_assistant(corpus_copy)
    assistant.ingest()
    union, police = sorted(corpus_copy.glob("*.txt"), key=lambda p: "union" not in p.name)
    chunks_before = assistant.status()["chunks"]

    union.write_text("The Alliance union met on Tuesday.\nIt agreed nothing about boats.", encoding="utf-8")
    report = assistant.ingest()
    assert report.updated == [union.resolve().as_posix()] and report.chunks_embedded == 1
    assert assistant.status()["chunks"] < chunks_before
    assert chunk_ids_in_chroma(assistant) == chunk_ids_in_bm25(assistant)
    assert "Tuesday" in assistant.ask("When did the Alliance union meet?").answer

    police.unlink()
    report = assistant.ingest()
    assert report.removed == [police.resolve().as_posix()] and report.chunks_embedded == 0
    status = assistant.status()
    assert status["documents"] == 1 and status["chunks"] == status["vectors"] == 1
    assert chunk_ids_in_chroma(assistant) == chunk_ids_in_bm25(assistant)
    assert assistant.ask(SHORE_QUESTION).abstained


def test_a_moved_file_keeps_its_vectors_and_embeds_nothing(make_assistant, corpus_copy):
    assistant = make_assistant(corpus_copy)
    assistant.ingest()
    police = next(corpus_copy.glob("*fail*.txt"))
    old_path = police.resolve().as_posix()
    (corpus_copy / "archive").mkdir()
    moved = police.rename(corpus_copy / "archive" / "police.txt")

    report = assistant.ingest()
    assert report.chunks_embedded == 0 and report.chunks_reused > 0
    assert report.added == [moved.resolve().as_posix()] and report.removed == [old_path]
    assert chunk_ids_in_chroma(assistant) == chunk_ids_in_bm25(assistant)
    answer = assistant.ask(SHORE_QUESTION)
    assert answer.citations[0].path == moved.resolve().as_posix() and "300 metres" in answer.citations[0].quote


@pytest.mark.parametrize("group_chunks", [512, 1])
def test_swapped_files_each_get_the_vectors_of_their_new_text(make_assistant, tmp_path, encoder, monkeypatch, group_chunks):
    # With groups of one chunk, storing one file's new chunks and looking up the next file's
    # reusable vectors interleave (the next group is embedded while the last is stored): whatever
    # the order, the hash check must hand each file the vectors of its own text.
    # One chunk each, so a wrong reuse is not caught by a differing chunk count.
    monkeypatch.setattr("assistant.ingest.pipeline.GROUP_CHUNKS", group_chunks)
    corpus = tmp_path / "swap"
    corpus.mkdir()
    first, second = corpus / "a.txt", corpus / "b.txt"
    first.write_text("Ferries\nThe morning ferry to Calais was cancelled because of strong winds.", encoding="utf-8")
    second.write_text("Harvest\nFarmers in Kent began the apple harvest two weeks early this year.", encoding="utf-8")
    assistant = make_assistant(corpus)
    assistant.ingest()
    first_bytes, second_bytes = first.read_bytes(), second.read_bytes()
    first.write_bytes(second_bytes)
    second.write_bytes(first_bytes)

    report = assistant.ingest()
    assert len(report.updated) == 2 and report.chunks_reused > 0
    ids, texts = zip(*assistant.index.catalog.iter_indexed_texts())
    stored = assistant.index.vectors.collection.get(ids=list(ids), include=["embeddings"])
    stored_by_id = dict(zip(stored["ids"], stored["embeddings"]))
    for chunk_id, expected in zip(ids, encoder.encode(list(texts))):
        assert float(expected @ stored_by_id[chunk_id]) > 0.999, chunk_id


def test_bad_files_are_reported_and_skipped_and_the_rest_is_indexed(make_assistant, corpus_copy):
    (corpus_copy / "empty.txt").write_bytes(b"")
    (corpus_copy / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (corpus_copy / "corrupt.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    (corpus_copy / "corrupt.docx").write_bytes(b"PK\x03\x04 not a zip archive at all")
    assistant = make_assistant(corpus_copy)
    report = assistant.ingest()

    reasons = {path.rsplit("/", 1)[1]: reason for path, reason in report.failed}
    assert reasons.keys() == {"empty.txt", "binary.txt", "corrupt.pdf", "corrupt.docx"}
    assert reasons["empty.txt"] == "empty file"
    assert "binary" in reasons["binary.txt"]
    assert "PDF" in reasons["corrupt.pdf"] and "DOCX" in reasons["corrupt.docx"]
    assert len(report.added) == 2
    answer = assistant.ask(SHORE_QUESTION)
    assert not answer.abstained and "300 metres" in answer.citations[0].quote


def test_a_file_that_breaks_a_library_is_reported_and_the_rest_is_indexed(make_assistant, tmp_path, monkeypatch):
    """Any failure while one file is read or chunked skips that file only. Here nltk's punkt gives up on
    every text long enough to be split at sentences (its regex time limit, as on a multi-MB file)."""
    import nltk.redos

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "french-police-fail-to-stop-migrant-boat.txt", corpus)
    (corpus / "note.txt").write_text("The lighthouse keeper of Port Ellery is Agnes Trevelyan.\n")
    monkeypatch.setattr(nltk.redos, "DEFAULT_TIMEOUT", 1e-9)
    assistant = make_assistant(corpus)
    report = assistant.ingest()
    assert [path.rsplit("/", 1)[1] for path in report.added] == ["note.txt"]
    ((path, reason),) = report.failed
    assert path.endswith("french-police-fail-to-stop-migrant-boat.txt") and "TimeoutError" in reason
    assert "Agnes Trevelyan" in assistant.ask("Who is the lighthouse keeper of Port Ellery?").answer


def test_text_in_other_encodings_is_decoded_and_the_encoding_is_listed(make_assistant, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "latin1.md").write_bytes("Le caf\xe9 Cr\xe8me de Calais ferme le dimanche.".encode("latin-1"))
    (corpus / "windows.txt").write_bytes("The \u201cBlue Harbour\u201d ferry costs \u20ac12 \u2013 one way.".encode("cp1252"))
    (corpus / "russian.txt").write_bytes("Паром плывет в Кале.".encode("cp1251"))
    (corpus / "utf16.txt").write_bytes("The harbour master is Ines Moreau.".encode("utf-16"))
    assistant = make_assistant(corpus)
    report = assistant.ingest()
    assert not report.failed and len(report.added) == 4
    texts = {Path(d.path).name: (assistant.document(d.doc_id)[1], d.encoding) for d in assistant.documents()}
    assert texts["latin1.md"] == ("Le caf\xe9 Cr\xe8me de Calais ferme le dimanche.", "cp1252")  # Latin-1 text reads the same
    assert texts["windows.txt"] == ("The \u201cBlue Harbour\u201d ferry costs \u20ac12 \u2013 one way.", "cp1252")
    assert texts["russian.txt"] == ("Паром плывет в Кале.", "cp1251")
    assert texts["utf16.txt"] == ("The harbour master is Ines Moreau.", "utf-16")
    assert "\u20ac12" in assistant.ask("How much does the Blue Harbour ferry cost?").citations[0].quote


def test_what_a_folder_holds_besides_files_is_reported_and_links_are_kept_inside_the_corpus(make_assistant, tmp_path):
    """The rule: a link is followed to a regular file (recorded under its own path in the corpus), never into /proc,
    /sys or /dev, never to a folder; FIFOs, sockets, broken and looping links are reported, not read."""
    corpus, outside = tmp_path / "corpus", tmp_path / "outside"
    corpus.mkdir(), outside.mkdir()
    shutil.copy(CORPUS / "french-police-fail-to-stop-migrant-boat.txt", corpus)
    (outside / "notes.txt").write_text("The lighthouse keeper of Port Ellery is Agnes Trevelyan.\n")
    (corpus / "linked.txt").symlink_to(outside / "notes.txt")
    (corpus / "procmem.txt").symlink_to("/proc/self/mem")
    (corpus / "loop.txt").symlink_to(corpus / "loop.txt")
    (corpus / "gone.txt").symlink_to(outside / "deleted.txt")
    (corpus / "elsewhere").symlink_to(outside)
    os.mkfifo(corpus / "pipe.txt")
    (corpus / "picture.png").write_bytes(b"\x89PNG")  # an unsupported file in a folder is skipped quietly, as before
    assistant = make_assistant(corpus)
    report = assistant.ingest()
    reasons = {Path(path).name: reason for path, reason in report.failed}
    assert reasons == {
        "procmem.txt": "a symbolic link into /proc: not followed",
        "loop.txt": "a broken or looping symbolic link",
        "gone.txt": "a broken or looping symbolic link",
        "elsewhere": "a symbolic link to a folder: not followed (name the folder itself to index it)",
        "pipe.txt": "not a regular file (a FIFO)",
    }
    paths = sorted(Path(doc.path) for doc in assistant.documents())
    assert [p.name for p in paths] == ["french-police-fail-to-stop-migrant-boat.txt", "linked.txt"]
    assert all(p.parent == corpus.resolve() for p in paths)  # the link's own path, inside the corpus
    assert "Agnes Trevelyan" in assistant.ask("Who is the lighthouse keeper of Port Ellery?").answer


def test_a_folder_that_cannot_be_listed_is_reported(tmp_path):
    """Run as another user (CI runs as root, who can list anything): the scan names the folder it could not list."""
    import subprocess
    import sys
    import tempfile

    shared = Path(tempfile.mkdtemp(prefix="scan-"))  # pytest's own folders are private to root
    try:
        shared.chmod(0o755)
        (shared / "corpus" / "locked").mkdir(parents=True)
        (shared / "corpus" / "open.txt").write_text("Readable.")
        (shared / "corpus" / "locked").chmod(0o000)
        # imported as this user, then the scan as nobody (uid 65534) when this is root
        code = (
            "import os, sys; from pathlib import Path; from assistant.ingest.pipeline import scan; "
            "os.getuid() == 0 and (os.setgroups([]), os.setgid(65534), os.setuid(65534)); "
            "files, failed, _ = scan([Path(sys.argv[1])]); print([f.name for f in files], failed)"
        )
        done = subprocess.run([sys.executable, "-c", code, str(shared / "corpus")], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent.parent, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        locked = str(shared / "corpus" / "locked")
        assert done.stdout.strip() == f"['open.txt'] [('{locked}', 'cannot list this folder: Permission denied')]"
    finally:
        (shared / "corpus" / "locked").chmod(0o755)
        shutil.rmtree(shared)


def test_a_file_that_turns_corrupt_keeps_its_indexed_version(make_assistant, corpus_copy):
    assistant = make_assistant(corpus_copy)
    assistant.ingest()
    police = next(p for p in corpus_copy.glob("*.txt") if "boat" in p.name)
    police.write_bytes(b"\xff\xfe broken \x00 bytes")
    report = assistant.ingest()
    assert [path for path, _ in report.failed] == [police.resolve().as_posix()]
    assert "300 metres" in assistant.ask(SHORE_QUESTION).citations[0].quote


def test_md_html_pdf_and_docx_are_read_and_cited_with_exact_spans(make_assistant, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text("# Lighthouse notes\n\nThe lighthouse keeper is called Amelia Stone.\n", encoding="utf-8")
    (corpus / "page.html").write_text(
        "<html><head><title>Ferry</title></head>"
        "<body><h1>Ferry</h1><p>The ferry leaves at nine o'clock every morning.</p></body></html>",
        encoding="utf-8",
    )
    write_pdf(corpus / "report.pdf", ["Harbour report", "The harbour wall is 412 metres long."])
    write_docx(corpus / "memo.docx", ["Memo", "The annual regatta takes place in August."])
    assistant = make_assistant(corpus)
    report = assistant.ingest()
    assert not report.failed and len(report.added) == 4

    for question, fact in [
        ("Who is the lighthouse keeper?", "Amelia Stone"),
        ("When does the ferry leave?", "nine o'clock"),
        ("How long is the harbour wall?", "412 metres"),
        ("When does the annual regatta take place?", "August"),
    ]:
        answer = assistant.ask(question)
        assert not answer.abstained, question
        citation = answer.citations[0]
        assert fact in citation.quote
        document_text = assistant.index.catalog.document_text(citation.doc_id)
        assert document_text[citation.start : citation.end] == citation.quote


def test_an_index_built_with_another_model_is_refused_with_the_fix(make_assistant, corpus_copy):
    assistant = make_assistant(corpus_copy)
    assistant.ingest()
    assistant.index.catalog.set_meta(model_fingerprint="0123456789abcdef", model_name="some/other-model")
    fresh = make_assistant(corpus_copy)
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        fresh.ask(SHORE_QUESTION)
    report = fresh.ingest(rebuild=True)
    assert len(report.added) == 2
    assert not fresh.ask(SHORE_QUESTION).abstained


def test_a_crash_between_vectors_and_catalog_is_repaired_by_the_next_ingest(make_assistant, corpus_copy):
    assistant = make_assistant(corpus_copy)
    assistant.ingest()
    # What a kill -9 after the vector write leaves: vectors that no catalog row vouches for.
    doc = assistant.index.catalog.documents()[0]
    assistant.index.catalog.remove_document(doc.doc_id)
    assistant.index.catalog.set_meta(dirty=1)
    assert len(chunk_ids_in_chroma(assistant)) > assistant.status()["chunks"]

    report = assistant.ingest()
    assert report.added == [doc.path]
    assert chunk_ids_in_chroma(assistant) == chunk_ids_in_bm25(assistant)
    assert len(chunk_ids_in_chroma(assistant)) == assistant.status()["chunks"]


def test_an_encoder_failure_mid_ingest_loses_nothing_indexed(make_assistant, corpus_copy, encoder, monkeypatch):
    # The embedding thread fails on the second group: the error reaches the caller, what was
    # stored before stays consistent, and the next ingest completes the index.
    monkeypatch.setattr("assistant.ingest.pipeline.GROUP_CHUNKS", 1)
    calls = []

    class FailingSecondTime:
        fingerprint, dim, load = encoder.fingerprint, encoder.dim, encoder.load

        def encode(self, texts, batch_size=32, *, bulk=None):
            calls.append(len(texts))
            if len(calls) == 2:
                raise RuntimeError("encoder out of memory")
            return encoder.encode(texts, batch_size, bulk=bulk)

    from assistant.ingest.pipeline import ingest

    assistant = make_assistant(corpus_copy)
    with pytest.raises(RuntimeError, match="out of memory"):
        ingest(assistant.settings, encoder=FailingSecondTime())
    assert 0 < assistant.status()["chunks"] < 10
    report = assistant.ingest()
    assert report.added and not report.failed
    assert chunk_ids_in_chroma(assistant) == chunk_ids_in_bm25(assistant)
    assert len(chunk_ids_in_chroma(assistant)) == assistant.status()["chunks"] == 10
    assert assistant.ask(SHORE_QUESTION).citations


def test_a_second_ingest_stops_with_a_clear_message(make_assistant, corpus_copy, tmp_path):
    assistant = make_assistant(corpus_copy)
    with write_lock(tmp_path / "index"), pytest.raises(IndexLockedError, match="another process .* is writing"):
        assistant.ingest()


def test_rebuild_starts_from_empty(make_assistant, corpus_copy):
    assistant = make_assistant(corpus_copy)
    assistant.ingest()
    extra = corpus_copy.parent / "extra"
    extra.mkdir()
    shutil.copy(next(corpus_copy.glob("*.txt")), extra / "copy.txt")
    assistant.ingest([extra])
    assert assistant.status()["documents"] == 3
    report = assistant.ingest(rebuild=True)
    assert len(report.added) == 2 and assistant.status()["documents"] == 2


def test_docx_zip_without_document_is_reported(make_assistant, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with zipfile.ZipFile(corpus / "hollow.docx", "w") as archive:
        archive.writestr("readme.txt", "no word document in here")
    (corpus / "fine.txt").write_text("The canal is closed on Mondays.", encoding="utf-8")
    report = make_assistant(corpus).ingest()
    assert [p.rsplit("/", 1)[1] for p, _ in report.failed] == ["hollow.docx"]
    assert len(report.added) == 1
