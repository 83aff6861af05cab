"""`--chroma-url`: the same code path against a real `chroma run` server on 127.0.0.1."""

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from assistant.service import Assistant
from assistant.settings import Settings
from tests.conftest import CORPUS, SHORE_QUESTION

QUESTIONS = [
    SHORE_QUESTION,
    "What is the largest police union in France?",
    "How many migrants have crossed the Channel so far this year?",
    "What is the population of Calais?",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    chroma = str(Path(sys.executable).parent / "chroma")
    process = subprocess.Popen(
        [chroma, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            if time.time() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("chroma server did not start")
            time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=20)


def test_server_mode_gives_the_same_answers_as_embedded(chroma_server, seed_assistant, encoder, tmp_path):
    remote = Assistant(Settings(corpus_dir=CORPUS, index_dir=tmp_path / "index", chroma_url=chroma_server), encoder=encoder)
    report = remote.ingest()
    assert len(report.added) == 2
    assert not (tmp_path / "index" / "chroma").exists()  # the vectors live on the server
    assert remote.status()["vectors"] == seed_assistant.status()["vectors"]
    for question in QUESTIONS:
        ours, theirs = remote.ask(question).to_json(), seed_assistant.ask(question).to_json()
        ours.pop("timings"), theirs.pop("timings")
        assert ours == theirs, question

    assert remote.ingest().chunks_embedded == 0
