"""A redis-server of the fault suite's own, on a free port, with an append-only file fsynced on
every write (``--appendonly yes --appendfsync always``): killed with SIGKILL and started again
in the same directory, it comes back with everything it acknowledged."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import IN_CI, free_port

#: ``always`` (the suite's), ``everysec`` (docs/operations.md's recommendation: a process crash
#: loses at most one write, since every write reaches the kernel before its reply; the second
#: at risk is a machine crash's, which a SIGKILL does not show) or ``none`` (no AOF: Redis comes
#: back empty, and the chat scenario loses acked messages; docs/design/0038-fault-suite.md).
PERSISTENCE = os.environ.get("LINLI_FAULTS_REDIS_PERSISTENCE", "always")


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server (Debian package redis-server) is not installed"
        if IN_CI:
            pytest.fail(f"{message} (CI=true)")
        pytest.skip(message)
    return binary


class AofRedis:
    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log = directory / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> AofRedis:
        self.process = subprocess.Popen(
            [
                redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                *_persistence_args(PERSISTENCE),
                "--logfile",
                str(self._log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            # Up means it answers PING (with AOF it first loads the file; until then it
            # answers LOADING, which is not PONG).
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {self._log.read_text()[-2000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final write; only what the AOF already holds survives."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def _persistence_args(mode: str) -> list[str]:
    if mode == "none":
        return ["--appendonly", "no"]
    if mode in ("always", "everysec"):
        return ["--appendonly", "yes", "--appendfsync", mode]
    raise ValueError(f"LINLI_FAULTS_REDIS_PERSISTENCE: always, everysec or none, not {mode!r}")
