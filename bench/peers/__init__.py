"""Peer servers for the benchmark: each does Linli's hot-path job — subscribe a room, publish to
it over Redis pub/sub, fan the publication out to the room's sockets — in a few dozen lines with
one well-known Python stack, and nothing else (no auth, no history, no offsets).

They share a tiny JSON protocol, shaped like Linli's so the load generator treats all alike
(``bench/protocols.py``): ``{"id", "op": "subscribe", "room"}`` and
``{"id", "op": "publish", "room", "text"}`` answered ``{"id", "ok": {}}``; a publication arrives
as ``{"push": "pub", "room", "text"}``. python-socketio speaks its own framing of the same.
"""
