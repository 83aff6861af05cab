"""The OpenAI-compatible endpoint: `python app.py` as a real process, the official `openai` client, real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import SHORE_QUESTION, free_port, wait_until_serving

APP_PY = Path(__file__).resolve().parent.parent / "app.py"


def start_app(index_dir: Path, *args: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    environment = {**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir), **(env or {})}
    process = subprocess.Popen([sys.executable, str(APP_PY), "--no-ingest", "--port", str(port), *args], env=environment)
    wait_until_serving(f"http://127.0.0.1:{port}/", process, 90)  # the page (or its login) answers with or without a key
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def local_app(seed_assistant):
    process, url = start_app(seed_assistant.settings.index_dir)
    yield url
    process.terminate()
    process.wait()


@pytest.fixture
def client(local_app) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{local_app}/v1", api_key="unused-on-localhost", max_retries=0)


def test_the_models_are_the_answer_modes(client):
    assert [m.id for m in client.models.list()] == ["corpus-assistant"]


def test_the_openai_client_gets_a_cited_checked_answer(client, seed_assistant):
    response = client.chat.completions.create(model="corpus-assistant", messages=[{"role": "user", "content": SHORE_QUESTION}])
    content = response.choices[0].message.content
    assert "300 metres" in content and "[1]" in content
    result = response.model_extra["corpus_assistant"]
    assert result["outcome"] == "answered" and 0 <= result["confidence"] <= 1 and result["abstained"] is False
    citation = result["citations"][0]
    text = seed_assistant.index.catalog.document_text(citation["doc_id"])
    assert text[citation["start"] : citation["end"]] == citation["quote"] and "300 metres" in citation["quote"]
    assert citation["path"].endswith("french-police-fail-to-stop-migrant-boat.txt")
    span = result["answer_span"]  # the answer's own words, inside the sentence cited as [1]
    assert "300 metres" in span["text"] and citation["start"] <= span["start"] < span["end"] <= citation["end"]
    assert all(s["verdict"] == "supported" for s in result["sentences"])
    # Every OpenAI client shows the sources: the answer, then a plain-text Sources block of its citations.
    title = result["citations"][0]["title"]
    sources = f"Sources:\n[1] {title} \u2014 french-police-fail-to-stop-migrant-boat.txt, characters "
    assert content.startswith(result["answer"] + "\n\n" + sources) and citation["quote"] in content
    plain = client.chat.completions.create(
        model="corpus-assistant", messages=[{"role": "user", "content": SHORE_QUESTION}], extra_body={"sources": False}
    )
    assert plain.choices[0].message.content == result["answer"]  # for clients that render corpus_assistant themselves
    usage = response.usage
    assert usage.prompt_tokens > 5 and usage.completion_tokens > 10
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_a_follow_up_through_messages(client):
    messages = [
        {"role": "system", "content": "You answer from the documents."},
        {"role": "user", "content": "What is the largest police union in France?"},
        {"role": "assistant", "content": "Alliance [1]"},
        {"role": "user", "content": "What did it say about arrests at sea?"},
    ]
    response = client.chat.completions.create(model="corpus-assistant", messages=messages)
    assert "too dangerous" in response.choices[0].message.content


def test_streaming_concatenates_to_the_plain_answer_then_gives_the_result(client):
    question = [{"role": "user", "content": SHORE_QUESTION}]
    plain = client.chat.completions.create(model="corpus-assistant", messages=question)
    chunks = list(client.chat.completions.create(model="corpus-assistant", messages=question, stream=True))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 3
    assert "".join(pieces) == plain.choices[0].message.content
    final = chunks[-1]
    assert final.choices[0].finish_reason == "stop"
    assert final.model_extra["corpus_assistant"]["citations"] == plain.model_extra["corpus_assistant"]["citations"]


def test_the_stream_ends_with_done(local_app):
    body = {"model": "corpus-assistant", "stream": True, "messages": [{"role": "user", "content": SHORE_QUESTION}]}
    with httpx.stream("POST", f"{local_app}/v1/chat/completions", json=body, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[-2][6:])["corpus_assistant"]["outcome"] == "answered"


def test_twenty_concurrent_requests_are_all_answered(client):
    def ask(_: int) -> str:
        question = [{"role": "user", "content": SHORE_QUESTION}]
        return client.chat.completions.create(model="corpus-assistant", messages=question).choices[0].message.content

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(ask, range(20)))
    assert len(answers) == 20 and all("300 metres" in a for a in answers)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (json.dumps({"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}).encode(), 400, "unknown model"),
        (json.dumps({"model": "corpus-assistant", "messages": []}).encode(), 400, "non-empty"),
        (json.dumps({"model": "corpus-assistant", "messages": [{"role": "user", "content": "  "}]}).encode(), 400, "empty"),
        (
            json.dumps({"model": "corpus-assistant", "messages": [{"role": "assistant", "content": "Hello"}]}).encode(),
            400,
            "last message",
        ),
        (
            json.dumps({"model": "corpus-assistant", "messages": [{"role": "user", "content": "x"}] * 101}).encode(),
            400,
            "at most",
        ),
        (
            json.dumps({"model": "corpus-assistant", "messages": [{"role": "user", "content": "why " * 2000}]}).encode(),
            400,
            "limit",
        ),
        (
            json.dumps({"model": "corpus-assistant", "messages": [{"role": "user", "content": "x" * 1_100_000}]}).encode(),
            413,
            "limit",
        ),
    ],
)
def test_malformed_requests_get_an_openai_style_error(local_app, body, status, says):
    response = httpx.post(f"{local_app}/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert says in error["message"] and error["type"] == "invalid_request_error"


def test_off_localhost_the_key_is_enforced(seed_assistant):
    process, url = start_app(
        seed_assistant.settings.index_dir, "--host", "0.0.0.0", "--auth", "u:p", env={"ASSISTANT_API_KEY": "s3cret-key"}
    )
    try:
        question = [{"role": "user", "content": SHORE_QUESTION}]
        for key in ("wrong-key", ""):
            with pytest.raises(openai.AuthenticationError) as raised:
                openai.OpenAI(base_url=f"{url}/v1", api_key=key or "x", max_retries=0).chat.completions.create(
                    model="corpus-assistant", messages=question
                )
            assert raised.value.status_code == 401 and "API key" in raised.value.body["message"]
        bare = httpx.post(f"{url}/v1/chat/completions", json={"model": "corpus-assistant", "messages": question})
        assert bare.status_code == 401 and bare.json()["error"]["code"] == "invalid_api_key"
        assert httpx.get(f"{url}/v1/models").status_code == 401
        good = openai.OpenAI(base_url=f"{url}/v1", api_key="s3cret-key", max_retries=0)
        answer = good.chat.completions.create(model="corpus-assistant", messages=question)
        assert "300 metres" in answer.choices[0].message.content
    finally:
        process.terminate()
        process.wait()


def test_off_localhost_without_a_key_the_app_refuses_to_start(seed_assistant):
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(seed_assistant.settings.index_dir)}
    env.pop("ASSISTANT_API_KEY", None)
    done = subprocess.run(
        [sys.executable, str(APP_PY), "--no-ingest", "--host", "0.0.0.0", "--auth", "u:p", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "ASSISTANT_API_KEY" in done.stderr


def test_a_request_without_a_model_gets_the_default_one(local_app):
    body = {"messages": [{"role": "user", "content": SHORE_QUESTION}]}
    response = httpx.post(f"{local_app}/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "corpus-assistant" and "300 metres" in response.json()["choices"][0]["message"]["content"]


def _peak_rss_after(pid: int, send) -> tuple[int, int]:
    """(resident bytes before, peak resident bytes while ``send`` ran): the kernel's high-water mark, reset first."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)

    def read(field: str) -> int:
        line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith(field))
        return int(line.split()[1]) * 1024

    before = read("VmRSS:")
    send()
    return before, read("VmHWM:")


def _chunked(megabytes: int):
    block = b"x" * 1_000_000
    for _ in range(megabytes):
        yield block


@pytest.fixture(scope="module")
def keyed_app(seed_assistant):
    process, url = start_app(seed_assistant.settings.index_dir, env={"ASSISTANT_API_KEY": "s3cret-key"})
    yield process, url
    process.terminate()
    process.wait()


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("s3cret-key", 413)])
def test_a_huge_chunked_upload_is_refused_before_it_is_held(keyed_app, key, status):
    """No key: 401 before the body is read; with the key, 413 once the upload limit (20 MB) is passed. Either way the
    server's peak memory stays within 50 MB of idle (an 800 MB body had taken it from 1.6 to 3.1 GB)."""
    process, url = keyed_app
    headers = {"authorization": f"Bearer {key}"} if key else {}
    got = []

    def send() -> None:
        try:
            got.append(httpx.post(f"{url}/v1/documents", params={"name": "big.txt"}, content=_chunked(300), headers=headers,
                                  timeout=60).status_code)  # fmt: skip
        except httpx.TransportError:  # the server answered and closed before all 300 MB were sent
            got.append("closed")

    before, peak = _peak_rss_after(process.pid, send)
    assert got in ([status], ["closed"])
    assert peak - before <= 50_000_000, f"peak RSS {peak / 1e6:.0f} MB from {before / 1e6:.0f} MB"
    refused = httpx.post(f"{url}/v1/documents", params={"name": "small.txt"}, content=b"hello", headers={})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"


def test_an_uncertain_answer_is_hedged_in_the_message_and_named_in_the_result(client):
    question = [{"role": "user", "content": "How much has Britain paid France to stop the boats?"}]
    response = client.chat.completions.create(model="corpus-assistant", messages=question)
    content, result = response.choices[0].message.content, response.model_extra["corpus_assistant"]
    assert result["outcome"] == "uncertain" and result["answer_span"]["text"] == "£500 million"
    assert content.startswith("Possibly: \u201c") and "£500 million" in content
