"""The command line's one error boundary: whatever stops a command becomes exit 2 and one line, never a
traceback, so a CI gate can tell "could not tell" (2) from NO-GO (1).

:class:`ErrorBoundary` is the ``readiness`` app's click group (``typer.Typer(cls=ErrorBoundary)``); it
wraps every command and sub-command (``readiness vault …`` included), under the console script and under
typer's ``CliRunner`` alike. What it turns into exit 2:

* :class:`~checks.core.errors.ManifestError`: its own rendering, one line naming the file, then one indented line
  per problem naming the field path;
* any other :class:`~vault.errors.ReadinessError` (vault refusals, an unusable database URL, …);
* SQLAlchemy and Alembic errors (database unreachable, refused, not ours), naming the database the command
  was using with its password masked (``vault.dburl``);
* ``OSError`` (a file that cannot be read or written).

:func:`main` adds the last resort for the console script: an unexpected exception (a bug) is one line and
exit 2 as well, with the traceback on request (``READINESS_DEBUG=1``).
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from checks.core.errors import ManifestError
from vault.dburl import META_KEY, scrub_urls
from vault.errors import ReadinessError

__all__ = ["ErrorBoundary", "describe", "main"]

EXIT_UNUSABLE = 2
DEBUG_ENV = "READINESS_DEBUG"


class ErrorBoundary(TyperGroup):
    """A typer group whose commands end on a known error with exit 2 and one line on stderr."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ManifestError as exc:
            _fail(str(exc))
        except Exception as exc:
            message = describe(exc, ctx.meta.get(META_KEY))
            if message is None:
                raise
            _fail(f"error: {message}")


def describe(exc: BaseException, database: tuple[str, str] | None = None) -> str | None:
    """One line saying what stopped the command, or None when ``exc`` is not an error we expect.

    ``database`` is ``(where, masked_url)`` of the database the command was using (see ``vault.dburl``).
    """
    sa = sys.modules.get("sqlalchemy")  # not imported yet: exc cannot be one of its errors (and --help stays light)

    if isinstance(exc, ReadinessError):
        return _one_line(str(exc))
    if (sa is not None and isinstance(exc, sa.exc.SQLAlchemyError)) or _is_alembic(exc):
        where, shown = database or ("database", "")
        orig = getattr(exc, "orig", None) or exc
        detail = _one_line(str(orig)) or type(orig).__name__
        what = f"cannot use the database {shown} ({where})" if shown else "database error"
        return f"{what}: {detail}"
    if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
        target = f" {exc.filename}" if exc.filename else ""
        return _one_line(f"{exc.strerror or type(exc).__name__}:{target}")
    return None


def _is_alembic(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("alembic.")


def _one_line(text: str, limit: int = 400) -> str:
    """The first non-empty line, passwords masked, at most ``limit`` characters."""
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    line = scrub_urls(line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(EXIT_UNUSABLE)


def main(app: Any) -> None:
    """Run ``app`` as the console script: a bug is one line and exit 2 too (``READINESS_DEBUG=1``: traceback)."""
    try:
        app()
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        else:
            message = describe(exc) or f"internal error ({type(exc).__name__})"  # its text may hold anything
            sys.stderr.write(f"error: {message}; set {DEBUG_ENV}=1 for the traceback\n")
        sys.exit(EXIT_UNUSABLE)
