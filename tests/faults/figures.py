"""What the fault suite reports beside its verdicts: a process' resident memory and the
machine's load (timing figures from a shared machine mean little without it)."""

from __future__ import annotations

from pathlib import Path


def rss_kib(pid: int) -> int:
    """The process' resident set size (``VmRSS``), KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg gives them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) the process has used so far, in seconds: unlike a latency,
    what a piece of work costs in it does not depend on how busy the rest of the machine is."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command's ")": state is field 3 of proc(5), utime and stime fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
