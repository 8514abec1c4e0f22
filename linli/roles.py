"""Which roles may do what, in one place: each feature asks ``may(user.role, CAPABILITY)`` rather
than listing roles, so that a new role (or a role's new duty) is one edit here and the guide's
table (docs/guide, "who may do what") stays true. ``admin`` holds every capability.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from linli.types import Role


class Can(enum.StrEnum):
    """A duty a role may hold."""

    #: Run interest groups and polls.
    ORGANISE = "organise"
    #: Handle reports, hide messages, ban.
    MODERATE = "moderate"
    #: Post, edit and retract notices; see their reach.
    POST_NOTICES = "post_notices"
    #: Work the residents' requests queue.
    HANDLE_REQUESTS = "handle_requests"
    #: Create events and check people in.
    RUN_EVENTS = "run_events"
    #: Create and close satisfaction surveys; see their results.
    RUN_SURVEYS = "run_surveys"
    #: Convene residents' meetings, record attendance and votes.
    RUN_MEETINGS = "run_meetings"
    #: Speak for the management in building rooms: posts there are official (badged), and a
    #: room's message can be pinned at its top.
    POST_OFFICIAL = "post_official"
    #: Read every building's and group's chat room: moderators (to review reports in context)
    #: and the management (管理處). The chat's access (``channels/access.py``) and search's
    #: readers (``persistence/search`` ``Viewer``) both ask this, so they cannot drift apart.
    READ_EVERY_ROOM = "read_every_room"
    #: See the community's figures in detail (the public page shows the summary to all).
    SEE_FIGURES = "see_figures"
    #: Onboard residents at the management desk: register one on their behalf, print the
    #: buildings' invite posters, act for a resident who asked the desk to (web/onboard).
    ONBOARD = "onboard"
    #: Users, buildings, units, invites, roles, categories.
    ADMINISTER = "administer"


CAPABILITIES: Mapping[Role, frozenset[Can]] = {
    Role.RESIDENT: frozenset(),
    Role.ORGANISER: frozenset({Can.ORGANISE, Can.RUN_EVENTS}),
    Role.MODERATOR: frozenset({Can.MODERATE, Can.READ_EVERY_ROOM}),
    Role.MANAGEMENT: frozenset(
        {
            Can.POST_NOTICES,
            Can.HANDLE_REQUESTS,
            Can.RUN_EVENTS,
            Can.RUN_SURVEYS,
            Can.RUN_MEETINGS,
            Can.SEE_FIGURES,
            Can.POST_OFFICIAL,
            Can.READ_EVERY_ROOM,
            Can.ONBOARD,
        }
    ),
    Role.COMMITTEE: frozenset(
        {Can.POST_NOTICES, Can.RUN_SURVEYS, Can.RUN_MEETINGS, Can.SEE_FIGURES, Can.RUN_EVENTS}
    ),
    Role.ADMIN: frozenset(Can),
}


def may(role: Role, duty: Can) -> bool:
    """Whether ``role`` holds ``duty``."""
    return duty in CAPABILITIES[role]


def reads_every_room(role: Role) -> bool:
    """Whether ``role`` reads every building's and group's chat room: the one rule the chat's
    access (``channels/access.py``) and search's readers (``persistence.search.Viewer``) share,
    so a staff role finds in search exactly the rooms it can open."""
    return may(role, Can.READ_EVERY_ROOM)


def roles_that(duty: Can) -> tuple[Role, ...]:
    """Every role holding ``duty``, in the enum's order (for ``require_user(request, *roles)``)."""
    return tuple(role for role in Role if may(role, duty))
