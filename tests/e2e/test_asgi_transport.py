"""The same end-to-end tests against the other transport: /ws on the HTTP port, served by
hypercorn through the bare ASGI endpoint (``LINLI_WS_PORT=0``), instead of the websockets
library's server every other test uses (the default, design 0008). Importing a test function here
makes pytest run it again with this module's ``deployment`` fixture, so nothing is copied."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Deployment
from tests.e2e.test_faults import (  # noqa: F401
    test_a_client_sending_only_garbage_is_closed,
    test_bad_frames_get_errors_and_nothing_else_is_affected,
    test_heartbeat_closes_a_silent_client_and_keeps_a_live_one,
    test_sigterm_closes_sockets_with_reconnect_code_and_history_survives,
    test_slow_consumer_is_cut_off_and_the_room_goes_on,
)
from tests.e2e.test_realtime import (  # noqa: F401
    test_handshake_checks_origin_and_session,
    test_idempotent_publish,
    test_presence_counts_tabs_once,
    test_publish_receive_and_authorisation,
    test_recovery_with_since_while_another_client_publishes,
)


@pytest.fixture(params=["embedded", "scaled"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Deployment:
    extra = {"LINLI_WS_PORT": "0"}
    if request.param == "embedded":
        return Deployment(
            "embedded", f"sqlite:///{tmp_path}/linli.sqlite3", None, "linli:", tmp_path, extra
        )
    return Deployment(
        "scaled",
        request.getfixturevalue("postgres_schema_url"),
        request.getfixturevalue("redis_url"),
        request.getfixturevalue("redis_prefix"),
        tmp_path,
        extra,
    )
