"""Quota mode: the server under test and its Redis (and a Linli worker started with it) share a
cgroup whose CPU quota is a fraction of one core, so the server is always the one at its limit
and the load generator, with a whole core of its own, never is. Both groups weigh ten times an
ordinary process, so on a machine shared with other work they still get their CPU: the quota
is then what limits the server, not the neighbours.

Pinning alone (``bench/infra.py``) gives the server a core, but on a shared machine that core's
spare time depends on the neighbours; a quota below what the core has free makes "what this
server does with half a core" the same question on a busy and a quiet machine.

cgroup v2 (``cpu.max``, where the ``cpu`` controller is on the unified hierarchy) is used when
available, else cgroup v1's ``cpu.cfs_quota_us``/``cpu.cfs_period_us`` (hybrid hosts bind the
controller there); when neither is writable the run goes on unquota'd and says so in its report
(``quota.applied`` false, with the reason), never silently.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CGROUP_ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000
#: The group's weight against the other processes on its core (v1 ``cpu.shares``, default
#: 1024; v2 ``cpu.weight``, default 100): ten times a process's, so neighbours on a shared
#: machine cannot take the server's half core from it. The quota still caps it at ``cores``.
SHARES_V1 = 10_240
WEIGHT_V2 = 1_000


@dataclass
class Quota:
    """A cgroup limited to ``cores`` CPUs, or the reason there is none (``applied`` False)."""

    cores: float
    applied: bool = False
    version: str = ""
    path: Path | None = None
    reason: str = ""
    #: The load generator's group: the same weight, no quota (it has a core of its own, and
    #: must not be the limit on a machine whose other processes would take that core).
    loadgen_path: Path | None = None
    _pids: set[int] = field(default_factory=set)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cores": self.cores, "applied": self.applied}
        if self.applied:
            out["cgroup"] = f"{self.version} {self.path}"
            out["limit"] = (
                f"cpu.max {int(self.cores * PERIOD_US)} {PERIOD_US}, cpu.weight {WEIGHT_V2}"
                if self.version == "v2"
                else f"cpu.cfs_quota_us {int(self.cores * PERIOD_US)} / {PERIOD_US}, "
                f"cpu.shares {SHARES_V1}"
            )
        else:
            out["reason"] = self.reason
        return out

    def add(self, pid: int | None) -> None:
        """Move a process (all its threads; its later children follow) into the cgroup."""
        if not self.applied or not pid or self.path is None:
            return
        with contextlib.suppress(ProcessLookupError, OSError):
            (self.path / "cgroup.procs").write_text(str(pid))
            self._pids.add(pid)

    def add_loadgen(self, pid: int | None) -> None:
        if not self.applied or not pid or self.loadgen_path is None:
            return
        with contextlib.suppress(ProcessLookupError, OSError):
            (self.loadgen_path / "cgroup.procs").write_text(str(pid))

    def throttled(self) -> dict[str, int]:
        """``cpu.stat``: how often the quota held the group back (nr_throttled, throttled_*)."""
        if not self.applied or self.path is None:
            return {}
        out: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in (self.path / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key.startswith(("nr_", "throttled")) and value.isdigit():
                    out[key] = int(value)
        return out

    def close(self) -> None:
        """Move whatever is left back to the root group and remove the cgroups."""
        for path in (self.path, self.loadgen_path):
            if not self.applied or path is None:
                continue
            with contextlib.suppress(OSError):
                for pid in (path / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError):
                        (path.parent / "cgroup.procs").write_text(pid)
            with contextlib.suppress(OSError):
                path.rmdir()


def _v2_root() -> Path | None:
    """The unified hierarchy's mount if its ``cpu`` controller is usable there."""
    for candidate in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        controllers = candidate / "cgroup.controllers"
        with contextlib.suppress(OSError):
            if "cpu" in controllers.read_text().split():
                return candidate
    return None


def make_quota(cores: float | None, name: str) -> Quota:
    """A fresh cgroup ``linli-bench-<name>`` limited to ``cores``; ``None`` or 0: no quota."""
    if not cores:
        return Quota(0.0, reason="not asked for (--quota 0)")
    quota_us = int(cores * PERIOD_US)
    if os.geteuid() != 0:
        return Quota(cores, reason="not root: cgroups are not writable")
    root = _v2_root()
    try:
        if root is not None:
            with contextlib.suppress(OSError):  # already on, or not allowed at the root
                (root / "cgroup.subtree_control").write_text("+cpu")
            path = root / f"linli-bench-{name}"
            path.mkdir(exist_ok=True)
            (path / "cpu.max").write_text(f"{quota_us} {PERIOD_US}")
            with contextlib.suppress(OSError):
                (path / "cpu.weight").write_text(str(WEIGHT_V2))
            loadgen = root / f"linli-bench-{name}-loadgen"
            loadgen.mkdir(exist_ok=True)
            with contextlib.suppress(OSError):
                (loadgen / "cpu.weight").write_text(str(WEIGHT_V2))
            return Quota(cores, applied=True, version="v2", path=path, loadgen_path=loadgen)
        v1 = CGROUP_ROOT / "cpu"
        if (v1 / "cpu.cfs_quota_us").exists():
            path = v1 / f"linli-bench-{name}"
            path.mkdir(exist_ok=True)
            (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (path / "cpu.cfs_quota_us").write_text(str(quota_us))
            with contextlib.suppress(OSError):
                (path / "cpu.shares").write_text(str(SHARES_V1))
            loadgen = v1 / f"linli-bench-{name}-loadgen"
            loadgen.mkdir(exist_ok=True)
            with contextlib.suppress(OSError):
                (loadgen / "cpu.shares").write_text(str(SHARES_V1))
            return Quota(cores, applied=True, version="v1", path=path, loadgen_path=loadgen)
    except OSError as exc:
        return Quota(cores, reason=f"cgroup not writable: {exc}")
    return Quota(cores, reason="no cgroup cpu controller (v2 cpu.max or v1 cpu.cfs_quota_us)")
