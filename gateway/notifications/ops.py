"""The notifications feature in the gateway: a user's new unread count reaches every connection
the user has open, on whichever gateway (``InboxChanged`` over the control channel), as the push
``{"push": "inbox", "unread": <n>, "latest": {...}}``. At most once, like all control: a page
reads the count over HTTP when it (re)connects."""

from __future__ import annotations

from collections import defaultdict

from gateway.gateway import Gateway
from gateway.notifications.events import InboxChanged
from gateway.wire import PushFrames
from linli.feature import Services


def install(gateway: Gateway, services: Services) -> None:
    def on_inbox_changed(command: InboxChanged) -> None:
        by_user = defaultdict(list)
        for conn in gateway.connections.values():
            if conn.principal.user_id in command.counts:
                by_user[conn.principal.user_id].append(conn)
        for user_id, conns in by_user.items():
            push: dict[str, object] = {"push": "inbox", "unread": command.counts[user_id]}
            latest = command.latest.get(user_id)
            if latest is not None:
                push["latest"] = latest
            frames = PushFrames(push)
            for conn in conns:
                conn.push(frames.get(conn.fmt))

    gateway.control_handlers[InboxChanged] = on_inbox_changed
