"""A Redis Cluster of real ``redis-server`` processes on free ports in a temporary directory, for
the contract suites' cluster runs, the failover test and the capacity measurements (design
0034; here so that both the tests and the benchmark may use it).

Three masters and three replicas by default, created with ``redis-cli --cluster create``; a short
``cluster-node-timeout`` so a killed master's replica takes over within a few seconds.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ClusterUnavailable(RuntimeError):
    """The cluster could not be started (no redis-server, or it did not come up)."""


def free_ports(count: int) -> list[int]:
    """Ports free now, and their +10000 cluster bus ports too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


def _cli(port: int, *args: str, timeout: float = 10.0) -> str:
    out = subprocess.run(
        ["redis-cli", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return out.stdout


@dataclass
class LocalCluster:
    masters: int = 3
    replicas: int = 1
    node_timeout_ms: int = 1000
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="linli-rc-")))
    ports: list[int] = field(default_factory=list)
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self, timeout: float = 30.0) -> LocalCluster:
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            raise ClusterUnavailable("redis-server and redis-cli are needed on the PATH")
        self.ports = free_ports(self.masters * (1 + self.replicas))
        try:
            for port in self.ports:
                self._spawn(port)
            deadline = time.monotonic() + timeout
            for port in self.ports:
                while _cli(port, "PING").strip() != "PONG":
                    if time.monotonic() > deadline:
                        raise ClusterUnavailable(f"redis-server on {port} did not start")
                    time.sleep(0.05)
            created = subprocess.run(
                [
                    "redis-cli",
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{p}" for p in self.ports),
                    "--cluster-replicas",
                    str(self.replicas),
                    "--cluster-yes",
                ],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            if created.returncode != 0:
                raise ClusterUnavailable(f"redis-cli --cluster create: {created.stdout[-500:]}")
            self.wait_ok(deadline - time.monotonic())
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, port: int) -> None:
        node_dir = self.directory / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        with (node_dir / "redis.log").open("ab") as log:  # the child keeps its own copy
            self._popen(port, node_dir, log)

    def _popen(self, port: int, node_dir: Path, log: Any) -> None:
        self.processes[port] = subprocess.Popen(
            [
                "redis-server",
                *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir)),
                *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                *("--cluster-node-timeout", str(self.node_timeout_ms)),
                *("--appendonly", "no", "--save", "", "--protected-mode", "no"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=node_dir,
        )

    def wait_ok(self, timeout: float) -> None:
        """Until every live node reports ``cluster_state:ok`` with every slot assigned, agrees
        on the masters, and every replica is in sync with its master."""
        deadline = time.monotonic() + max(timeout, 1.0)
        while True:
            live = [p for p in self.ports if self.processes[p].poll() is None]
            infos = [_cli(p, "CLUSTER", "INFO") for p in live]
            if all("cluster_state:ok" in i and "cluster_slots_ok:16384" in i for i in infos):
                views = {frozenset(self.masters_of(p)) for p in live}
                if len(views) == 1 and all(self._synced(p) for p in live):
                    return
            if time.monotonic() > deadline:
                raise ClusterUnavailable("the cluster did not reach cluster_state:ok")
            time.sleep(0.1)

    def _synced(self, port: int) -> bool:
        """A replica has finished its first sync (WAIT counts only such replicas)."""
        info = _cli(port, "INFO", "replication")
        return "role:master" in info or "master_link_status:up" in info

    def masters_of(self, port: int) -> list[int]:
        """Ports of the masters that own slots, as the node on ``port`` sees them."""
        masters = []
        for line in _cli(port, "CLUSTER", "NODES").splitlines():
            parts = line.split()
            if len(parts) >= 9 and "master" in parts[2] and "fail" not in parts[2]:
                masters.append(int(parts[1].split("@")[0].rsplit(":", 1)[1]))
        return sorted(masters)

    def master_of_slot(self, slot: int) -> int:
        live = next(p for p in self.ports if self.processes[p].poll() is None)
        for line in _cli(live, "CLUSTER", "NODES").splitlines():
            parts = line.split()
            if len(parts) < 9 or "master" not in parts[2] or "fail" in parts[2]:
                continue
            for span in parts[8:]:
                if span.startswith("["):
                    continue
                low, _, high = span.partition("-")
                if int(low) <= slot <= int(high or low):
                    return int(parts[1].split("@")[0].rsplit(":", 1)[1])
        raise LookupError(f"no master owns slot {slot}")

    def kill(self, port: int) -> None:
        """SIGKILL one node: no shutdown, no last write."""
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.processes.clear()
        if not os.environ.get("LINLI_KEEP_CLUSTER_DIR"):
            shutil.rmtree(self.directory, ignore_errors=True)
