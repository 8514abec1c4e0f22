"""The SearchStore contract (``persistence/search/__init__.py``) on SQLite and PostgreSQL: a fixed
corpus of Chinese, English and mixed text with the expected hits of each query, worked out by
hand (never read back from the store), authorisation, moderation's hide, edits and removals,
ranking and paging. The same expectations run on both databases, so they agree."""

from __future__ import annotations

import pytest

from linli.types import Role
from persistence.messages.sql import SqlMessagesStore
from persistence.moderation import MessageAction, MessageSnapshot
from persistence.moderation.sql import SqlModerationStore
from persistence.search import CHAT_KIND, Document, Readers, SearchFilters, Viewer
from persistence.search.sql import SqlSearchStore
from persistence.store import Store

NOW = 1_700_000_000_000
A, B = 1, 2  # building ids in the readers (the index stores them; no building row is needed)

#: ref -> (text, room). Building A's room unless said otherwise.
CORPUS: dict[str, tuple[str, str]] = {
    "a1": ("明天上午九時至十二時停水，請預先儲水。", "building:1"),
    "a2": ("地下停車位有車漏油，管理處已經處理。", "building:1"),
    "a3": ("電梯維修完成，多謝大家耐心等候。", "building:1"),
    "a4": ("我住臺北，下星期回來。", "building:1"),
    "a5": ("The lift on the 3rd floor is broken again", "building:1"),
    "a6": ("今晚 WiFi 密碼已更改，請到管理處查詢。", "building:1"),
    "a7": ("ＡＢＣ１２３ 是我的車牌", "building:1"),
    "a8": ("停車場入口在後面，不是停 車位", "building:1"),
    "a9": ("裏面好熱，冷氣壞咗", "building:1"),
    "b1": ("B座今日停水，管理費下月加價。", "building:2"),
    "b2": ("Water off at B block tomorrow", "building:2"),
    "g1": ("種花小組：這星期六去花墟，停車位有限。", "group:garden"),
}


def chat_doc(ref: str, text: str, room: str, at: int, *, author: int = 7) -> Document:
    return Document(
        kind=CHAT_KIND,
        ref=f"{room}/{ref}",
        title="",
        text=text,
        readers=Readers(rooms=(room,)),
        link=f"/#{room}",
        at=at,
        place=room,
        place_name=room,
        author_id=author,
        author_name=f"user{author}",
        channel=room,
        offset=int(ref[1:]),
    )


@pytest.fixture
def store(core: Store) -> SqlSearchStore:
    return SqlSearchStore(core.database)


@pytest.fixture
async def corpus(store: SqlSearchStore) -> SqlSearchStore:
    docs = [
        chat_doc(ref, text, room, NOW + index * 1000)
        for index, (ref, (text, room)) in enumerate(CORPUS.items())
    ]
    assert await store.upsert(docs, now=NOW) == len(CORPUS)
    return store


RESIDENT_A = Viewer(user_id=10, role=Role.RESIDENT, building_id=A)
RESIDENT_B = Viewer(user_id=20, role=Role.RESIDENT, building_id=B)
GARDENER_B = Viewer(user_id=21, role=Role.RESIDENT, building_id=B, groups=("garden",))
MODERATOR = Viewer(user_id=30, role=Role.MODERATOR, building_id=None)
MANAGEMENT = Viewer(user_id=31, role=Role.MANAGEMENT, building_id=None)
COMMITTEE_A = Viewer(user_id=32, role=Role.COMMITTEE, building_id=A)
ORGANISER_B = Viewer(user_id=33, role=Role.ORGANISER, building_id=B)


async def refs(store: SqlSearchStore, query: str, viewer: Viewer = RESIDENT_A) -> list[str]:
    page = await store.search(query, viewer, limit=100)
    assert page.total == len(page.hits)
    return [hit.ref.rsplit("/", 1)[1] for hit in page.hits]


# (query, hits for a building-A resident, newest first: a9 is newest of A's)
QUERIES = [
    # 1 character: unigrams
    ("水", ["a1"]),
    ("車", ["a8", "a7", "a2"]),
    # 2 characters: the common Chinese word (a trigram index would miss it)
    ("停水", ["a1"]),
    ("電梯", ["a3"]),
    ("管理處", ["a6", "a2"]),
    # 3 and 4 characters: the characters in order, adjacent; a space between Chinese characters
    # does not count ("停 車位" in a8 is 停車位), another character does
    ("停車位", ["a8", "a2"]),
    ("耐心等候", ["a3"]),
    ("位停車", []),
    # variants and Simplified input
    ("台北", ["a4"]),
    ("臺北", ["a4"]),
    ("电梯", ["a3"]),
    ("里面", ["a9"]),
    ("裡面", ["a9"]),
    # full-width and half-width, case
    ("abc123", ["a7"]),
    ("ＡＢＣ１２３", ["a7"]),
    ("LIFT", ["a5"]),
    ("wifi", ["a6"]),
    ("ＷｉＦｉ密碼", ["a6"]),  # mixed, typed without the space the text has
    # English words are whole words; several terms must all occur
    ("lif", []),
    ("lift broken", ["a5"]),
    ("lift water", []),
    ("停水 儲水", ["a1"]),
    # nothing to search for
    ("，。！", []),
    ("", []),
]


@pytest.mark.parametrize(("query", "expected"), QUERIES)
async def test_corpus_queries(corpus: SqlSearchStore, query: str, expected: list[str]) -> None:
    assert await refs(corpus, query) == expected


async def test_a_building_a_message_is_never_found_from_building_b(
    corpus: SqlSearchStore,
) -> None:
    # 停水 is in a1 (A) and b1 (B); 停車位 in a2 (A) and g1 (the garden group).
    assert await refs(corpus, "停水", RESIDENT_B) == ["b1"]
    assert await refs(corpus, "停車位", RESIDENT_B) == []
    assert await refs(corpus, "停車位", GARDENER_B) == ["g1"]
    assert await refs(corpus, "water", RESIDENT_A) == []
    # Counts too: nothing of A reaches B's total.
    page = await corpus.search("水", RESIDENT_B)
    assert (page.total, [h.ref for h in page.hits]) == (1, ["building:2/b1"])
    # Staff read every room (channels/access.py) and so find every room's messages: moderators
    # and the management (管理處) alike; a committee member or an organiser only their own.
    for staff in (MODERATOR, MANAGEMENT):
        assert await refs(corpus, "停水", staff) == ["b1", "a1"]
        assert await refs(corpus, "停車位", staff) == ["g1", "a8", "a2"]
        assert (await corpus.search("水", staff)).total == 2
    assert await refs(corpus, "停水", COMMITTEE_A) == ["a1"]
    assert await refs(corpus, "停車位", COMMITTEE_A) == ["a8", "a2"]
    assert await refs(corpus, "停水", ORGANISER_B) == ["b1"]
    assert await refs(corpus, "停車位", ORGANISER_B) == []
    assert (await corpus.search("水", ORGANISER_B)).total == 1


async def test_a_viewer_who_moves_building_finds_the_new_one_only(corpus: SqlSearchStore) -> None:
    moved = Viewer(user_id=10, role=Role.RESIDENT, building_id=B)
    assert await refs(corpus, "停水", moved) == ["b1"]


async def test_hidden_and_deleted_messages_are_found_by_nobody(
    corpus: SqlSearchStore, core: Store
) -> None:
    moderation = SqlModerationStore(core.database)
    snapshot = MessageSnapshot(author_id=7, author_name="user7", body="x", posted_at=NOW)
    await moderation.act_on_message(
        "building:1", 1, MessageAction.HIDE, actor_id=30, reason="", now=NOW, snapshot=snapshot
    )
    await moderation.act_on_message(
        "building:1", 2, MessageAction.DELETE, actor_id=30, reason="", now=NOW, snapshot=snapshot
    )
    assert await refs(corpus, "停水") == []
    assert await refs(corpus, "停水", MODERATOR) == ["b1"]
    assert await refs(corpus, "管理處") == ["a6"]
    # Restored: found again.
    await moderation.act_on_message(
        "building:1", 1, MessageAction.RESTORE, actor_id=30, reason="", now=NOW
    )
    assert await refs(corpus, "停水") == ["a1"]


async def test_a_message_its_author_deleted_is_found_by_nobody(
    corpus: SqlSearchStore, core: Store
) -> None:
    messages = SqlMessagesStore(core.database)
    # a2 holds 停車位 and 管理處; a8 停車位 too. ann deletes a2 (even if the index keeps it).
    await messages.record_delete("building:1", 2, author_id=7, text="x", now=NOW)
    assert await refs(corpus, "停車位") == ["a8"]
    assert await refs(corpus, "停車位", MODERATOR) == ["g1", "a8"]
    assert await refs(corpus, "管理處") == ["a6"]
    # An edit alone does not take a message out.
    await messages.record_edit("building:1", 8, author_id=7, old_text="x", new_text="y", now=NOW)
    assert await refs(corpus, "停車位") == ["a8"]


async def test_readers_of_every_kind(store: SqlSearchStore) -> None:
    def doc(ref: str, readers: Readers) -> Document:
        return Document(
            kind="notice",
            ref=ref,
            title="大廈通告",
            text=f"清洗水缸 {ref}",
            readers=readers,
            link=f"/notices/{ref}",
            at=NOW,
        )

    await store.upsert(
        [
            doc("everyone", Readers(everyone=True)),
            doc("building", Readers(buildings=(A,))),
            doc("group", Readers(groups=("garden",))),
            doc("user", Readers(user_ids=(20,))),
            doc("role", Readers(roles=(Role.MANAGEMENT,))),
            doc("duty", Readers(duties=("handle_requests",))),
            doc("nobody", Readers()),
        ],
        now=NOW,
    )

    async def found(viewer: Viewer) -> list[str]:
        page = await store.search("水缸", viewer, limit=100)
        return sorted(h.ref for h in page.hits)

    assert await found(RESIDENT_A) == ["building", "everyone"]
    assert await found(RESIDENT_B) == ["everyone", "user"]
    assert await found(GARDENER_B) == ["everyone", "group"]
    manager = Viewer(user_id=40, role=Role.MANAGEMENT, building_id=None)
    assert await found(manager) == ["duty", "everyone", "role"]
    # A moderator's reading of every room is for chat rooms only.
    assert await found(MODERATOR) == ["everyone"]


async def test_an_edit_replaces_and_a_removal_removes(corpus: SqlSearchStore) -> None:
    edited = chat_doc("a1", "明天停電，不停水了", "building:1", NOW)
    assert await corpus.upsert([edited], now=NOW + 1) == 1
    assert await refs(corpus, "儲水") == []
    assert await refs(corpus, "停電") == ["a1"]
    # Idempotent: the same edit again changes nothing.
    await corpus.upsert([edited], now=NOW + 2)
    assert await refs(corpus, "停電") == ["a1"]
    stats = await corpus.stats()
    assert stats.documents == len(CORPUS)
    assert await corpus.remove([(CHAT_KIND, "building:1/a1"), (CHAT_KIND, "nothing")]) == 1
    assert await corpus.remove([(CHAT_KIND, "building:1/a1")]) == 0
    assert await refs(corpus, "停電") == []
    assert (await corpus.stats()).documents == len(CORPUS) - 1


async def test_postings_follow_the_documents_exactly(corpus: SqlSearchStore) -> None:
    """The postings are each document's distinct tokens, no more (an edit leaves none behind)."""
    from persistence.search.sql import folded_of
    from persistence.search.text import tokens

    docs = [chat_doc(ref, text, room, NOW) for ref, (text, room) in CORPUS.items() if ref != "a3"]
    await corpus.upsert([chat_doc("a3", "改了", "building:1", NOW)], now=NOW)
    expected = sum(len(tokens(folded_of(d))) for d in docs) + len(
        tokens(folded_of(chat_doc("a3", "改了", "building:1", NOW)))
    )
    assert (await corpus.stats()).postings == expected


async def test_ranking_exact_phrase_first_then_newest(store: SqlSearchStore) -> None:
    texts = {
        "old-exact": ("水管爆裂 維修中", NOW),
        "new-terms": ("維修 時間未定，水管 供應商稍後到", NOW + 2000),
        "newer-exact": ("大堂水管爆裂，正在維修", NOW + 1000),
    }
    await store.upsert(
        [
            Document(
                kind="forum",
                ref=ref,
                title="",
                text=text,
                readers=Readers(everyone=True),
                link="/",
                at=at,
            )
            for ref, (text, at) in texts.items()
        ],
        now=NOW,
    )
    page = await store.search("水管 維修", RESIDENT_A)
    # "水管 維修" as one phrase (spaces next to CJK do not count): 水管維修? none has it.
    assert [h.ref for h in page.hits] == ["new-terms", "newer-exact", "old-exact"]
    assert [h.exact for h in page.hits] == [False, False, False]
    page = await store.search("水管爆裂", RESIDENT_A)
    assert [h.ref for h in page.hits] == ["newer-exact", "old-exact"]
    page = await store.search("管 維修", RESIDENT_A)  # 管維修 is in none; 維修 in all
    assert [(h.ref, h.exact) for h in page.hits] == [
        ("new-terms", False),
        ("newer-exact", False),
        ("old-exact", False),
    ]
    page = await store.search("爆裂 維修", RESIDENT_A)
    # "爆裂 維修" as one phrase is 爆裂維修, which only old-exact has: first, though older.
    assert [(h.ref, h.exact) for h in page.hits] == [("old-exact", True), ("newer-exact", False)]


async def test_title_is_searched_but_not_across_into_the_text(store: SqlSearchStore) -> None:
    await store.upsert(
        [
            Document(
                kind="notice",
                ref="n1",
                title="停水通知",
                text="各位住戶",
                link="/",
                readers=Readers(everyone=True),
                at=NOW,
            )
        ],
        now=NOW,
    )
    assert [h.ref for h in (await store.search("停水", RESIDENT_A)).hits] == ["n1"]
    assert (await store.search("通知各位", RESIDENT_A)).total == 0


async def test_filters_and_paging(corpus: SqlSearchStore) -> None:
    everything = await corpus.search("車", MODERATOR, limit=100)
    assert [h.ref for h in everything.hits] == [
        "group:garden/g1",
        "building:1/a8",
        "building:1/a7",
        "building:1/a2",
    ]
    by_place = await corpus.search("車", MODERATOR, filters=SearchFilters(place="building:1"))
    assert by_place.total == 3
    since = NOW + 6 * 1000  # a7 is the 7th document: at NOW + 6000
    dated = await corpus.search(
        "車", MODERATOR, filters=SearchFilters(since=since, until=NOW + 8000)
    )
    assert [h.ref for h in dated.hits] == ["building:1/a8", "building:1/a7"]
    assert (await corpus.search("車", MODERATOR, filters=SearchFilters(author_id=8))).total == 0
    assert (await corpus.search("車", MODERATOR, filters=SearchFilters(kinds=("poll",)))).total == 0
    pages = [await corpus.search("車", MODERATOR, limit=3, offset=o) for o in (0, 3, 6)]
    assert [p.total for p in pages] == [4, 4, 4]
    assert [h.ref for p in pages for h in p.hits] == [h.ref for h in everything.hits]


async def test_clear_one_kind(corpus: SqlSearchStore) -> None:
    await corpus.upsert(
        [
            Document(
                kind="poll",
                ref="1",
                title="停水安排",
                text="",
                readers=Readers(everyone=True),
                link="/polls/1",
                at=NOW,
            )
        ],
        now=NOW,
    )
    assert await corpus.clear(CHAT_KIND) == len(CORPUS)
    stats = await corpus.stats()
    assert (stats.documents, stats.by_kind) == (1, {"poll": 1})
    assert [h.kind for h in (await corpus.search("停水", RESIDENT_A)).hits] == ["poll"]
    assert await corpus.clear() == 1
    assert (await corpus.stats()).postings == 0


async def test_retext_replaces_only_the_text(corpus: SqlSearchStore) -> None:
    """An author's edit: the new words are found, the old ones not; readers, time, place and
    author stay; postings are exactly the new text's; a document that is not there is skipped."""
    from persistence.search.sql import folded_of
    from persistence.search.text import tokens

    changed = await corpus.retext(
        {(CHAT_KIND, "building:1/a1"): "改為後日停電", (CHAT_KIND, "building:1/zz"): "無"},
        now=NOW + 5,
    )
    assert changed == 1
    assert await refs(corpus, "儲水") == []
    assert await refs(corpus, "停電") == ["a1"]
    assert await refs(corpus, "停電", RESIDENT_B) == []  # still Block A's only
    [hit] = (await corpus.search("停電", RESIDENT_A)).hits
    assert (hit.at, hit.place, hit.author_id, hit.text) == (NOW, "building:1", 7, "改為後日停電")
    assert await refs(corpus, "無") == []
    # Idempotent, and the postings are the documents' tokens, no more.
    assert await corpus.retext({(CHAT_KIND, "building:1/a1"): "改為後日停電"}, now=NOW + 6) == 1
    docs = [chat_doc(ref, text, room, NOW) for ref, (text, room) in CORPUS.items() if ref != "a1"]
    docs.append(chat_doc("a1", "改為後日停電", "building:1", NOW))
    assert (await corpus.stats()).postings == sum(len(tokens(folded_of(d))) for d in docs)
    assert await corpus.retext({}, now=NOW) == 0


async def test_a_message_indexed_after_its_change_keeps_the_change(store: SqlSearchStore) -> None:
    """A crashed indexer's batch, reclaimed after later batches were applied, brings a message's
    own publication after its edit or delete: the edit stays, the deleted message stays out, an
    older change never replaces a newer one, and a redelivery of everything changes nothing."""
    room = "building:1"
    m1 = chat_doc("m1", "明天停水", room, NOW)
    m2 = chat_doc("m2", "電梯維修", room, NOW)
    m3 = chat_doc("m3", "管理費加價", room, NOW)
    ref = {name: f"{room}/{name}" for name in ("m1", "m2", "m3")}
    # In order: m1 indexed, then edited twice (the newest text wins even if the older edit's
    # batch comes again afterwards).
    assert await store.apply_chat([m1], {}, now=NOW) == 1
    assert await store.apply_chat([], {ref["m1"]: (12, "後日停電")}, now=NOW) == 0
    assert await store.apply_chat([], {ref["m1"]: (11, "改為停氣")}, now=NOW) == 0
    assert await refs(store, "停水") == []
    assert await refs(store, "停氣") == []
    assert await refs(store, "停電") == ["m1"]
    # Out of order: m2's edit and m3's delete are applied before the messages themselves.
    assert (
        await store.apply_chat(
            [], {ref["m2"]: (20, "升降機已修好"), ref["m3"]: (21, None)}, now=NOW
        )
        == 0
    )
    assert await store.apply_chat([m2, m3], {}, now=NOW) == 1
    assert await refs(store, "電梯") == []
    assert await refs(store, "升降機") == ["m2"]
    assert await refs(store, "管理費") == []
    # m1's own publication again (the reclaimed batch): the edit is kept.
    assert await store.apply_chat([m1, m2, m3], {}, now=NOW) == 2
    assert sorted(await refs(store, "停電") + await refs(store, "升降機")) == ["m1", "m2"]
    assert await refs(store, "停水") == []
    # A delete after the edit takes the message out, and its own publication cannot bring it
    # back; the postings are exactly the remaining document's.
    assert await store.apply_chat([], {ref["m1"]: (30, None)}, now=NOW) == 0
    assert await store.apply_chat([m1], {ref["m1"]: (12, "後日停電")}, now=NOW) == 0
    assert await refs(store, "停電") == []
    from persistence.search.sql import folded_of
    from persistence.search.text import tokens

    kept = chat_doc("m2", "升降機已修好", room, NOW)
    stats = await store.stats()
    assert (stats.documents, stats.postings) == (1, len(tokens(folded_of(kept))))
