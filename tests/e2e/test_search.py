"""Search end to end, in both modes on the real server with real WebSocket clients: chat
messages are indexed off the publish path (the persist stream's ``search`` group) and found in
Chinese, English and mixed text; a building's messages are never found, counted or quoted for
another building's resident; a hidden message is found by nobody; the rebuild (``linli search
reindex``) gives exactly what incremental indexing gave; a feature's ``index`` call reaches the
index through the search worker; bad input is refused with the documented code."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from linli.config import load_settings
from linli.runtime import open_runtime
from persistence.polls import Counting, PollDraft, ResultsShown
from persistence.search import Document, Readers, SearchFilters
from persistence.search.sql import SqlSearchStore
from tests.conftest import wait_until
from tests.e2e.harness import Client, Deployment, Server, login, running, seed
from web.polls import actions as polls_actions
from web.search import actions
from workers.search import SearchWorker


class Http:
    def __init__(self, server: Server, cookie: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": cookie}, timeout=10
        )

    async def search(self, status: int = 200, **params: Any) -> Any:
        response = await self.client.get("/api/search", params=params)
        assert response.status_code == status, response.text
        return response.json()

    async def close(self) -> None:
        await self.client.aclose()


def texts(result: dict[str, Any]) -> list[str]:
    return [hit["snippet_html"] for hit in result["hits"]]


async def test_chat_is_found_by_those_who_may_read_it(deployment: Deployment) -> None:
    hood = await seed(deployment)
    room_a, room_b = f"building:{hood.building_a}", f"building:{hood.building_b}"
    async with running(deployment, LINLI_RUN_WORKERS="true") as server:
        ann_cookie, bob_cookie = await login(server, "ann"), await login(server, "bob")
        ann, bob = (
            await Client.connect(server, ann_cookie),
            await Client.connect(server, bob_cookie),
        )
        said: list[tuple[str, int]] = []
        for number, (client, channel, text) in enumerate(
            (
                (ann, room_a, "明天上午停水，請預先儲水"),
                (ann, room_a, "今晚 WiFi 密碼改咗"),
                (ann, "group:gardening", "種花小組停水都要淋花"),
                (bob, room_b, "B座都停水"),
                (ann, room_a, "收到，多謝"),
            )
        ):
            ack = await client.ok("publish", channel=channel, text=text, client_msg_id=f"m{number}")
            said.append((channel, int(ack["offset"])))
        ann_http, bob_http = Http(server, ann_cookie), Http(server, bob_cookie)
        mo_http = Http(server, await login(server, "mo"))

        async def indexed() -> bool:
            return bool((await ann_http.search(q="多謝"))["total"] == 1)

        await wait_until(indexed, timeout=20)

        found = await ann_http.search(q="停水")
        assert found["total"] == 2  # Block A's and the gardening group's, never Block B's
        assert sorted(texts(found)) == [
            "明天上午<mark>停水</mark>，請預先儲水",
            "種花小組<mark>停水</mark>都要淋花",
        ]
        assert {h["place"] for h in found["hits"]} == {room_a, "group:gardening"}
        assert found["hits"][0]["place_name"] == "Gardening"  # newest first
        assert found["hits"][1]["link"] == f"/?at={said[0][1]}#{room_a}"
        assert found["hits"][1]["author_name"] == "Ann"
        bob_found = await bob_http.search(q="停水")
        assert (bob_found["total"], texts(bob_found)) == (1, ["B座都<mark>停水</mark>"])
        assert (await bob_http.search(q="儲水"))["total"] == 0
        assert (await mo_http.search(q="停水"))["total"] == 3  # staff read every room
        # Mixed, typed without the space; Simplified input; filters.
        assert texts(await ann_http.search(q="wifi密碼")) == ["今晚 <mark>WiFi 密碼</mark>改咗"]
        assert (await ann_http.search(q="储水"))["total"] == 1
        assert (await ann_http.search(q="停水", place=room_a))["total"] == 1
        assert (await ann_http.search(q="停水", who="bob"))["total"] == 0
        assert (await ann_http.search(q="停水", who="ann"))["total"] == 2
        assert (await ann_http.search(q="停水", kind="poll"))["total"] == 0

        # A moderator hides Block A's message: nobody finds it any more.
        offset = said[0][1]
        response = await mo_http.client.post(
            f"/api/mod/messages/{room_a}/{offset}/hide", json={"reason": "test"}
        )
        assert response.status_code == 200, response.text
        assert (await ann_http.search(q="儲水"))["total"] == 0
        assert (await mo_http.search(q="儲水"))["total"] == 0

        # Bad input changes nothing and says which field.
        error = await ann_http.search(status=400, q="水" * 201)
        assert (error["error"]["code"], error["error"]["field"]) == ("bad_request", "q")
        error = await ann_http.search(status=400, q="水", kind="nonsense")
        assert error["error"]["field"] == "kind"
        error = await ann_http.search(status=400, q="水", **{"from": "2026-13-01"})
        assert error["error"]["field"] == "from"
        async with httpx.AsyncClient(base_url=server.http) as anonymous:
            response = await anonymous.get("/api/search", params={"q": "水"})
            assert response.status_code == 401

        # The page: the hits and the marks, in the reader's language.
        page = await ann_http.client.get(
            "/search", params={"q": "停水"}, headers={"Accept-Language": "en"}
        )
        assert page.status_code == 200
        assert "Found 1 for “停水”." in page.text  # the hidden one is not counted
        assert "明天上午<mark>停水</mark>，請預先儲水" not in page.text  # hidden now
        assert "種花小組<mark>停水</mark>都要淋花" in page.text
        before = await ann_http.search(q="停水")

        for client in (ann, bob):
            await client.close()
        for http in (ann_http, bob_http, mo_http):
            await http.close()

    # The rebuild from the stored history gives what incremental indexing gave.
    store = await deployment.store()
    try:
        search = SqlSearchStore(store.database)
        incremental = await search.stats()
        await search.clear()
        result = subprocess.run(
            [sys.executable, "-m", "linli", "search", "reindex"],
            env=deployment.env(),
            cwd=deployment.tmp,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "Indexed 5 chat messages and 0 polls." in result.stdout
        rebuilt = await search.stats()
        assert (rebuilt.documents, rebuilt.postings) == (
            incremental.documents,
            incremental.postings,
        )
    finally:
        await store.close()
    async with running(deployment) as server:
        ann_http = Http(server, await login(server, "ann"))
        assert await ann_http.search(q="停水") == before
        await ann_http.close()


async def test_an_edit_is_found_by_its_new_words_and_a_delete_not_at_all(
    deployment: Deployment,
) -> None:
    """The chat indexer follows the author's edit and delete events on the persist stream; the
    rebuild from the stored history gives the same index."""
    hood = await seed(deployment)
    room = f"building:{hood.building_a}"
    async with running(deployment, LINLI_RUN_WORKERS="true") as server:
        cookie = await login(server, "ann")
        ann, http = await Client.connect(server, cookie), Http(server, cookie)
        first = await ann.ok("publish", channel=room, text="週六下午三點開會", client_msg_id="e1")
        second = await ann.ok("publish", channel=room, text="垃圾房今晚清洗", client_msg_id="e2")
        await ann.ok("publish", channel=room, text="收到，多謝", client_msg_id="e3")

        async def total(query: str, expected: int) -> bool:
            return bool((await http.search(q=query))["total"] == expected)

        await wait_until(lambda: total("多謝", 1), timeout=20)
        assert (await http.search(q="開會"))["total"] == 1
        await ann.ok("edit", channel=room, offset=first["offset"], text="改為週日上午十點聚會")
        await wait_until(lambda: total("聚會", 1), timeout=20)
        hit = (await http.search(q="聚會"))["hits"][0]
        assert hit["snippet_html"] == "改為週日上午十點<mark>聚會</mark>"
        assert hit["link"] == f"/?at={first['offset']}#{room}"
        assert (await http.search(q="開會"))["total"] == 0  # the old words are gone
        assert (await http.search(q="三點"))["total"] == 0
        # A second edit: only the latest words.
        await ann.ok("edit", channel=room, offset=first["offset"], text="改為週日上午十點茶敘")
        await wait_until(lambda: total("茶敘", 1), timeout=20)
        assert (await http.search(q="聚會"))["total"] == 0
        # A delete takes the document out of the index itself, not just out of the hits.
        await ann.ok("delete", channel=room, offset=second["offset"])
        store = await deployment.store()
        try:
            search = SqlSearchStore(store.database)

            async def two_left() -> bool:
                return (await search.stats()).documents == 2

            await wait_until(two_left, timeout=20)
            assert (await http.search(q="垃圾房"))["total"] == 0
            incremental = await search.stats()
            # The rebuild reads the same events from the stored history.
            await wait_until(lambda: _stored(store, room, 6), timeout=20)
            rebuilt = await actions.rebuild(store, now=int(time.time() * 1000))
            assert rebuilt.chat == 2
            again = await search.stats()
            assert (again.documents, again.postings) == (
                incremental.documents,
                incremental.postings,
            )
            assert (await http.search(q="茶敘"))["total"] == 1
            assert (await http.search(q="開會"))["total"] == 0
        finally:
            await store.close()
        await ann.close()
        await http.close()


async def _stored(store: Any, channel: str, count: int) -> bool:
    return bool(await store.count_messages(channel) >= count)


async def test_a_feature_indexes_with_one_call(deployment: Deployment) -> None:
    """``actions.index`` appends to the search queue; the search worker writes the document,
    readable by its readers only; ``actions.remove`` takes it out."""
    hood = await seed(deployment)
    settings = load_settings(deployment.env())
    now = int(time.time() * 1000)
    async with open_runtime(settings, migrate_first=True) as runtime:
        worker = SearchWorker(runtime.work_queue, SqlSearchStore(runtime.database))
        notice = Document(
            kind="notice",
            ref="12",
            title="大廈停水通告",
            text="三月一日上午九時至下午五時，清洗水缸。",
            readers=Readers(buildings=(hood.building_a,)),
            link="/notices/12",
            at=now,
        )
        await actions.index(runtime, notice)
        await worker.run_until_idle()
        ann = await runtime.store.get_user_by_username("ann")
        bob = await runtime.store.get_user_by_username("bob")
        assert ann is not None and bob is not None
        page = await actions.search(runtime, ann, "水缸")
        assert [(h.kind, h.ref, h.title) for h in page.hits] == [("notice", "12", "大廈停水通告")]
        assert (await actions.search(runtime, bob, "水缸")).total == 0
        # An edit (the same kind and ref) replaces it; a removal removes it.
        await actions.index(runtime, Document(**{**_fields(notice), "text": "改期"}))
        await worker.run_until_idle()
        assert (await actions.search(runtime, ann, "水缸")).total == 0
        assert (await actions.search(runtime, ann, "停水")).total == 1
        await actions.remove(runtime, "notice", "12")
        await worker.run_until_idle()
        assert (await actions.search(runtime, ann, "停水")).total == 0

        # Polls: opening one indexes its question and options for its room.
        draft = PollDraft(
            channel=f"building:{hood.building_a}",
            question="大堂聖誕裝飾用咩顏色？",
            options=("紅色", "金色"),
            multiple=False,
            anonymous=True,
            allow_change=True,
            counting=Counting.RESIDENT,
            results=ResultsShown.LIVE,
            closes_at=None,
        )
        poll = await polls_actions.create_poll(runtime, draft, actor_id=ann.id)
        await worker.run_until_idle()
        assert (await actions.search(runtime, ann, "聖誕")).total == 0  # a draft is not indexed
        await polls_actions.open_poll(runtime, poll.id, actor_id=ann.id)
        await worker.run_until_idle()
        page = await actions.search(runtime, ann, "金色")
        assert [(h.kind, h.ref, h.link) for h in page.hits] == [
            ("poll", str(poll.id), f"/polls/{poll.id}")
        ]
        assert (await actions.search(runtime, bob, "金色")).total == 0


def _fields(document: Document) -> dict[str, Any]:
    return {name: getattr(document, name) for name in document.__struct_fields__}


async def test_the_demo_is_searchable(deployment: Deployment) -> None:
    """``linli demo``'s history is indexed at seeding (it never passed the persist stream)."""
    from linli.demo import seed_demo

    settings = load_settings(deployment.env())
    async with open_runtime(settings, migrate_first=True) as runtime:
        assert await seed_demo(runtime.store)
        chan = await runtime.store.get_user_by_username("chan")
        wong = await runtime.store.get_user_by_username("wong")
        assert chan is not None and wong is not None
        chat = SearchFilters(kinds=("chat",))
        found = await actions.search(runtime, chan, "番茄")
        assert [(h.kind, h.place_name) for h in found.hits] == [("chat", "園藝 Gardening")]
        hits = (await actions.search(runtime, chan, "维修", filters=chat)).hits
        assert [h.text for h in hits] == ["升降機維修已完成 The lift repair is done."]
        assert (await actions.search(runtime, chan, "lift", filters=chat)).total == 1
        assert (await actions.search(runtime, chan, "會議", filters=chat)).total == 0  # Block B's
        assert (await actions.search(runtime, wong, "會議", filters=chat)).total == 1
        # The other features' demo content is searchable too: chan's building's water cut.
        notices = SearchFilters(kinds=("notice",))
        assert (await actions.search(runtime, chan, "停水", filters=notices)).total >= 1
        # The forum's: everyone's lost-and-found, but Block A's category not for Block B.
        forum = SearchFilters(kinds=("forum",))
        assert (await actions.search(runtime, wong, "鎖匙", filters=forum)).total == 2
        assert (await actions.search(runtime, chan, "天台花園", filters=forum)).total == 1
        assert (await actions.search(runtime, wong, "天台花園", filters=forum)).total == 0


async def test_the_benchmark_runs_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m bench.search`` at a tiny size, so the figures' script keeps working."""
    from bench.search import bench

    await bench(f"sqlite:///{tmp_path}/bench.sqlite3", 400, 100, 2, 5.0)
    out = capsys.readouterr().out
    assert "indexed 400 messages" in out
    assert out.count("\n| ") == 8  # the header, six query classes and "all"
