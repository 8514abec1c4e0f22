"""Who may see and who may handle a request: one place, used by the HTTP API, the pages and the
gateway's ``request:<id>`` channel rule alike, so every route answers the same.

* **Handle** (change status, reply as staff, notes, assign, merge): a role holding
  ``Can.HANDLE_REQUESTS``, and a member of the team the request's category is routed to. A
  category routed to no team is handled by every holder of the duty; admins handle every
  category.
* **See**: its author; whoever may handle it; for a public request, residents of its building
  and its followers (a follower from elsewhere came by a merge staff made). A private request
  is its author's and the handling team's only.
"""

from __future__ import annotations

from linli.roles import Can, may
from linli.types import BuildingId, Role, UserId
from persistence.requests import Category, Request, RequestStore


async def handles(store: RequestStore, user_id: UserId, role: Role, category: Category) -> bool:
    if not may(role, Can.HANDLE_REQUESTS):
        return False
    if role is Role.ADMIN:
        return True
    members = await store.handler_ids(category)
    return members is None or user_id in members


async def handled_categories(store: RequestStore, user_id: UserId, role: Role) -> list[Category]:
    """The categories whose queue this user works (empty for residents)."""
    return [c for c in Category if await handles(store, user_id, role, c)]


async def may_see(
    store: RequestStore,
    request: Request,
    user_id: UserId,
    role: Role,
    building_id: BuildingId | None,
) -> bool:
    if request.author_id == user_id:
        return True
    if await handles(store, user_id, role, request.category):
        return True
    if request.private:
        return False
    if building_id is not None and building_id == request.building_id:
        return True
    return user_id in await store.follower_ids(request.id)
