"""Database URLs as the command line takes them: checked before use, shown with the password masked.

``--db`` options (``readiness check``, ``history``, … and every ``readiness vault`` command) pass through
:func:`db_option`: it resolves the URL the command will use (the option, else the environment, else the
default), refuses one that cannot work (:class:`~vault.errors.DatabaseUnavailable`: not a URL, not SQLite or
PostgreSQL, a driver that is not installed) and remembers it, masked, in the click context so the CLI's
error boundary (``checks.shell.cli_errors``) can name it when the database later turns out to be unreachable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from vault.errors import DatabaseUnavailable

__all__ = ["META_KEY", "SUPPORTED", "check_db_url", "db_option", "mask_url", "scrub_urls"]

META_KEY = "readiness.db"
"""``ctx.meta[META_KEY]``: ``(where, masked_url)`` of the database the running command uses."""
DEFAULT_DB_URL = "sqlite:///./.readiness/readiness.db"
"""The database of the history and the vault when neither ``--db`` nor an environment variable names one."""
SUPPORTED = ("sqlite", "postgresql")
EXAMPLES = "e.g. sqlite:///./.readiness/readiness.db or postgresql+psycopg://USER@HOST/DB"


_PLAIN_SQLITE = re.compile(r"sqlite(?:\+pysqlite)?:///[^?@%:\s]*")
"""A SQLite file URL with no query, user or escape: nothing to mask, nothing SQLAlchemy would read differently,
and a driver that ships with Python; told apart without importing SQLAlchemy (start-up of every command)."""


def mask_url(url: str) -> str:
    """The URL fit to print: its password as ``***``; a string that is not a URL shows its scheme only."""
    if _PLAIN_SQLITE.fullmatch(url):
        return url
    import sqlalchemy as sa

    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL: it may still hold a password, so show none of it
        return url.split("://", 1)[0][:40] + "://…" if "://" in url else "(not a database URL)"


_USERINFO = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_DSN_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


def scrub_urls(text: str) -> str:
    """``text`` with the password of any URL (``user:PASSWORD@``) or DSN (``password=…``) replaced by ``***``."""
    return _DSN_PASSWORD.sub(r"\1***", _USERINFO.sub(r"\1***@", text))


def check_db_url(url: str, where: str) -> None:
    """Refuse a URL no database can be opened with; the message names ``where`` it came from."""
    if _PLAIN_SQLITE.fullmatch(url):
        import sqlite3  # noqa: F401  (the pysqlite driver: ships with Python)

        return
    import sqlalchemy as sa

    shown = mask_url(url)
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise DatabaseUnavailable(f"{where} is not a database URL: expected {EXAMPLES}") from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise DatabaseUnavailable(f"{where} {shown}: {backend} is not supported; use SQLite or PostgreSQL ({EXAMPLES})")
    try:
        parsed.get_dialect().import_dbapi()
    except (sa.exc.ArgumentError, ImportError):
        hint = " (postgresql+psycopg:// is installed)" if backend == "postgresql" else ""
        raise DatabaseUnavailable(f"{where} {shown}: the driver {parsed.drivername!r} is not available{hint}") from None


def db_option(option: str, fallbacks: Sequence[str], default: str) -> Callable[[Any, Any, str | None], str | None]:
    """A click callback for a ``--db`` option: check the URL the command will use and remember it masked.

    ``fallbacks`` are the environment variables the command reads when the option is not given, in order.
    The value itself is passed through unchanged.
    """

    def callback(ctx: Any, param: Any, value: str | None) -> str | None:
        if ctx.resilient_parsing:  # shell completion, --help
            return value
        if value:
            source = ctx.get_parameter_source(param.name)
            from_env = getattr(source, "name", "") == "ENVIRONMENT"
            where = param.envvar if from_env and isinstance(param.envvar, str) else option
            url = value
        else:
            where, url = "default database", default
            for name in fallbacks:
                if os.environ.get(name):
                    where, url = name, os.environ[name]
                    break
        ctx.meta[META_KEY] = (where, mask_url(url))
        check_db_url(url, where)
        return value

    return callback
