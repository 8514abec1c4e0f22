"""The admin console's store: what the console keeps beside the core's buildings, units, users
and invites (migration 0023): each unit's floor, ownership share and household size; disabled
accounts; one-time password reset codes (hashed); invites' unit, uses and revocation, and who
registered with which code; the settings an admin changes at run time.

Guarantees (``tests/contract/test_admin_store.py`` runs them against SQLite and PostgreSQL):

* Every change is written with its audit entry on the same transaction
  (``persistence.audit.sql.write_entry``): no change without its entry, no entry without it.
* ``import_units`` is one transaction: when any row fails (a unit of an unknown building, a
  label taken twice), nothing of the import is written.
* A reset code is used at most once, and only before it expires; redeeming it sets the password
  and ends every session of the account in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from linli.types import BuildingId, Millis, Role, UserId
from persistence.audit import NewEntry
from persistence.errors import NotFound, StoreError

__all__ = ["NotFound", "UnitLabelTaken"]


class UnitLabelTaken(StoreError):
    """Another unit of the building has that label (compared as registration compares it)."""


@dataclass(frozen=True, slots=True)
class UnitRow:
    unit_id: int
    building_id: BuildingId
    building_name: str
    label: str
    #: None: the console has no details of the unit yet (made by a registration).
    floor: str | None
    #: The ownership share in millionths (1 ‰ = 1000).
    share_ppm: int | None
    household_size: int | None
    #: Accounts living in it.
    residents: int


@dataclass(frozen=True, slots=True)
class UnitImport:
    """One checked line of a CSV import."""

    building_id: BuildingId
    floor: str
    label: str
    share_ppm: int
    household_size: int


@dataclass(frozen=True, slots=True)
class ResidentRow:
    id: UserId
    username: str
    display_name: str
    role: Role
    building_id: BuildingId | None
    building_name: str | None
    unit_id: int | None
    unit_label: str | None
    disabled: bool
    created_at: Millis
    #: Unexpired sessions.
    sessions: int


@dataclass(frozen=True, slots=True)
class SessionRow:
    #: The first characters of the token's hash: enough to name it, never enough to use it.
    ref: str
    created_at: Millis
    expires_at: Millis


@dataclass(frozen=True, slots=True)
class InviteRow:
    code: str
    building_id: BuildingId
    building_name: str
    unit_id: int | None
    unit_label: str | None
    #: Uses it was issued with (None for invites made before the console kept it).
    uses: int | None
    uses_left: int
    expires_at: Millis
    created_at: Millis
    revoked_at: Millis | None
    #: (user id, username, display name, when) of each registration with the code.
    used_by: tuple[tuple[UserId, str, str, Millis], ...]


class AdminStore(Protocol):
    # -- buildings and units -------------------------------------------------------------------
    async def units(self) -> list[UnitRow]:
        """Every unit, by building name and label."""

    async def rename_building(self, building_id: BuildingId, name: str, audit: NewEntry) -> None:
        """Raises NotFound."""

    async def save_unit(
        self,
        building_id: BuildingId,
        unit_id: int | None,
        *,
        label: str,
        floor: str,
        share_ppm: int,
        household_size: int,
        now: Millis,
        audit: NewEntry,
    ) -> int:
        """Create (``unit_id`` None) or change a unit; its id. Raises NotFound, UnitLabelTaken."""

    async def import_units(
        self, rows: Sequence[UnitImport], *, now: Millis, audit: NewEntry
    ) -> tuple[int, int]:
        """Create or update each unit (found by building and label) in one transaction, keeping
        the owners' register's share (``meeting_units``) in step where the unit is in it;
        ``(created, updated)``. Nothing is written when any row fails."""

    # -- residents -----------------------------------------------------------------------------
    async def residents(
        self,
        *,
        query: str = "",
        building_id: BuildingId | None = None,
        role: Role | None = None,
        disabled: bool | None = None,
        now: Millis,
        limit: int = 200,
    ) -> list[ResidentRow]:
        """Matching accounts by username; ``query`` matches the username or the name."""

    async def move_user(
        self, user_id: UserId, building_id: BuildingId, unit_label: str, audit: NewEntry
    ) -> None:
        """Into the building's unit of that label (made when missing). Raises NotFound."""

    async def set_disabled(
        self, user_id: UserId, disabled: bool, *, reason: str, now: Millis, audit: NewEntry
    ) -> bool:
        """Whether it changed anything; disabling also deletes the user's sessions. Raises
        NotFound."""

    async def is_disabled(self, user_id: UserId) -> bool: ...

    async def sessions(self, user_id: UserId, *, now: Millis) -> list[SessionRow]: ...

    async def end_sessions(self, user_id: UserId, ref: str | None, audit: NewEntry) -> list[str]:
        """Delete the user's session named by ``ref`` (all of them when None); the token hashes
        deleted."""

    async def issue_reset_code(
        self, user_id: UserId, code_hash: str, *, expires_at: Millis, now: Millis, audit: NewEntry
    ) -> None:
        """Replaces the user's unused codes. Raises NotFound."""

    async def has_reset_code(self, user_id: UserId, code_hash: str, *, now: Millis) -> bool:
        """Whether an unused, unexpired code of the user has that hash (a cheap check before
        the slow password hash; ``redeem_reset_code`` checks again)."""

    async def redeem_reset_code(
        self, user_id: UserId, code_hash: str, password_hash: str, *, now: Millis, audit: NewEntry
    ) -> list[str]:
        """Use the code, set the password and delete every session of the user, in one
        transaction; the token hashes deleted. Raises NotFound when no unused, unexpired code of
        the user has that hash (nothing written then)."""

    # -- invites -------------------------------------------------------------------------------
    async def record_invite(
        self, code: str, *, unit_id: int | None, uses: int, audit: NewEntry
    ) -> None: ...

    async def invites(self) -> list[InviteRow]:
        """Every invite, newest first, with its registrations."""

    async def revoke_invite(self, code: str, *, now: Millis, audit: NewEntry) -> bool:
        """Whether it was live. Raises NotFound."""

    async def invite_unit(self, code: str) -> tuple[int, str] | None:
        """The unit (id, label) an invite is for, when it is for one."""

    async def record_invite_use(self, code: str, user_id: UserId, *, now: Millis) -> None: ...

    # -- settings ------------------------------------------------------------------------------
    async def settings(self) -> dict[str, str]: ...

    async def set_settings(
        self, values: Mapping[str, str], *, by: UserId | None, now: Millis, audit: NewEntry
    ) -> None: ...
