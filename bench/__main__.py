"""``python -m bench setup`` installs the peers and the load generator's extras (``.[bench]``:
python-socketio, aiohttp; uvloop is a dependency of Linli itself) from PyPI, and the Node peers
(``bench/peers/node``: ws, node-redis, socket.io, @socket.io/redis-adapter) with ``npm ci``.

``python -m bench run [--smoke | --quick] [--servers …] [--scenarios …] [--out FILE]``

* full (the default): every scenario, 10 s measurement windows, 3 repetitions, medians;
* ``--quick``: the same loads once, with 4 s windows;
* ``--smoke``: small loads, about a second each — checks that the suite still works.

Prints a Markdown table and writes the JSON results (``bench/results/<mode>-<time>.json``
unless ``--out`` says otherwise). Needs ``redis-server`` on the PATH (a private one is started on
a free port) and PostgreSQL (``LINLI_BENCH_DATABASE_URL``, else ``LINLI_TEST_DATABASE_URL``, else
``postgresql://postgres@127.0.0.1:5432/test``; a fresh schema is used and dropped) for the
scaled-mode scenarios; the embedded-mode ones need neither.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import shutil
import subprocess
import sys
from pathlib import Path

from bench import run as bench_run
from bench.run import DEFAULT_SCENARIOS, MODES, SCENARIOS, run, save, table
from bench.servers import NODE_PEERS, SERVERS

RESULTS = Path(__file__).resolve().parent / "results"


def setup() -> int:
    """The Python extras from PyPI, then the Node peers from the npm registry (``npm ci``
    against the committed lock, so every machine runs the same versions)."""
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "pip", "install", "-e", f"{root}[bench]"]
    print(" ".join(cmd), file=sys.stderr)
    rc = subprocess.call(cmd)
    if rc != 0:
        return rc
    if shutil.which("npm") is None:
        print("npm not found: the Node peers (node-*) will be reported as errors", file=sys.stderr)
        return 0
    cmd = ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(NODE_PEERS)]
    print(" ".join(cmd), file=sys.stderr)
    return subprocess.call(cmd)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    table_cmd = sub.add_parser("table", help="print the Markdown table of a saved JSON result")
    table_cmd.add_argument("file", type=Path)
    sub.add_parser(
        "setup",
        help="install the peers and the load generator's extras from PyPI (.[bench]) and the "
        "Node peers from the npm registry (npm ci in bench/peers/node)",
    )
    run_cmd = sub.add_parser("run", help="run the benchmarks")
    speed = run_cmd.add_mutually_exclusive_group()
    speed.add_argument("--quick", action="store_true", help="one repetition, 4 s windows")
    speed.add_argument("--smoke", action="store_true", help="tiny loads, ~1 s per scenario")
    run_cmd.add_argument(
        "--servers", default=",".join(SERVERS), help=f"comma-separated, of {','.join(SERVERS)}"
    )
    run_cmd.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help=f"comma-separated, of {','.join(SCENARIOS)}",
    )
    run_cmd.add_argument(
        "--core",
        default="HEAD",
        help="git ref whose committed core the servers run (default HEAD), or 'worktree' for "
        "the files as they are",
    )
    run_cmd.add_argument(
        "--profile",
        type=Path,
        help="sample each server with py-spy during its scenarios; collapsed stacks go here",
    )
    run_cmd.add_argument(
        "--repetitions", type=int, help="override the mode's number of repetitions"
    )
    run_cmd.add_argument(
        "--quota",
        type=float,
        help="CPU quota in cores for the server + its Redis (cgroup; default 0.5, 0 for none; "
        "smoke: none)",
    )
    run_cmd.add_argument("--out", type=Path, help="where to write the JSON results")
    run_cmd.add_argument("--no-save", action="store_true", help="do not write JSON results")
    args = parser.parse_args()
    if args.command == "table":
        print(table(json.loads(args.file.read_text())))
        return
    if args.command == "setup":
        sys.exit(setup())
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    if args.repetitions:
        mode = dataclasses.replace(mode, repetitions=args.repetitions)
    if args.quota is not None:
        mode = dataclasses.replace(mode, quota=args.quota)
    servers = [s for s in args.servers.split(",") if s]
    scenarios = [s for s in args.scenarios.split(",") if s]
    for name in servers:
        if name not in SERVERS:
            parser.error(f"unknown server {name!r}")
    for name in scenarios:
        if name not in SCENARIOS:
            parser.error(f"unknown scenario {name!r}")
    out = args.out
    if out is None and not args.no_save:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        out = RESULTS / f"{mode.name}-{stamp}.json"
    if args.profile:
        bench_run.PROFILE_DIR = args.profile
    save_to = None if args.no_save else out
    report = asyncio.run(
        run(
            mode,
            servers,
            scenarios,
            args.core,
            progress=(lambda partial: save(partial, save_to)) if save_to else None,
        )
    )
    if save_to is not None:
        save(report, save_to)
    print(table(report))
    if out is not None and not args.no_save:
        print(f"\nresults: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
