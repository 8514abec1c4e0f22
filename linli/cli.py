"""The ``linli`` command: serve, demo, migrate, worker, admin."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from linli.config import Settings, load_settings
from linli.eventloop import run as run_loop
from workers.registry import WORKERS

T = TypeVar("T")


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(None, **{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _run(make: Callable[[], Awaitable[T]], event_loop: str = "asyncio") -> T:
    return run_loop(make(), event_loop)  # type: ignore[arg-type]


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debugging detail.")
def main(verbose: bool) -> None:
    """Linli (鄰里): real-time communication for a residential neighbourhood."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@main.command()
@click.option("--host", help="Address to listen on (LINLI_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (LINLI_PORT, default 8000).")
@click.option("--workers", type=int, default=1, show_default=True, help="Gateway processes.")
@click.option("--demo", is_flag=True, help="Create the demo neighbourhood first if it is missing.")
def serve(host: str | None, port: int | None, workers: int, demo: bool) -> None:
    """Run the web app and WebSocket gateway (and, embedded, the workers)."""
    from linli.serve import serve as run_server

    settings = _settings(host=host, port=port)
    if settings.embedded and workers > 1:
        raise click.UsageError(
            "--workers needs the scaled mode (LINLI_REDIS_URL): embedded processes would each "
            "have their own broker and not see each other's messages."
        )
    if settings.migrate_at_start or demo:
        _run(lambda: _migrate(settings))
    if demo:
        _run(lambda: _seed_demo(settings))
    mode = "embedded" if settings.embedded else "scaled"
    click.echo(f"Linli ({mode}) on http://{settings.host}:{settings.port}  — Ctrl+C to stop")
    run_server(settings, workers=workers)


@main.command()
@click.option("--host", help="Address to listen on.")
@click.option("--port", type=int, help="Port to listen on.")
@click.pass_context
def demo(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run Linli with the demo neighbourhood (same as ``serve --demo``)."""
    from linli.demo import DEMO_PASSWORD

    click.echo(
        "Demo logins (password: "
        f"{DEMO_PASSWORD}): chan, lee (Block A), wong (Block B), mod (moderator), admin"
    )
    ctx.invoke(serve, host=host, port=port, workers=1, demo=True)


async def _migrate(settings: Settings) -> list[str]:
    from persistence.migrate import migrate as run_migrations

    return await run_migrations(settings.database_url)


async def _seed_demo(settings: Settings) -> None:
    from linli.demo import seed_demo
    from persistence.factory import open_store

    store = await open_store(settings.database_url)
    try:
        if await seed_demo(store):
            click.echo("Created the demo neighbourhood.")
    finally:
        await store.close()


@main.command()
def migrate() -> None:
    """Apply the database migrations not applied yet."""
    applied = _run(lambda: _migrate(_settings()))
    click.echo(f"Applied: {', '.join(applied)}" if applied else "The database is up to date.")


@main.command()
@click.argument("name", type=click.Choice(sorted(WORKERS)))
def worker(name: str) -> None:
    """Run one worker process (the scaled mode's Procfile lines)."""
    from linli.runtime import open_runtime

    settings = _settings()

    async def run() -> None:
        async with open_runtime(settings, migrate_first=False) as runtime:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            import signal

            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await WORKERS[name](runtime).run(stop)

    _run(run, settings.event_loop)


@main.group()
def admin() -> None:
    """Administration: buildings, invites, accounts."""


@admin.command("create-building")
@click.argument("name")
def create_building(name: str) -> None:
    """Add a building; prints its id."""
    from persistence.factory import open_store

    async def run() -> None:
        store = await open_store(_settings().database_url)
        try:
            building = await store.create_building(name, now=int(time.time() * 1000))
            click.echo(f"Building {building.id}: {building.name}")
        finally:
            await store.close()

    _run(run)


@admin.command("invite")
@click.argument("building_id", type=int)
@click.option("--uses", type=int, default=1, show_default=True, help="Registrations it admits.")
@click.option("--days", type=int, default=30, show_default=True, help="Days it stays valid.")
def invite(building_id: int, uses: int, days: int) -> None:
    """Issue an invite code for a building's residents."""
    from persistence.factory import open_store
    from persistence.store import NotFound
    from web.api import new_invite_code

    async def run() -> None:
        store = await open_store(_settings().database_url)
        now = int(time.time() * 1000)
        try:
            code = await store.create_invite(
                building_id,
                new_invite_code(),
                uses=uses,
                expires_at=now + days * 86_400_000,
                now=now,
            )
            click.echo(
                f"Invite code: {code.code} (building {building_id}, {uses} use(s), {days} days)"
            )
        except NotFound:
            click.echo(f"No building with id {building_id}.", err=True)
            sys.exit(1)
        finally:
            await store.close()

    _run(run)


@admin.command("create-admin")
@click.argument("username")
@click.option("--display-name", default=None, help="Name shown to others (default: username).")
@click.password_option(help="The password (asked for when not given).")
def create_admin(username: str, display_name: str | None, password: str) -> None:
    """Create an administrator account."""
    _create_user(username, display_name or username, password, "admin")


@admin.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(["resident", "organiser", "moderator", "admin"]))
def set_role(username: str, role: str) -> None:
    """Give a user a role."""
    from persistence.factory import open_store
    from persistence.store import Role

    async def run() -> None:
        store = await open_store(_settings().database_url)
        try:
            user = await store.get_user_by_username(username)
            if user is None:
                click.echo(f"No user {username!r}.", err=True)
                sys.exit(1)
            await store.set_role(user.id, Role(role))
            click.echo(f"{user.username} is now {role}.")
        finally:
            await store.close()

    _run(run)


def _create_user(username: str, display_name: str, password: str, role: str) -> None:
    from persistence.factory import open_store
    from persistence.store import Role, UsernameTaken
    from web.passwords import MIN_PASSWORD_CHARS, hash_password

    if len(password) < MIN_PASSWORD_CHARS:
        raise click.UsageError(f"The password needs at least {MIN_PASSWORD_CHARS} characters.")

    async def run() -> None:
        settings = _settings()
        await _migrate(settings)
        store = await open_store(settings.database_url)
        try:
            user = await store.create_user(
                username=username.lower(),
                display_name=display_name,
                password_hash=await hash_password(password),
                role=Role(role),
                building_id=None,
                unit_label=None,
                now=int(time.time() * 1000),
            )
            click.echo(f"Created {role} {user.username} (id {user.id}).")
        except UsernameTaken:
            click.echo(f"The username {username!r} is taken.", err=True)
            sys.exit(1)
        finally:
            await store.close()

    _run(run)
