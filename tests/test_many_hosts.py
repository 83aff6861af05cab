"""Many hosts, one index (#19): app hosts as separate `python app.py` processes, each with an index
folder of its own and, as root, a network namespace of its own, sharing only a real PostgreSQL cluster
and a real `chroma run` over the network; spoken to with a real HTTP client."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from assistant.facade import Assistant
from assistant.index.migrate import MigrationError, migrate
from assistant.settings import Settings
from tests.answers import assert_same_answer
from tests.conftest import CORPUS, SHORE_QUESTION, free_port, settings_env
from tests.test_crash import with_encoder, write_corpus

ROOT = Path(__file__).resolve().parent.parent
LIGHTHOUSE = b"The lighthouse keeper of Port Ellery is Agnes Trevelyan. She has kept the light since 1998."
LIGHTHOUSE_QUESTION = "Who is the lighthouse keeper of Port Ellery?"
API_KEY = "test-key-for-the-hosts"
QUESTIONS = {  # question -> words its answer must hold, whatever else is indexed
    SHORE_QUESTION: "300 metres",
    "Who is the Shadow Home Secretary?": "Chris Philp",
    "What is the largest police union in France?": "Alliance",
}


class Host:
    """One app host: `python app.py --no-ingest` on a port of its own, its own index folder and corpus folder;
    in a network namespace of its own when given one (then on its own address, with a password and an API key)."""

    def __init__(self, folder: Path, server: dict, encoder, namespace: str | None = None, address: str = "127.0.0.1") -> None:
        self.folder, self.port = folder, free_port()
        with_encoder(folder / "index", encoder)  # the ONNX export is a per-host cache: copied, not shared
        (folder / "corpus").mkdir()
        env = {
            **os.environ,
            **settings_env(server),
            "ASSISTANT_INDEX_DIR": str(folder / "index"),
            "ASSISTANT_CORPUS_DIR": str(folder / "corpus"),
            "ASSISTANT_API_KEY": API_KEY,
        }
        command = [sys.executable, str(ROOT / "app.py"), "--no-ingest", "--host", address, "--port", str(self.port)]
        if namespace:
            command = ["ip", "netns", "exec", namespace, *command, "--auth", "team:a-long-password"]
        self.log = open(folder / "host.log", "w")  # noqa: SIM115 (open for the life of the process)
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://{address}:{self.port}"
        self.http = httpx.Client(base_url=self.url, timeout=60, headers={"Authorization": f"Bearer {API_KEY}"})
        deadline = time.time() + 180
        while not self._serving():
            assert self.process.poll() is None and time.time() < deadline, (folder / "host.log").read_text()[-3000:]
            time.sleep(0.3)

    def _serving(self) -> bool:
        try:
            return self.http.get("/v1/models", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def ask(self, question: str) -> httpx.Response:
        body = {"model": "corpus-assistant", "messages": [{"role": "user", "content": question}]}
        return self.http.post("/v1/chat/completions", json=body)

    def answer(self, question: str) -> dict:
        response = self.ask(question)
        assert response.status_code == 200, response.text
        return response.json()["corpus_assistant"]

    def stop(self) -> None:
        self.http.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    """As root: two network namespaces for the hosts and servers that listen on the bridge between them."""
    from tests.servers import ChromaServer, Network, PostgresCluster

    if not Network.available():
        yield None  # not root: the hosts are processes on 127.0.0.1 (the same code path, less isolation)
        return
    net = Network(hosts=2)
    postgres = chroma = None
    try:
        postgres = PostgresCluster(addresses=f"127.0.0.1,{Network.SERVERS}", allow=Network.SUBNET)
        chroma = ChromaServer(tmp_path_factory.mktemp("chroma-netns"), address=Network.SERVERS)
        yield net, postgres, chroma
    finally:
        if chroma:
            chroma.stop()
        if postgres:
            postgres.remove()
        net.remove()


@pytest.fixture
def hosts(tmp_path, encoder, reader, network, request):
    """Two app hosts over one freshly ingested server-mode index of the two articles."""
    if network:
        net, postgres, chroma = network
        name = f"h{free_port()}"
        server = {"database_url": postgres.create_database(name), "chroma_url": chroma.url, "collection": name}
        places = list(zip(net.namespaces, net.addresses))
    else:
        server, places = request.getfixturevalue("new_server_index")(), [(None, "127.0.0.1")] * 2
    Assistant(Settings(corpus_dir=CORPUS, index_dir=tmp_path / "ingest-host", **server), encoder=encoder, reader=reader).ingest()
    with ThreadPoolExecutor(2) as pool:  # their start-ups overlap: ~10 s each here
        started = list(pool.map(lambda n: Host(tmp_path / f"host-{n}", server, encoder, *places[n]), range(2)))
    yield server, *started
    for host in started:
        host.stop()


def wait_for(condition, seconds: float) -> float:
    """Seconds until condition() held (counting the call that saw it); fails if that took over ``seconds``."""
    started = time.perf_counter()
    while not condition():
        assert time.perf_counter() - started < seconds, f"not within {seconds} s"
        time.sleep(0.05)
    took = time.perf_counter() - started
    assert took <= seconds, f"took {took:.2f} s, over {seconds} s"
    return took


def test_an_upload_on_one_host_is_answered_on_the_other_within_2_s_and_a_delete_is_gone_everywhere(hosts, tmp_path):
    server, host_a, host_b = hosts
    for host in hosts[1:]:  # warm: the reader loads on a host's first question (~2 s), not part of what is measured
        assert host.answer(LIGHTHOUSE_QUESTION)["outcome"] != "answered"

    uploaded = host_a.http.post("/v1/documents", params={"name": "lighthouse.txt"}, content=LIGHTHOUSE)
    assert uploaded.status_code == 200, uploaded.text
    doc_id = uploaded.json()["data"][0]["doc_id"]
    seen_after = wait_for(lambda: "Agnes Trevelyan" in host_b.answer(LIGHTHOUSE_QUESTION)["answer"], 2.0)
    print(f"upload on A answered on B after {seen_after:.2f} s")
    assert doc_id in [d["doc_id"] for d in host_b.http.get("/v1/documents").json()["data"]]
    assert not (host_a.folder / "index" / "catalog.sqlite").exists()  # the hosts keep no index state
    assert not (host_a.folder / "index" / "chroma").exists() and not (host_a.folder / "index" / "bm25").exists()

    assert host_b.http.delete(f"/v1/documents/{doc_id}").json()["deleted"] == doc_id
    gone_after = wait_for(lambda: "Agnes Trevelyan" not in host_a.answer(LIGHTHOUSE_QUESTION)["answer"], 2.0)
    print(f"delete on B gone on A after {gone_after:.2f} s")
    answer = host_a.answer(LIGHTHOUSE_QUESTION)
    assert all(hit["doc_id"] != doc_id for hit in answer["retrieved"])  # no host cites a chunk the catalog no longer has
    assert host_a.http.delete(f"/v1/documents/{doc_id}").status_code == 404


def test_40_chats_over_two_hosts_while_a_third_process_ingests_300_documents(hosts, tmp_path, encoder):
    server, host_a, host_b = hosts
    corpus = tmp_path / "ingest-job"
    write_corpus(corpus, 300)
    env = {**os.environ, **settings_env(server), "ASSISTANT_INDEX_DIR": str(with_encoder(tmp_path / "job", encoder))}
    job = subprocess.Popen(
        [str(Path(sys.executable).parent / "assistant"), "ingest", str(corpus)], env=env, stderr=subprocess.PIPE, text=True
    )
    questions = [(host, question) for _ in range(7) for host in (host_a, host_b) for question in QUESTIONS][:40]

    def chat(host_and_question):
        host, question = host_and_question
        return question, host.ask(question)

    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(chat, questions))
    assert job.wait(timeout=600) == 0, job.stderr.read()[-3000:]
    for question, response in results:
        assert response.status_code == 200, response.text
        assert QUESTIONS[question] in response.json()["corpus_assistant"]["answer"], question
    status = host_b.http.get("/v1/documents").json()["data"]
    assert len(status) == 302 and len({d["doc_id"] for d in status}) == 302
    checked = Assistant(Settings(index_dir=tmp_path / "checker", **server), encoder=encoder).status()
    assert checked["chunks"] == checked["vectors"] == 10 + 300
    late = host_a.answer("How many visitors does the harbour logbook entry 290 record?")  # a note the job wrote last
    assert any(hit["path"].endswith("note-00290.txt") for hit in late["retrieved"][:3]), late["retrieved"][:3]


def test_answers_during_a_database_outage_are_a_clear_503_and_a_chroma_outage_does_not_stop_them(tmp_path, encoder, reader):
    """The database holds the catalog: without it, 503 until it is back. A host keeps its vectors in memory (exact
    search): it answers through a Chroma outage; a process that must load them (the CLI) says Chroma is unreachable."""
    from tests.servers import ChromaServer, PostgresCluster

    postgres, chroma = PostgresCluster(), ChromaServer(tmp_path / "chroma")  # their own: this test stops them
    host = None
    try:
        server = {"database_url": postgres.create_database("outage"), "chroma_url": chroma.url}
        Assistant(Settings(corpus_dir=CORPUS, index_dir=tmp_path / "ingest", **server), encoder=encoder, reader=reader).ingest()
        host = Host(tmp_path / "host", server, encoder)
        assert "300 metres" in host.answer(SHORE_QUESTION)["answer"]
        postgres.stop()
        response = host.ask(SHORE_QUESTION)
        assert response.status_code == 503, response.text
        message = response.json()["error"]["message"]
        assert "unavailable" in message and "Traceback" not in message, message
        postgres.start()
        wait_for(lambda: host.ask(SHORE_QUESTION).status_code == 200, 15)
        assert "300 metres" in host.answer(SHORE_QUESTION)["answer"]
        chroma.stop()
        assert "300 metres" in host.answer(SHORE_QUESTION)["answer"]  # from the vectors it holds
        cli = subprocess.run(
            [str(Path(sys.executable).parent / "assistant"), "ask", SHORE_QUESTION],
            env={**os.environ, **settings_env(server), "ASSISTANT_INDEX_DIR": str(tmp_path / "ingest")},
            capture_output=True,
            text=True,
        )
        assert cli.returncode == 7 and "Chroma server" in cli.stderr and "Traceback" not in cli.stderr, cli.stderr
    finally:
        if host:
            host.stop()
        postgres.remove()
        if chroma.process.poll() is None:
            chroma.stop()


def test_migrate_copies_the_seed_index_into_the_servers_and_answers_stay_identical(tmp_path, encoder, reader, new_server_index):
    server = new_server_index()
    embedded = Settings(corpus_dir=CORPUS, index_dir=tmp_path / "index", collection=server["collection"])
    before = Assistant(embedded, encoder=encoder, reader=reader)
    before.ingest()
    with pytest.raises(MigrationError, match="needs both"):
        migrate(embedded, embedded.model_copy(update={"database_url": server["database_url"]}))

    cli = subprocess.run(
        [str(Path(sys.executable).parent / "assistant"), "migrate", "--index", str(tmp_path / "index"),
         "--database-url", server["database_url"], "--chroma-url", server["chroma_url"]],
        env={**os.environ, "ASSISTANT_COLLECTION": server["collection"]}, capture_output=True, text=True,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert "copied 2 documents, 10 chunks, 10 vectors" in cli.stdout

    after = Assistant(Settings(corpus_dir=CORPUS, index_dir=tmp_path / "host", **server), encoder=encoder, reader=reader)
    assert after.ingest().chunks_embedded == 0  # nothing embedded again: the same documents, already there
    for question in [*QUESTIONS, LIGHTHOUSE_QUESTION, "How much has Britain paid France to stop the boats?"]:
        assert_same_answer(after.ask(question).to_json(), before.ask(question).to_json(), question)
    again = subprocess.run(
        [str(Path(sys.executable).parent / "assistant"), "migrate", "--index", str(tmp_path / "index"),
         "--database-url", server["database_url"], "--chroma-url", server["chroma_url"]],
        env={**os.environ, "ASSISTANT_COLLECTION": server["collection"]}, capture_output=True, text=True,
    )  # fmt: skip
    assert again.returncode == 2 and "not empty" in again.stderr


def test_two_ingests_started_on_two_hosts_at_once_one_runs_the_other_is_refused(tmp_path, encoder, new_server_index):
    server = new_server_index()
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 400)
    env = {**os.environ, **settings_env(server), "ASSISTANT_CORPUS_DIR": str(corpus)}
    ingests = [
        subprocess.Popen(
            [str(Path(sys.executable).parent / "assistant"), "ingest"],
            env={**env, "ASSISTANT_INDEX_DIR": str(with_encoder(tmp_path / f"host-{name}", encoder))},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in "ab"
    ]
    codes = sorted(process.wait(timeout=600) for process in ingests)
    assert codes == [0, 5], [process.stderr.read() for process in ingests]
    refused = next(process for process in ingests if process.returncode == 5)
    assert "is writing to the index in postgresql://" in refused.stderr.read()
    status = Assistant(Settings(index_dir=tmp_path / "check", **server), encoder=encoder).status()
    assert status["documents"] == status["chunks"] == status["vectors"] == 400


def test_a_writer_killed_with_9_releases_the_lock_with_its_connection(new_server_index, tmp_path):
    import signal

    from assistant.index.lock import IndexLockedError, write_lock

    server = new_server_index()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from assistant.index.lock import write_lock\n"
         f"with write_lock(None, {server['database_url']!r}):\n    print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(IndexLockedError, match=f"pid {holder.pid}"), write_lock(tmp_path, server["database_url"]):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()

    def free() -> bool:
        try:
            with write_lock(tmp_path, server["database_url"]):
                return True
        except IndexLockedError:
            return False

    assert wait_for(free, 5) < 5
