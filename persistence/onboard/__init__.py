"""Onboarding's store (issue 21; docs/design/0031-onboarding.md), migration 0026: the buildings'
poster invite codes, residents registered at the management desk, and accounts that must choose
their own password at their first login.

Guarantees (``tests/contract/test_onboard_store.py`` runs them against SQLite and PostgreSQL):

* Every change is written with its audit entry on the same transaction
  (``persistence.audit.sql.write_entry``).
* ``record_desk`` writes the desk's row, the first-login row and the resident's consent
  (``privacy_consents``) on one transaction: no desk registration without its recorded consent.
* A resident has at most one live helper row per helper (``add_helper`` returns the live one);
  ``is_helper`` is true only while it is live.
* ``record_act`` keeps one "by helper for resident" per object (kind, object id).
* ``complete_first_login`` sets the password only while the first-login row is there (given a
  code hash, only with the right, unexpired code; without one the caller has checked the
  account's password), and removes the row in the same transaction: it works once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from linli.types import BuildingId, Millis, UserId
from persistence.audit import NewEntry
from persistence.errors import NotFound

__all__ = ["NotFound"]


@dataclass(frozen=True, slots=True)
class FirstLogin:
    """An account that must choose its own password before it may log in."""

    user_id: UserId
    #: sha256 of the printed one-time code; None: the first password staff set.
    code_hash: str | None
    expires_at: Millis | None


@dataclass(frozen=True, slots=True)
class SourceCount:
    """Registrations of one building by where they came from."""

    building_id: BuildingId
    #: With an invite code a building's poster carries (scanned or typed).
    poster: int
    #: With any other invite code.
    invite: int
    #: Registered by staff at the management desk.
    desk: int


@dataclass(frozen=True, slots=True)
class SourceRegistrations:
    """Residents who registered in a period from one source (the community figures' new
    registrations by source, ``web/onboard/figures.py``)."""

    #: ``poster`` (a code a building's poster carries), ``invite`` (any other invite code),
    #: ``desk`` (registered by staff at the management desk) or ``other`` (none of these: made
    #: with ``linli user create``, or registered before invite codes' uses were recorded).
    kind: str
    #: The invite code (poster and invite), else None.
    code: str | None
    #: The code's building (poster and invite), else None.
    building_id: BuildingId | None
    #: The unit an admin console's invite registers into, if it is for one.
    unit_label: str | None
    count: int


@dataclass(frozen=True, slots=True)
class DeskRegistration:
    user_id: UserId
    by_user_id: UserId | None
    mode: str
    consent_how: str
    at: Millis


@dataclass(frozen=True, slots=True)
class HelperRow:
    id: int
    resident_id: UserId
    resident_name: str
    helper_id: UserId
    helper_name: str
    #: The staff member who recorded it at the desk, or the resident who named the helper.
    created_by: UserId | None
    created_at: Millis


@dataclass(frozen=True, slots=True)
class ActRow:
    kind: str
    object_id: int
    resident_id: UserId
    helper_id: UserId
    helper_name: str
    at: Millis


class OnboardStore(Protocol):
    async def poster_invite(self, building_id: BuildingId, *, now: Millis) -> str | None:
        """The newest poster code of the building that still registers (uses left, not expired,
        not revoked), or None."""

    async def record_poster(self, code: str, building_id: BuildingId, audit: NewEntry) -> None: ...

    async def sources(self) -> list[SourceCount]:
        """Registrations per building by source, for every building that has any."""

    async def registrations(
        self, *, start: Millis, end: Millis, building: BuildingId | None
    ) -> list[SourceRegistrations]:
        """Residents (role resident) registered in ``[start, end)`` (``users.created_at``) in
        the building (None: everywhere), by source: one row per poster code and per other
        invite code used, then the desk, then the rest (kinds with none are absent). Each
        resident counts once, so the counts add up to the period's registrations; a resident
        registered at the desk counts as the desk's."""

    async def poster_codes(self, building: BuildingId | None) -> list[tuple[str, BuildingId]]:
        """Every poster code made for the building (None: every building) and its building,
        used or not, by building and code."""

    async def unit_exists(self, building_id: BuildingId, label: str) -> bool:
        """Whether the building has a unit of that label (compared as registration compares)."""

    async def record_desk(
        self,
        user_id: UserId,
        *,
        mode: str,
        consent_how: str,
        notice_version: str,
        code_hash: str | None,
        expires_at: Millis | None,
        now: Millis,
        audit: NewEntry,
    ) -> None:
        """The desk's row, the first-login row and the consent (by ``audit.actor_id``)."""

    async def desk_registration(self, user_id: UserId) -> DeskRegistration | None: ...

    async def first_login(self, user_id: UserId) -> FirstLogin | None: ...

    # -- helpers -------------------------------------------------------------------------------
    async def add_helper(self, resident_id: UserId, helper_id: UserId, audit: NewEntry) -> int:
        """The live helper row of the pair (made, with its audit entry, when there is none)."""

    async def end_helper(self, row_id: int, *, now: Millis, audit: NewEntry) -> bool:
        """Whether it was live."""

    async def helper_row(self, row_id: int) -> HelperRow | None:
        """A live helper row."""

    async def helpers_of(self, resident_id: UserId) -> list[HelperRow]:
        """The resident's live helpers, oldest first."""

    async def helping(self, helper_id: UserId) -> list[HelperRow]:
        """The residents the user may act for, oldest first."""

    async def is_helper(self, resident_id: UserId, helper_id: UserId) -> bool: ...

    async def record_act(
        self, kind: str, object_id: int, resident_id: UserId, helper_id: UserId, audit: NewEntry
    ) -> None: ...

    async def acted_by(self, kind: str, object_id: int) -> ActRow | None: ...

    async def acts_for(self, resident_id: UserId, *, limit: int = 50) -> list[ActRow]:
        """What helpers did for the resident, newest first."""

    # -- the tour ------------------------------------------------------------------------------
    async def tour_seen(self, user_id: UserId) -> bool: ...

    async def see_tour(self, user_id: UserId, *, now: Millis) -> None:
        """Idempotent: the first time counts."""

    async def complete_first_login(
        self,
        user_id: UserId,
        password_hash: str,
        *,
        code_hash: str | None,
        now: Millis,
        audit: NewEntry,
    ) -> list[str]:
        """Set the password and remove the first-login row; the token hashes of the sessions it
        ended. ``code_hash`` None: the caller verified the account's password. Raises NotFound
        when there is no such row, or the code is wrong or expired (nothing written then)."""
