"""The Store interface: everything Linli keeps in its database, for SQLite and PostgreSQL.

Guarantees (``tests/contract/test_store.py`` runs against both backends):

* Every method that writes more than one row does so in one transaction: on an error nothing is
  written (no user without their invite being counted, no half batch of messages).
* ``insert_messages`` is idempotent: a row is unique per ``(channel, offset)``. Re-inserting a row
  of the same or an older epoch changes nothing; a row of a *newer* epoch replaces the stored one
  (after a Redis that restarted empty, a new epoch re-uses offsets that an old, lost epoch had
  handed out but not persisted — the new epoch's message is the one clients can still see).
* A chat message is stored once per ``(channel, author_id, client_msg_id)``, whatever its
  offset: the publishing gateway re-submits a message that Redis lost into a new epoch
  (design 0033), and a late write of the lost copy must not double it. Of two copies the one of
  the newer epoch is kept (a lower-epoch copy stored first is deleted; one arriving after is
  skipped), as for two rows at one offset.
* Usernames are unique without regard to case. Group slugs are unique.
* Timestamps are milliseconds since the Unix epoch (``Millis``), passed in by the caller, so tests
  control time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from linli.types import BuildingId, ChannelName, Epoch, Millis, Offset, Role, UserId
from persistence.db import Database
from persistence.errors import NotFound, StoreError

#: (key, failures in the window) -> milliseconds the next attempt must wait after the latest
#: failure (``Store.reserve_login_attempt``; the policy is ``web/throttle.py``'s).
WaitRule = Callable[[str, int], int]

__all__ = ["NotFound", "Role", "StoreError"]


@dataclass(frozen=True, slots=True)
class Building:
    id: BuildingId
    name: str
    created_at: Millis


@dataclass(frozen=True, slots=True)
class Unit:
    id: int
    building_id: BuildingId
    label: str


@dataclass(frozen=True, slots=True)
class User:
    id: UserId
    username: str
    display_name: str
    role: Role
    #: None only for staff accounts (an admin created from the command line) that belong to no
    #: building.
    building_id: BuildingId | None
    unit_id: int | None
    created_at: Millis


@dataclass(frozen=True, slots=True)
class Invite:
    code: str
    building_id: BuildingId
    #: How many more registrations it admits.
    uses_left: int
    expires_at: Millis
    created_at: Millis


@dataclass(frozen=True, slots=True)
class Group:
    slug: str
    name: str
    description: str
    created_by: UserId
    created_at: Millis
    member_count: int


@dataclass(frozen=True, slots=True)
class StoredMessage:
    channel: ChannelName
    offset: Offset
    epoch: Epoch
    #: The gateway's msgpack-encoded message body, exactly as published.
    data: bytes
    author_id: UserId | None
    created_at: Millis
    #: The author's ``client_msg_id`` for a chat message (None for anything else): with the
    #: channel and the author, the message's identity across epochs (design 0033).
    client_msg_id: str | None = None


class InviteInvalid(StoreError):
    """The invite code does not exist, has expired or has no uses left."""


class UsernameTaken(StoreError):
    """Another user has that username (compared without regard to case)."""


class GroupSlugTaken(StoreError):
    """Another group has that slug."""


class Store(Protocol):
    """The core records: buildings, users, sessions, groups and message history. Each feature
    keeps its own store over the same database (``persistence/<feature>/``)."""

    async def close(self) -> None: ...

    @property
    def database(self) -> Database:
        """The database underneath, which every feature's store shares."""

    # -- buildings and units ----------------------------------------------------------------
    async def create_building(self, name: str, *, now: Millis) -> Building: ...

    async def list_buildings(self) -> list[Building]: ...

    async def get_building(self, building_id: BuildingId) -> Building | None: ...

    async def list_units(self, building_id: BuildingId) -> list[Unit]: ...

    # -- invites and users --------------------------------------------------------------------
    async def create_invite(
        self, building_id: BuildingId, code: str, *, uses: int, expires_at: Millis, now: Millis
    ) -> Invite:
        """Raises NotFound for an unknown building."""

    async def get_invite(self, code: str) -> Invite | None: ...

    async def register_resident(
        self,
        *,
        invite_code: str,
        username: str,
        display_name: str,
        password_hash: str,
        unit_label: str,
        now: Millis,
    ) -> User:
        """In one transaction: check and use up one use of the invite, find or create the unit
        (labels compared after stripping spaces, case-insensitively), create the resident.
        Raises InviteInvalid or UsernameTaken; nothing is written then."""

    async def create_user(
        self,
        *,
        username: str,
        display_name: str,
        password_hash: str,
        role: Role,
        building_id: BuildingId | None,
        unit_label: str | None,
        now: Millis,
    ) -> User:
        """For admins and the demo. Raises UsernameTaken, NotFound (building)."""

    async def get_user(self, user_id: UserId) -> User | None: ...

    async def get_user_by_username(self, username: str) -> User | None:
        """Case-insensitive."""

    async def get_password_hash(self, user_id: UserId) -> str | None: ...

    async def set_password_hash(self, user_id: UserId, password_hash: str) -> None: ...

    async def set_role(self, user_id: UserId, role: Role) -> None:
        """Raises NotFound."""

    # -- sessions -----------------------------------------------------------------------------
    async def create_session(
        self, token_hash: str, user_id: UserId, *, expires_at: Millis, now: Millis
    ) -> None: ...

    async def get_session_user(self, token_hash: str, *, now: Millis) -> User | None:
        """The user of an unexpired session, or None."""

    async def delete_session(self, token_hash: str) -> None: ...

    async def delete_user_sessions(self, user_id: UserId) -> None: ...

    # -- login throttling ---------------------------------------------------------------------
    async def record_login_failure(self, key: str, *, now: Millis, window_ms: int) -> int:
        """Count a failed login for ``key`` (e.g. ``user:<name>`` or ``ip:<addr>``); return the
        failures within the last ``window_ms``, this one included."""

    async def login_failures(self, key: str, *, now: Millis, window_ms: int) -> int: ...

    async def clear_login_failures(self, key: str) -> None: ...

    async def reserve_login_attempt(
        self, keys: Sequence[str], *, now: Millis, window_ms: int, wait_ms: WaitRule
    ) -> tuple[int, str]:
        """Atomically, across every process: for each key, count its failures in the window
        ``(now - window_ms, now]`` and take the latest; the attempt may go ahead when ``now`` is
        at least ``latest + wait_ms(key, count)`` for every key. If it may, record a failure for
        each key at ``now`` (the attempt is reserved before the slow password check, so parallel
        guesses cannot all pass one check; ``release_login_attempt`` undoes it) and return
        ``(0, "")``; else record nothing and return how many milliseconds to wait (the longest)
        and the key that makes it."""

    async def login_failure_counts(self, *, now: Millis, window_ms: int) -> dict[str, int]:
        """Every key with failures in the window, and how many (for ``/metrics``)."""

    async def release_login_attempt(self, keys: Sequence[str], *, at: Millis) -> None:
        """Undo a reservation of ``reserve_login_attempt`` made at ``at`` (it was no failure)."""

    async def instance_secret(self, name: str, make: str, *, now: Millis) -> str:
        """The installation's secret ``name`` (table ``instance_secrets``), storing ``make``
        first when there is none: every process gets the same."""

    # -- interest groups ----------------------------------------------------------------------
    async def create_group(
        self, slug: str, name: str, description: str, *, created_by: UserId, now: Millis
    ) -> Group:
        """The creator joins the group. Raises GroupSlugTaken."""

    async def get_group(self, slug: str) -> Group | None: ...

    async def list_groups(self) -> list[Group]:
        """Sorted by name."""

    async def join_group(self, user_id: UserId, slug: str, *, now: Millis) -> None:
        """Idempotent. Raises NotFound for an unknown group."""

    async def leave_group(self, user_id: UserId, slug: str) -> None:
        """Idempotent."""

    async def is_member(self, user_id: UserId, slug: str) -> bool: ...

    async def user_groups(self, user_id: UserId) -> list[str]:
        """Slugs of the groups the user joined, sorted."""

    # -- message history ----------------------------------------------------------------------
    async def insert_messages(self, messages: list[StoredMessage]) -> int:
        """Insert a batch in one transaction (see the module docstring for conflicts); return how
        many rows were inserted or replaced."""

    async def history(
        self,
        channel: ChannelName,
        *,
        after: Offset = 0,
        before: Offset | None = None,
        limit: int = 100,
        newest: bool = False,
    ) -> list[StoredMessage]:
        """Rows with ``after < offset < before``, ascending: the oldest ``limit`` of that range, or
        the newest ``limit`` when ``newest``."""

    async def max_offset(self, channel: ChannelName) -> Offset:
        """The highest stored offset of the channel, 0 when none."""

    async def stored_ids(
        self, channel: ChannelName, first: Offset, last: Offset
    ) -> dict[Offset, tuple[Epoch, str | None]]:
        """``(epoch, client_msg_id)`` of each stored row with ``first <= offset <= last``: what
        the publishing gateway checks its acked messages against (design 0033)."""

    async def count_messages(self, channel: ChannelName) -> int: ...
