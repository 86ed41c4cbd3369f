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

__all__ = ["console", "escape", "real"]


class _LazyConsole:
    """A :class:`~rich.console.Console` built the first time any of its attributes is read."""

    def __init__(self, **settings: Any) -> None:
        self._settings = settings
        self._console: Console | None = None

    def made(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._settings)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.made(), name)


def console(**settings: Any) -> Console:
    """A console with rich's ``Console(**settings)`` behaviour, rich imported when it is first used. Its
    methods and attributes are the console's; where rich itself is handed a console (``Progress(console=)``,
    which enters it as a context manager), hand it :func:`real` of it."""
    return cast("Console", _LazyConsole(**settings))


def real(made: Console) -> Console:
    """The rich console itself behind one from :func:`console` (built now if it was not yet)."""
    return made.made() if isinstance(made, _LazyConsole) else made


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
