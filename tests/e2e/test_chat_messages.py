"""Chat message basics on the wire, in both modes (issue 22): read positions shared by a user's
connections and pushed live to the others, own messages never unread, replies with a quote, an
author's edit within the window (and refused after it) and delete, delivered live and correct in
history; who may do it, and bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from persistence.factory import open_database
from persistence.messages import EditAction
from persistence.messages.sql import SqlMessagesStore
from tests.e2e.harness import Client, Deployment, login, running, seed

pytestmark = pytest.mark.timeout(120)


async def pub_of(client: Client, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next ``pub`` whose data is of ``kind``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        pub = await client.push("pub", max(remaining, 0.001))
        if pub["data"].get("kind") == kind:
            return pub


async def test_read_positions_follow_the_user_and_own_messages_are_never_unread(
    deployment: Deployment,
) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    async with running(deployment) as server:
        ann_cookie = await login(server, "ann")
        phone = await Client.connect(server, ann_cookie)
        tablet = await Client.connect(server, await login(server, "ann"))
        amy = await Client.connect(server, await login(server, "amy"))
        for n, text in enumerate(("早安", "電梯修好了", "今晚停水")):
            await amy.ok("publish", channel=room, text=text, client_msg_id=f"amy-{n}")
        mine = await phone.ok("publish", channel=room, text="收到，謝謝", client_msg_id="ann-1")
        top = mine["offset"]
        assert top == 4

        # Nothing read yet: amy's three count, ann's own does not; amy counts ann's one.
        [ann_room] = (await tablet.ok("reads", channels=[room]))["rooms"]
        assert {k: ann_room[k] for k in ("channel", "offset", "last", "unread", "more")} == {
            "channel": room,
            "offset": 0,
            "last": 4,
            "unread": 3,
            "more": False,
        }
        assert ann_room["latest"]["text"] == "收到，謝謝"
        [amy_room] = (await amy.ok("reads", channels=[room]))["rooms"]
        assert amy_room["unread"] == 1

        # Read up to amy's second message on the phone: the tablet hears it at once.
        assert await phone.ok("read", channel=room, offset=2) == {"channel": room, "offset": 2}
        push = await tablet.push("read")
        assert push == {"push": "read", "channel": room, "offset": 2}
        assert (await phone.push("read"))["offset"] == 2  # every connection of the user
        [ann_room] = (await tablet.ok("reads", channels=[room]))["rooms"]
        assert (ann_room["offset"], ann_room["unread"]) == (2, 1)
        # amy's connection hears nothing of ann's reading, and her own position is untouched.
        assert [p for p in amy.drain() if p.get("push") == "read"] == []
        [amy_room] = (await amy.ok("reads", channels=[room]))["rooms"]
        assert (amy_room["offset"], amy_room["unread"]) == (0, 1)

        # A stale device cannot move the position back; beyond the top is clamped to it.
        assert (await tablet.ok("read", channel=room, offset=1))["offset"] == 2
        assert (await tablet.ok("read", channel=room, offset=999))["offset"] == top
        [ann_room] = (await phone.ok("reads", channels=[room]))["rooms"]
        assert (ann_room["offset"], ann_room["unread"]) == (top, 0)

        # A new connection (a reload, a third device) reads the same from the server.
        laptop = await Client.connect(server, ann_cookie)
        [ann_room] = (await laptop.ok("reads", channels=[room]))["rooms"]
        assert (ann_room["offset"], ann_room["unread"]) == (top, 0)

        # Bad input and rooms one may not read.
        for fields in (
            {"channel": room},
            {"channel": room, "offset": -1},
            {"channel": room, "offset": "3"},
            {"channel": "mod:flags", "offset": 1},
            {"channel": "nonsense", "offset": 1},
        ):
            assert await phone.error("read", **fields) == "bad_request", fields
        assert await phone.error("read", channel=f"building:{hood.building_b}", offset=1) == (
            "forbidden"
        )
        assert await phone.error("reads", channels=[]) == "bad_request"
        assert await phone.error("reads", channels=room) == "bad_request"
        assert await phone.error("reads", channels=[f"building:{hood.building_b}"]) == "forbidden"
        for client in (phone, tablet, amy, laptop):
            await client.close()


async def test_a_reply_carries_a_short_quote_of_the_original(deployment: Deployment) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    long_text = "停車場" * 60  # 180 characters
    async with running(deployment) as server:
        amy = await Client.connect(server, await login(server, "amy"))
        ann = await Client.connect(server, await login(server, "ann"))
        await amy.ok("subscribe", channel=room)
        original = await amy.ok("publish", channel=room, text=long_text, client_msg_id="q1")
        await pub_of(amy, "chat")
        reply = await ann.ok(
            "publish",
            channel=room,
            text="我也想知道",
            client_msg_id="r1",
            reply_to=original["offset"],
        )
        pub = await pub_of(amy, "chat")
        assert pub["offset"] == reply["offset"]
        assert pub["data"]["reply_to"] == {
            "offset": original["offset"],
            "author": {"id": hood.users["amy"], "name": "Amy"},
            "text": long_text[:100],
        }
        page = await ann.ok("history", channel=room)
        assert page["publications"][-1]["data"]["reply_to"]["text"] == long_text[:100]

        assert await ann.error(
            "publish", channel=room, text="?", client_msg_id="r2", reply_to=99
        ) == ("not_found")
        for bad in (0, -3, "1", 1.5):
            assert (
                await ann.error("publish", channel=room, text="?", client_msg_id="r3", reply_to=bad)
                == "bad_request"
            ), bad
        # Nothing of that was published.
        assert (await ann.ok("history", channel=room))["offset"] == reply["offset"]
        await amy.close()
        await ann.close()


async def test_edit_within_the_window_then_refused_and_delete_for_everyone(
    deployment: Deployment,
) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    async with running(deployment, LINLI_EDIT_WINDOW_SECONDS="5") as server:
        ann = await Client.connect(server, await login(server, "ann"))
        amy = await Client.connect(server, await login(server, "amy"))
        await amy.ok("subscribe", channel=room)
        first = await ann.ok("publish", channel=room, text="明天十點開會", client_msg_id="e1")
        offset = first["offset"]
        await pub_of(amy, "chat")
        reply = await amy.ok(
            "publish", channel=room, text="好", client_msg_id="e2", reply_to=offset
        )

        edited = await ann.ok("edit", channel=room, offset=offset, text="  明天十一點開會 \x07")
        assert edited["text"] == "明天十一點開會"
        event = await pub_of(amy, "edit")
        assert event["offset"] == edited["event"]
        assert {k: event["data"][k] for k in ("target", "text")} == {
            "target": offset,
            "text": "明天十一點開會",
        }
        # After a reload, history gives the current text and says it was edited; the reply's
        # quote follows the edit.
        page = {
            p["offset"]: p["data"] for p in (await amy.ok("history", channel=room))["publications"]
        }
        assert page[offset]["text"] == "明天十一點開會"
        assert isinstance(page[offset]["edited"], int)
        assert page[reply["offset"]]["reply_to"]["text"] == "明天十一點開會"
        # Recovery from before the message applies the events in order too.
        late = await Client.connect(server, await login(server, "amy"))
        sub = await late.ok("subscribe", channel=room, since={"offset": 0, "epoch": first["epoch"]})
        assert sub["recovered"] is True
        recovered = {p["offset"]: p["data"] for p in sub["publications"]}
        assert recovered[offset]["text"] == "明天十一點開會"
        assert recovered[edited["event"]]["kind"] == "edit"

        # Once the window has passed the edit is refused with its own code (and changes nothing).
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            reply_frame = await ann.request("edit", channel=room, offset=offset, text="改不了")
            if "error" in reply_frame:
                assert reply_frame["error"]["code"] == "edit_window_closed"
                break
            assert asyncio.get_running_loop().time() < deadline, "the window never closed"
            await asyncio.sleep(0.5)
        page = {
            p["offset"]: p["data"] for p in (await amy.ok("history", channel=room))["publications"]
        }
        assert page[offset]["text"] in ("明天十一點開會", "改不了")  # an edit just inside is fine

        # Deleting has no window: everyone sees it live, and history keeps the place, not the text.
        deleted = await ann.ok("delete", channel=room, offset=offset)
        event = await pub_of(amy, "retract")
        assert event["data"]["target"] == offset and event["offset"] == deleted["event"]
        history = (await amy.ok("history", channel=room))["publications"]
        page = {p["offset"]: p["data"] for p in history}
        assert page[offset]["text"] == "" and page[offset]["deleted"] is True
        assert page[reply["offset"]]["reply_to"]["text"] == ""
        # The earlier edit event no longer repeats the deleted text either.
        assert page[edited["event"]]["text"] == ""
        assert "明天" not in str(history)
        assert await ann.error("edit", channel=room, offset=offset, text="x") in (
            "message_deleted",
            "edit_window_closed",
        )
        again = await ann.ok("delete", channel=room, offset=offset)  # a retry: still fine
        assert again["offset"] == offset
        # A reply to the deleted message quotes nothing of it.
        r = await amy.ok("publish", channel=room, text="?", client_msg_id="e3", reply_to=offset)
        quoted = (await amy.ok("history", channel=room, after=r["offset"] - 1))["publications"][0]
        assert quoted["data"]["reply_to"]["text"] == ""

        # Moderators keep the history: the text before and after each change.
        db = await open_database(deployment.database_url)
        try:
            edits = await SqlMessagesStore(db).edits(room, offset)
        finally:
            await db.close()
        assert [(e.action, e.old_text, e.new_text) for e in edits][:1] == [
            (EditAction.EDIT, "明天十點開會", "明天十一點開會")
        ]
        assert edits[-1].action is EditAction.DELETE
        assert sum(e.action is EditAction.DELETE for e in edits) == 1
        for client in (ann, amy, late):
            await client.close()


async def test_only_the_author_in_a_room_they_may_write_in_may_change_a_message(
    deployment: Deployment,
) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    async with running(deployment) as server:
        ann = await Client.connect(server, await login(server, "ann"))
        amy = await Client.connect(server, await login(server, "amy"))
        bob = await Client.connect(server, await login(server, "bob"))
        mo = await Client.connect(server, await login(server, "mo"))
        sent = await ann.ok("publish", channel=room, text="我的訊息", client_msg_id="a1")
        offset = sent["offset"]
        await ann.ok("publish", channel="group:gardening", text="種番茄", client_msg_id="g1")

        assert await amy.error("edit", channel=room, offset=offset, text="改") == "not_author"
        assert await amy.error("delete", channel=room, offset=offset) == "not_author"
        # bob lives in another building; mo may read the room but not write in it.
        for other in (bob, mo):
            assert await other.error("edit", channel=room, offset=offset, text="改") == "forbidden"
            assert await other.error("delete", channel=room, offset=offset) == "forbidden"
        # amy is not in the gardening group.
        assert await amy.error("delete", channel="group:gardening", offset=1) == "forbidden"
        assert await amy.error("delete", channel="group:nosuch", offset=1) == "not_found"

        # Bad input.
        assert await ann.error("edit", channel=room, offset=99, text="x") == "not_found"
        assert await ann.error("delete", channel=room, offset=99) == "not_found"
        for fields in (
            {"channel": room, "offset": offset},
            {"channel": room, "offset": offset, "text": "   "},
            {"channel": room, "offset": offset, "text": 5},
            {"channel": room, "offset": offset, "text": "x" * 1001},
            {"channel": room, "offset": 0, "text": "x"},
            {"channel": room, "text": "x"},
            {"channel": "mod:flags", "offset": 1, "text": "x"},
        ):
            assert await ann.error("edit", **fields) == "bad_request", fields
        assert await ann.error("delete", channel=room, offset="1") == "bad_request"
        edit_event = await ann.ok("edit", channel=room, offset=offset, text="我的訊息（改）")
        # An edit event is not a chat message: it cannot itself be edited, deleted or replied to.
        assert await ann.error("delete", channel=room, offset=edit_event["event"]) == (
            "bad_request"
        )
        assert (
            await ann.error(
                "publish", channel=room, text="?", client_msg_id="a2", reply_to=edit_event["event"]
            )
            == "bad_request"
        )

        # Nothing of the refused requests changed the message.
        [data] = [
            p["data"]
            for p in (await amy.ok("history", channel=room))["publications"]
            if p["offset"] == offset
        ]
        assert data["text"] == "我的訊息（改）" and "deleted" not in data
        for client in (ann, amy, bob, mo):
            await client.close()
