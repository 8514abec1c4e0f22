"""Live polls under load: votes accepted per second, and the time from a vote to a watcher's
screen showing it (p50/p99) — the ``votes`` scenario of ``python -m bench run`` on its own, with
the choices it does not offer (embedded mode, a steady pace, the tally rate).

Starts the real server (``linli serve``, 127.0.0.1 only; scaled: with ``linli worker votes`` and
a Redis of its own) pinned to CPU 0 as ``bench/servers.py`` does, makes ``--voters`` residents
with sessions written into the store, and has the load generator (``bench/loadgen.py``, on
CPU 1) connect them all over real WebSockets (not timed), watch the poll's channel, and vote:
all at once (``--pace 0``, a meeting's "vote now!") or spread at ``--pace`` votes per second.

* **accepted/s**: first ballots acked by the gateway (checked and queued) per second, from the
  first vote sent to the last ack.
* **vote → screen**: for the k-th vote sent, the time until the watcher received a tally with at
  least k voters (tallies are whole snapshots counted from the stored votes; every voter votes
  once, so that is the first screen that can include it). It includes the coalescing delay of
  ``--tally-rate`` updates per second.
* **exact**: the last tally on the screen, the stored tally (``GET /api/polls/{id}``) and the
  ballots as acked all agree; the command fails otherwise.

Reproduce (from the repository root, with the venv active)::

    python -m bench.votes --voters 500                      # embedded: SQLite, in-process queue
    python -m bench.votes --voters 500 --mode scaled        # Redis + PostgreSQL on 127.0.0.1
    python -m bench.votes --voters 500 --pace 100           # steady 100 votes/s
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.infra import DEFAULT_PG_URL, ROOT, Infra, raise_fd_limit, use_core
from bench.run import run_votes
from bench.servers import SERVERS

#: Bounds: a benchmark must finish, whatever happens.
MAX_VOTERS = 2000
KINDS = {"embedded": "linli-embedded", "scaled": "linli"}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit()
    use_core(ROOT)  # the working tree's core, here and in the server and load generator
    params = {
        "voters": args.voters,
        "changes": args.changes,
        "pace": args.pace,
        "tally_rate": args.tally_rate,
    }
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
        infra = Infra(Path(tmp), args.database_url)
        try:
            result = await run_votes(infra, SERVERS[KINDS[args.mode]], params, rooms=1)
        finally:
            await infra.close()
    return {
        "mode": args.mode,
        "pace": args.pace or "burst",
        "tally_rate": args.tally_rate,
        **result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voters", type=int, default=500)
    parser.add_argument("--mode", choices=list(KINDS), default="embedded")
    parser.add_argument("--pace", type=float, default=0.0, help="votes per second (0: all at once)")
    parser.add_argument(
        "--changes", type=int, default=0, help="voters who then change their vote (default 0)"
    )
    parser.add_argument("--tally-rate", type=float, default=10.0)
    parser.add_argument(
        "--database-url", default=DEFAULT_PG_URL, help="PostgreSQL for --mode scaled"
    )
    args = parser.parse_args()
    if not 1 <= args.voters <= MAX_VOTERS:
        parser.error(f"--voters must be 1 to {MAX_VOTERS}")
    if not 0 <= args.changes <= args.voters:
        parser.error("--changes must be 0 to --voters")
    url = args.database_url
    if args.mode == "scaled" and "127.0.0.1" not in url and "localhost" not in url:
        parser.error("the benchmark only talks to servers on 127.0.0.1")
    result = asyncio.run(run(args))
    print(" ".join(sys.argv))
    if "error" in result:
        sys.exit(f"{result['mode']}: {result['error']}")
    print(
        f"{result['mode']}: {result['accepted']} of {result['voters']} voters ({result['pace']}), "
        f"{result['accepted_per_s']} votes accepted/s; "
        f"ack p50 {result['ack_p50_ms']} ms p99 {result['ack_p99_ms']} ms; "
        f"vote→screen p50 {result['screen_p50_ms']} ms p99 {result['screen_p99_ms']} ms; "
        f"{result['tally_updates']} tally updates on the watcher "
        f"(at most {result['tally_rate']:g}/s); exact tally: {result.get('exact')}"
    )
    if result.get("exact") is not True:
        sys.exit("the tallies on the screen, in the store and as acked differ")


if __name__ == "__main__":
    main()
