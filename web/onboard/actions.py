"""Onboarding's state changes and what its pages show (issue 21; docs/design/0031-onboarding.md),
with no HTTP in sight: the buildings' printable invite posters (QR code drawn as SVG on the
server), residents registered by staff at the management desk, and the first login at which such
a resident chooses their own password. Every change is audited as feature ``onboard``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

import segno

from gateway.control import EndSession, send_control
from linli.feature import LoginRefused, Services
from linli.types import BuildingId, Role, UserId
from persistence.audit import NewEntry
from persistence.errors import NotFound
from persistence.onboard import SourceCount
from persistence.onboard.sql import SqlOnboardStore
from persistence.store import Building, User, UsernameTaken
from web import passwords
from web.admin import actions as admin_actions
from web.privacy.actions import NOTICE_VERSION

FEATURE: Final = "onboard"
HOUR_MS: Final = 3_600_000
#: A poster's invite code: a poster hangs in the lobby for a year and is read by a whole
#: building (a few hundred households), so its code is made with the most uses and the longest
#: life an invite may have (``/api/admin/invites``: 1000 uses, 365 days).
POSTER_USES: Final = 1000
POSTER_DAYS: Final = 365
#: A printed one-time login code: like a reset code (no 0/O, 1/I), 10 characters (about 50
#: bits), every guess throttled like a login; valid a fortnight, time for the slip to be taken
#: home and used.
LOGIN_CODE_CHARS: Final = 10
LOGIN_CODE_HOURS: Final = 14 * 24
#: How the resident's consent to the privacy notice was given at the desk.
CONSENT_HOWS: Final = ("paper_form", "verbal_desk")
MODES: Final = ("password", "code")


def onboard_store(services: Services) -> SqlOnboardStore:
    return SqlOnboardStore(services.database)


def _entry(services: Services, action: str, actor: User | None, **fields: object) -> NewEntry:
    return NewEntry(
        feature=FEATURE,
        action=action,
        actor_id=None if actor is None else actor.id,
        reason="",
        at=services.clock.now_ms(),
        **fields,  # type: ignore[arg-type]
    )


class OnboardError(Exception):
    """A refused action: ``code`` is an ``HttpCode`` value, ``field`` the input at fault."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


# -- posters -------------------------------------------------------------------------------------


def register_url(public_url: str, code: str) -> str:
    """The link a poster's QR code carries: the registration page with the code filled in."""
    return f"{public_url.rstrip('/')}/register?{urlencode({'invite': code})}"


def qr_svg(data: str, *, title: str) -> str:
    """The QR code of ``data`` as an inline SVG: sized by CSS (a viewBox, no width/height),
    error correction M (a poster may be scuffed), the 4-module quiet zone scanners need."""
    qr = segno.make(data, error="m", boost_error=False)
    svg: str = qr.svg_inline(
        scale=1, border=4, omitsize=True, title=title, svgclass="poster-qr", lineclass=None
    )
    # An image with a name for screen readers (the title), not a group of paths.
    return svg.replace("<svg ", '<svg role="img" ', 1)


@dataclass(frozen=True)
class Poster:
    building: Building
    #: None: the building has no live poster code yet (staff make one on the page).
    code: str | None
    url: str | None
    svg: str | None
    help_desk: str
    community_zh: str
    community_en: str


async def poster(services: Services, building_id: BuildingId, *, title: str) -> Poster:
    """What the building's poster prints. Raises NotFound."""
    building = await services.store.get_building(building_id)
    if building is None:
        raise NotFound(f"building {building_id}")
    code = await onboard_store(services).poster_invite(building_id, now=services.clock.now_ms())
    settings = await admin_actions.current_settings(services)
    url = None if code is None else register_url(services.settings.public_url, code)
    return Poster(
        building,
        code,
        url,
        None if url is None else qr_svg(url, title=title),
        settings["help_desk"],
        settings["community_name_zh"],
        settings["community_name_en"],
    )


async def make_poster_code(services: Services, building_id: BuildingId, *, actor: User) -> str:
    """A new invite code for the building's poster (the older posters' codes keep working until
    they expire or are revoked in the console). Raises NotFound."""
    invite, _ = await admin_actions.create_invite(
        services, building_id, unit_label=None, uses=POSTER_USES, days=POSTER_DAYS, actor=actor
    )
    await onboard_store(services).record_poster(
        invite.code,
        building_id,
        _entry(
            services,
            "poster_code",
            actor,
            subject=f"invite:{invite.code}",
            detail={"building_id": building_id},
        ),
    )
    return invite.code


async def sources(services: Services) -> list[SourceCount]:
    return await onboard_store(services).sources()


# -- assisted registration -----------------------------------------------------------------------


def code_hash(user_id: UserId, code: str) -> str:
    normalised = code.strip().upper().replace(" ", "").replace("-", "")
    return hashlib.sha256(f"linli-first-login:{user_id}:{normalised}".encode()).hexdigest()


@dataclass(frozen=True)
class DeskResult:
    user: User
    #: The printed one-time login code (``XXXXX-XXXXX``), shown once; None in password mode.
    code: str | None
    expires_at: int | None


async def register_at_desk(
    services: Services,
    *,
    building_id: BuildingId,
    unit: str,
    username: str,
    display_name: str,
    mode: str,
    password: str,
    consent_how: str,
    actor: User,
) -> DeskResult:
    """Staff register a resident: into an existing unit of the building, with a first password
    staff type in or a printed one-time code, and the resident's consent recorded (how, by
    ``actor``, now). Either way the resident chooses their own password at the first login.
    Raises NotFound (building), OnboardError (``unit_unknown``, ``username_taken``)."""
    if mode not in MODES or consent_how not in CONSENT_HOWS:
        raise OnboardError("bad_request", "Unknown mode or way of consent.")
    if await services.store.get_building(building_id) is None:
        raise NotFound(f"building {building_id}")
    store = onboard_store(services)
    if not await store.unit_exists(building_id, unit):
        raise OnboardError(
            "unit_unknown",
            "The building has no unit of that label; add it in the console's units first.",
            field="unit",
        )
    if mode == "password":
        password_hash = await passwords.hash_password(
            password, in_thread=services.settings.hash_in_thread
        )
    else:
        # No password works until the resident has set theirs with the printed code.
        password_hash = "!first-login"
    now = services.clock.now_ms()
    try:
        user = await services.store.create_user(
            username=username,
            display_name=display_name,
            password_hash=password_hash,
            role=Role.RESIDENT,
            building_id=building_id,
            unit_label=unit,
            now=now,
        )
    except UsernameTaken:
        raise OnboardError(
            "username_taken", "This username is taken; please choose another.", field="username"
        ) from None
    code = hashed = expires_at = None
    if mode == "code":
        raw = "".join(secrets.choice(admin_actions.RESET_ALPHABET) for _ in range(LOGIN_CODE_CHARS))
        code = admin_actions.format_reset_code(raw)
        hashed = code_hash(user.id, raw)
        expires_at = now + LOGIN_CODE_HOURS * HOUR_MS
    await store.record_desk(
        user.id,
        mode=mode,
        consent_how=consent_how,
        notice_version=NOTICE_VERSION,
        code_hash=hashed,
        expires_at=expires_at,
        now=now,
        audit=_entry(
            services,
            "desk_register",
            actor,
            target_user_id=user.id,
            detail={
                "building_id": building_id,
                "unit": unit,
                "mode": mode,
                "consent_how": consent_how,
                "notice_version": NOTICE_VERSION,
            },
        ),
    )
    return DeskResult(user, code, expires_at)


async def refuse_first_login(services: Services, user: User) -> None:
    """The login check: an account registered at the desk logs in only after its resident has
    chosen a password on the first-login page."""
    if await onboard_store(services).first_login(user.id) is not None:
        raise LoginRefused(
            "password_change_required",
            "Please choose your own password first (first login page).",
        )


async def complete_first_login(
    services: Services, user: User, secret: str, new_password: str
) -> None:
    """The resident's first login: the first password staff set, or the printed code, and the
    password they choose. Raises NotFound (not a first login, or the wrong password or code;
    nothing changes)."""
    store = onboard_store(services)
    pending = await store.first_login(user.id)
    if pending is None:
        raise NotFound("first login")
    # The printed code, or the account's current password: the first password staff set, or
    # one set since with an admin's reset code (a resident who lost the slip), which must not
    # leave the account refused for ever. A code account's hash never verifies meanwhile.
    hashed = None if pending.code_hash is None else code_hash(user.id, secret)
    if hashed is None or not secrets.compare_digest(hashed, pending.code_hash or ""):
        hashed = None
        stored = await services.store.get_password_hash(user.id)
        if not await passwords.verify_password(
            stored, secret, in_thread=services.settings.hash_in_thread
        ):
            raise NotFound("first login")
    if new_password == secret:
        raise OnboardError(
            "same_password",
            "Please choose a new password of your own, not the one you were given.",
            field="password",
        )
    password_hash = await passwords.hash_password(
        new_password, in_thread=services.settings.hash_in_thread
    )
    ended = await store.complete_first_login(
        user.id,
        password_hash,
        code_hash=hashed,
        now=services.clock.now_ms(),
        audit=_entry(
            services,
            "first_password",
            user,
            target_user_id=user.id,
            detail={"with": "password" if hashed is None else "code"},
        ),
    )
    for token_hash in ended:
        await send_control(services.broker, EndSession(session=token_hash))


# -- helpers: acting for a resident --------------------------------------------------------------
#
# A helper is a standing permission the resident gives (or asks the desk to record): the helper
# may act for them in requests, surveys and events, never in votes or meeting resolutions. What
# the helper does is the resident's (the resident is the author, gets the replies, may rate it)
# and is kept as "by helper for resident" in onboard_acts, shown on the object and to the
# resident, and audited (docs/design/0031-onboarding.md).


async def name_helper(services: Services, resident: User, helper_username: str) -> int:
    """The resident names a helper by username; the helper row's id. Raises NotFound (no such
    account), OnboardError (``bad_request``: oneself)."""
    helper = await services.store.get_user_by_username(helper_username.strip().lower())
    if helper is None or helper.username.startswith("deleted-"):
        raise NotFound(f"user {helper_username}")
    if helper.id == resident.id:
        raise OnboardError("bad_request", "You cannot name yourself.", field="username")
    return await onboard_store(services).add_helper(
        resident.id,
        helper.id,
        _entry(
            services,
            "helper_add",
            resident,
            target_user_id=resident.id,
            detail={"helper_id": helper.id, "by": "resident"},
        ),
    )


async def desk_helps(services: Services, staff: User, resident_username: str) -> int:
    """The resident asked the desk: the staff member becomes their helper. Raises NotFound."""
    resident = await services.store.get_user_by_username(resident_username.strip().lower())
    if resident is None or resident.id == staff.id or resident.username.startswith("deleted-"):
        raise NotFound(f"user {resident_username}")
    return await onboard_store(services).add_helper(
        resident.id,
        staff.id,
        _entry(
            services,
            "helper_add",
            staff,
            target_user_id=resident.id,
            detail={"helper_id": staff.id, "by": "desk"},
        ),
    )


async def end_helper(services: Services, actor: User, row_id: int) -> bool:
    """The resident (or the helper) ends it. Raises NotFound (not live, or not theirs)."""
    store = onboard_store(services)
    row = await store.helper_row(row_id)
    if row is None or actor.id not in (row.resident_id, row.helper_id):
        raise NotFound(f"helper {row_id}")
    return await store.end_helper(
        row_id,
        now=services.clock.now_ms(),
        audit=_entry(
            services,
            "helper_end",
            actor,
            target_user_id=row.resident_id,
            detail={"helper_id": row.helper_id},
        ),
    )


async def helped_resident(services: Services, helper: User, resident_id: UserId) -> User:
    """The resident ``helper`` may act for now. Raises NotFound (no live helper row: the same
    answer as for no such resident, so nobody learns who has helpers)."""
    if not await onboard_store(services).is_helper(resident_id, helper.id):
        raise NotFound(f"user {resident_id}")
    resident = await services.store.get_user(resident_id)
    if resident is None or resident.username.startswith("deleted-"):
        raise NotFound(f"user {resident_id}")
    return resident


async def record_act(
    services: Services, kind: str, object_id: int, *, resident: User, helper: User
) -> None:
    await onboard_store(services).record_act(
        kind,
        object_id,
        resident.id,
        helper.id,
        _entry(
            services,
            "act_for",
            helper,
            target_user_id=resident.id,
            subject=f"{kind}:{object_id}",
            detail={"kind": kind},
        ),
    )
