"""Shared fixtures: the real bundled model, real Chroma, real files in temporary folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.answering.readers import load_reader
from assistant.facade import Assistant
from assistant.index.embedding import Encoder
from assistant.settings import Settings, bundled_model_path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SHORE_QUESTION = "Within what distance of the shore can French officers intercept boats?"


@pytest.fixture(scope="session")
def encoder(tmp_path_factory) -> Encoder:
    """One ONNX export of the bundled model for the whole run."""
    return Encoder(bundled_model_path(), tmp_path_factory.mktemp("encoder"))


@pytest.fixture(scope="session")
def reader():
    """The reader the assistant uses by default (Settings.reader), loaded once."""
    settings = Settings()
    return load_reader(settings.reader, settings.reader_path)


@pytest.fixture
def make_assistant(tmp_path, encoder, reader):
    """An assistant over a fresh index in this test's temporary folder."""

    def make(corpus: Path | None = None, **overrides) -> Assistant:
        settings = Settings(corpus_dir=corpus or tmp_path / "corpus", index_dir=tmp_path / "index", **overrides)
        return Assistant(settings, encoder=encoder, reader=reader)

    return make


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="session")
def seed_assistant(tmp_path_factory, encoder, reader) -> Assistant:
    """The two articles, indexed once for the read-only tests."""
    index_dir = tmp_path_factory.mktemp("seed-index")
    assistant = Assistant(Settings(corpus_dir=CORPUS, index_dir=index_dir), encoder=encoder, reader=reader)
    report = assistant.ingest()
    assert len(report.added) == 2 and not report.failed
    return assistant


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process, seconds: float = 120) -> None:
    """Poll url until it answers; fail if the server process exits or the time runs out."""
    import time
    import urllib.request

    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                pytest.fail(f"the server behind {url} did not start")
            time.sleep(0.3)


@pytest.fixture
def serve():
    """Launch the real Gradio app for an assistant on a free local port; closed after the test."""
    from assistant.server.ui import CITATION_LINKS_JS, CSS, build_app

    apps = []

    def start(assistant: Assistant, **launch_options) -> str:
        port = free_port()
        app = build_app(assistant)
        app.queue(default_concurrency_limit=8)
        app.launch(
            server_name="127.0.0.1",
            server_port=port,
            prevent_thread_lock=True,
            share=False,
            css=CSS,
            js=CITATION_LINKS_JS,
            **launch_options,
        )
        apps.append(app)
        return f"http://127.0.0.1:{port}/"

    yield start
    for app in apps:
        app.close()


@pytest.fixture
def writable_assistant(make_assistant, corpus_copy) -> Assistant:
    """The two articles in a corpus folder of this test's own, indexed: uploads and deletes may change it."""
    assistant = make_assistant(corpus_copy)
    assistant.ingest()
    return assistant


@pytest.fixture(scope="session")
def postgres():
    """A throw-away PostgreSQL 15 cluster on 127.0.0.1 for the whole run (tests/servers.py)."""
    from tests.servers import PostgresCluster, postgres_available

    if not postgres_available():
        pytest.fail("PostgreSQL 15 is not installed (/usr/lib/postgresql/15/bin); .ci/run installs it")
    cluster = PostgresCluster()
    yield cluster
    cluster.remove()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real `chroma run` on 127.0.0.1 for the whole run."""
    from tests.servers import ChromaServer

    server = ChromaServer(tmp_path_factory.mktemp("chroma-server"))
    yield server
    server.stop()


@pytest.fixture
def new_server_index(postgres, chroma_server, request):
    """Settings for server mode, one call per index: a new database on the cluster, a new collection on the Chroma server."""
    import itertools
    import re

    count = itertools.count()

    def make() -> dict:
        name = "t_" + re.sub(r"\W+", "_", request.node.name.lower())[:40] + f"_{next(count)}_{free_port()}"
        return {"database_url": postgres.create_database(name), "chroma_url": chroma_server.url, "collection": name}

    return make


@pytest.fixture(params=["embedded", "server"])
def index_mode(request):
    """Run a test in both modes: a function giving the settings of a new index ({} when embedded)."""
    if request.param == "embedded":
        return dict
    return request.getfixturevalue("new_server_index")


def settings_env(settings: dict) -> dict[str, str]:
    """The same settings as ASSISTANT_* variables, for a process of its own."""
    return {f"ASSISTANT_{key.upper()}": str(value) for key, value in settings.items()}
