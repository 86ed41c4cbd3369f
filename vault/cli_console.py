"""The command lines' consoles, made on first use: rich (its console and markup, about an eighth of a bare
interpreter's start-up) loads only when a command draws with it, not for ``--help`` or ``readiness validate``.

:func:`console` stands for a :class:`rich.console.Console` with the given settings; :func:`escape` is rich's
markup escape, in plain Python.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["console", "escape"]


class _LazyConsole:
    """A :class:`~rich.console.Console` built the first time any of its attributes is read."""

    def __init__(self, **settings: Any) -> None:
        self._settings = settings
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        made = self._console
        if made is None:
            from rich.console import Console

            made = self._console = Console(**self._settings)
        return getattr(made, name)


def console(**settings: Any) -> Console:
    """A console with rich's ``Console(**settings)`` behaviour, rich imported when it is first used."""
    return cast("Console", _LazyConsole(**settings))


_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")
"""What rich would read as a tag (rich.markup.escape's own pattern), with the backslashes before it."""


def escape(markup: str) -> str:
    """``markup`` shown as text, not read as markup: :func:`rich.markup.escape`'s rule, without importing rich
    (every command's help text goes through it when the command tree is built, ``validate``'s included;
    ``tests/vault/test_cli_console.py`` holds it to rich's own)."""
    escaped = _TAG.sub(lambda m: f"{m.group(1)}{m.group(1)}\\{m.group(2)}", markup)
    if escaped.endswith("\\") and not escaped.endswith("\\\\"):
        return escaped + "\\"
    return escaped
