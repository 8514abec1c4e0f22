"""The ``linli`` command: serve, demo, migrate, worker, admin."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

import click

from linli.clock import system_clock
from linli.config import Settings, load_settings
from linli.eventloop import run as run_loop
from linli.features import FEATURES, all_workers, run_worker
from linli.gctune import tune_gc
from linli.types import Role

if TYPE_CHECKING:
    from linli.feature import Services
    from persistence.store import User

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
        f"{DEMO_PASSWORD}): chan, lee (Block A residents), wong (organiser, Block B), "
        "lam (committee, Block B), ho (management office), mod (moderator), admin"
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
        if await seed_demo(store, zone=settings.zone):
            click.echo("Created the demo neighbourhood.")
    finally:
        await store.close()


@main.command()
def migrate() -> None:
    """Apply the database migrations not applied yet."""
    applied = _run(lambda: _migrate(_settings()))
    click.echo(f"Applied: {', '.join(applied)}" if applied else "The database is up to date.")


@main.command()
@click.argument("name", type=click.Choice(sorted(all_workers(FEATURES))))
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
            await run_worker(runtime, name, stop)

    tune_gc(settings.gc_threshold)
    _run(run, settings.event_loop)


@main.group()
def search() -> None:
    """Search: rebuild the index."""


@search.command("reindex")
def search_reindex() -> None:
    """Rebuild the chat and poll documents of the search index from the stored history."""
    from linli.runtime import open_runtime
    from web.search import actions as search_actions

    async def run() -> None:
        async with open_runtime(_settings(), migrate_first=False) as runtime:
            shown: dict[str, int] = {}

            def progress(kind: str, done: int, total: int) -> None:
                # One bar per kind, redrawn after each batch (click's own bar wants an iterable).
                width = 30
                filled = width * done // total if total else width
                line = f"{kind:>5} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
                click.echo("\r" + line, nl=done >= total, err=True)
                shown[kind] = done

            result = await search_actions.reindex(runtime, progress=progress)
            click.echo(f"Indexed {result.chat} chat messages and {result.polls} polls.")
            for feature in FEATURES:
                if feature.reindex is not None:
                    count = await feature.reindex(runtime.store, runtime.clock.now_ms())
                    click.echo(f"Indexed {count} documents of {feature.name}.")

    _run(run)


@main.group()
def admin() -> None:
    """Administration: buildings, invites, accounts."""


@admin.command("create-building")
@click.argument("name")
def create_building(name: str) -> None:
    """Add a building; prints its id."""
    from linli.runtime import open_runtime
    from web import actions

    async def run() -> None:
        async with open_runtime(_settings(), migrate_first=False) as runtime:
            building = await actions.create_building(runtime, name, actor=None)
            click.echo(f"Building {building.id}: {building.name}")

    _run(run)


@admin.command("invite")
@click.argument("building_id", type=int)
@click.option("--uses", type=int, default=1, show_default=True, help="Registrations it admits.")
@click.option("--days", type=int, default=30, show_default=True, help="Days it stays valid.")
@click.option("--unit", default=None, help="Only for this unit of the building (made if missing).")
def invite(building_id: int, uses: int, days: int, unit: str | None) -> None:
    """Issue an invite code for a building's residents (or one unit's)."""
    from linli.runtime import open_runtime
    from persistence.store import NotFound
    from web.admin import actions as admin_actions

    async def run() -> None:
        async with open_runtime(_settings(), migrate_first=False) as runtime:
            try:
                code, _ = await admin_actions.create_invite(
                    runtime, building_id, unit_label=unit, uses=uses, days=days, actor=None
                )
            except NotFound:
                click.echo(f"No building with id {building_id}.", err=True)
                sys.exit(1)
            where = f"building {building_id}" + (f", unit {unit}" if unit else "")
            click.echo(f"Invite code: {code.code} ({where}, {uses} use(s), {days} days)")

    _run(run)


@admin.command("revoke-invite")
@click.argument("code")
def revoke_invite(code: str) -> None:
    """Revoke an invite code: it admits nobody any more."""
    from linli.runtime import open_runtime
    from persistence.store import NotFound
    from web.admin import actions as admin_actions

    async def run() -> None:
        async with open_runtime(_settings(), migrate_first=False) as runtime:
            try:
                await admin_actions.revoke_invite(runtime, code.upper(), actor=None)
            except NotFound:
                click.echo(f"No invite {code!r}.", err=True)
                sys.exit(1)
            click.echo(f"Revoked {code.upper()}.")

    _run(run)


@admin.command("rename-building")
@click.argument("building_id", type=int)
@click.argument("name")
def rename_building(building_id: int, name: str) -> None:
    """Rename a building."""
    from linli.runtime import open_runtime
    from persistence.store import NotFound
    from web.admin import actions as admin_actions

    async def run() -> None:
        async with open_runtime(_settings(), migrate_first=False) as runtime:
            try:
                await admin_actions.rename_building(runtime, building_id, name, actor=None)
            except NotFound:
                click.echo(f"No building with id {building_id}.", err=True)
                sys.exit(1)
            click.echo(f"Building {building_id}: {name}")

    _run(run)


@admin.command("import-units")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--commit", is_flag=True, help="Write it (else only check and list each line).")
def import_units(csv_file: IO[str], commit: bool) -> None:
    """Check (and with --commit, write in one transaction) a CSV of units: 棟,樓,戶號,持分‰,人數."""
    from linli.catalogue import messages_of
    from linli.runtime import open_runtime
    from web.admin import actions as admin_actions

    text = csv_file.read()
    words = messages_of("en")

    async def run() -> None:
        async with open_runtime(_settings(), migrate_first=False) as runtime:
            if commit:
                checked = await admin_actions.import_units(runtime, text, actor=None)
            else:
                checked = await admin_actions.check_import(runtime, text)
            if checked.file_error:
                click.echo(words.get(checked.file_error, checked.file_error), err=True)
                sys.exit(1)
            for line in checked.lines:
                for code in line.errors:
                    click.echo(f"line {line.line}: {words.get(code, code)}", err=True)
            if not checked.ok:
                click.echo("Nothing was written.", err=True)
                sys.exit(1)
            verb = "Imported" if commit else "Checked (nothing written; add --commit)"
            click.echo(f"{verb}: {checked.created} new, {checked.updated} updated.")

    _run(run)


@admin.command("export-units")
def export_units() -> None:
    """Print every unit as CSV (棟,樓,戶號,持分‰,人數)."""
    from linli.runtime import open_runtime
    from web.admin import actions as admin_actions

    async def run() -> None:
        async with open_runtime(_settings(), migrate_first=False) as runtime:
            rows = await admin_actions.admin_store(runtime).units()
            click.echo(admin_actions.export_csv(rows), nl=False)

    _run(run)


def _with_user(username: str, act: Callable[[Services, User], Awaitable[str]]) -> None:
    from linli.runtime import open_runtime
    from persistence.store import NotFound

    async def run() -> None:
        async with open_runtime(_settings(), migrate_first=False) as runtime:
            user = await runtime.store.get_user_by_username(username)
            if user is None:
                click.echo(f"No user {username!r}.", err=True)
                sys.exit(1)
            try:
                click.echo(await act(runtime, user))
            except NotFound:
                click.echo(f"No user {username!r}.", err=True)
                sys.exit(1)

    _run(run)


@admin.command("reset-code")
@click.argument("username")
def reset_code(username: str) -> None:
    """Issue a one-time password reset code (shown once; the resident uses it on the
    forgot-password page)."""
    from web.admin import actions as admin_actions

    async def act(runtime: Services, user: User) -> str:
        issued = await admin_actions.issue_reset_code(runtime, user.id, actor=None)
        return f"Reset code for {user.username}: {issued.code}"

    _with_user(username, act)


@admin.command("disable")
@click.argument("username")
@click.option("--reason", default="", help="Kept in the audit log.")
def disable(username: str, reason: str) -> None:
    """Disable an account: its sessions end and it cannot log in."""
    from web.admin import actions as admin_actions

    async def act(runtime: Services, user: User) -> str:
        await admin_actions.set_disabled(runtime, user.id, True, reason=reason, actor=None)
        return f"{user.username} is disabled."

    _with_user(username, act)


@admin.command("enable")
@click.argument("username")
def enable(username: str) -> None:
    """Enable a disabled account again."""
    from web.admin import actions as admin_actions

    async def act(runtime: Services, user: User) -> str:
        await admin_actions.set_disabled(runtime, user.id, False, reason="", actor=None)
        return f"{user.username} is enabled."

    _with_user(username, act)


@admin.command("create-admin")
@click.argument("username")
@click.option("--display-name", default=None, help="Name shown to others (default: username).")
@click.password_option(help="The password (asked for when not given).")
def create_admin(username: str, display_name: str | None, password: str) -> None:
    """Create an administrator account."""
    _create_user(username, display_name or username, password, "admin")


@admin.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice([role.value for role in Role]))
def set_role(username: str, role: str) -> None:
    """Give a user a role (their open connections close, so they come back with it)."""
    from linli.runtime import open_runtime
    from web import actions

    async def run() -> None:
        async with open_runtime(_settings(), migrate_first=False) as runtime:
            user = await runtime.store.get_user_by_username(username)
            if user is None:
                click.echo(f"No user {username!r}.", err=True)
                sys.exit(1)
            await actions.set_role(runtime, user.id, Role(role), actor=None)
            click.echo(f"{user.username} is now {role}.")

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
                now=system_clock.now_ms(),
            )
            click.echo(f"Created {role} {user.username} (id {user.id}).")
        except UsernameTaken:
            click.echo(f"The username {username!r} is taken.", err=True)
            sys.exit(1)
        finally:
            await store.close()

    _run(run)


@main.command("backup")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(archive: Path) -> None:
    """Write the database (and LINLI_BLOB_DIR's files) to ARCHIVE (a .tar with checksums)."""
    from linli.backup import BackupError, backup

    settings = _settings()
    try:
        backup(settings.database_url, settings.blob_dir, archive, progress=click.echo)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None


@main.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask: replace the current data.")
def restore_command(archive: Path, yes: bool) -> None:
    """Replace the database (and LINLI_BLOB_DIR's files) with ARCHIVE's. Stop Linli first."""
    from linli.backup import BackupError, restore

    settings = _settings()
    if not yes:
        click.confirm(f"Replace everything in {settings.database_url} with {archive}?", abort=True)
    try:
        restore(settings.database_url, settings.blob_dir, archive, progress=click.echo)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("Restored. Start Linli again.")
