"""What every ``readiness vault`` command shares: the typer app, its options (``--db``, ``--key-source``,
``--as``, ``--format``), the registration that names a vault error's kind, who is acting, opening the vault,
the progress bar, and reading tokens from standard input. The commands are in ``cli_tokens``, ``cli_keys``
and ``cli_ops``; ``vault.cli`` puts them together."""

from __future__ import annotations

import functools
import getpass
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from vault.cli_console import console, escape, real
from vault.dburl import DEFAULT_DB_URL, db_option
from vault.errors import VaultError
from vault.rbac import Actor, Role

if TYPE_CHECKING:
    from vault.keys import KeySource
    from vault.store import CredentialInfo, Vault

__all__ = [
    "ENV_ACTOR",
    "ActorOpt",
    "DbOpt",
    "Format",
    "FormatOpt",
    "KeySourceOpt",
    "command",
    "die",
    "err",
    "info_dict",
    "make_key_source",
    "open_vault",
    "out",
    "parse_actor",
    "parse_expiry",
    "print_json",
    "progress_bar",
    "read_stdin_tokens",
    "shown_when",
    "vault_app",
    "wipe_buffers",
]

ENV_ACTOR = "TOKEN_VAULT_ACTOR"

vault_app = typer.Typer(
    name="vault",
    help=(
        "The token vault: store, reveal, rotate and audit OAuth tokens. The --as role is asserted by whoever "
        "runs the command; real identity comes with the dashboard's OIDC login."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = console(highlight=False)  # rich loads when a command first draws (vault.cli_console)
err = console(stderr=True, highlight=False)


class Format(str, Enum):
    table = "table"
    json = "json"


DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="TOKEN_VAULT_DB_URL",
        show_envvar=True,
        callback=db_option("--db", ["READINESS_DB_URL"], DEFAULT_DB_URL),
        help="Vault database URL [default: READINESS_DB_URL, else sqlite:///./.readiness/readiness.db]",
    ),
]
KeySourceOpt = Annotated[
    str | None,
    typer.Option(
        "--key-source",
        envvar="TOKEN_VAULT_KEY_SOURCE",
        show_envvar=True,
        help="Where the keys come from: env (TOKEN_VAULT_ENCRYPTION_KEY), file:PATH or gcp:projects/P/secrets/S",
    ),
]
ActorOpt = Annotated[
    str | None,
    typer.Option(
        "--as",
        envvar=ENV_ACTOR,
        show_envvar=True,
        metavar="NAME:ROLE[:TENANT,…]",
        help="Who is acting, e.g. ada:admin or sync:service:acme,globex (role: admin, service, auditor, "
        "viewer). Asserted by whoever runs the command [default: the OS user as viewer]",
    ),
]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table or json")]


# ---------------------------------------------------------------------------------------------- plumbing

_F = TypeVar("_F", bound=Callable[..., Any])


def command(name: str | None = None, **settings: Any) -> Callable[[_F], _F]:
    """``vault_app.command``, with the docstring's paragraphs reflowed (the help keeps single newlines) and a
    vault error's kind named in its message (``AccessDenied: access denied: role viewer may not get``)."""

    def register(fn: _F) -> _F:
        paragraphs = inspect.cleandoc(fn.__doc__ or "").split("\n\n")
        text = "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)

        @functools.wraps(fn)
        def named_errors(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except VaultError as exc:  # checks.shell.cli_errors prints it and exits 2; name the kind (AccessDenied, …)
                if type(exc) is VaultError or str(exc).startswith(type(exc).__name__):
                    raise
                raise type(exc)(f"{type(exc).__name__}: {exc}") from exc

        vault_app.command(name, help=text, **settings)(named_errors)
        return fn

    return register


def die(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", markup=True, soft_wrap=True)  # one line, however long
    raise typer.Exit(code)


def parse_actor(spec: str | None) -> Actor:
    """``NAME:ROLE[:TENANT,TENANT]`` as an :class:`Actor`; ``None`` or empty: the OS user as a viewer."""
    if not spec or not spec.strip():
        return Actor(os_user(), Role.VIEWER)
    name, _, rest = spec.strip().partition(":")
    role_text, _, tenants_text = rest.partition(":")
    roles = ", ".join(r.value for r in Role)
    if not name or not role_text:
        raise typer.BadParameter(
            f"expected NAME:ROLE[:TENANT,TENANT] (role: {roles}); got {spec!r}", param_hint="--as / TOKEN_VAULT_ACTOR"
        )
    try:
        role = Role(role_text.strip().lower())
    except ValueError:
        raise typer.BadParameter(
            f"unknown role {role_text!r}; use one of {roles}", param_hint="--as / TOKEN_VAULT_ACTOR"
        ) from None
    tenants = frozenset(t.strip() for t in tenants_text.split(",") if t.strip()) if tenants_text else None
    try:
        return Actor(name.strip(), role, tenants)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--as / TOKEN_VAULT_ACTOR") from None


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in a bare container
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def make_key_source(spec: str | None) -> KeySource:
    from vault.keys import key_source_from_spec

    return key_source_from_spec(spec)


@contextmanager
def open_vault(db: str | None, key_source: str | None) -> Iterator[Vault]:
    from vault.store import Vault

    vault = Vault.open(db, make_key_source(key_source))
    try:
        yield vault
    finally:
        vault.close()


@contextmanager
def progress_bar(what: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress callback drawing a bar on stderr when stderr is a terminal; ``None`` otherwise."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # a terminal's

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=real(err),  # rich enters it as a context manager: the console itself, not its stand-in
        transient=True,
    )
    task = bar.add_task(what, total=None)

    def advance(done: int, total: int) -> None:
        bar.update(task, completed=done, total=max(total, done) or None)

    with bar:
        yield advance


def shown_when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def info_dict(info: CredentialInfo) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in vars(info).items():
        data[key] = (
            value.isoformat() if isinstance(value, datetime) else list(value) if isinstance(value, tuple) else value
        )
    return data


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def read_stdin_tokens(with_refresh: bool) -> tuple[bytearray, bytearray | None]:
    """The access token (and, with ``with_refresh``, the refresh token on line two) from stdin.

    On a terminal, hidden prompts instead. Our copies are bytearrays, zeroed once they are in a Secret.
    """
    expected = 2 if with_refresh else 1
    if sys.stdin is None:
        die("no standard input: pipe the access token in (e.g. `readiness vault put … < token.txt`)")
    if sys.stdin.isatty():
        prompts = ["access token (hidden): ", "refresh token (hidden): "][:expected]
        lines = [bytearray(getpass.getpass(prompt).strip().encode()) for prompt in prompts]
    else:
        data = bytearray(sys.stdin.buffer.read())
        try:
            lines = [bytearray(line.strip()) for line in data.splitlines() if line.strip()]
        finally:
            wipe_buffers(data)
    if len(lines) != expected or not all(lines):
        wipe_buffers(*lines)
        if not lines:
            die(
                "no access token on standard input: pipe it in, e.g. `readiness vault put TENANT PROVIDER "
                "ACCOUNT < token.txt` (a token is never passed as an argument)"
            )
        die(
            f"expected {expected} non-empty line(s) on standard input (the access token"
            + (", then the refresh token)" if with_refresh else "; add --with-refresh for a refresh token on line two)")
            + f"; got {len(lines)}"
        )
    return lines[0], lines[1] if with_refresh else None


def wipe_buffers(*buffers: bytearray | None) -> None:
    for buf in buffers:
        if buf is not None:
            buf[:] = bytes(len(buf))


def parse_expiry(expires_at: str | None, expires_in: int | None, now: datetime) -> datetime | None:
    if expires_at and expires_in is not None:
        die("give --expires-at or --expires-in, not both")
    if expires_in is not None:
        return now + timedelta(seconds=expires_in)
    if not expires_at:
        return None
    try:
        when = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        die(f"--expires-at {expires_at!r}: expected an ISO 8601 time, e.g. 2026-01-31T17:00:00Z")
    return when if when.tzinfo else when.replace(tzinfo=UTC)
