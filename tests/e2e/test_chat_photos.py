"""Photos in chat rooms on a real server, in both modes (issue 22): a resident uploads a photo
over HTTP and publishes it over a real WebSocket; another reader of the room gets the message
with the photo's reference and fetches its thumbnail and original; an outsider is refused; bad
files are refused with their codes and nothing is published; a photo whose message a moderator
hid, or its author deleted, is no longer served. The privacy export holds the resident's own
photos byte for byte, account deletion leaves none of their blobs, and the timers' ``photos.unsent``
job (on a manual clock) deletes an upload never sent once it is a day old, never a sent one."""

from __future__ import annotations

import contextlib
import io
import time
import zipfile
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from linli.clock import ManualClock
from linli.config import load_settings
from linli.features import PHOTOS, recurring_of, timers_of
from linli.runtime import Runtime, open_runtime
from persistence.blobs import blob_store
from persistence.photos.sql import SqlPhotoStore
from tests.e2e.harness import PASSWORD, Client, Deployment, Server, login, running, seed
from web.photos.actions import UNSENT_MS
from workers.timers import TimerWorker

pytestmark = pytest.mark.timeout(120)


def png(width: int = 64, height: int = 48) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


def jpeg(width: int = 800, height: int = 600) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 30)).save(out, "JPEG")
    return out.getvalue()


async def web(server: Server, username: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.http, cookies={"linli_session": await login(server, username)}, timeout=10
    )


async def upload(
    http: httpx.AsyncClient, room: str, data: bytes, name: str = "photo.png"
) -> httpx.Response:
    return await http.post(
        f"/api/rooms/{room}/photos",
        params={"name": name},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )


async def test_photo_sent_received_fetched_and_private(deployment: Deployment) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    async with running(deployment, LINLI_UPLOAD_MAX_BYTES="200000") as server:
        ann_http, amy_http, bob_http = [await web(server, n) for n in ("ann", "amy", "bob")]
        ann = await Client.connect(server, await login(server, "ann"))
        amy = await Client.connect(server, await login(server, "amy"))
        await amy.ok("subscribe", channel=room)

        made = await upload(ann_http, room, jpeg(), "窗外.jpg")
        assert made.status_code == 201, made.text
        photo = made.json()["photo"]
        assert (photo["width"], photo["height"], photo["channel"]) == (800, 600, room)
        # Not sent yet: only its uploader sees it.
        assert (await ann_http.get(photo["thumb_url"])).status_code == 200
        assert (await amy_http.get(photo["thumb_url"])).status_code == 404

        ack = await ann.ok(
            "publish", channel=room, text="今天的夕陽", client_msg_id="ann-p1", photo=photo["id"]
        )
        [pub] = await amy.pubs(1)
        assert pub["offset"] == ack["offset"]
        ref = pub["data"]["photo"]
        assert pub["data"]["text"] == "今天的夕陽"
        assert ref["id"] == photo["id"] and (ref["width"], ref["height"]) == (800, 600)
        assert len(ref["blob"]) == 32 and len(ref["thumb"]) == 32
        assert ref["thumb_url"] == f"/api/photos/{photo['id']}/thumb"

        thumb = await amy_http.get(ref["thumb_url"])
        assert thumb.status_code == 200
        assert thumb.headers["content-type"] == "image/jpeg"
        assert thumb.headers["cache-control"].startswith("private")
        from PIL import Image

        assert max(Image.open(io.BytesIO(thumb.content)).size) <= 480
        original = await amy_http.get(ref["url"])
        assert original.status_code == 200 and original.content == jpeg()
        assert original.headers["cache-control"].startswith("private")
        # History carries it too.
        history = (await amy.ok("history", channel=room, limit=10))["publications"]
        assert history[-1]["data"]["photo"]["id"] == photo["id"]

        # A resident of another building: refused.
        assert (await bob_http.get(ref["url"])).status_code == 403
        assert (await bob_http.get(ref["thumb_url"])).status_code == 403
        assert (await upload(bob_http, room, png())).json()["error"]["code"] == "forbidden"
        async with httpx.AsyncClient(base_url=server.http) as anonymous:
            assert (await anonymous.get(ref["url"])).status_code == 401
        # Nobody else may publish ann's photo, nor may ann under a second message.
        bob = await Client.connect(server, await login(server, "bob"))
        own_room = f"building:{hood.building_b}"
        assert (
            await bob.error(
                "publish", channel=own_room, text="x", client_msg_id="bob-1", photo=photo["id"]
            )
            == "not_found"
        )
        assert (
            await ann.error(
                "publish", channel=room, text="again", client_msg_id="ann-p2", photo=photo["id"]
            )
            == "not_found"
        )
        # A retry of the same publish is the same message (and keeps its photo).
        again = await ann.ok(
            "publish", channel=room, text="今天的夕陽", client_msg_id="ann-p1", photo=photo["id"]
        )
        assert again["duplicate"] is True and again["offset"] == ack["offset"]
        assert (
            await ann.error(
                "publish", channel=room, text="x", client_msg_id="ann-p3", photo="nothex"
            )
            == "bad_request"
        )
        # A photo without a caption is a message.
        bare = (await upload(ann_http, room, png(), "a.png")).json()["photo"]
        await ann.ok("publish", channel=room, text="", client_msg_id="ann-p4", photo=bare["id"])
        [pub] = await amy.pubs(1)
        assert pub["data"]["text"] == "" and pub["data"]["photo"]["id"] == bare["id"]
        for http in (ann_http, amy_http, bob_http):
            await http.aclose()
        for client in (ann, amy, bob):
            await client.close()


async def test_bad_files_refused_with_their_codes_and_nothing_published(
    deployment: Deployment,
) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    async with running(deployment, LINLI_UPLOAD_MAX_BYTES="20000") as server:
        ann_http = await web(server, "ann")
        amy = await Client.connect(server, await login(server, "amy"))
        await amy.ok("subscribe", channel=room)
        cases = [
            (b"just some text, not a picture", "note.txt", 415, "upload_type_not_allowed"),
            (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n", "form.pdf", 415,
             "upload_type_not_allowed"),
            (png()[:40], "cut.png", 400, "upload_damaged"),
            (png(), "photo.pdf", 415, "upload_name_mismatch"),
            (b"", "empty.png", 400, "upload_empty"),
            (jpeg(2000, 2000) + bytes(20000), "big.jpg", 413, "upload_too_large"),
        ]  # fmt: skip
        for data, name, status, code in cases:
            refused = await upload(ann_http, room, data, name)
            assert (refused.status_code, refused.json()["error"]["code"]) == (status, code), name
        # A group ann is not in, and a channel that is no room.
        refused = await upload(ann_http, "group:nope", png())
        assert refused.status_code in (403, 404)
        assert (await upload(ann_http, "mod:flags", png())).status_code == 400
        # Nothing reached the room.
        assert [p for p in amy.drain() if p.get("push") == "pub"] == []
        history = (await amy.ok("history", channel=room, limit=10))["publications"]
        assert history == []
        await ann_http.aclose()
        await amy.close()


async def test_hidden_or_deleted_message_no_longer_serves_its_photo(
    deployment: Deployment,
) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    async with running(deployment) as server:
        ann_http, amy_http, mo_http = [await web(server, n) for n in ("ann", "amy", "mo")]
        ann = await Client.connect(server, await login(server, "ann"))
        amy = await Client.connect(server, await login(server, "amy"))
        await amy.ok("subscribe", channel=room)
        first = (await upload(ann_http, room, png(), "one.png")).json()["photo"]
        second = (await upload(ann_http, room, png(), "two.png")).json()["photo"]
        one = await ann.ok(
            "publish", channel=room, text="一", client_msg_id="p1", photo=first["id"]
        )
        two = await ann.ok(
            "publish", channel=room, text="二", client_msg_id="p2", photo=second["id"]
        )
        await amy.pubs(2)
        assert (await amy_http.get(first["url"])).status_code == 200

        hidden = await mo_http.post(
            f"/api/mod/messages/{room}/{one['offset']}/hide", json={"reason": "私隱資料"}
        )
        assert hidden.status_code == 200, hidden.text
        for url in (first["url"], first["thumb_url"]):
            assert (await amy_http.get(url)).status_code == 404
            assert (await ann_http.get(url)).status_code == 404
        # A moderator still sees a hidden message's photo (to review it).
        assert (await mo_http.get(first["url"])).status_code == 200
        # History no longer names it for residents.
        pubs = (await amy.ok("history", channel=room, limit=10))["publications"]
        by_offset = {p["offset"]: p["data"] for p in pubs}
        assert "photo" not in by_offset[one["offset"]]
        assert by_offset[two["offset"]]["photo"]["id"] == second["id"]

        # The author deletes the second message: gone for everyone.
        await ann.ok("delete", channel=room, offset=two["offset"])
        for http in (amy_http, ann_http, mo_http):
            assert (await http.get(second["url"])).status_code == 404
            assert (await http.get(second["thumb_url"])).status_code == 404
        pubs = (await amy.ok("history", channel=room, limit=10))["publications"]
        assert "photo" not in {p["offset"]: p["data"] for p in pubs}[two["offset"]]
        for http in (ann_http, amy_http, mo_http):
            await http.aclose()
        for client in (ann, amy):
            await client.close()


@contextlib.asynccontextmanager
async def _runtime(deployment: Deployment) -> AsyncIterator[Runtime]:
    """The deployment's stores in this process (to look into the blob store, or to run the
    timers on a manual clock)."""
    async with open_runtime(load_settings(deployment.env()), migrate_first=False) as rt:
        yield rt


async def _blobs_left(rt: Runtime, *blob_ids: str) -> list[str]:
    blobs = blob_store(rt.settings, rt.database)
    return [b for b in blob_ids if await blobs.get(b) is not None]


async def test_export_holds_own_photos_and_deletion_leaves_no_blob(
    deployment: Deployment,
) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    async with running(deployment) as server:
        ann_http, amy_http = [await web(server, n) for n in ("ann", "amy")]
        ann = await Client.connect(server, await login(server, "ann"))
        amy = await Client.connect(server, await login(server, "amy"))
        await amy.ok("subscribe", channel=room)
        sent = (await upload(ann_http, room, jpeg(), "窗外 夕陽.jpg")).json()["photo"]
        kept = (await upload(ann_http, room, png(), "unsent.png")).json()["photo"]
        ack = await ann.ok(
            "publish", channel=room, text="夕陽", client_msg_id="a1", photo=sent["id"]
        )
        neighbour = (await upload(amy_http, room, png(90, 60), "amy.png")).json()["photo"]
        await amy.ok("publish", channel=room, text="花", client_msg_id="m1", photo=neighbour["id"])
        await amy.pubs(2)

        exported = await ann_http.get("/api/privacy/export")
        assert exported.status_code == 200, exported.text
        with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
            document = orjson.loads(archive.read("data.json"))
            rows = {r["id"]: r for r in document["photos"]}
            assert set(rows) == {sent["id"], kept["id"]}  # never amy's
            assert rows[sent["id"]]["offset"] == ack["offset"]
            assert rows[kept["id"]]["offset"] is None
            assert rows[sent["id"]]["filename"] == "窗外 夕陽.jpg"
            files = [n for n in archive.namelist() if n.startswith("photos/")]
            assert sorted(files) == sorted(r["file"] for r in rows.values())
            for path in files:
                assert ".." not in path and path.count("/") == 1
            assert archive.read(rows[sent["id"]]["file"]) == jpeg()
            assert archive.read(rows[kept["id"]]["file"]) == png()
            assert rows[sent["id"]]["file"].endswith("-窗外_夕陽.jpg")
            assert "photos.csv" in archive.namelist()
            assert sent["id"] in archive.read("photos.csv").decode("utf-8")

        async with _runtime(deployment) as rt:
            store = SqlPhotoStore(rt.database)
            mine = [p for p in (await store.get(sent["id"]), await store.get(kept["id"])) if p]
            blob_ids = [b for p in mine for b in (p.blob_id, p.thumb_id)]
            assert len(blob_ids) == 4 and await _blobs_left(rt, *blob_ids) == blob_ids

        deleted = await ann_http.post("/api/privacy/delete", json={"password": PASSWORD})
        assert deleted.status_code == 200, deleted.text
        async with _runtime(deployment) as rt:
            store = SqlPhotoStore(rt.database)
            assert await _blobs_left(rt, *blob_ids) == []
            assert await store.of_uploader(hood.users["ann"]) == []
            theirs = await store.get(neighbour["id"])  # a neighbour's photo stays
            assert theirs is not None
            assert await _blobs_left(rt, theirs.blob_id) == [theirs.blob_id]
        assert (await amy_http.get(sent["url"])).status_code == 404
        assert (await amy_http.get(neighbour["url"])).status_code == 200
        # The message stays (its words are the deleted account's, design 0028), its photo not.
        pubs = (await amy.ok("history", channel=room, limit=10))["publications"]
        by_offset = {p["offset"]: p["data"] for p in pubs}
        assert by_offset[ack["offset"]]["text"] == "夕陽"
        assert "photo" not in by_offset[ack["offset"]]
        for http in (ann_http, amy_http):
            await http.aclose()
        for client in (ann, amy):
            await client.close()


async def test_unsent_upload_deleted_after_a_day_by_the_timers(deployment: Deployment) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    async with running(deployment) as server:
        ann_http = await web(server, "ann")
        ann = await Client.connect(server, await login(server, "ann"))
        unsent = (await upload(ann_http, room, png(), "never.png")).json()["photo"]
        claimed = (await upload(ann_http, room, jpeg(), "sent.jpg")).json()["photo"]
        await ann.ok("publish", channel=room, text="寄出", client_msg_id="a1", photo=claimed["id"])
        uploaded = int(time.time() * 1000)

        async with _runtime(deployment) as rt:
            clock = ManualClock(uploaded + UNSENT_MS - 3_600_000)  # 23 hours on
            rt.clock = clock
            store = SqlPhotoStore(rt.database)
            old = await store.get(unsent["id"])
            assert old is not None
            worker = TimerWorker(
                rt.timers,
                timers_of([PHOTOS], rt),
                clock=clock,
                recurring=recurring_of([PHOTOS], rt),
            )
            clock.advance(120)  # the first run (a minute after a worker starts) is due
            await worker.run_until_idle()
            job = await rt.timers.get("photos.unsent")
            assert job is not None and job.due_at > clock.now_ms()  # the next run is planned
            assert await store.get(unsent["id"]) is not None  # not a day old yet

            clock.advance(2 * 3600)  # 25 hours on: the next hourly run deletes it
            await worker.run_until_idle()
            assert await store.get(unsent["id"]) is None
            assert await _blobs_left(rt, old.blob_id, old.thumb_id) == []
            # Sent: stays, and is still served.
            still = await store.get(claimed["id"])
            assert still is not None and still.offset is not None
            assert await _blobs_left(rt, still.blob_id) == [still.blob_id]
            # Idempotent: another run finds nothing to do.
            clock.advance(2 * 3600)
            await worker.run_until_idle()
            assert await store.get(claimed["id"]) is not None
        assert (await ann_http.get(unsent["url"])).status_code == 404
        assert (await ann_http.get(claimed["url"])).status_code == 200
        await ann_http.aclose()
        await ann.close()


async def test_author_deleted_message_loses_its_photo_files_at_the_next_sweep(
    deployment: Deployment,
) -> None:
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    async with running(deployment) as server:
        ann_http = await web(server, "ann")
        ann = await Client.connect(server, await login(server, "ann"))
        gone = (await upload(ann_http, room, jpeg(), "gone.jpg")).json()["photo"]
        kept = (await upload(ann_http, room, png(), "kept.png")).json()["photo"]
        first = await ann.ok(
            "publish", channel=room, text="刪", client_msg_id="d1", photo=gone["id"]
        )
        await ann.ok("publish", channel=room, text="留", client_msg_id="d2", photo=kept["id"])
        await ann.ok("delete", channel=room, offset=first["offset"])

        async with _runtime(deployment) as rt:
            clock = ManualClock(int(time.time() * 1000))
            rt.clock = clock
            store = SqlPhotoStore(rt.database)
            old, other = await store.get(gone["id"]), await store.get(kept["id"])
            assert old is not None and other is not None
            # Unreachable already, but its files are still there until the sweep.
            assert await _blobs_left(rt, old.blob_id, old.thumb_id) == [old.blob_id, old.thumb_id]
            worker = TimerWorker(
                rt.timers,
                timers_of([PHOTOS], rt),
                clock=clock,
                recurring=recurring_of([PHOTOS], rt),
            )
            clock.advance(120)  # the first run, a minute after the worker starts
            await worker.run_until_idle()
            assert await store.get(gone["id"]) is None
            assert await _blobs_left(rt, old.blob_id, old.thumb_id) == []
            # The message not deleted keeps its photo, files and all.
            assert await store.get(kept["id"]) == other
            assert await _blobs_left(rt, other.blob_id, other.thumb_id) == [
                other.blob_id,
                other.thumb_id,
            ]
            clock.advance(2 * 3600)  # idempotent: the next run finds nothing more to do
            await worker.run_until_idle()
            assert await store.get(kept["id"]) == other
        assert (await ann_http.get(gone["url"])).status_code == 404
        assert (await ann_http.get(kept["url"])).status_code == 200
        await ann_http.aclose()
        await ann.close()
