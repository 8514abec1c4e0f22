"""The admin console's state changes, shared by its pages, the HTTP API (``web/admin/api.py``)
and the CLI (``linli admin …``), with no HTTP in sight. Every change is written with its entry
in the one audit log (feature ``admin``) on the same transaction (``persistence/admin/``).

* Units: create and rename, and a CSV import (棟, 樓, 戶號, 持分 ‰, 人數) that is checked line by
  line first (``check_import``: a preview, nothing written) and written in one transaction
  (``import_units``) only when every line is right.
* Residents: change role (the core's action), move unit, disable and enable, end sessions,
  issue a one-time password reset code (shown once, stored hashed) that the resident redeems on
  the forgot-password page (``redeem_reset_code``).
* Invites per building or unit, with uses and expiry; revoke; which resident used which code.
* Settings that change at run time (``SETTINGS``); the rest come from the environment.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from gateway.admin.events import settings_changed
from gateway.control import EndSession, PermissionsChanged, send_control
from linli.catalogue import LOCALES
from linli.feature import LoginRefused, Services
from linli.types import BuildingId, Role, UserId
from persistence.admin import InviteRow, UnitImport, UnitRow
from persistence.admin.sql import SqlAdminStore
from persistence.audit import NewEntry
from persistence.blobs import blob_store
from persistence.errors import NotFound
from persistence.store import Invite, User
from persistence.store_sql import label_key, normalise_label
from web import actions as core_actions
from web import passwords
from web.uploads import CheckedUpload

FEATURE = "admin"
HOUR_MS = 3_600_000
#: Reset codes are read out or printed: no 0/O, 1/I; 10 characters (about 50 bits), and every
#: guess is throttled like a login (``web/throttle.py``).
RESET_ALPHABET = core_actions.INVITE_ALPHABET
RESET_CODE_CHARS = 10
#: The longest CSV an import takes (a neighbourhood has hundreds of units, not tens of
#: thousands).
MAX_IMPORT_LINES = 5000
MAX_HOUSEHOLD = 50
#: The CSV's columns, in order; each accepts its Chinese or English header.
CSV_COLUMNS = ("棟", "樓", "戶號", "持分‰", "人數")
CSV_HEADERS_EN = ("building", "floor", "unit", "share_permille", "household_size")


def admin_store(services: Services) -> SqlAdminStore:
    return SqlAdminStore(services.database)


def _entry(services: Services, action: str, actor: User | None, **fields: object) -> NewEntry:
    return NewEntry(
        feature=FEATURE,
        action=action,
        actor_id=None if actor is None else actor.id,
        reason=str(fields.pop("reason", "")),
        at=services.clock.now_ms(),
        **fields,  # type: ignore[arg-type]
    )


class AdminError(Exception):
    """A refused action: ``code`` is an ``HttpCode`` value, ``field`` the input at fault."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


# -- units ---------------------------------------------------------------------------------------


def parse_share(raw: str) -> int | None:
    """A share in ‰ ("12.5", "12.5‰") as millionths, or None when it is not a number above 0
    and at most 1000 with at most 3 decimals."""
    text = raw.strip().rstrip("‰").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0 or value > 1000:
        return None
    ppm = value * 1000
    if ppm != ppm.to_integral_value():
        return None
    return int(ppm)


def format_share(ppm: int | None) -> str:
    if ppm is None:
        return ""
    text = f"{Decimal(ppm) / 1000:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_household(raw: str) -> int | None:
    text = raw.strip()
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= MAX_HOUSEHOLD else None


@dataclass(frozen=True)
class ImportLine:
    """One line of a CSV import as the preview shows it."""

    #: The line's number in the file (the header is line 1).
    line: int
    building: str
    floor: str
    unit: str
    share: str
    household: str
    #: ``create`` or ``update`` when the line is right.
    action: str = ""
    #: Error codes (``admin.import.*`` in the catalogue), empty when the line is right.
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportCheck:
    lines: tuple[ImportLine, ...]
    rows: tuple[UnitImport, ...] = ()
    #: A problem with the whole file (no header, too long), else "".
    file_error: str = ""
    created: int = 0
    updated: int = 0

    @property
    def ok(self) -> bool:
        return not self.file_error and all(not line.errors for line in self.lines)


def _header_ok(cells: list[str]) -> bool:
    names = [c.strip().lstrip("\ufeff").casefold().replace(" ", "") for c in cells[:5]]
    zh = [c.casefold() for c in CSV_COLUMNS]
    zh_loose = [n.replace("‰", "") for n in zh]
    return len(names) >= 5 and all(
        n in (a, b, c) for n, a, b, c in zip(names, zh, zh_loose, CSV_HEADERS_EN, strict=True)
    )


async def check_import(services: Services, text: str) -> ImportCheck:
    """Every line of the CSV checked against the stored buildings and units; nothing written."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    if not rows or not _header_ok(rows[0]):
        return ImportCheck((), file_error="admin.import.bad_header")
    if len(rows) - 1 > MAX_IMPORT_LINES:
        return ImportCheck((), file_error="admin.import.too_long")
    buildings = {
        normalise_label(b.name).casefold(): b for b in await services.store.list_buildings()
    }
    existing = {(u.building_id, label_key(u.label)) for u in await admin_store(services).units()}
    seen: dict[tuple[int, str], int] = {}
    lines: list[ImportLine] = []
    good: list[UnitImport] = []
    created = updated = 0
    for number, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        cells = [c.strip() for c in cells] + [""] * (5 - len(cells))
        name, floor, unit, share_raw, size_raw = cells[:5]
        errors: list[str] = []
        building = buildings.get(normalise_label(name).casefold())
        if building is None:
            errors.append("admin.import.unknown_building")
        if not unit or len(unit) > 20:
            errors.append("admin.import.bad_unit")
        if len(floor) > 10:
            errors.append("admin.import.bad_floor")
        share = parse_share(share_raw)
        if share is None:
            errors.append("admin.import.bad_share")
        size = parse_household(size_raw)
        if size is None:
            errors.append("admin.import.bad_size")
        action = ""
        if building is not None and unit:
            key = (building.id, label_key(unit))
            if key in seen:
                errors.append("admin.import.duplicate_unit")
            else:
                seen[key] = number
            action = "update" if key in existing else "create"
        if not errors and building is not None and share is not None and size is not None:
            good.append(UnitImport(building.id, floor, normalise_label(unit), share, size))
            created += action == "create"
            updated += action == "update"
        lines.append(
            ImportLine(
                number,
                name,
                floor,
                unit,
                share_raw,
                size_raw,
                action="" if errors else action,
                errors=tuple(errors),
            )
        )
    if not lines:
        return ImportCheck((), file_error="admin.import.empty")
    return ImportCheck(tuple(lines), tuple(good), created=created, updated=updated)


async def import_units(services: Services, text: str, *, actor: User | None) -> ImportCheck:
    """Check, then write every line in one transaction; a check with errors writes nothing."""
    checked = await check_import(services, text)
    if not checked.ok:
        return checked
    created, updated = await admin_store(services).import_units(
        checked.rows,
        now=services.clock.now_ms(),
        audit=_entry(services, "units_import", actor, detail={"lines": len(checked.rows)}),
    )
    return ImportCheck(checked.lines, checked.rows, created=created, updated=updated)


def export_csv(units: list[UnitRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for u in units:
        writer.writerow(
            [
                u.building_name,
                u.floor or "",
                u.label,
                format_share(u.share_ppm),
                "" if u.household_size is None else u.household_size,
            ]
        )
    return out.getvalue()


async def rename_building(
    services: Services, building_id: BuildingId, name: str, *, actor: User | None
) -> None:
    """Raises NotFound."""
    await admin_store(services).rename_building(
        building_id,
        name,
        _entry(
            services,
            "building_rename",
            actor,
            subject=f"building:{building_id}",
            detail={"name": name},
        ),
    )


async def save_unit(
    services: Services,
    building_id: BuildingId,
    unit_id: int | None,
    *,
    label: str,
    floor: str,
    share_ppm: int,
    household_size: int,
    actor: User | None,
) -> int:
    """Create or change a unit. Raises NotFound, UnitLabelTaken."""
    return await admin_store(services).save_unit(
        building_id,
        unit_id,
        label=label,
        floor=floor,
        share_ppm=share_ppm,
        household_size=household_size,
        now=services.clock.now_ms(),
        audit=_entry(
            services,
            "unit_create" if unit_id is None else "unit_update",
            actor,
            detail={
                "label": label,
                "floor": floor,
                "share_ppm": share_ppm,
                "household_size": household_size,
            },
        ),
    )


# -- residents -----------------------------------------------------------------------------------


async def set_role(services: Services, user_id: UserId, role: Role, *, actor: User | None) -> None:
    """The core's action (audited as ``core``/``role_set``): one way to change a role."""
    await core_actions.set_role(services, user_id, role, actor=actor)


async def move_user(
    services: Services,
    user_id: UserId,
    building_id: BuildingId,
    unit_label: str,
    *,
    actor: User | None,
) -> None:
    """Raises NotFound. The user's connections close, so they come back to the new building."""
    await admin_store(services).move_user(
        user_id,
        building_id,
        unit_label,
        _entry(
            services,
            "user_move",
            actor,
            target_user_id=user_id,
            detail={"building_id": building_id, "unit": unit_label},
        ),
    )
    await send_control(services.broker, PermissionsChanged(user_id=user_id))


async def set_disabled(
    services: Services, user_id: UserId, disabled: bool, *, reason: str, actor: User | None
) -> bool:
    """Raises NotFound. Disabling ends every session; the login check refuses the account."""
    changed = await admin_store(services).set_disabled(
        user_id,
        disabled,
        reason=reason,
        now=services.clock.now_ms(),
        audit=_entry(
            services,
            "user_disable" if disabled else "user_enable",
            actor,
            target_user_id=user_id,
            reason=reason,
        ),
    )
    if disabled:
        await send_control(services.broker, PermissionsChanged(user_id=user_id))
    return changed


async def refuse_disabled(services: Services, user: User) -> None:
    """The login check: a disabled account may not log in (nor redeem a reset code)."""
    if await admin_store(services).is_disabled(user.id):
        raise LoginRefused(
            "account_disabled",
            "This account is disabled. Please ask the management office.",
        )


async def end_sessions(
    services: Services, user_id: UserId, ref: str | None, *, actor: User | None
) -> int:
    """End one session of the user (``ref``: its first characters) or all (None); how many."""
    hashes = await admin_store(services).end_sessions(
        user_id,
        ref,
        _entry(
            services, "sessions_end", actor, target_user_id=user_id, detail={"ref": ref or "all"}
        ),
    )
    for token_hash in hashes:
        await send_control(services.broker, EndSession(session=token_hash))
    return len(hashes)


def reset_code_hash(user_id: UserId, code: str) -> str:
    normalised = code.strip().upper().replace(" ", "").replace("-", "")
    return hashlib.sha256(f"linli-reset:{user_id}:{normalised}".encode()).hexdigest()


def format_reset_code(code: str) -> str:
    """``ABCDE-FGHJK``: easier to read out and type."""
    return f"{code[:5]}-{code[5:]}"


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: int


async def issue_reset_code(
    services: Services, user_id: UserId, *, actor: User | None
) -> IssuedCode:
    """A new one-time code for the user (their unused ones stop working); shown once: only its
    hash is stored. Raises NotFound."""
    hours = int((await current_settings(services))["reset_code_hours"])
    code = "".join(secrets.choice(RESET_ALPHABET) for _ in range(RESET_CODE_CHARS))
    now = services.clock.now_ms()
    expires_at = now + hours * HOUR_MS
    await admin_store(services).issue_reset_code(
        user_id,
        reset_code_hash(user_id, code),
        expires_at=expires_at,
        now=now,
        audit=_entry(
            services, "reset_code_issue", actor, target_user_id=user_id, detail={"hours": hours}
        ),
    )
    return IssuedCode(format_reset_code(code), expires_at)


async def redeem_reset_code(services: Services, user: User, code: str, new_password: str) -> None:
    """Set the user's password with a reset code; every old session ends. Raises NotFound for a
    wrong, used or expired code (nothing changes), LoginRefused for a disabled account."""
    await refuse_disabled(services, user)
    store = admin_store(services)
    code_hash = reset_code_hash(user.id, code)
    if not await store.has_reset_code(user.id, code_hash, now=services.clock.now_ms()):
        raise NotFound("reset code")
    password_hash = await passwords.hash_password(
        new_password, in_thread=services.settings.hash_in_thread
    )
    ended = await store.redeem_reset_code(
        user.id,
        code_hash,
        password_hash,
        now=services.clock.now_ms(),
        audit=_entry(services, "reset_code_use", user, target_user_id=user.id),
    )
    for token_hash in ended:
        await send_control(services.broker, EndSession(session=token_hash))


# -- invites -------------------------------------------------------------------------------------


async def create_invite(
    services: Services,
    building_id: BuildingId,
    *,
    unit_label: str | None,
    uses: int,
    days: int,
    actor: User | None,
) -> tuple[Invite, int | None]:
    """An invite for a building (the core's action) or for one unit of it (made when missing);
    the invite and the unit's id. Raises NotFound for an unknown building."""
    unit_id: int | None = None
    if unit_label:
        if await services.store.get_building(building_id) is None:
            raise NotFound(f"building {building_id}")
        from persistence.meetings.sql import SqlMeetingStore

        unit_id = await SqlMeetingStore(services.database).ensure_unit(building_id, unit_label)
    invite = await core_actions.create_invite(
        services, building_id, uses=uses, days=days, actor=actor
    )
    await admin_store(services).record_invite(
        invite.code,
        unit_id=unit_id,
        uses=uses,
        audit=_entry(
            services,
            "invite_create",
            actor,
            subject=f"invite:{invite.code}",
            detail={"building_id": building_id, "unit_id": unit_id, "uses": uses, "days": days},
        ),
    )
    return invite, unit_id


async def revoke_invite(services: Services, code: str, *, actor: User | None) -> bool:
    """Raises NotFound."""
    return await admin_store(services).revoke_invite(
        code,
        now=services.clock.now_ms(),
        audit=_entry(services, "invite_revoke", actor, subject=f"invite:{code}"),
    )


async def invite_unit(services: Services, code: str) -> str | None:
    """The unit label a per-unit invite registers into (registration uses it, not the typed
    one)."""
    found = await admin_store(services).invite_unit(code)
    return None if found is None else found[1]


async def invite_used(services: Services, code: str, user_id: UserId) -> None:
    """Note which resident registered with which code (after the registration)."""
    await admin_store(services).record_invite_use(code, user_id, now=services.clock.now_ms())


def invite_state(invite: InviteRow, now: int) -> str:
    if invite.revoked_at is not None:
        return "revoked"
    if invite.expires_at <= now:
        return "expired"
    if invite.uses_left <= 0:
        return "used_up"
    return "live"


# -- settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    key: str
    default: str
    #: ``text``, ``int``, ``languages`` (some of ``LOCALES``, comma-separated, at least one) or
    #: ``zone`` (an IANA time zone name that ``zoneinfo`` knows).
    kind: str = "text"
    max_len: int = 100
    low: int = 0
    high: int = 0
    #: The default is the environment's ``LINLI_<KEY>`` (a setting that moved to the page).
    env: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("community_name_zh", "鄰里社區", max_len=40),
    Setting("community_name_en", "Linli neighbourhood", max_len=60),
    Setting("help_desk", "", max_len=200),
    Setting("reset_code_hours", "72", kind="int", low=1, high=336),
    # The gateway's per-user publish limit (a token bucket, gateway/ratelimit.py), applied on
    # every gateway as soon as it is changed (gateway/admin/ops.py).
    Setting("publish_rate", "", kind="int", low=1, high=50, env=True),
    Setting("publish_burst", "", kind="int", low=1, high=200, env=True),
    # The UI languages offered (the language switch, and what a reader is shown): at least one.
    Setting("languages", ",".join(LOCALES), kind="languages"),
    # The neighbourhood's time zone (local days of figures, working-day targets, events' and
    # exports' local times), read at each use (``linli.live.zone_of``): no restart.
    Setting("time_zone", "", kind="zone", max_len=64, env=True),
)
#: The zones offered first on the settings page (the rest follow in name order).
FIRST_ZONES = ("Asia/Taipei", "Asia/Hong_Kong")
#: The stored keys of the community's logo (set by ``set_logo``, not by ``change_settings``):
#: its blob and its media type.
LOGO_BLOB, LOGO_TYPE = "logo_blob", "logo_type"
#: The environment's settings shown read-only on the settings page, with their documentation.
READ_ONLY = (
    "public_url",
    "session_days",
    "login_max_failures",
    "login_window_seconds",
    "notification_days",
    "request_reopen_days",
    "upload_max_bytes",
)
_SETTING_RE = re.compile(r"[\x00-\x1f\x7f]")


@cache
def zone_choices() -> tuple[str, ...]:
    """The settings page's time zones: ``FIRST_ZONES``, then every other known one by name."""
    rest = sorted(z for z in available_timezones() if z not in FIRST_ZONES)
    return (*FIRST_ZONES, *rest)


def _known_zone(name: str) -> bool:
    """One of the page's choices and loadable (``zoneinfo``: not a path, not a bad name)."""
    if name not in zone_choices():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _default(services: Services, setting: Setting) -> str:
    if not setting.env:
        return setting.default
    value = getattr(services.settings, setting.key)
    return f"{value:g}" if isinstance(value, float) else str(value)


async def current_settings(services: Services) -> dict[str, str]:
    stored = await admin_store(services).settings()
    return {s.key: stored.get(s.key, _default(services, s)) for s in SETTINGS}


async def _changed(services: Services) -> None:
    """Every process (this one first, in case the broker is away) takes the stored settings."""
    values = await admin_store(services).settings()
    services.live.replace(values)
    await settings_changed(services.broker, values)


async def change_settings(
    services: Services, values: dict[str, str], *, actor: User | None
) -> dict[str, str]:
    """Check and store the changed settings (one audit entry naming them, old and new), then
    tell every process; the settings after. Raises AdminError naming the first bad one."""
    known = {s.key: s for s in SETTINGS}
    clean: dict[str, str] = {}
    for key, raw in values.items():
        setting = known.get(key)
        if setting is None:
            raise AdminError("setting_unknown", f"No setting {key!r}.", field=key)
        value = _SETTING_RE.sub("", raw).strip()
        if setting.kind == "int":
            if (
                not value.isascii()
                or not value.isdigit()
                or not (setting.low <= int(value) <= setting.high)
            ):
                raise AdminError(
                    "bad_setting",
                    f"'{key}' must be a whole number from {setting.low} to {setting.high}.",
                    field=key,
                )
            value = str(int(value))
        elif setting.kind == "languages":
            chosen = {part.strip() for part in value.split(",") if part.strip()}
            if not chosen or not chosen <= set(LOCALES):
                raise AdminError(
                    "bad_setting",
                    f"'{key}' is one or more of {', '.join(LOCALES)}, comma-separated.",
                    field=key,
                )
            value = ",".join(locale for locale in LOCALES if locale in chosen)
        elif setting.kind == "zone":
            if len(value) > setting.max_len or not _known_zone(value):
                raise AdminError(
                    "bad_setting",
                    f"'{key}' must be an IANA time zone such as Asia/Taipei.",
                    field=key,
                )
        elif len(value) > setting.max_len:
            raise AdminError(
                "bad_setting", f"'{key}' is at most {setting.max_len} characters.", field=key
            )
        clean[key] = value
    before = await current_settings(services)
    changed = {k: v for k, v in clean.items() if before.get(k) != v}
    if changed:
        await admin_store(services).set_settings(
            changed,
            by=None if actor is None else actor.id,
            now=services.clock.now_ms(),
            audit=_entry(
                services,
                "settings_change",
                actor,
                detail={"changed": {k: [before.get(k), v] for k, v in changed.items()}},
            ),
        )
        await _changed(services)
    return await current_settings(services)


# -- the community's logo ------------------------------------------------------------------------


def logo_url(values: Mapping[str, str]) -> str | None:
    """Where the current logo is served (its blob id in the path: a new logo is a new address,
    so the old one may be cached for a year), or None when there is none."""
    blob = values.get(LOGO_BLOB, "")
    return f"/community-logo/{blob}" if blob else None


async def set_logo(
    services: Services, upload: CheckedUpload | None, *, actor: User | None
) -> str | None:
    """Make ``upload`` (checked by ``web.uploads``, an image) the community's logo, or remove
    the logo (None); the old one's blob goes. Audited (old → new blob), every process told.
    The new logo's address."""
    store = admin_store(services)
    blobs = blob_store(services.settings, services.database)
    before = await store.settings()
    old = before.get(LOGO_BLOB, "")
    now = services.clock.now_ms()
    new = ""
    if upload is not None:
        new = (await blobs.put(upload.data, now=now)).id
    if old == new:
        return logo_url(before)
    await store.set_settings(
        {LOGO_BLOB: new, LOGO_TYPE: upload.kind.media_type if upload else ""},
        by=None if actor is None else actor.id,
        now=now,
        audit=_entry(
            services,
            "logo_set" if upload is not None else "logo_remove",
            actor,
            detail={"changed": {LOGO_BLOB: [old or None, new or None]}},
        ),
    )
    if old:
        await blobs.delete(old)
    await _changed(services)
    return logo_url({LOGO_BLOB: new})


async def logo(services: Services, blob_id: str) -> tuple[bytes, str] | None:
    """The logo's bytes and media type when ``blob_id`` is the current logo's (no other blob
    is ever served by this address), else None."""
    stored = await admin_store(services).settings()
    if not blob_id or stored.get(LOGO_BLOB) != blob_id:
        return None
    data = await blob_store(services.settings, services.database).get(blob_id)
    if data is None:
        return None
    return data, stored.get(LOGO_TYPE) or "application/octet-stream"
