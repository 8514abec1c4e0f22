"""The search index: documents of every feature (chat messages, polls, notices, forum topics,
requests …), each with who may read it, found by what a resident types in Chinese or English.

Guarantees (``tests/contract/test_search_store.py`` runs them on both databases):

* **One document per (kind, ref).** ``upsert`` replaces a document of the same kind and ref
  (an edit), with its text, its readers and its postings, in one transaction; ``remove`` takes
  it out. Both are idempotent, so a redelivered batch changes nothing more.
* **Matching** is ``persistence/search/text.py``'s: every term of the query (split at white
  space) must occur in the folded title or text, as a substring of the folded form (so 2-, 3-
  and 4-character Chinese words, variants, full-width letters, case and Simplified input all
  match); Latin words match whole words.
* **Authorisation inside the query.** A document is found, counted and quoted only for a
  viewer who holds one of its reader scopes (``Readers``), computed from the viewer's building,
  groups, role and duties at query time — a resident who moves building stops finding the old
  building's messages at once. A chat message that moderation hid or deleted
  (``mod_messages.visibility``) is found by nobody.
* **Ranking**: documents containing the whole query as one phrase first, then those with all
  its terms; newest first within each; then the id (stable pages).
* Timestamps are milliseconds since the Unix epoch passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from linli.roles import CAPABILITIES, reads_every_room
from linli.types import BuildingId, ChannelName, Millis, Offset, Role, UserId

#: The kind of a chat message's document; its ref is ``<channel>/<offset>``.
CHAT_KIND = "chat"
#: The kind of a poll's document; its ref is the poll's id.
POLL_KIND = "poll"
#: Hits per page.
PAGE_SIZE = 20
#: The longest query taken (characters).
MAX_QUERY_CHARS = 200


class Readers(msgspec.Struct, frozen=True, kw_only=True):
    """Who may read a document: anyone matching any field (an empty ``Readers`` is nobody)."""

    #: Every signed-in user.
    everyone: bool = False
    #: Residents of these buildings.
    buildings: tuple[BuildingId, ...] = ()
    #: Members of these interest groups.
    groups: tuple[str, ...] = ()
    user_ids: tuple[UserId, ...] = ()
    roles: tuple[Role, ...] = ()
    #: Holders of these duties (``linli.roles.Can`` values), whatever their role.
    duties: tuple[str, ...] = ()
    #: Readers of these chat rooms (``building:<id>``, ``group:<slug>``): its residents or
    #: members, and the staff who read every room.
    rooms: tuple[ChannelName, ...] = ()

    def scopes(self) -> list[str]:
        """The stored form: one scope string per reader rule."""
        found = ["public"] if self.everyone else []
        found += [f"building:{b}" for b in self.buildings]
        found += [f"group:{g}" for g in self.groups]
        found += [f"user:{u}" for u in self.user_ids]
        found += [f"role:{r}" for r in self.roles]
        found += [f"duty:{d}" for d in self.duties]
        found += [f"room:{c}" for c in self.rooms]
        return sorted(set(found))


class Document(msgspec.Struct, frozen=True, kw_only=True, tag="index"):
    """What a feature puts in the index (``web.search.actions.index``)."""

    #: The feature's kind of thing: ``chat``, ``poll``, ``notice``, ``forum``, ``request`` …
    kind: str
    #: Its id within the kind (the same ref again replaces it: an edit).
    ref: str
    title: str
    #: Plain text (``linli.richtext.plain`` of Markdown), searched and quoted.
    text: str
    readers: Readers
    #: Where it opens, in context (``/#building:1``, ``/notices/12`` …).
    link: str
    #: When it was written (sorts and filters by date).
    at: Millis
    #: Where it is, for the "where" filter: a chat room's channel, a category's key.
    place: str = ""
    #: The place's name as shown (a room's, a category's).
    place_name: str = ""
    author_id: UserId | None = None
    author_name: str = ""
    #: For a chat message: its channel and offset, so moderation's hide reaches the index.
    channel: ChannelName | None = None
    offset: Offset | None = None


class Removal(msgspec.Struct, frozen=True, kw_only=True, tag="remove"):
    kind: str
    ref: str


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who searches, as authorisation needs them."""

    user_id: UserId
    role: Role
    building_id: BuildingId | None
    groups: tuple[str, ...] = ()

    def scopes(self) -> list[str]:
        found = ["public", f"user:{self.user_id}", f"role:{self.role}"]
        found += [f"duty:{d}" for d in sorted(CAPABILITIES.get(self.role, ()))]
        if self.building_id is not None:
            found += [f"building:{self.building_id}", f"room:building:{self.building_id}"]
        for slug in self.groups:
            found += [f"group:{slug}", f"room:group:{slug}"]
        return found

    @property
    def reads_every_room(self) -> bool:
        """Staff who may open every chat room find every room's messages: the chat's own rule
        (``linli.roles.reads_every_room``)."""
        return reads_every_room(self.role)


@dataclass(frozen=True, slots=True)
class SearchFilters:
    kinds: tuple[str, ...] = ()
    #: A document's ``place`` (a room's channel, a category).
    place: str | None = None
    author_id: UserId | None = None
    #: ``since <= at < until``.
    since: Millis | None = None
    until: Millis | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    id: int
    kind: str
    ref: str
    title: str
    text: str
    link: str
    at: Millis
    place: str
    place_name: str
    author_id: UserId | None
    author_name: str
    #: Whether the whole query occurs as one phrase (ranked first).
    exact: bool


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[Hit]
    #: Every hit the viewer may read, not just this page's.
    total: int
    offset: int
    limit: int


@dataclass(frozen=True, slots=True)
class IndexStats:
    documents: int
    postings: int
    by_kind: dict[str, int] = field(default_factory=dict)


class SearchStore(Protocol):
    async def upsert(self, documents: Sequence[Document], *, now: Millis) -> int:
        """Add or replace documents (see the module docstring); return how many were written.
        A batch naming one (kind, ref) twice keeps the last."""

    async def remove(self, keys: Iterable[tuple[str, str]]) -> int:
        """Take documents out by (kind, ref); return how many there were."""

    async def retext(self, texts: Mapping[tuple[str, str], str], *, now: Millis) -> int:
        """Replace the text of stored documents by (kind, ref), keeping everything else (title,
        readers, time, place, author): a chat message its author edited. A key with no document
        is skipped (nothing to edit); return how many were changed."""

    async def apply_chat(
        self,
        documents: Sequence[Document],
        changes: Mapping[str, tuple[int, str | None]],
        *,
        now: Millis,
    ) -> int:
        """Index chat messages and their authors' changes, in any order: ``documents`` are
        messages' own publications; ``changes`` maps a message's ref to the offset of its newest
        edit or delete in this batch and the new text (None: deleted). Each change is remembered
        (the newest per message wins), so a message indexed after its change — a crashed
        indexer's batch, reclaimed — gets the edited text, or stays out once deleted; a change
        to a stored message is applied to it. One transaction; return the documents written."""

    async def search(
        self,
        query: str,
        viewer: Viewer,
        *,
        filters: SearchFilters | None = None,
        limit: int = PAGE_SIZE,
        offset: int = 0,
    ) -> SearchPage:
        """The hits the viewer may read, ranked (module docstring). A query with no term
        (nothing but punctuation) finds nothing."""

    async def clear(self, kind: str | None = None) -> int:
        """Remove every document (of ``kind``): a rebuild starts with this."""

    async def stats(self) -> IndexStats: ...
