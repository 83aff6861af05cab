"""Real servers for the server-mode tests: a throw-away PostgreSQL cluster and a `chroma run`, on 127.0.0.1.

PostgreSQL 15 comes from Debian's packages (`.ci/run` installs them where missing). initdb refuses
to run as root, so as root the cluster belongs to the `postgres` user, in a folder of its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import free_port, wait_until_serving

PG_BIN = Path(os.environ.get("ASSISTANT_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def postgres_available() -> bool:
    return (PG_BIN / "initdb").exists() and (os.geteuid() != 0 or shutil.which("runuser") is not None)


class PostgresCluster:
    def __init__(self, addresses: str = "127.0.0.1", allow: str | None = None) -> None:
        """Listening on ``addresses``; ``allow`` a subnet (besides the local one) whose clients may connect."""
        self.addresses, self.host = addresses, addresses.split(",")[-1]
        self.folder = Path(tempfile.mkdtemp(prefix="assistant-pg-"))
        self.data, self.log = self.folder / "data", self.folder / "server.log"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        if allow:
            with open(self.data / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {allow} trust\n")
        self.start()

    def _run(self, program: str, *args: str) -> None:
        command = [str(PG_BIN / program), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> None:
        options = f"-p {self.port} -h {self.addresses} -k {self.folder} -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.log), "-o", options)

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class ChromaServer:
    """`chroma run` over a folder; stop() and start() again keep its data and its port."""

    def __init__(self, folder: Path, address: str = "127.0.0.1") -> None:
        self.folder, self.address, self.port, self.process = folder, address, free_port(), None
        self.url = f"http://{address}:{self.port}"
        self.start()

    def start(self) -> None:
        chroma = str(Path(sys.executable).parent / "chroma")
        self.process = subprocess.Popen(
            [chroma, "run", "--path", str(self.folder), "--host", self.address, "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_serving(f"{self.url}/api/v2/heartbeat", self.process, 60)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)
        time.sleep(0.2)


class Network:
    """Real hosts but for the machine: one network namespace per app host, each with a veth on a bridge
    that holds the servers' address; the hosts share nothing but that network (as root: CI runs as root)."""

    SUBNET, SERVERS = "10.77.0.0/24", "10.77.0.1"

    def __init__(self, hosts: int) -> None:
        tag = str(os.getpid() % 100000)
        self.bridge, self.namespaces, self.addresses = f"asbr{tag}", [], []
        self._ip("link", "add", self.bridge, "type", "bridge")
        self._ip("addr", "add", f"{self.SERVERS}/24", "dev", self.bridge)
        self._ip("link", "set", self.bridge, "up")
        for i in range(hosts):
            namespace, outside, inside = f"ashost{tag}-{i}", f"asv{tag}{i}", f"asp{tag}{i}"
            self._ip("netns", "add", namespace)
            self.namespaces.append(namespace)
            self._ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            self._ip("link", "set", inside, "netns", namespace)
            self._ip("link", "set", outside, "master", self.bridge)
            self._ip("link", "set", outside, "up")
            address = f"10.77.0.{10 + i}"
            for command in (
                ("addr", "add", f"{address}/24", "dev", inside),
                ("link", "set", inside, "up"),
                ("link", "set", "lo", "up"),
            ):
                self._ip("netns", "exec", namespace, "ip", *command)
            self.addresses.append(address)

    @staticmethod
    def available() -> bool:
        """Root, `ip`, and the right to make a namespace (a container without CAP_SYS_ADMIN has not)."""
        if os.geteuid() != 0 or shutil.which("ip") is None:
            return False
        probe = f"asprobe{os.getpid()}"
        if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode:
            return False
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
        return True

    @staticmethod
    def _ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    def remove(self) -> None:
        for namespace in self.namespaces:  # its veth pair goes with it
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
