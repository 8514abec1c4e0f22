"""Command line shared by the peers: ``--port``, ``--redis-url``, ``--prefix``."""

from __future__ import annotations

import argparse


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--prefix", default="bench:peer:")
    return parser.parse_args()
