"""The `assistant` console script as scripts use it: JSON shape, JSON lines, exit codes, its cold start."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.answering.model_files import ReaderError
from assistant.facade import Assistant
from assistant.settings import Settings
from tests.conftest import SHORE_QUESTION

ASSISTANT = str(Path(sys.executable).parent / "assistant")


def run(*args, index: Path, stdin: str | None = None):
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(index)}
    return subprocess.run([ASSISTANT, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120)


def test_ask_json_has_the_documented_shape(seed_assistant):
    result = run("ask", SHORE_QUESTION, "--json", index=seed_assistant.settings.index_dir)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert {"answer", "abstained", "citations", "timings"} <= answer.keys()
    assert answer["abstained"] is False
    citation = answer["citations"][0]
    assert {"n", "title", "path", "start", "end", "quote", "support"} <= citation.keys()
    assert "300 metres" in citation["quote"] and citation["n"] == 1
    assert {"retrieve_ms", "answer_ms"} <= answer["timings"].keys()


def test_ask_text_shows_answer_and_sources(seed_assistant):
    result = run("ask", SHORE_QUESTION, index=seed_assistant.settings.index_dir)
    assert result.returncode == 0
    assert "300 metres" in result.stdout and "Sources:" in result.stdout and "[1]" in result.stdout


def test_ask_dash_reads_questions_from_stdin_and_writes_json_lines(seed_assistant):
    questions = f"{SHORE_QUESTION}\n\nWhat is the capital of Australia?\n"
    result = run("ask", "-", index=seed_assistant.settings.index_dir, stdin=questions)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["abstained"] for line in lines] == [False, True]


def test_refusal_exits_zero_and_says_the_outcome(seed_assistant):
    result = run("ask", "What is the capital of Australia?", index=seed_assistant.settings.index_dir)
    assert result.returncode == 0 and "[not in the documents" in result.stdout and "does not answer" in result.stdout


def test_no_index_exits_3_with_the_command_to_build_it(tmp_path):
    result = run("ask", SHORE_QUESTION, index=tmp_path / "nothing-here")
    assert result.returncode == 3
    assert "assistant ingest" in result.stderr
    assert not (tmp_path / "nothing-here").exists()


def test_models_loaded_on_the_preload_thread_give_the_same_answer(seed_assistant, encoder):
    """`assistant ask` loads the reader on a thread while the index opens; the question still gets its own answer."""
    fresh = Assistant(Settings(index_dir=seed_assistant.settings.index_dir), encoder=encoder)
    thread = fresh.preload()
    answer = fresh.ask(SHORE_QUESTION)
    thread.join()
    expected = seed_assistant.ask(SHORE_QUESTION)
    assert (answer.outcome, answer.answer, answer.confidence) == (expected.outcome, expected.answer, expected.confidence)


def test_nothing_is_preloaded_where_there_is_no_index(tmp_path):
    assert Assistant(Settings(index_dir=tmp_path / "none")).preload() is None
    assert not (tmp_path / "none").exists()


def test_a_reader_that_fails_on_the_preload_thread_fails_the_question_with_its_error(seed_assistant, encoder, tmp_path):
    settings = Settings(index_dir=seed_assistant.settings.index_dir, reader_path=tmp_path / "no-reader-here")
    broken = Assistant(settings, encoder=encoder)
    broken.preload().join()
    with pytest.raises(ReaderError, match="is missing"):
        broken.ask(SHORE_QUESTION)


def test_usage_errors_exit_2(seed_assistant):
    assert run("ask", index=seed_assistant.settings.index_dir).returncode == 2
    assert run("frobnicate", index=seed_assistant.settings.index_dir).returncode == 2
    assert run("ask", "   ", index=seed_assistant.settings.index_dir).returncode == 2


def test_status_reports_documents_chunks_and_model(seed_assistant):
    result = run("status", "--json", index=seed_assistant.settings.index_dir)
    status = json.loads(result.stdout)
    assert status["documents"] == 2 and status["chunks"] == status["vectors"] > 0
    assert status["model"] == "sentence-transformers/all-MiniLM-L6-v2" and status["dimension"] == 384


def test_ingest_prints_a_summary_and_reports_bad_files(tmp_path):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "good.txt").write_text("The museum opens at ten.", encoding="utf-8")
    (corpus / "bad.txt").write_bytes(bytes(range(128, 256)) * 3)  # text in no encoding
    (corpus / "cut.pdf").write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n")  # no EOF marker: pypdf logs a warning
    result = run("ingest", str(corpus), index=tmp_path / "index")
    assert result.returncode == 0
    assert "added 1" in result.stdout and "failed 2" in result.stdout
    assert "bad.txt" in result.stderr and "not text in any encoding" in result.stderr
    assert "cut.pdf: corrupt or unreadable PDF: PdfStreamError" in result.stderr
    # what the user reads and nothing else: no library log lines (pypdf's warnings, bm25s's debug lines)
    assert all(line.startswith("skipped ") for line in result.stderr.splitlines()), result.stderr
    verbose = run("ingest", str(corpus), "--rebuild", "--verbose", index=tmp_path / "index")
    assert "EOF marker not found" in verbose.stderr


def test_eval_writes_json_and_markdown_and_compares(seed_assistant, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        '{"id": "g1", "question": "What is the largest police union in France?", "answerable": true, "facts": ["Alliance"],'
        ' "source": "french-police-union-blocks-channel-crackdown.txt"}\n'
        '{"id": "g2", "question": "What is the capital of Australia?", "answerable": false}\n'
    )
    report, markdown = tmp_path / "run.json", tmp_path / "run.md"
    done = run("eval", str(gold), "--json", str(report), "--report", str(markdown), index=seed_assistant.settings.index_dir)
    assert done.returncode == 0, done.stderr
    assert "answered_with_cited_fact" in done.stdout
    # beside the seed figures, the reader's own held-out figures per domain, so a shift shows up
    assert "held-out TEST mix" in done.stdout and all(d in done.stdout for d in ("wikipedia", "reddit", "reviews", "nq"))
    measured = json.loads(report.read_text())["metrics"]
    assert measured["answered_with_cited_fact"] == 1.0 and measured["refused_unanswerable"] == 1.0
    assert measured["retrieval_hit@5"] == 1.0
    assert "## Failures (0)" in markdown.read_text()
    again = run("eval", str(gold), "--compare", str(report), index=seed_assistant.settings.index_dir)
    assert "regressed: -" in again.stdout


@pytest.mark.parametrize("kind", ["beir", "mix"])
def test_eval_beir_or_mix_without_data_is_a_usage_error(seed_assistant, kind, tmp_path):
    done = run("eval", kind, "--data", str(tmp_path), index=seed_assistant.settings.index_dir)
    assert done.returncode == 2 and "--data" in done.stderr


def test_delete_by_path_or_id_removes_the_document_and_its_file_only_when_asked(make_assistant, corpus_copy):
    assistant = make_assistant(corpus_copy)
    assistant.ingest()
    index = assistant.settings.index_dir
    shore = corpus_copy / "french-police-fail-to-stop-migrant-boat.txt"
    listed = run("status", "--documents", "--json", index=index)
    ids = {Path(d["path"]).name: d["doc_id"] for d in json.loads(listed.stdout)["documents_list"]}

    done = run("delete", str(shore), "--corpus", str(corpus_copy), "--remove-file", index=index)
    assert done.returncode == 0 and "deleted" in done.stdout and not shore.exists()
    union_file = corpus_copy / "french-police-union-blocks-channel-crackdown.txt"
    kept = run("delete", ids[union_file.name], "--corpus", str(corpus_copy), index=index)
    assert kept.returncode == 0 and "the file stays" in kept.stdout and union_file.exists()  # nothing irreversible by default
    assert json.loads(run("status", "--json", index=index).stdout)["chunks"] == 0
    again = run("ingest", str(corpus_copy), "--corpus", str(corpus_copy), index=index)  # a folder ingest skips it
    assert "skipped 1 removed with delete" in again.stdout
    assert json.loads(run("status", "--json", index=index).stdout)["chunks"] == 0
    assert run("ingest", str(union_file), index=index).returncode == 0  # named on purpose, it comes back
    assert json.loads(run("status", "--json", index=index).stdout)["documents"] == 1
    missing = run("delete", "no-such-document", index=index)
    assert missing.returncode == 2 and "no indexed document" in missing.stderr


def test_an_uncertain_answer_says_so_with_its_confidence_and_marks_the_possible_answer(seed_assistant):
    question = "How much has Britain paid France to stop the boats?"
    shown = run("ask", question, index=seed_assistant.settings.index_dir)
    assert shown.returncode == 0, shown.stderr
    first = shown.stdout.splitlines()[0]
    assert first.startswith("[uncertain, confidence 0.") and "**£500 million**" in shown.stdout
    assert "do not state" not in shown.stdout and "Sources:" in shown.stdout
    result = json.loads(run("ask", question, "--json", index=seed_assistant.settings.index_dir).stdout)
    assert result["outcome"] == "uncertain" and result["abstained"] is True
    assert result["answer_span"]["text"] == "£500 million" and result["answer_span"]["citation"] == 1
    assert result["answer"].startswith("Possibly: \u201c")


def test_terminal_escapes_in_documents_are_shown_escaped(make_assistant, tmp_path):
    """A title that sets the window title, a quote that clears the screen, a file name that forges a line (#42)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "evil\nskipped x: forged.md").write_text(
        "# Keeper \x1b]0;owned\x07 notes\n\nThe lighthouse keeper of Port Ellery is Agnes Trevelyan.\x1b[2J\x1b]52;c;aGk=\x07\n"
    )
    assistant = make_assistant(corpus)
    assistant.ingest()
    index = assistant.settings.index_dir
    for result in (
        run("ask", "Who is the lighthouse keeper of Port Ellery?", index=index),
        run("status", "--documents", index=index),
    ):
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout
        assert "\\x1b" in result.stdout or "\\n" in result.stdout
        assert not any(line.startswith("skipped x") for line in result.stdout.splitlines())


def test_ask_only_some_documents_and_a_bad_line_does_not_end_the_batch(seed_assistant):
    index = seed_assistant.settings.index_dir
    union = "french-police-union-blocks-channel-crackdown.txt"
    only = json.loads(run("ask", SHORE_QUESTION, "--json", "--doc", union, index=index).stdout)
    assert {Path(r["path"]).name for r in only["retrieved"]} == {union}  # restricted before ranking
    assert only["outcome"] != "answered"  # the shore distance is in the other article
    missing = run("ask", SHORE_QUESTION, "--doc", "no-such.txt", index=index)
    assert missing.returncode == 2 and "no indexed document 'no-such.txt'" in missing.stderr
    batch = subprocess.run(
        [ASSISTANT, "ask", "-"], input=f"\xff\xfe bad bytes?\n{SHORE_QUESTION}\n".encode("latin-1"), capture_output=True,
        env={**os.environ, "ASSISTANT_INDEX_DIR": str(index)}, timeout=120,
    )  # fmt: skip
    first, second = (json.loads(line) for line in batch.stdout.decode().splitlines())
    assert "not valid UTF-8" in first["error"] and second["outcome"] == "answered"
    assert batch.returncode == 2


def test_a_rebuild_keeps_out_what_was_removed_on_purpose(make_assistant, corpus_copy):
    assistant = make_assistant(corpus_copy)
    assistant.ingest()
    union = next(d for d in assistant.documents() if "union" in d.path)
    assistant.delete(union.doc_id)
    report = assistant.ingest(rebuild=True)
    assert union.path in report.excluded and [Path(p).name for p in report.added] == [
        "french-police-fail-to-stop-migrant-boat.txt"
    ]
