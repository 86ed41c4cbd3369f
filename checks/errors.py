"""Errors raised by the engine. The whole tree is drawn in :mod:`vault.errors`.

ReadinessError
 ├── ManifestError   the manifest cannot be used: the message names the file and the field path
 ├── CheckError      a check kind or plugin is misused (bad registration, unknown kind)
 └── VaultError ...  (see vault.errors)
"""

from __future__ import annotations

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
        lines = [f"{self.path}: invalid manifest ({len(self.problems)} problem(s))"]
        for field, message in self.problems:
            lines.append(f"  {field}: {message}" if field else f"  {message}")
        return "\n".join(lines)


class CheckError(ReadinessError):
    """A check kind or plugin is misused: bad registration, unknown kind, invalid params."""
