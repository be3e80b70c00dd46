"""Real servers for the scale-out tests: PostgreSQL 15 and Redis from the Debian packages, started
on temp dirs and free loopback ports, stopped at the end of the session.

Use the fixtures by importing them into a test module:
``from tests.servers import postgres_server, redis_server  # noqa: F401``.
They skip (with the reason) only where the binaries are absent.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("POLYDUB_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


class Postgres:
    """initdb + pg_ctl on a temp dir. PostgreSQL refuses to run as root: then it runs as the
    'postgres' system user (the Debian package creates it)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="polydub-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.user = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
                self.user = "postgres"
            except KeyError:
                self.user = "nobody"
            shutil.chown(self.folder, self.user)
            self.folder.chmod(0o700)
        self._count = 0

    def _run(self, *args: str) -> None:
        subprocess.run([str(PG_BIN / args[0]), *args[1:]], check=True, capture_output=True, user=self.user,
                       cwd=self.folder, timeout=120)

    def start(self) -> Postgres:
        self._run("initdb", "-D", str(self.data), "-U", "polydub", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--locale=C")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "-t", "60", "start", "-o",
                  f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder} "
                  "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://polydub@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database (one per test: no state leaks between tests)."""
        import psycopg

        self._count += 1
        name = f"t{os.getpid()}_{self._count}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=polydub dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


class Redis:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="polydub-redis-"))
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> Redis:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL is not installed ({PG_BIN}/initdb missing; Debian: apt install postgresql)")
    pytest.importorskip("psycopg", reason="psycopg 3 is not installed")
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server():
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (Debian: apt install redis-server)")
    server = Redis().start()
    yield server
    server.stop()


def polydub_command(*args: str) -> list[str]:
    """The CLI as operators run it (`polydub ...`), from this checkout."""
    return [sys.executable, "-m", "polydub.cli", *args]


def child_env(**extra: str) -> dict[str, str]:
    from tests.conftest import REPO

    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}", **extra}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


class Worker:
    """`polydub worker ...` in a child process (its own process group, so kill -9 takes it all)."""

    def __init__(self, name: str, broker: str, data_dir: Path, database_url: str | None, *extra: str,
                 log: Path | None = None) -> None:
        args = ["worker", "--broker", broker, "--data-dir", str(data_dir), "--name", name, *extra]
        if database_url:
            args += ["--database-url", database_url]
        self.name = name
        self.log = log
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(polydub_command(*args), env=child_env(), stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        # pool processes have process groups of their own; they end themselves when this one is gone
