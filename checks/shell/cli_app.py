"""The ``readiness`` group itself: the typer app every command module registers on, its consoles, the
options several commands share, and the helpers that open the manifest and the history."""

from __future__ import annotations

import os
import re
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from checks.shell.cli_errors import ErrorBoundary
from checks.shell.cli_help import plain_help
from vault.cli_console import console, escape, real
from vault.dburl import DEFAULT_DB_URL, db_option

if TYPE_CHECKING:
    from rich.progress import Progress


class ReadinessGroup(ErrorBoundary):
    """The ``readiness`` group: the error boundary, and click's usual ``--help`` for every command under it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plain_help(self)


app = typer.Typer(
    cls=ReadinessGroup,  # every command: a known error is exit 2 and one line, never a traceback
    name="readiness",
    help="A live go/no-go view of a release's infrastructure prerequisites.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """Always a group: the console script may register one command alone (``checks.shell.cli.app_for``), and typer
    runs a lone command as the program itself."""


out = console()  # rich loads when a command first draws with it (vault.cli_console)
err = console(stderr=True)

ManifestOpt = Annotated[
    Path | None,
    typer.Option("--manifest", "-m", help="Manifest file [env: READINESS_MANIFEST; default ./readiness.toml]"),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL [env: READINESS_DB_URL]",
        callback=db_option("--db", ["READINESS_DB_URL"], DEFAULT_DB_URL),
    ),
]


class Format(str, Enum):
    table = "table"
    json = "json"
    junit = "junit"
    markdown = "markdown"


def die(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, markup=True, soft_wrap=True)  # one line
    raise typer.Exit(code)


def open_manifest(path: Path | None) -> Any:
    from checks.core.manifest_load import load_manifest

    return load_manifest(path)


def open_store(db: str | None) -> Any:
    from checks.storage.history import Store

    return Store.open(db)


def history_exists(db: str | None) -> bool:
    """Whether ``--db`` (else ``READINESS_DB_URL``, else the default) may hold a history to read: false only for
    a SQLite file that does not exist, which opening would create. A run that records nothing
    (``check --no-record``) then reads no history instead: an empty one holds no waiver, attestation or streak,
    so the verdict is the same, and nothing is written."""
    url = db or os.environ.get("READINESS_DB_URL") or DEFAULT_DB_URL
    match = re.fullmatch(r"sqlite(?:\+\w+)?:///([^?]*)(?:\?.*)?", url, re.DOTALL)
    if match is None:
        return True  # a database server: read it
    path = match.group(1)
    if path in ("", ":memory:") or path.startswith("file:"):
        return True
    return Path(path).expanduser().exists()


def progress_bar(total: int) -> Progress:
    """A progress bar on stderr for ``total`` steps, gone when done (stdout stays clean for pipes)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # a terminal's

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=real(err),  # rich enters it as a context manager: the console itself, not its stand-in
        transient=True,
    )
