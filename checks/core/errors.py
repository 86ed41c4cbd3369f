"""Errors raised by the engine. The whole tree is drawn in :mod:`vault.errors`.

ReadinessError
 ├── ManifestError   the manifest cannot be used: the message names the file and the field path
 ├── CheckError      a check kind or plugin is misused (bad registration, unknown kind)
 └── VaultError ...  (see vault.errors)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from vault.errors import ReadinessError

__all__ = ["CheckError", "ManifestError", "ReadinessError"]


class ManifestError(ReadinessError):
    """The manifest is unusable.

    ``problems`` holds ``(field_path, message)`` pairs such as
    ``("oauth_apps.google.redirect_uris[1].uri", "must be an https URL")``; ``str()`` renders them all,
    prefixed with the file, in a form a person can fix without reading code.
    """

    def __init__(self, path: str | Path | None, problems: Sequence[tuple[str, str]]) -> None:
        self.path = str(path) if path is not None else "<manifest>"
        self.problems = list(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        lines = [f"{_printable(self.path)}: invalid manifest ({len(self.problems)} problem(s))"]
        for field, message in self.problems[:MAX_SHOWN]:
            field, message = _printable(field), _printable(message)
            lines.append(f"  {field}: {message}" if field else f"  {message}")
        if len(self.problems) > MAX_SHOWN:
            lines.append(f"  … and {len(self.problems) - MAX_SHOWN} more")
        return "\n".join(lines)


MAX_SHOWN = 50
"""Problems rendered by ``str(ManifestError)``; all of them stay in ``.problems``."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _printable(text: str, limit: int = 300) -> str:
    """One line of at most ``limit`` characters: control characters (newlines, terminal escapes) escaped,
    so a hostile key or value cannot forge extra lines or recolour a terminal."""
    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class CheckError(ReadinessError):
    """A check kind or plugin is misused: bad registration, unknown kind, invalid params."""
