"""The roles' duties: every role has an entry, admin holds all, residents none."""

from __future__ import annotations

from linli.roles import CAPABILITIES, Can, may, roles_that
from linli.types import Role


def test_every_role_has_its_duties_and_admin_has_all() -> None:
    assert set(CAPABILITIES) == set(Role)
    assert all(may(Role.ADMIN, duty) for duty in Can)
    assert not any(may(Role.RESIDENT, duty) for duty in Can)


def test_roles_that_lists_holders_in_order() -> None:
    assert roles_that(Can.MODERATE) == (Role.MODERATOR, Role.ADMIN)
    assert roles_that(Can.POST_NOTICES) == (Role.MANAGEMENT, Role.COMMITTEE, Role.ADMIN)


async def test_search_reads_exactly_the_rooms_the_chat_opens() -> None:
    """For every role: a room of another building, and a group the user is not in, can be
    opened in the chat exactly when search finds every room's messages — one rule, asked by
    both (``linli.roles.reads_every_room``)."""
    from channels.access import Action, Principal
    from channels.access import may as may_open
    from channels.names import parse_channel
    from linli.roles import reads_every_room
    from persistence.search import Viewer

    async def not_a_member(_user: int, _slug: str) -> bool:
        return False

    every = set()
    for role in Role:
        principal = Principal(1, "u", "U", role, building_id=1)
        opens = [
            await may_open(principal, parse_channel(name), Action.READ, not_a_member)
            for name in ("building:2", "group:garden")
        ]
        searches = Viewer(user_id=1, role=role, building_id=1).reads_every_room
        assert opens == [searches, searches], role
        assert reads_every_room(role) is searches
        if searches:
            every.add(role)
    # Management (管理處) reads every room in the chat, so it searches them too.
    assert every == {Role.MODERATOR, Role.MANAGEMENT, Role.ADMIN}
