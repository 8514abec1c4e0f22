"""The forum's store: categories, topics, numbered posts with their edit history, reactions,
how far each person has read each topic, and who follows or muted a topic.

Guarantees (``tests/contract/test_forum_store.py`` runs them against SQLite and PostgreSQL):

* **Dense numbers, once each.** A topic's posts are numbered 1, 2, 3 … with no hole and no
  repeat however many replies arrive at once: the number comes from the topic's row in the
  transaction that writes the post.
* **Idempotent writes.** A post is unique per (author, ``client_id``): submitting it again
  returns the stored post with ``created=False``. A reaction is unique per (post, person,
  emoji): adding it twice or removing it twice changes nothing the second time, and the post's
  ``reaction_version`` grows only when something changed.
* **History kept.** An edit keeps the text it replaces (``post_history``, oldest first).
* **Exact unread counts.** Counted from the stored posts on each call: the posts of others with
  a number above the reader's ``last_read``, not deleted. ``mark_read`` only moves forward and
  never past the topic's newest post, so two devices reporting in any order agree.
* **Closed topics take no reply** (``TopicClosed``), unless the caller says it is staff.

Visibility after moderation is not kept here: a hidden post is a moderation state of the
message ``(topic:<id>, <post id>)`` in ``persistence/moderation`` (``docs/design/0021-forum.md``).
Times are milliseconds passed in by the caller.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from linli.types import Millis, UserId
from persistence.errors import NotFound, StoreError

#: The reactions a post can have: one of each per person.
REACTIONS = ("👍", "❤️", "😮", "🙏")


class Who(enum.StrEnum):
    """Who may start topics in, or reply in, a category (among those who may read it)."""

    ANYONE = "anyone"
    STAFF = "staff"


class WatchLevel(enum.StrEnum):
    FOLLOW = "follow"
    MUTE = "mute"


@dataclass(frozen=True, slots=True)
class CategoryDraft:
    slug: str
    name_zh: str
    name_en: str
    #: ``all``, ``building:<id>`` or ``group:<slug>``.
    scope: str
    description: str = ""
    colour: str = "#0b5394"
    position: int = 0
    start_by: Who = Who.ANYONE
    reply_by: Who = Who.ANYONE


@dataclass(frozen=True, slots=True)
class Category:
    id: int
    draft: CategoryDraft
    created_at: Millis


@dataclass(frozen=True, slots=True)
class Topic:
    id: int
    category_id: int
    title: str
    author_id: UserId
    author_name: str
    created_at: Millis
    last_post_at: Millis
    #: The newest post's number (= how many posts, deleted ones included).
    last_number: int
    pinned: bool
    closed: bool
    solved_post_id: int | None
    version: int


@dataclass(frozen=True, slots=True)
class Post:
    id: int
    topic_id: int
    number: int
    author_id: UserId
    author_name: str
    source: str
    html: str
    created_at: Millis
    edited_at: Millis | None
    edits: int
    deleted: bool
    reaction_version: int


@dataclass(frozen=True, slots=True)
class Revision:
    revision: int
    source: str
    html: str
    written_at: Millis


@dataclass(frozen=True, slots=True)
class Reaction:
    emoji: str
    user_id: UserId
    name: str


@dataclass(frozen=True, slots=True)
class Reactions:
    """A post's reactions (a snapshot): the version grows with every change."""

    post_id: int
    version: int
    #: Every reaction, by emoji in ``REACTIONS`` order, then by when it was given.
    items: tuple[Reaction, ...]


@dataclass(frozen=True, slots=True)
class Written:
    post: Post
    #: False when the (author, client_id) was used before: the stored post is returned.
    created: bool


@dataclass(frozen=True, slots=True)
class CategoryUnread:
    topics: int
    posts: int


@dataclass(frozen=True, slots=True)
class Image:
    id: int
    blob_id: str
    thumb_id: str
    uploader_id: UserId
    post_id: int | None
    filename: str
    media_type: str
    width: int
    height: int


#: Pictures a post may carry.
MAX_IMAGES = 4


@dataclass(frozen=True, slots=True)
class ForumCounts:
    """What happened in the forum in a period (the community figures)."""

    #: Topics started in the period.
    topics: int
    #: Of those, the ones with an accepted answer now ("questions answered").
    solved: int
    #: Replies written in the period, not deleted.
    replies: int


@dataclass(frozen=True, slots=True)
class Person:
    id: UserId
    username: str
    display_name: str


class ForumStore(Protocol):
    # -- categories ---------------------------------------------------------------------------
    async def create_category(self, draft: CategoryDraft, *, now: Millis) -> Category:
        """Raises ``CategoryExists`` when the slug is taken."""

    async def update_category(self, category_id: int, draft: CategoryDraft) -> Category:
        """Raises ``CategoryNotFound`` or ``CategoryExists``."""

    async def get_category(self, category_id: int) -> Category | None: ...

    async def list_categories(self) -> list[Category]:
        """By position, then id."""

    # -- topics and posts ---------------------------------------------------------------------
    async def create_topic(
        self,
        category_id: int,
        *,
        title: str,
        author_id: UserId,
        source: str,
        html: str,
        client_id: str,
        now: Millis,
    ) -> tuple[Topic, Written]:
        """A topic and its first post, in one transaction (a retried ``client_id`` returns the
        topic it made). Raises ``CategoryNotFound``."""

    async def get_topic(self, topic_id: int) -> Topic | None: ...

    async def list_topics(self, category_id: int, *, limit: int, offset: int) -> list[Topic]:
        """Pinned first, then the most recently active."""

    async def count_topics(self, category_id: int) -> int: ...

    async def add_reply(
        self,
        topic_id: int,
        *,
        author_id: UserId,
        source: str,
        html: str,
        client_id: str,
        now: Millis,
        staff: bool = False,
    ) -> Written:
        """The next post of the topic. Raises ``TopicNotFound``, or ``TopicClosed`` (unless
        ``staff``)."""

    async def get_post(self, post_id: int) -> Post | None: ...

    async def posts(self, topic_id: int, *, first: int, last: int) -> list[Post]:
        """The posts numbered ``first`` to ``last``, ascending."""

    async def edit_post(self, post_id: int, *, source: str, html: str, now: Millis) -> Post:
        """Replace the text, keeping the old one in the history. Raises ``PostNotFound``."""

    async def post_history(self, post_id: int) -> list[Revision]:
        """The texts an edit replaced, oldest first."""

    async def delete_post(self, post_id: int, *, now: Millis) -> Post:
        """Mark deleted, its text gone (the history keeps what it said, for moderators)."""

    # -- reactions ----------------------------------------------------------------------------
    async def react(
        self, post_id: int, user_id: UserId, emoji: str, *, on: bool, now: Millis
    ) -> tuple[Reactions, bool]:
        """Add (``on``) or remove a reaction; the post's reactions after, and whether it
        changed. Raises ``PostNotFound``, ``ValueError`` for an emoji not in ``REACTIONS``."""

    async def reactions(self, post_ids: list[int]) -> dict[int, Reactions]:
        """Every listed post's reactions (posts without any are left out)."""

    # -- staff --------------------------------------------------------------------------------
    async def update_topic(
        self,
        topic_id: int,
        *,
        pinned: bool | None = None,
        closed: bool | None = None,
        category_id: int | None = None,
        solved_post_id: int | None = None,
        unsolve: bool = False,
        title: str | None = None,
    ) -> Topic:
        """Change what is given (``unsolve`` clears the accepted answer); ``version`` + 1.
        Raises ``TopicNotFound``."""

    async def split_post(
        self,
        post_id: int,
        *,
        category_id: int,
        title: str,
        now: Millis,
        stub: Callable[[int], str] = lambda _topic_id: "",
    ) -> tuple[Topic, Post]:
        """Staff: a reply becomes the first post of a new topic (same author, text, time and
        pictures); its place in the old topic stays, its text replaced by ``stub(new topic
        id)`` (HTML: a link to where it went), so the old topic's numbers stay dense.
        Idempotent: splitting the same post again returns the topic it made. Returns the new
        topic and the old post as it is now. Raises ``PostNotFound`` (also for a first post),
        ``CategoryNotFound``."""

    async def count_solved(self) -> int:
        """Topics with an accepted answer ("questions answered")."""

    async def counts(
        self, *, start: Millis, end: Millis, building: int | None = None
    ) -> ForumCounts:
        """Counted from the rows for ``[start, end)``; with ``building``, only what its
        residents wrote."""

    # -- reading ------------------------------------------------------------------------------
    async def mark_read(self, user_id: UserId, topic_id: int, number: int, *, now: Millis) -> int:
        """Move the reader's ``last_read`` forward to ``number`` (at most the newest post's);
        return it. Raises ``TopicNotFound``."""

    async def last_read(self, user_id: UserId, topic_id: int) -> int:
        """0 when never read."""

    async def unread_in_category(self, user_id: UserId, category_id: int) -> dict[int, int]:
        """Topic id -> unread posts, for the category's topics with any."""

    async def unread_by_category(self, user_id: UserId) -> dict[int, CategoryUnread]:
        """Category id -> topics with unread posts and unread posts, for categories with any."""

    async def unread_in_topic(self, user_id: UserId, topic_id: int) -> int: ...

    # -- pictures -----------------------------------------------------------------------------
    async def add_image(
        self,
        *,
        blob_id: str,
        thumb_id: str,
        uploader_id: UserId,
        filename: str,
        media_type: str,
        width: int,
        height: int,
        now: Millis,
    ) -> Image:
        """A picture not attached to any post yet."""

    async def get_image(self, image_id: int) -> Image | None: ...

    async def attach_images(self, post_id: int, uploader_id: UserId, image_ids: list[int]) -> int:
        """Attach the uploader's unattached pictures to the post; how many were attached (a
        picture of someone else, or attached already, is left alone)."""

    async def images_of(self, post_ids: list[int]) -> dict[int, list[Image]]:
        """The listed posts' pictures, in upload order (posts without any are left out)."""

    # -- watching and people ------------------------------------------------------------------
    async def set_watch(self, user_id: UserId, topic_id: int, level: WatchLevel | None) -> None:
        """None: back to the default."""

    async def watches(self, topic_id: int) -> dict[UserId, WatchLevel]: ...

    async def repliers(self, topic_id: int) -> set[UserId]:
        """Everyone who wrote a post in the topic."""

    async def people(self, scope: str) -> list[Person]:
        """Who may read a category of ``scope`` (``all``: every account; a building: its
        residents and the staff; a group: its members and the staff), for mentions."""


class ForumError(StoreError):
    pass


class CategoryNotFound(ForumError, NotFound):
    pass


class CategoryExists(ForumError):
    pass


class TopicNotFound(ForumError, NotFound):
    pass


class PostNotFound(ForumError, NotFound):
    pass


class TopicClosed(ForumError):
    """The topic is closed: no new replies."""
