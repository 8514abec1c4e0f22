"""Peer (for information): ``bench/peers/ws_broadcast.py`` unchanged, on uvloop's event loop as
Linli runs by default (``LINLI_EVENT_LOOP``) — so a reader can tell what the loop gives from
what Linli's own design gives."""

from __future__ import annotations

import uvloop

from bench.peers.ws_broadcast import main

if __name__ == "__main__":
    uvloop.run(main())
