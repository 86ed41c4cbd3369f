"""Where variable values come from: the process environment, over a ``.env`` file.

The process environment wins: a value exported in the shell (or set by CI) overrides the same name in
``.env``, as with python-dotenv's default and the twelve-factor convention. The ``.env`` file is looked
for next to the manifest (``settings.env_file``, default ``.env``), or given explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

from checks.core.manifest import Manifest

__all__ = ["resolve_env"]

ENVIRONMENT = "environment"
ENV_FILE = ".env file"


def resolve_env(
    manifest: Manifest,
    *,
    env_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Return ``(values, sources)``: every variable visible to the checks, and where each came from."""
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    path = _env_path(manifest, env_file)
    if path is not None and path.is_file():
        for name, value in dotenv_values(path).items():
            if value is not None:
                values[name] = value
                sources[name] = ENV_FILE
    for name, value in environ.items():
        values[name] = value
        sources[name] = ENVIRONMENT
    return values, sources


def _env_path(manifest: Manifest, env_file: str | Path | None) -> Path | None:
    if env_file is not None:
        return Path(env_file)
    if not manifest.settings.env_file:
        return None
    base = Path(manifest.source).parent if not manifest.source.startswith("<") else Path.cwd()
    return base / manifest.settings.env_file
