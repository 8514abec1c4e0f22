"""Features that extend the gateway with ops of their own (polls, moderation): each entry is
called once at start-up with the gateway and the runtime, before the gateway starts, and
registers its ops (``Gateway.register_op``) and whatever else it needs.

The wire side of an op is registered at import time with ``gateway.wire.register_op``; a
feature's worker goes into ``workers.registry.WORKERS``.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.gateway import Gateway
from gateway.moderation import install as install_moderation
from gateway.polls import install_polls
from linli.runtime import Runtime

Install = Callable[[Gateway, Runtime], None]

FEATURES: list[Install] = [install_polls, install_moderation]
