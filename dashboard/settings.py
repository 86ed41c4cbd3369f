"""The dashboard's settings, read from the environment: which manifest, which databases, which role.

Its own module so that the cached loaders (:mod:`dashboard.data`) and the page context
(:mod:`dashboard.context`) both read it without importing each other.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from checks.core.manifest_load import default_manifest_path
from checks.shell.access import ROLES
from checks.storage.schema import DEFAULT_DB_URL

__all__ = ["ConfigError", "Settings", "mask_url", "settings"]


class ConfigError(Exception):
    """A dashboard setting is unusable; the message names the variable and the fix."""


@dataclass(frozen=True)
class Settings:
    manifest_path: Path
    db_url: str
    vault_db_url: str
    key_source: str
    """The key source spec (``env``, ``file:…``, ``gcp:…``): a name, never a key."""
    vault_configured: bool
    """Any of TOKEN_VAULT_DB_URL, TOKEN_VAULT_KEY_SOURCE or TOKEN_VAULT_ENCRYPTION_KEY is set."""
    role: str
    operator: str | None
    now: datetime | None


def settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings; raises :class:`ConfigError` naming the variable when one is unusable."""
    env = os.environ if environ is None else environ
    role = (env.get("READINESS_DASHBOARD_ROLE") or "viewer").strip().lower()
    if role not in ROLES:
        raise ConfigError(f"READINESS_DASHBOARD_ROLE is {role!r}: use one of {', '.join(ROLES)} (viewer when unset)")
    now: datetime | None = None
    pinned = (env.get("READINESS_DASHBOARD_NOW") or "").strip()
    if pinned:
        try:
            now = datetime.fromisoformat(pinned)
        except ValueError:
            raise ConfigError(
                f"READINESS_DASHBOARD_NOW is not an ISO 8601 time ({pinned!r}): e.g. 2025-10-11T09:00:00+00:00"
            ) from None
    manifest = env.get("READINESS_MANIFEST") or ""
    db_url = (env.get("READINESS_DB_URL") or "").strip() or DEFAULT_DB_URL
    return Settings(
        manifest_path=Path(manifest) if manifest else default_manifest_path(),
        db_url=db_url,
        vault_db_url=(env.get("TOKEN_VAULT_DB_URL") or "").strip() or db_url,
        key_source=(env.get("TOKEN_VAULT_KEY_SOURCE") or "").strip() or "env",
        vault_configured=any(
            (env.get(name) or "").strip()
            for name in ("TOKEN_VAULT_DB_URL", "TOKEN_VAULT_KEY_SOURCE", "TOKEN_VAULT_ENCRYPTION_KEY")
        ),
        role=role,
        operator=(env.get("READINESS_DASHBOARD_USER") or "").strip() or None,
        now=now,
    )


def mask_url(url: str) -> str:
    """A database URL fit to show: the password replaced by ``***``."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not even a URL: show its scheme only
        return url.split("://", 1)[0] + "://…" if "://" in url else "(not a database URL)"
