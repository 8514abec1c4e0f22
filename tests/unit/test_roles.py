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
