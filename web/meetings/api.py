"""The meetings HTTP API. Staff (``Can.RUN_MEETINGS``: management, committee, admin) write a
meeting and its agenda, convene it, open and close it and its votes, tick the printed list,
type paper ballots and 委託書, edit and approve the minutes; admins import the owners'
register. Owners check in with the door's code, appoint a proxy, and vote (for their own
units and those entrusted to them); anyone signed in may watch. The projector reads one
meeting by its unguessable token, without a login, and follows its figures as server-sent
events.

Errors are ``ApiError`` with the codes of ``web.http.HttpCode`` (``docs/protocol.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Annotated, Any

import msgspec
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from channels.names import meeting_channel
from gateway.connection import ConnState
from gateway.gateway import Gateway
from gateway.meetings.events import figures_body, threshold_json
from gateway.meetings.ops import projector_principal
from gateway.wire import Format
from linli.live import zone_of
from linli.roles import Can, may, roles_that
from persistence.blobs import blob_store
from persistence.meetings import (
    MAX_ITEM_FILES,
    AlreadyVoted,
    CheckedInAlready,
    EmptyRegister,
    ItemDraft,
    ItemFile,
    ItemNotOpen,
    Meeting,
    MeetingDraft,
    MeetingKind,
    MeetingNotFound,
    MeetingState,
    MeetingStateError,
    MinutesState,
    NotCheckedIn,
    NotInSession,
    NotOnRoll,
    NotPaperProxy,
    NotPresent,
    ObjectionClosed,
    ProxyScan,
    QuestionState,
    TooManyFiles,
    VoteCorrection,
    VoteNotFound,
)
from persistence.meetings import (
    Route as Via,
)
from persistence.meetings.rules import (
    DEFAULT_THRESHOLDS,
    Choice,
    Ratio,
    Threshold,
    ThresholdKind,
)
from persistence.store import User
from web.api import require_user
from web.http import (
    ApiError,
    Empty,
    HttpCode,
    check_origin,
    decode,
    decode_body,
    line,
    services_of,
    set_field,
)
from web.meetings import actions, minutes
from web.meetings.actions import holdings, meetings_store, minutes_due
from web.uploads import (
    CheckedUpload,
    UploadRefused,
    accept_upload,
    file_response,
    read_upload,
)

STAFF = roles_that(Can.RUN_MEETINGS)
ADMINS = roles_that(Can.ADMINISTER)
PROJECTOR_KEEPALIVE_SECONDS = 10.0
#: A register of a thousand units with co-owners is well under this.
MAX_REGISTER_BYTES = 1_000_000
MAX_ITEMS = 30


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """The store's and the actions' refusals as the API's codes."""
    try:
        yield
    except MeetingNotFound:
        raise ApiError(404, "meeting_not_found", "No such meeting.") from None
    except EmptyRegister:
        raise ApiError(
            409, "meeting_no_register", "Enter the owners and their shares first."
        ) from None
    except actions.NoticeTooShort as exc:
        raise ApiError(
            409,
            "meeting_notice_short",
            f"Owners must be told at least {exc.days} days ahead (Art. 30).",
            days=exc.days,
        ) from None
    except actions.BadToken:
        raise ApiError(
            400, "meeting_bad_code", "This check-in QR is not for this meeting."
        ) from None
    except actions.NotAnOwner:
        raise ApiError(
            403, "meeting_not_owner", "Only owners and their proxies count; you may watch."
        ) from None
    except NotOnRoll:
        raise ApiError(400, "meeting_not_on_roll", "That unit is not on the roll.") from None
    except NotPaperProxy:
        raise ApiError(
            409,
            "meeting_not_paper_proxy",
            "That unit has no proxy recorded from a paper form: only a 委託書 has a scan.",
        ) from None
    except CheckedInAlready:
        raise ApiError(
            409, "meeting_checked_in", "The unit has checked in; its proxy cannot change."
        ) from None
    except NotPresent:
        raise ApiError(409, "meeting_not_checked_in", "Check in first, then vote.") from None
    except ItemNotOpen:
        raise ApiError(409, "meeting_item_not_open", "This item is not open for votes.") from None
    except AlreadyVoted:
        raise ApiError(409, "meeting_already_voted", "This unit has voted on this item.") from None
    except TooManyFiles:
        raise ApiError(
            409, "too_many_files", f"An agenda item takes at most {MAX_ITEM_FILES} files."
        ) from None
    except VoteNotFound:
        raise ApiError(
            404, "meeting_vote_not_found", "That unit has not voted on this item."
        ) from None
    except ObjectionClosed:
        raise ApiError(
            409, "meeting_objection_closed", "This item takes no objections now."
        ) from None
    except NotInSession:
        raise ApiError(
            409,
            HttpCode.MEETING_NOT_IN_SESSION,
            "會議不在進行中，無法退場。The meeting is not under way: nobody checks out of it.",
        ) from None
    except NotCheckedIn as exc:
        raise ApiError(
            409,
            HttpCode.MEETING_CHECKOUT_ABSENT,
            "尚未報到，無須退場。Not checked in, so there is nothing to check out.",
            unit_ids=exc.unit_ids,
        ) from None
    except MeetingStateError as exc:
        raise ApiError(409, "meeting_wrong_state", str(exc)) from None


# -- bodies ----------------------------------------------------------------------------------


class RatioBody(msgspec.Struct, frozen=True):
    num: Annotated[int, msgspec.Meta(ge=0)]
    den: Annotated[int, msgspec.Meta(gt=0, le=1_000_000)]
    strict: bool = False

    def ratio(self, name: str) -> Ratio:
        if self.num > self.den:
            raise ApiError(400, "bad_request", f"'{name}' must be at most 1.", field=name)
        return Ratio(self.num, self.den, self.strict)


class CustomBody(msgspec.Struct, frozen=True):
    quorum_heads: RatioBody
    quorum_share: RatioBody
    pass_heads: RatioBody
    pass_share: RatioBody
    min_present: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0


class ItemBody(msgspec.Struct, frozen=True):
    title: str
    explanation: str = ""
    resolution: bool = True
    threshold: ThresholdKind = ThresholdKind.ART31
    custom: CustomBody | None = None

    def __post_init__(self) -> None:
        set_field(self, "title", line(self.title, "title", max_len=200))
        set_field(
            self, "explanation", line(self.explanation, "explanation", min_len=0, max_len=4000)
        )

    def draft(self) -> ItemDraft:
        if self.threshold is ThresholdKind.CUSTOM:
            c = self.custom
            if c is None:
                raise ApiError(
                    400, "bad_request", "A custom threshold needs 'custom'.", field="custom"
                )
            threshold = Threshold(
                ThresholdKind.CUSTOM,
                c.quorum_heads.ratio("quorum_heads"),
                c.quorum_share.ratio("quorum_share"),
                c.pass_heads.ratio("pass_heads"),
                c.pass_share.ratio("pass_share"),
                c.min_present,
            )
        else:
            threshold = DEFAULT_THRESHOLDS[self.threshold]
        return ItemDraft(self.title, self.explanation, self.resolution, threshold)


class DraftBody(msgspec.Struct, frozen=True):
    kind: MeetingKind
    title: str
    place: str
    starts_at: Annotated[int, msgspec.Meta(gt=0)]
    items: list[ItemBody]

    def __post_init__(self) -> None:
        set_field(self, "title", line(self.title, "title", max_len=200))
        set_field(self, "place", line(self.place, "place", max_len=200))
        if not 1 <= len(self.items) <= MAX_ITEMS:
            raise ApiError(
                400, "bad_request", f"'items' must hold 1 to {MAX_ITEMS} items.", field="items"
            )

    def draft(self) -> MeetingDraft:
        return MeetingDraft(
            self.kind, self.title, self.place, self.starts_at, tuple(i.draft() for i in self.items)
        )


class CodeBody(msgspec.Struct, frozen=True):
    code: str


class StaffCheckInBody(msgspec.Struct, frozen=True):
    unit_ids: Annotated[list[int], msgspec.Meta(min_length=1, max_length=2000)]
    by_proxy: bool = False


class StaffCheckOutBody(msgspec.Struct, frozen=True):
    unit_ids: Annotated[list[int], msgspec.Meta(min_length=1, max_length=2000)]


class ProxyBody(msgspec.Struct, frozen=True):
    """An owner appointing (no ``unit_ids``: their own units), or staff typing a 委託書."""

    unit_ids: list[int] = []
    username: str = ""
    name: str = ""
    reference: str = ""
    #: Staff: the paper form is typed without its scan, the scan to follow (design 0022);
    #: otherwise a paper proxy comes with its scan (``POST .../proxies/paper``).
    scan_to_follow: bool = False

    def __post_init__(self) -> None:
        set_field(self, "name", line(self.name, "name", min_len=0, max_len=100))
        set_field(self, "reference", line(self.reference, "reference", min_len=0, max_len=200))
        if not self.username and not self.name:
            raise ApiError(400, "bad_request", "Name the proxy.", field="name")


class VoteBody(msgspec.Struct, frozen=True):
    choice: Choice


class PaperBody(msgspec.Struct, frozen=True):
    unit_id: int
    choice: Choice


class MinutesBody(msgspec.Struct, frozen=True):
    text: str
    state: MinutesState = MinutesState.DRAFT

    def __post_init__(self) -> None:
        if not 1 <= len(self.text) <= 60_000:
            raise ApiError(
                400, "bad_request", "'text' must be 1 to 60000 characters.", field="text"
            )
        if self.state is MinutesState.NONE:
            raise ApiError(400, "bad_request", "'state' cannot be none.", field="state")


class ObjectionBody(msgspec.Struct, frozen=True):
    unit_id: int


class QuestionBody(msgspec.Struct, frozen=True):
    text: str

    def __post_init__(self) -> None:
        set_field(self, "text", line(self.text, "text", max_len=500))


class QuestionStateBody(msgspec.Struct, frozen=True):
    state: QuestionState


class RegisterBody(msgspec.Struct, frozen=True):
    csv: str


# -- serialising -----------------------------------------------------------------------------


def file_json(meeting_id: int, f: ItemFile) -> dict[str, Any]:
    return {
        "id": f.id,
        "filename": f.filename,
        "media_type": f.media_type,
        "size": f.size,
        "url": f"/api/meetings/{meeting_id}/items/{f.item_id}/files/{f.id}",
    }


def scan_json(meeting_id: int, scan: ProxyScan) -> dict[str, Any]:
    return {
        "filename": scan.file.filename,
        "media_type": scan.file.media_type,
        "size": scan.file.size,
        "sha256": scan.file.sha256,
        "added_at": scan.added_at,
        "url": f"/api/meetings/{meeting_id}/proxies/{scan.unit_id}/scan",
    }


def meeting_json(
    meeting: Meeting, *, staff: bool, files: Sequence[ItemFile] | None = None
) -> dict[str, Any]:
    """``files``: the agenda's files, when the caller read them (the meeting's own page)."""
    body: dict[str, Any] = {
        "id": meeting.id,
        "kind": str(meeting.kind),
        "title": meeting.title,
        "place": meeting.place,
        "starts_at": meeting.starts_at,
        "state": str(meeting.state),
        "version": meeting.version,
        "convened_at": meeting.convened_at,
        "opened_at": meeting.opened_at,
        "closed_at": meeting.closed_at,
        "minutes_state": str(meeting.minutes_state),
        "minutes_due": minutes_due(meeting),
        #: The notice the published minutes went out as (its page shows the reach).
        "minutes_notice_id": meeting.minutes_notice_id,
        "notice_days": actions.NOTICE_DAYS[meeting.kind],
        "items": [
            {
                "id": i.id,
                "position": i.position,
                "title": i.draft.title,
                "explanation": i.draft.explanation,
                "resolution": i.draft.resolution,
                "threshold": threshold_json(i.draft.threshold),
                "state": str(i.state),
                "result": i.result,
                "objection_until": i.objection_until,
                "objection_result": i.objection_result,
                "files": [file_json(meeting.id, f) for f in files or () if f.item_id == i.id],
            }
            for i in meeting.items
        ],
    }
    if meeting.minutes_state is MinutesState.PUBLISHED or staff:
        body["minutes"] = meeting.minutes
    if staff:
        body["projector_token"] = meeting.projector_token
        body["checkin_code"] = meeting.checkin_code
    return body


def _staff(user: User) -> bool:
    return may(user.role, Can.RUN_MEETINGS)


async def _meeting(request: Request, *, staff: bool = False) -> tuple[Meeting, User]:
    user = await require_user(request, *(STAFF if staff else ()))
    meeting = await meetings_store(services_of(request)).get_meeting(
        request.path_params["meeting_id"]
    )
    if meeting is None or (meeting.state.value == "draft" and not _staff(user)):
        raise ApiError(404, "meeting_not_found", "No such meeting.")
    return meeting, user


def _item_id(request: Request, meeting: Meeting) -> int:
    item_id: int = request.path_params["item_id"]
    if not any(i.id == item_id for i in meeting.items):
        raise ApiError(404, "meeting_not_found", "No such item.")
    return item_id


# -- handlers --------------------------------------------------------------------------------


async def list_meetings(request: Request) -> Response:
    user = await require_user(request)
    staff = _staff(user)
    found = await meetings_store(services_of(request)).list_meetings()
    shown = [m for m in found if staff or m.state.value != "draft"]
    return JSONResponse({"meetings": [meeting_json(m, staff=staff) for m in shown]})


async def create_meeting(request: Request) -> Response:
    user = await require_user(request, *STAFF)
    draft = (await decode_body(request, DraftBody)).draft()
    meeting = await actions.create_meeting(services_of(request), draft, actor_id=user.id)
    return JSONResponse({"meeting": meeting_json(meeting, staff=True)}, status_code=201)


async def edit_meeting(request: Request) -> Response:
    meeting, user = await _meeting(request, staff=True)
    draft = (await decode_body(request, DraftBody)).draft()
    with refusals():
        updated = await actions.update_meeting(
            services_of(request), meeting.id, draft, actor_id=user.id
        )
    return JSONResponse({"meeting": meeting_json(updated, staff=True)})


async def get_meeting(request: Request) -> Response:
    meeting, user = await _meeting(request)
    snapshot = await meetings_store(services_of(request)).snapshot(meeting.id)
    assert snapshot is not None
    held = holdings(snapshot, user.id)
    labels = {r.unit_id: r.label for r in snapshot.roll}
    present = snapshot.present
    voted = {
        i.id: sorted(u for u in held.units if u in snapshot.votes_of(i.id))
        for i in snapshot.meeting.items
    }
    my_proxy = [
        {"unit_id": p.unit_id, "name": p.proxy_name}
        for p in snapshot.proxies
        if p.unit_id in held.own
    ]
    services = services_of(request)
    checkin_link = None
    if held.units and snapshot.meeting.state in (MeetingState.CONVENED, MeetingState.OPEN):
        token = await actions.owner_token(services, meeting.id, user_id=user.id)
        checkin_link = _desk_link(request, meeting.id, token)
    return JSONResponse(
        {
            "meeting": meeting_json(
                snapshot.meeting,
                staff=_staff(user),
                files=await meetings_store(services).item_files(meeting.id),
            ),
            "figures": figures_body(snapshot),
            "me": {
                "staff": _staff(user),
                "own": [{"unit_id": u, "label": labels[u]} for u in held.own],
                "entrusted": [{"unit_id": u, "label": labels[u]} for u in held.entrusted],
                "present": [u for u in held.units if u in present],
                "voted": {str(k): v for k, v in voted.items()},
                "my_proxies": my_proxy,
                #: The owner's personal check-in QR's link (the desk scans it), or null.
                "checkin_link": checkin_link,
                "my_questions": [
                    {"id": q.id, "text": q.text, "state": str(q.state), "votes": q.votes}
                    for q in snapshot.questions
                    if q.user_id == user.id
                ],
            },
        }
    )


async def _move(request: Request, action: Any) -> Response:
    meeting, user = await _meeting(request, staff=True)
    await decode_body(request, Empty)
    with refusals():
        moved = await action(services_of(request), meeting.id, actor_id=user.id)
    return JSONResponse({"meeting": meeting_json(moved, staff=True)})


async def convene(request: Request) -> Response:
    return await _move(request, actions.convene)


async def open_meeting(request: Request) -> Response:
    return await _move(request, actions.open_meeting)


async def close_meeting(request: Request) -> Response:
    return await _move(request, actions.close_meeting)


async def _item_move(request: Request, action: Any) -> Response:
    meeting, user = await _meeting(request, staff=True)
    item_id = _item_id(request, meeting)
    await decode_body(request, Empty)
    with refusals():
        moved = await action(services_of(request), meeting.id, item_id, actor_id=user.id)
    return JSONResponse({"meeting": meeting_json(moved, staff=True)})


async def open_item(request: Request) -> Response:
    return await _item_move(request, actions.open_item)


async def close_item(request: Request) -> Response:
    return await _item_move(request, actions.close_item)


async def check_in(request: Request) -> Response:
    meeting, user = await _meeting(request)
    body = await decode_body(request, CodeBody)
    if body.code.strip().replace(" ", "") != meeting.checkin_code:
        raise ApiError(400, "meeting_bad_code", "That is not this meeting's code.", field="code")
    with refusals():
        added = await actions.check_in_self(services_of(request), meeting.id, user_id=user.id)
    return JSONResponse({"checked_in": added})


async def check_in_staff(request: Request) -> Response:
    meeting, user = await _meeting(request, staff=True)
    body = await decode_body(request, StaffCheckInBody)
    with refusals():
        added = await actions.check_in_by_staff(
            services_of(request),
            meeting.id,
            body.unit_ids,
            by_proxy=body.by_proxy,
            actor_id=user.id,
        )
    return JSONResponse({"checked_in": added})


async def check_out(request: Request) -> Response:
    """The owner (or proxy) leaves: every unit they brought in is checked out."""
    meeting, user = await _meeting(request)
    await decode_body(request, Empty)
    with refusals():
        ended = await actions.check_out_self(services_of(request), meeting.id, user_id=user.id)
    return JSONResponse({"checked_out": ended})


async def check_out_staff(request: Request) -> Response:
    meeting, user = await _meeting(request, staff=True)
    body = await decode_body(request, StaffCheckOutBody)
    with refusals():
        ended = await actions.check_out_by_staff(
            services_of(request), meeting.id, body.unit_ids, actor_id=user.id
        )
    return JSONResponse({"checked_out": ended})


async def set_proxy(request: Request) -> Response:
    meeting, user = await _meeting(request)
    body = await decode_body(request, ProxyBody)
    services = services_of(request)
    proxy_user = None
    if body.username:
        proxy_user = await services.store.get_user_by_username(body.username)
        if proxy_user is None:
            raise ApiError(400, "bad_request", "No account has that username.", field="username")
    name = proxy_user.display_name if proxy_user is not None else body.name
    if body.unit_ids:  # staff typing a paper form
        if not _staff(user):
            raise ApiError(403, "forbidden", "Only staff record paper proxies.")
        if not body.scan_to_follow:
            raise _scan_required()
        units, route, reference = body.unit_ids, Via.PAPER, body.reference
    else:  # the owner, signed in: their own units
        snapshot = await meetings_store(services).snapshot(meeting.id)
        assert snapshot is not None
        units = list(holdings(snapshot, user.id).own)
        if not units:
            raise ApiError(403, "meeting_not_owner", "Only owners appoint a proxy.")
        if proxy_user is not None and proxy_user.id == user.id:
            raise ApiError(400, "bad_request", "Appoint someone else.", field="username")
        route, reference = Via.PHONE, f"linli:user:{user.id}"
    with refusals():
        await actions.set_proxy(
            services,
            meeting.id,
            units,
            proxy_user_id=None if proxy_user is None else proxy_user.id,
            proxy_name=name,
            route=route,
            reference=reference,
            actor_id=user.id,
            scan_to_follow=body.scan_to_follow,
        )
    return JSONResponse({"units": units, "proxy": name})


def _scan_required() -> ApiError:
    return ApiError(
        400,
        "meeting_proxy_scan_required",
        "Attach the scan of the paper form, or mark it as to follow.",
        field="scan",
    )


def _query_units(request: Request) -> list[int]:
    raw = request.query_params.getlist("unit")
    if not raw or len(raw) > 50 or not all(u.isdigit() and len(u) < 19 for u in raw):
        raise ApiError(400, "bad_request", "Name the form's units (?unit=).", field="unit")
    return [int(u) for u in raw]


async def _checked_scan(request: Request) -> CheckedUpload:
    limit = services_of(request).settings.upload_max_bytes
    data = await read_upload(request, limit)
    try:
        return await accept_upload(data, request.query_params.get("filename", ""), max_bytes=limit)
    except UploadRefused as refused:
        raise refused.api_error() from None


async def paper_proxy(request: Request) -> Response:
    """Staff type a 委託書 with its scan in one request: the scan's bytes as the body (PDF,
    JPEG, PNG, WebP, checked by content), the form in the query (``unit`` repeated, ``name``
    or ``username``, ``reference``, ``filename``). Checked before anything is written; the
    proxies and their scan are written together or not at all."""
    meeting, user = await _meeting(request, staff=True)
    query = request.query_params
    units = _query_units(request)
    form = ProxyBody(
        unit_ids=units,
        username=query.get("username", "").strip()[:40],
        name=query.get("name", ""),
        reference=query.get("reference", ""),
    )
    services = services_of(request)
    proxy_user = None
    if form.username:
        proxy_user = await services.store.get_user_by_username(form.username)
        if proxy_user is None:
            raise ApiError(400, "bad_request", "No account has that username.", field="username")
    scan = await _checked_scan(request)
    name = proxy_user.display_name if proxy_user is not None else form.name
    with refusals():
        await actions.set_proxy(
            services, meeting.id, units,
            proxy_user_id=None if proxy_user is None else proxy_user.id, proxy_name=name,
            route=Via.PAPER, reference=form.reference, actor_id=user.id, scan=scan,
        )  # fmt: skip
    return JSONResponse(
        {"units": units, "proxy": name, "scan": {"filename": scan.filename, "size": scan.size}},
        status_code=201,
    )


async def add_proxy_scan(request: Request) -> Response:
    """The scan of a unit's paper proxy, added later or replaced: the bytes as the body, the
    file's name in ``?filename=``."""
    meeting, user = await _meeting(request, staff=True)
    unit_id: int = request.path_params["unit_id"]
    scan = await _checked_scan(request)
    with refusals():
        added = await actions.attach_proxy_scan(
            services_of(request), meeting.id, unit_id, scan, actor_id=user.id
        )
    return JSONResponse({"scan": scan_json(meeting.id, added)}, status_code=201)


async def get_proxy_scan(request: Request) -> Response:
    """Staff only (the meetings duty, the chair among them); audited ``proxy_scan_view``."""
    meeting, user = await _meeting(request, staff=True)
    with refusals():
        found = await actions.view_proxy_scan(
            services_of(request), meeting.id, request.path_params["unit_id"], actor_id=user.id
        )
    if found is None:
        raise ApiError(404, "not_found", "No such file.")
    scan, data = found
    return file_response(data, media_type=scan.file.media_type, filename=scan.file.filename)


async def remove_proxy(request: Request) -> Response:
    meeting, user = await _meeting(request)
    await decode_body(request, Empty)
    unit_id: int = request.path_params["unit_id"]
    snapshot = await meetings_store(services_of(request)).snapshot(meeting.id)
    assert snapshot is not None
    if not _staff(user) and unit_id not in holdings(snapshot, user.id).own:
        raise ApiError(403, "forbidden", "Only the owner or staff remove a proxy.")
    with refusals():
        removed = await actions.remove_proxy(
            services_of(request), meeting.id, unit_id, actor_id=user.id
        )
    return JSONResponse({"removed": removed})


async def vote(request: Request) -> Response:
    meeting, user = await _meeting(request)
    item_id = _item_id(request, meeting)
    body = await decode_body(request, VoteBody)
    with refusals():
        recorded = await actions.vote(
            services_of(request), meeting.id, item_id, body.choice, user_id=user.id
        )
    return JSONResponse({"recorded": recorded, "choice": str(body.choice)})


async def paper_vote(request: Request) -> Response:
    meeting, user = await _meeting(request, staff=True)
    item_id = _item_id(request, meeting)
    body = await decode_body(request, PaperBody)
    with refusals():
        recorded = await actions.paper_vote(
            services_of(request), meeting.id, item_id, body.unit_id, body.choice, actor_id=user.id
        )
    return JSONResponse({"recorded": recorded})


class CorrectionBody(msgspec.Struct, frozen=True):
    unit_id: Annotated[int, msgspec.Meta(gt=0)]
    choice: Choice
    reason: str

    def __post_init__(self) -> None:
        set_field(self, "reason", line(self.reason, "reason", min_len=2, max_len=200))


async def correct_vote(request: Request) -> Response:
    meeting, user = await _meeting(request, staff=True)
    item_id = _item_id(request, meeting)
    body = await decode_body(request, CorrectionBody)
    with refusals():
        correction = await actions.correct_vote(
            services_of(request), meeting.id, item_id, body.unit_id, body.choice,
            reason=body.reason, actor_id=user.id,
        )  # fmt: skip
    return JSONResponse({"correction": correction_json(correction)})


def correction_json(c: VoteCorrection, label: str = "") -> dict[str, Any]:
    return {
        "id": c.id,
        "item_id": c.item_id,
        "unit_id": c.unit_id,
        "label": label,
        "from": str(c.old_choice),
        "to": str(c.new_choice),
        "reason": c.reason,
        "by": c.corrected_by,
        "at": c.corrected_at,
    }


async def roll(request: Request) -> Response:
    """The signature book: every unit, its owners, its share, check-in, proxy and votes."""
    meeting, _ = await _meeting(request, staff=True)
    store = meetings_store(services_of(request))
    snapshot = await store.snapshot(meeting.id)
    assert snapshot is not None
    checkins = {c.unit_id: c for c in snapshot.checkins}
    proxies = {p.unit_id: p for p in snapshot.proxies}
    scans = {s.unit_id: scan_json(meeting.id, s) for s in await store.proxy_scans(meeting.id)}
    labels = {r.unit_id: r.label for r in snapshot.roll}
    stays: dict[int, list[dict[str, Any]]] = {}
    for stay in snapshot.checkouts:
        stays.setdefault(stay.unit_id, []).append(
            {
                "at": stay.at,
                "out_at": stay.out_at,
                "out_by": stay.out_by,
                "by_proxy": stay.proxy_key is not None,
                "route": str(stay.route),
            }
        )
    return JSONResponse(
        {
            "roll": [
                {
                    "unit_id": r.unit_id,
                    "label": r.label,
                    "owners": r.owners,
                    "share": r.share,
                    "present": r.unit_id in checkins,
                    "checked_in_at": checkins[r.unit_id].at if r.unit_id in checkins else None,
                    "by_proxy": r.unit_id in checkins and checkins[r.unit_id].proxy_key is not None,
                    "route": str(checkins[r.unit_id].route) if r.unit_id in checkins else None,
                    #: Stays that ended (checked out), oldest first.
                    "stays": stays.get(r.unit_id, []),
                    "proxy": None
                    if r.unit_id not in proxies
                    else {
                        "name": proxies[r.unit_id].proxy_name,
                        "route": str(proxies[r.unit_id].route),
                        "reference": proxies[r.unit_id].reference,
                        #: A paper form's scan (staff follow its url), or None.
                        "scan": scans.get(r.unit_id),
                        "scan_to_follow": proxies[r.unit_id].scan_to_follow,
                    },
                    "votes": {
                        str(v.item_id): {"choice": str(v.choice), "route": str(v.route)}
                        for v in snapshot.votes
                        if v.unit_id == r.unit_id
                    },
                }
                for r in snapshot.roll
            ],
            "corrections": [
                correction_json(c, labels.get(c.unit_id, "")) for c in snapshot.corrections
            ],
        }
    )


async def minutes_draft(request: Request) -> Response:
    meeting, _ = await _meeting(request, staff=True)
    services = services_of(request)
    snapshot = await meetings_store(services).snapshot(meeting.id)
    assert snapshot is not None
    return JSONResponse({"text": minutes.draft(snapshot, zone_of(services))})


async def save_minutes(request: Request) -> Response:
    meeting, user = await _meeting(request, staff=True)
    body = await decode_body(request, MinutesBody)
    with refusals():
        saved = await actions.save_minutes(
            services_of(request), meeting.id, body.text, body.state, actor_id=user.id
        )
    return JSONResponse({"meeting": meeting_json(saved, staff=True)})


async def add_objection(request: Request) -> Response:
    meeting, user = await _meeting(request, staff=True)
    item_id = _item_id(request, meeting)
    body = await decode_body(request, ObjectionBody)
    with refusals():
        added = await actions.add_objection(
            services_of(request), meeting.id, item_id, body.unit_id, actor_id=user.id
        )
    return JSONResponse({"added": added})


async def ask(request: Request) -> Response:
    meeting, user = await _meeting(request)
    body = await decode_body(request, QuestionBody)
    with refusals():
        question_id = await actions.ask(
            services_of(request), meeting.id, body.text, user_id=user.id
        )
    return JSONResponse({"question_id": question_id}, status_code=201)


async def upvote(request: Request) -> Response:
    meeting, user = await _meeting(request)
    await decode_body(request, Empty)
    with refusals():
        added = await actions.upvote(
            services_of(request), meeting.id, request.path_params["question_id"], user_id=user.id
        )
    return JSONResponse({"added": added})


async def questions(request: Request) -> Response:
    """The moderators' queue: every question with its state and upvotes."""
    meeting, _ = await _meeting(request, staff=True)
    found = await meetings_store(services_of(request)).questions(meeting.id)
    return JSONResponse(
        {
            "questions": [
                {"id": q.id, "text": q.text, "state": str(q.state), "votes": q.votes} for q in found
            ]
        }
    )


async def moderate_question(request: Request) -> Response:
    meeting, user = await _meeting(request, staff=True)
    body = await decode_body(request, QuestionStateBody)
    with refusals():
        await actions.moderate_question(
            services_of(request),
            meeting.id,
            request.path_params["question_id"],
            body.state,
            actor_id=user.id,
        )
    return JSONResponse({"state": str(body.state)})


async def get_register(request: Request) -> Response:
    await require_user(request, *STAFF)
    units = await meetings_store(services_of(request)).register()
    return JSONResponse(
        {
            "units": [
                {
                    "unit_id": u.unit_id,
                    "label": u.label,
                    "share": u.share,
                    "owners": [{"name": o.name, "user_id": o.user_id} for o in u.owners],
                    "voice": u.voice.name,
                }
                for u in units
            ],
            "total_share": sum(u.share for u in units),
        }
    )


async def import_register(request: Request) -> Response:
    user = await require_user(request, *ADMINS)
    services = services_of(request)
    check_origin(request, services)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ApiError(415, HttpCode.UNSUPPORTED_MEDIA_TYPE, "Send the request body as JSON.")
    raw = await request.body()
    if len(raw) > MAX_REGISTER_BYTES:
        raise ApiError(413, HttpCode.TOO_LARGE, "The register is too large.")
    body = decode(raw or b"{}", RegisterBody)
    try:
        count = await actions.import_register(services, body.csv, actor_id=user.id)
    except actions.RegisterError as exc:
        raise ApiError(400, "bad_request", str(exc), line=exc.line) from None
    return JSONResponse({"units": count})


# -- projector (no login: the token is the key) ----------------------------------------------


async def _projector_meeting(request: Request) -> Meeting:
    meeting = await meetings_store(services_of(request)).get_meeting_by_token(
        request.path_params["token"]
    )
    if meeting is None:
        raise ApiError(404, "meeting_not_found", "No such meeting.")
    return meeting


def _projector_json(meeting: Meeting, figures: dict[str, Any]) -> dict[str, Any]:
    return {
        "meeting": {
            "id": meeting.id,
            "title": meeting.title,
            "place": meeting.place,
            "checkin_code": meeting.checkin_code,
        },
        "figures": figures,
    }


async def projector_snapshot(request: Request) -> Response:
    meeting = await _projector_meeting(request)
    snapshot = await meetings_store(services_of(request)).snapshot(meeting.id)
    assert snapshot is not None
    return JSONResponse(_projector_json(snapshot.meeting, figures_body(snapshot)))


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


async def projector_events(request: Request) -> Response:
    """The meeting's figures as server-sent events: a snapshot, then every publication the
    gateway fans out (one gateway connection, for a principal that may read only this
    meeting's channel; the polls' projector does the same)."""
    meeting = await _projector_meeting(request)
    store = meetings_store(services_of(request))
    gateway: Gateway = request.app.state.gateway
    conn = gateway.open(projector_principal(meeting.id), Format.JSON)
    frames: asyncio.Queue[str | bytes | None] = asyncio.Queue()

    async def send_frame(frame: str | bytes) -> None:
        frames.put_nowait(frame)

    async def send_close(code: int, reason: str) -> None:
        frames.put_nowait(None)

    writer = asyncio.create_task(conn.run_writer(send_frame, send_close))
    subscribe = {"id": 1, "op": "subscribe", "channel": meeting_channel(meeting.id)}
    await gateway.handle_frame(conn, orjson.dumps(subscribe).decode())

    async def stream() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        try:
            # Subscribed first, then counted: nothing after the snapshot can be missed.
            snapshot = await store.snapshot(meeting.id)
            assert snapshot is not None
            yield _sse(figures_body(snapshot))
            while conn.state is ConnState.OPEN:
                try:
                    frame = await asyncio.wait_for(frames.get(), PROJECTOR_KEEPALIVE_SECONDS)
                except TimeoutError:
                    conn.last_seen = loop.time()
                    yield b": keepalive\n\n"
                    continue
                if frame is None:
                    return
                message = orjson.loads(frame)
                conn.last_seen = loop.time()
                if message.get("push") == "pub":
                    yield _sse(message["data"])
                elif "error" in message:
                    return
        finally:
            await gateway.close_connection(conn)
            writer.cancel()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def upload_item_file(request: Request) -> Response:
    """The file's bytes as the body (the content decides its type: PDF, JPEG, PNG, WebP), its
    name in ``?name=``."""
    meeting, user = await _meeting(request, staff=True)
    item_id = _item_id(request, meeting)
    services = services_of(request)
    limit = services.settings.upload_max_bytes
    data = await read_upload(request, limit)
    try:
        upload = await accept_upload(data, request.query_params.get("name", ""), max_bytes=limit)
    except UploadRefused as refused:
        raise refused.api_error() from None
    with refusals():
        added = await actions.add_item_file(services, meeting.id, item_id, upload, actor_id=user.id)
    return JSONResponse({"file": file_json(meeting.id, added)}, status_code=201)


async def get_item_file(request: Request) -> Response:
    """For whoever may see the meeting (a draft's files are staff's, like the draft)."""
    meeting, _ = await _meeting(request)
    item_id = _item_id(request, meeting)
    services = services_of(request)
    found = next(
        (
            f
            for f in await meetings_store(services).item_files(meeting.id)
            if f.item_id == item_id and f.id == request.path_params["file_id"]
        ),
        None,
    )
    data = (
        None
        if found is None
        else await blob_store(services.settings, services.database).get(found.blob_id)
    )
    if found is None or data is None:
        raise ApiError(404, "not_found", "No such file.")
    return file_response(data, media_type=found.media_type, filename=found.filename)


def _desk_link(request: Request, meeting_id: int, token: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/meetings/{meeting_id}/desk?t={token}"


def _svg_qr(text: str) -> Response:
    import io

    import segno

    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=10, border=4, dark="#000", light="#fff")
    return Response(
        out.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )


async def my_qr(request: Request) -> Response:
    """The owner's personal check-in QR: the desk's phone camera opens its link."""
    meeting, user = await _meeting(request)
    with refusals():
        token = await actions.owner_token(services_of(request), meeting.id, user_id=user.id)
    return _svg_qr(_desk_link(request, meeting.id, token))


class TokenBody(msgspec.Struct, frozen=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


async def desk_preview(request: Request) -> Response:
    """For the desk, before checking in: whose QR it is and what they hold."""
    meeting, _ = await _meeting(request, staff=True)
    services = services_of(request)
    with refusals():
        holder = await actions.token_holder(
            services, meeting.id, request.query_params.get("t", "")[:64]
        )
    snapshot = await meetings_store(services).snapshot(meeting.id)
    owner = await services.store.get_user(holder)
    assert snapshot is not None
    held = holdings(snapshot, holder)
    labels, present = {r.unit_id: r.label for r in snapshot.roll}, snapshot.present
    return JSONResponse(
        {
            "name": "" if owner is None else owner.display_name,
            "units": [
                {
                    "unit_id": u,
                    "label": labels[u],
                    "proxy": u in held.entrusted,
                    "present": u in present,
                }
                for u in held.units
            ],
        }
    )


async def check_in_qr(request: Request) -> Response:
    meeting, user = await _meeting(request, staff=True)
    body = await decode_body(request, TokenBody)
    with refusals():
        _owner, added = await actions.check_in_by_token(
            services_of(request), meeting.id, body.token, actor_id=user.id
        )
    return JSONResponse({"checked_in": added})


async def checkin_qr(request: Request) -> Response:
    """The door's QR: the check-in link with the code, for an owner's phone camera."""
    import io

    import segno

    meeting = await _projector_meeting(request)
    url = f"{str(request.base_url).rstrip('/')}/meetings/{meeting.id}?code={meeting.checkin_code}"
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=10, border=4, dark="#000", light="#fff")
    return Response(
        out.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )


ROUTES = [
    Route("/api/meetings", list_meetings, methods=["GET"]),
    Route("/api/meetings", create_meeting, methods=["POST"]),
    Route("/api/meetings/register", get_register, methods=["GET"]),
    Route("/api/meetings/register", import_register, methods=["POST"]),
    Route("/api/meetings/projector/{token}", projector_snapshot, methods=["GET"]),
    Route("/api/meetings/projector/{token}/events", projector_events, methods=["GET"]),
    Route("/api/meetings/projector/{token}/qr.svg", checkin_qr, methods=["GET"]),
    Route("/api/meetings/{meeting_id:int}", get_meeting, methods=["GET"]),
    Route("/api/meetings/{meeting_id:int}", edit_meeting, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/convene", convene, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/open", open_meeting, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/close", close_meeting, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/checkin", check_in, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/checkin/staff", check_in_staff, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/checkin/qr", check_in_qr, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/checkout", check_out, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/checkout/staff", check_out_staff, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/desk", desk_preview, methods=["GET"]),
    Route("/api/meetings/{meeting_id:int}/my-qr.svg", my_qr, methods=["GET"]),
    Route("/api/meetings/{meeting_id:int}/proxies", set_proxy, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/proxies/paper", paper_proxy, methods=["POST"]),
    Route(
        "/api/meetings/{meeting_id:int}/proxies/{unit_id:int}/scan",
        add_proxy_scan,
        methods=["POST"],
    ),
    Route(
        "/api/meetings/{meeting_id:int}/proxies/{unit_id:int}/scan",
        get_proxy_scan,
        methods=["GET"],
    ),
    Route(
        "/api/meetings/{meeting_id:int}/proxies/{unit_id:int}/remove",
        remove_proxy,
        methods=["POST"],
    ),
    Route("/api/meetings/{meeting_id:int}/roll", roll, methods=["GET"]),
    Route("/api/meetings/{meeting_id:int}/questions", ask, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/questions", questions, methods=["GET"]),
    Route(
        "/api/meetings/{meeting_id:int}/questions/{question_id:int}/upvote",
        upvote,
        methods=["POST"],
    ),
    Route(
        "/api/meetings/{meeting_id:int}/questions/{question_id:int}/state",
        moderate_question,
        methods=["POST"],
    ),
    Route("/api/meetings/{meeting_id:int}/minutes/draft", minutes_draft, methods=["GET"]),
    Route("/api/meetings/{meeting_id:int}/minutes", save_minutes, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/items/{item_id:int}/open", open_item, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/items/{item_id:int}/close", close_item, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/items/{item_id:int}/vote", vote, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/items/{item_id:int}/paper", paper_vote, methods=["POST"]),
    Route(
        "/api/meetings/{meeting_id:int}/items/{item_id:int}/files",
        upload_item_file,
        methods=["POST"],
    ),
    Route(
        "/api/meetings/{meeting_id:int}/items/{item_id:int}/files/{file_id:int}",
        get_item_file,
        methods=["GET"],
    ),
    Route(
        "/api/meetings/{meeting_id:int}/items/{item_id:int}/correct",
        correct_vote,
        methods=["POST"],
    ),
    Route(
        "/api/meetings/{meeting_id:int}/items/{item_id:int}/objections",
        add_objection,
        methods=["POST"],
    ),
]
