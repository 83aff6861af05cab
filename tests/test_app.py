"""The Gradio app, launched for real and driven through gradio_client: ask, follow-up, upload, delete, load."""

import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from gradio_client import Client, handle_file

from assistant.server.launcher import launch_options
from tests.conftest import SHORE_QUESTION

LIGHTHOUSE = "The lighthouse keeper of Port Ellery is Agnes Trevelyan. She has kept the light for 31 years.\n"


def ask(client: Client, question: str, history: list[dict] | None = None) -> dict:
    return json.loads(client.predict(question, history or [], api_name="/ask"))


def test_ask_returns_the_cli_json_with_cited_answers_and_refusals(seed_assistant, serve):
    client = Client(serve(seed_assistant), verbose=False)
    reply = ask(client, SHORE_QUESTION)
    assert reply == {**seed_assistant.ask(SHORE_QUESTION).to_json(), "timings": reply["timings"]}
    assert "300 metres" in reply["answer"] and reply["citations"][0]["quote"].find("300 metres") >= 0
    refusal = ask(client, "What is the capital of Australia?")
    assert refusal["abstained"] and refusal["related"] and not refusal["citations"]


def test_a_follow_up_uses_the_history_sent_with_it(seed_assistant, serve):
    client = Client(serve(seed_assistant), verbose=False)
    history = [{"role": "user", "content": "What is the largest police union in France?"}]
    assert "too dangerous" in ask(client, "What did it say about arrests at sea?", history)["answer"]


def test_upload_then_ask_then_delete(writable_assistant, serve, tmp_path):
    client = Client(serve(writable_assistant), verbose=False)
    question = "Who is the lighthouse keeper of Port Ellery?"
    assert ask(client, question)["abstained"]

    document = tmp_path / "lighthouse.txt"
    document.write_text(LIGHTHOUSE)
    message, *_ = client.predict([handle_file(document)], api_name="/upload")
    assert "✔ `lighthouse.txt`: indexed" in message
    stored = writable_assistant.settings.corpus_dir / "lighthouse.txt"
    assert stored.read_text() == LIGHTHOUSE

    reply = ask(client, question)
    assert not reply["abstained"] and "Agnes Trevelyan" in reply["answer"]
    assert reply["citations"][0]["path"] == stored.resolve().as_posix()

    doc_id = next(d["doc_id"] for d in json.loads(client.predict(api_name="/documents")) if d["path"].endswith("lighthouse.txt"))
    message, *_ = client.predict(doc_id, True, api_name="/delete")
    assert "Deleted `lighthouse.txt` from the index and the corpus folder" in message
    assert not stored.exists()
    assert ask(client, question)["abstained"]
    assert json.loads(client.predict(api_name="/status"))["documents"] == 2


def test_a_rejected_upload_says_why_and_changes_nothing(writable_assistant, serve, tmp_path):
    client = Client(serve(writable_assistant), verbose=False)
    before = sorted(p.name for p in writable_assistant.settings.corpus_dir.iterdir())
    fake_pdf = tmp_path / "report.pdf"
    fake_pdf.write_text("this is not a pdf")
    binary = tmp_path / "notes.txt"
    binary.write_bytes(b"abc\x00\x01\x02")
    message, *_ = client.predict([handle_file(fake_pdf), handle_file(binary)], api_name="/upload")
    assert "✘ report.pdf: not a PDF file" in message and "✘ notes.txt: binary content" in message
    assert sorted(p.name for p in writable_assistant.settings.corpus_dir.iterdir()) == before
    assert json.loads(client.predict(api_name="/status"))["documents"] == 2


def test_twenty_concurrent_conversations_each_keep_their_own_history(seed_assistant, serve):
    url = serve(seed_assistant)
    conversations = [
        ("What is the largest police union in France?", "What did it say about arrests at sea?", "too dangerous"),
        ("How much money has Britain paid France to stop the crossings?", "What period does it cover?", "three–year period"),
        ("Who is Marc de Fleurian?", "What did he say Britain and France should do?", "work together"),
        ("Who is the Shadow Home Secretary?", "What did he call the promised interceptions at sea?", "gimmick"),
    ]
    latencies: list[float] = []

    def converse(i: int) -> bool:
        first, follow_up, fact = conversations[i % len(conversations)]
        client = Client(url, verbose=False)
        history = []
        for question in (first, follow_up):
            started = time.perf_counter()
            reply = ask(client, question, history)
            latencies.append(time.perf_counter() - started)
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": reply["answer"]}]
        return fact in reply["answer"]

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(converse, range(20)))
    assert all(results) and len(latencies) == 40
    cuts = statistics.quantiles(latencies, n=20)
    print(f"\n20 concurrent conversations, 40 questions: p50 {cuts[9] * 1000:.0f} ms, p95 {cuts[18] * 1000:.0f} ms")


def test_a_password_guards_the_app_when_asked_for(seed_assistant, serve):
    url = serve(seed_assistant, auth=("reader", "s3cret"))
    assert httpx.get(url + "config").status_code == 401
    client = Client(url, auth=("reader", "s3cret"), verbose=False)
    assert "300 metres" in ask(client, SHORE_QUESTION)["answer"]


def test_only_local_addresses_may_go_without_a_password_and_an_api_key():
    assert launch_options("127.0.0.1", None, False) == {}
    assert launch_options("0.0.0.0", "u:p", False, api_key="k3y") == {"auth": ("u", "p")}
    assert launch_options("0.0.0.0", None, True) == {}
    with pytest.raises(SystemExit, match="without --auth"):
        launch_options("0.0.0.0", None, False)
    with pytest.raises(SystemExit, match="ASSISTANT_API_KEY"):
        launch_options("0.0.0.0", "u:p", False)
    with pytest.raises(SystemExit, match="user:password"):
        launch_options("0.0.0.0", "nopassword", False)


def test_python_app_py_serves_the_chat_from_an_existing_index(seed_assistant, tmp_path):
    """`python app.py` as `make run` starts it: a real process, then an answer through the API."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import free_port, wait_until_serving

    port = free_port()
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(seed_assistant.settings.index_dir)}
    app_py = Path(__file__).resolve().parent.parent / "app.py"
    server = subprocess.Popen([sys.executable, str(app_py), "--no-ingest", "--port", str(port)], env=env)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/", server, 60)
        assert "300 metres" in ask(Client(f"http://127.0.0.1:{port}/", verbose=False), SHORE_QUESTION)["answer"]
    finally:
        server.terminate()
        server.wait()


def test_the_chat_marks_unsupported_sentences_of_a_generated_answer(seed_assistant, encoder):
    from assistant.answering.generative import GenerativeAnswerer
    from assistant.server.render import as_markdown

    chunks = seed_assistant._retrieve(SHORE_QUESTION, "", 5)
    written = (
        "Officers could intercept boats leaving within 300 metres of the shoreline [1]. "
        "They may also use helicopters within 900 metres [1]. Paris agreed to everything."
    )
    answer = GenerativeAnswerer(None, encoder.encode).verify(SHORE_QUESTION, written, chunks)
    assert [s.verdict for s in answer.sentences] == ["supported", "unsupported", "uncited"]
    shown = as_markdown(answer)
    assert "[[1]](#source-0-1)" in shown
    assert "! not supported by its source" in shown and "helicopters" in shown
    assert "! cites no source: Paris agreed to everything." in shown
