"""Cached loaders: each returns plain data (frames, dicts, dataclasses) and is keyed by the database URL.

``st.cache_data`` with a short TTL for what changes (runs, facts); ``st.cache_resource`` for connections
(the store's engine, the vault). :func:`clear` drops the cached data after a write or a run.
Nothing cached here holds a secret: no environment value, no token.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from checks import FixedClock, Manifest, Run, get_registry, load_manifest
from checks.core.alerts import Alert
from checks.core.facts import Attestation, Waiver
from checks.core.redact import Scrubber
from checks.presentation.views import latest
from checks.storage.frames import check_frame, runs_frame
from checks.storage.history import Checkpoint, Store
from checks.storage.lease import LeaseState, lease_name, read_lease
from checks.storage.notifications import Notification, WatchBook
from checks.storage.trend_frames import (
    checkpoint_runs_frame,
    daily_items_frame,
    daily_runs_frame,
    history_end,
    run_items_frame,
)

TTL = 30
"""Seconds cached data lives; the Overview refreshes at the manifest's interval on top of it."""


def db_error(url: str, exc: BaseException, variable: str) -> str:
    """What to tell a person whose database cannot be opened: which URL (password masked) and the fix."""
    from dashboard.settings import mask_url

    orig = getattr(exc, "orig", None) or exc
    detail = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    detail = Scrubber().clip(detail, 300)
    return (  # one line: what failed, then the fix
        f"Cannot open the database `{mask_url(url)}` ({type(exc).__name__}"
        + (f": {detail}" if detail else "")
        + f"). Check that the database server is running and reachable from this machine and that the "
        f"credentials are right, or set {variable} to a database you can reach "
        "(for a local one: `sqlite:///./.readiness/readiness.db`)."
    )


def show_database_error(exc: BaseException) -> bool:
    """Show a database error raised mid-page (the server went away after the page opened it) as one
    ``st.error`` line naming the database, password masked; False when ``exc`` is not a database error."""
    import sqlalchemy as sa

    if not isinstance(exc, sa.exc.SQLAlchemyError):
        return False
    from dashboard.settings import settings

    url = settings().db_url
    st.error(db_error(url, exc, "READINESS_DB_URL"))
    return True


# ------------------------------------------------------------------------------------- resources


def manifest(path: str) -> Manifest:
    """The manifest at ``path``, validated against the check registry; re-read when the file changes."""
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        mtime = 0.0
    return _manifest(path, mtime)


@st.cache_resource(show_spinner=False, ttl=300, max_entries=8)
def _manifest(path: str, mtime: float) -> Manifest:
    m = load_manifest(path)
    get_registry().validate(m)  # unknown kinds and bad params name their field, as the CLI does
    return m


@st.cache_resource(show_spinner=False, max_entries=8)
def store(url: str) -> Store:
    """The history store for ``url`` (connects and migrates once per process)."""
    return Store.open(url)


# ---------------------------------------------------------------------------------------- history


def current_run(url: str, m: Manifest) -> Run | None:
    """The latest complete sweep with newer single-check re-runs laid over it
    (:func:`checks.presentation.views.latest.current_run`)."""
    return _current_run(url, m.digest, len(m.all_checks), m)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=16)
def _current_run(url: str, digest: str, n_checks: int, _m: Manifest) -> Run | None:
    s = store(url)
    base_id, newer = latest.pick_base_run(s.runs(limit=50), n_checks)
    if base_id is None:
        return None
    base = s.get_run(base_id)
    if base is None:
        return None
    rechecks = [r for r in (s.get_run(i) for i in newer) if r is not None]
    if not rechecks:
        return base
    now = rechecks[-1].finished_at
    ids = [r.id for r in base.results]
    return latest.current_run(
        _m,
        base,
        rechecks,
        now=now,
        waivers=s.waivers(),
        attestations=s.latest_attestations(now),
        status_since=s.status_since(ids),
    )


@st.cache_data(ttl=5, show_spinner=False, max_entries=16)
def watch_state(url: str, story: str) -> LeaseState | None:
    """The watchers' lease row (leader, last sweep, pending request); a short TTL: it moves every interval."""
    return read_lease(store(url).engine, lease_name(story))


@st.cache_data(ttl=5, show_spinner=False, max_entries=16)
def notifications(url: str, limit: int = 500) -> list[Notification]:
    """The watcher's latest notifications, newest first (bodies scrubbed when they were stored)."""
    return WatchBook(store(url).engine).notifications(limit=limit)


@st.cache_data(ttl=5, show_spinner=False, max_entries=16)
def open_alerts(url: str) -> dict[str, Alert]:
    """The alerts the watcher announced and has not yet seen resolved."""
    return WatchBook(store(url).engine).open_alerts()


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=16)
def newest_start(url: str) -> datetime | None:
    """When the newest run started (the Trends page's periods end there); None before the first run."""
    return history_end(store(url))


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=16)
def runs_since(url: str, since: datetime | None) -> pd.DataFrame:
    """:func:`~checks.storage.frames.runs_frame` from ``since``: the runs' own counts, no result read."""
    return runs_frame(store(url), since)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=16)
def checkpoint_runs(url: str) -> pd.DataFrame:
    """The checkpoints with their runs' counts (:func:`~checks.storage.trend_frames.checkpoint_runs_frame`)."""
    return checkpoint_runs_frame(store(url))


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=16)
def run_items(url: str, since: datetime | None) -> pd.DataFrame:
    """Per run and item counts from ``since`` (:func:`~checks.storage.trend_frames.run_items_frame`)."""
    return run_items_frame(store(url), since)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=16)
def daily_runs(url: str) -> pd.DataFrame:
    """A row per UTC day of runs (:func:`~checks.storage.trend_frames.daily_runs_frame`)."""
    return daily_runs_frame(store(url))


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=16)
def daily_items(url: str) -> pd.DataFrame:
    """A row per UTC day and item (:func:`~checks.storage.trend_frames.daily_items_frame`)."""
    return daily_items_frame(store(url))


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=16)
def checkpoints(url: str) -> list[Checkpoint]:
    return store(url).checkpoints()


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=16)
def attestations(url: str) -> list[Attestation]:
    return store(url).attestations()


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=16)
def waivers(url: str) -> list[Waiver]:
    return store(url).waivers()


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=64)
def check_history(url: str, check_id: str) -> pd.DataFrame:
    return check_frame(store(url), check_id)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=16)
def last_changed(url: str) -> dict[str, datetime]:
    """Check id -> when its current status began."""
    return {cid: since for cid, (_, since) in store(url).status_since().items()}


def clear() -> None:
    """Forget every cached read (after a write or a run)."""
    st.cache_data.clear()


# ------------------------------------------------------------------------------------------ vault


def vault(db_url: str, key_source: str, clock: Any) -> Any:
    """The vault (``vault.Vault``) at ``db_url`` with the key source ``key_source`` names, on the dashboard's
    clock. Never creates one."""
    return _vault(db_url, key_source, repr(clock) if isinstance(clock, FixedClock) else "system", clock)


@st.cache_resource(show_spinner=False, max_entries=4)
def _vault(db_url: str, key_source: str, clock_key: str, _clock: Any) -> Any:
    from vault import Vault
    from vault.keys import key_source_from_spec

    return Vault.open(db_url, key_source_from_spec(key_source), _clock)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=16)
def vault_state(db_url: str, key_source: str, actor_name: str, actor_role: str, _vault: Any) -> dict[str, Any]:
    """Metadata for the vault page: stats, key ring fingerprints, credentials; never a token."""
    from vault import Actor

    v = _vault
    actor = Actor(actor_name, actor_role)
    stats = v.stats(actor)
    ring = v.key_source.load()
    keys = [
        {
            "fingerprint": k.fingerprint,
            "source": k.label,
            "primary": k.fingerprint == stats.primary_kek,
            "data keys still wrapped": stats.pending_rewrap.get(k.fingerprint, 0),
        }
        for k in (ring.primary, *ring.others)
    ]
    infos = v.list(actor)
    creds = pd.DataFrame(
        [
            {
                "tenant": i.tenant,
                "provider": i.provider,
                "account": i.account,
                "state": i.state,
                "expires_at": i.expires_at,
                "refresh token": i.has_refresh_token,
                "fingerprint": i.token_fingerprint,
                "dek": f"v{i.dek_version}",
                "failures": i.failures,
                "last refresh error": i.last_refresh_error or "",
                "next attempt": i.next_attempt_at,
            }
            for i in infos
        ],
        columns=[
            "tenant",
            "provider",
            "account",
            "state",
            "expires_at",
            "refresh token",
            "fingerprint",
            "dek",
            "failures",
            "last refresh error",
            "next attempt",
        ],
    )
    return {"stats": stats, "keys": keys, "credentials": creds}


@st.cache_data(ttl=600, show_spinner=False, max_entries=4)
def selftest(key_source: str) -> Any:
    """``vault.selftest.run`` on a scratch vault, plus loading the configured key source (fingerprints only)."""
    from vault import selftest as vault_selftest
    from vault.errors import KeyUnavailable
    from vault.keys import key_source_from_spec

    try:
        source: Any = key_source_from_spec(key_source)
    except KeyUnavailable as exc:
        source = _Unavailable(exc)
    return vault_selftest.run(source)


class _Unavailable:
    """A key source that could not even be built (a bad TOKEN_VAULT_KEY_SOURCE): loading it says why."""

    name = "unconfigured"

    def __init__(self, error: Exception) -> None:
        self._error = error

    def load(self) -> Any:
        raise self._error
