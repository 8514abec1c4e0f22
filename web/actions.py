"""The core's state changes that staff make or that reach other processes (buildings, invites,
roles; a logout, leaving a group), with no HTTP in sight: the API, the CLI (``linli admin``)
and the admin console make each change the same way, and each staff action is audited as
feature ``core`` (``persistence/audit/``)."""

from __future__ import annotations

import secrets

from channels.names import group_channel
from gateway.control import EndSession, PermissionsChanged, revoke_access, send_control
from linli.feature import Services
from linli.types import BuildingId, Role, UserId
from persistence.audit import NewEntry
from persistence.store import Building, Invite, User

FEATURE = "core"
#: No 0/O, 1/I: invite codes are read aloud and typed by hand.
INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
INVITE_CODE_CHARS = 8
DAY_MS = 86_400_000


def new_invite_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_CODE_CHARS))


async def _audit(services: Services, action: str, actor: User | None, **fields: object) -> None:
    await services.audit.append(
        NewEntry(
            feature=FEATURE,
            action=action,
            actor_id=None if actor is None else actor.id,
            reason="",
            at=services.clock.now_ms(),
            **fields,  # type: ignore[arg-type]
        )
    )


async def create_building(services: Services, name: str, *, actor: User | None) -> Building:
    building = await services.store.create_building(name, now=services.clock.now_ms())
    await _audit(services, "building_create", actor, subject=f"building:{building.id}")
    return building


async def create_invite(
    services: Services, building_id: BuildingId, *, uses: int, days: int, actor: User | None
) -> Invite:
    """Raises NotFound for an unknown building."""
    now = services.clock.now_ms()
    invite = await services.store.create_invite(
        building_id, new_invite_code(), uses=uses, expires_at=now + days * DAY_MS, now=now
    )
    await _audit(
        services,
        "invite_create",
        actor,
        subject=f"building:{building_id}",
        detail={"uses": uses, "days": days},
    )
    return invite


async def set_role(services: Services, user_id: UserId, role: Role, *, actor: User | None) -> None:
    """Raises NotFound. The user's connections close everywhere, so they come back with it."""
    await services.store.set_role(user_id, role)
    await _audit(services, "role_set", actor, target_user_id=user_id, detail={"role": str(role)})
    await send_control(services.broker, PermissionsChanged(user_id=user_id))


async def end_session(services: Services, session_hash: str) -> None:
    """A logout: the session is gone and its connections close on every gateway."""
    await services.store.delete_session(session_hash)
    await send_control(services.broker, EndSession(session=session_hash))


async def leave_group(services: Services, user_id: UserId, slug: str) -> None:
    """Idempotent; the user's subscriptions to the group end on every gateway."""
    await services.store.leave_group(user_id, slug)
    await revoke_access(services.broker, user_id, group_channel(slug))
