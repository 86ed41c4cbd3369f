"""Building the demo's history (:mod:`checks.shell.demo_story` tells the story): the real sweep every
``step_hours`` against the stand-ins, the facts people recorded, the checkpoints; reused while the story
and the manifest are unchanged, reset on demand."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks.core.clock import FixedClock
from checks.core.facts import Attestation, Waiver
from checks.core.manifest import Manifest
from checks.core.manifest_load import default_manifest_path, load_manifest
from checks.shell.sweep import close_vault_extras, vault_extras
from checks.standins import DemoConfig, StandinServer, demo_config, demo_environment

if TYPE_CHECKING:
    from checks.core.run import Run
    from checks.storage.history import Store
from checks.shell.demo_story import (
    DASHBOARD_NOW,
    DB_FILE,
    END,
    MANIFEST_FILE,
    MARKER_FILE,
    PLATFORM,
    RELEASE_MANAGER,
    START,
    STORY,
    STORY_VERSION,
    VAULT_TENANT,
    Event,
    _apply_standin,
    apply_phase,
    story_environment,
)

__all__ = [
    "DemoProgress",
    "build_demo",
    "db_url",
    "demo_dashboard_env",
]


# ---------------------------------------------------------------------------------------------- building


@dataclass(frozen=True)
class DemoProgress:
    """What :func:`build_demo` reports as it goes: an event of the story, or a sweep done."""

    done: int
    """Sweeps done so far."""
    total: int
    at: datetime
    message: str
    verdict: str | None = None
    """The sweep's verdict (None for an event)."""
    escalations: tuple[str, ...] = field(default=())


def db_url(directory: Path) -> str:
    """The demo's history (and vault) database URL."""
    return f"sqlite:///{(directory / DB_FILE).resolve()}"


def schedule(step_hours: float) -> list[datetime]:
    """When the story sweeps: every ``step_hours`` from :data:`START` to :data:`END`, and at each checkpoint."""
    if step_hours <= 0:
        raise ValueError("step_hours must be positive")
    times = {e.at for e in STORY if e.checkpoint} | {END}
    t = START
    while t <= END:
        times.add(t)
        t += timedelta(hours=step_hours)
    return sorted(times)


def build_demo(
    directory: Path,
    *,
    server: StandinServer,
    clock: FixedClock | None = None,
    step_hours: float = 6,
    manifest: Path | None = None,
    reset: bool = False,
    on_progress: Callable[[DemoProgress], None] | None = None,
) -> Path:
    """Make (or reuse) the demo under ``directory``; return the history database's path.

    ``server`` is a running :func:`checks.standins.demo_server` for the same ``directory``: it is driven
    through the story and left in the story's final state. ``manifest`` (default: the usual manifest lookup)
    is copied to ``directory/readiness.toml``. An existing demo made from the same manifest and story is
    reused (only the stand-ins are set to the final state) unless ``reset``.
    """
    directory = Path(directory)
    config = demo_config(directory)
    source = Path(manifest) if manifest is not None else default_manifest_path()
    text = source.read_text(encoding="utf-8")
    m = load_manifest(source)
    db_path = directory / DB_FILE
    if not reset and _reusable(directory, m):
        apply_phase(server, config, END)
        return db_path
    _clear(directory)
    (directory / MANIFEST_FILE).write_text(text, encoding="utf-8")
    m = load_manifest(directory / MANIFEST_FILE)
    clock = clock or FixedClock(START)
    apply_phase(server, config, START - timedelta(seconds=1))

    from checks.storage.history import Store

    store = Store.open(db_url(directory))
    extras: dict[str, Any] = {}
    runs = 0
    times = schedule(step_hours)
    pending = list(STORY)
    try:
        for t in times:
            while pending and pending[0].at <= t:
                event = pending.pop(0)
                clock.set(event.at)
                _apply_event(event, server, config, store, clock, directory)
                if on_progress is not None and not event.checkpoint:
                    on_progress(DemoProgress(runs, len(times), event.at, event.what))
            clock.set(t)
            environ = story_environment(server.url, config, t)
            if "vault" not in extras:  # until the vault is live: cheap, says why there is none
                extras = vault_extras(environ, db_url=db_url(directory), clock=clock)
            run = _sweep(m, store, clock, environ, extras)
            runs += 1
            if on_progress is not None:
                hits = tuple(f"{e.title or e.rule}: {e.item}" for e in run.verdict.escalations)
                on_progress(DemoProgress(runs, len(times), t, "sweep", run.verdict.decision.value, hits))
            for event in STORY:
                if event.at == t and event.checkpoint:
                    _checkpoint(m, store, event, t)
                    if on_progress is not None:
                        on_progress(DemoProgress(runs, len(times), t, event.what))
        verdict = run.verdict.decision.value
    finally:
        close_vault_extras(extras)
        store.close()
    _write_marker(directory, m, runs, verdict)
    return db_path


def _sweep(m: Manifest, store: Store, clock: FixedClock, environ: dict[str, str], extras: dict[str, Any]) -> Run:
    """One real sweep; ``extras`` from :func:`checks.shell.sweep.vault_extras` (the vault, once it is live, and
    the ``TOKEN_VAULT_ACTOR`` the calendar probes read the test accounts' tokens as)."""
    from checks.shell.sweep import sweep

    # os.devnull: no .env file next to a manifest may slip into the story
    return sweep(m, store=store, clock=clock, environ=environ, env_file=os.devnull, trigger="demo", extras=extras)


def _apply_event(
    event: Event,
    server: StandinServer,
    config: DemoConfig,
    store: Store,
    clock: FixedClock,
    directory: Path,
) -> None:
    for host, scenario, options in event.standins:
        _apply_standin(server, config, host, scenario, options)
    for fact in event.facts:
        store.add_attestation(Attestation(fact.item, fact.status, fact.by, event.at, fact.note, fact.effective))
    for check, reason, until in event.waivers:
        store.add_waiver(Waiver(check, reason, RELEASE_MANAGER, until, event.at))
    if event.vault_live:
        _init_vault(server, config, clock, directory)


def _init_vault(server: StandinServer, config: DemoConfig, clock: FixedClock, directory: Path) -> None:
    """Initialise the vault in the demo database and store the sandbox test accounts' tokens."""
    from checks.standins.oauth import GoogleOAuthStandin
    from vault import Actor, Role, Vault
    from vault.keys import EnvKeySource

    vault = Vault.init(db_url(directory), EnvKeySource({"TOKEN_VAULT_ENCRYPTION_KEY": config.vault_key}), clock)
    admin = Actor(PLATFORM, Role.ADMIN)
    now = clock.now()
    google: Any = server.provider("oauth2.googleapis.com")
    refresh = (
        google.grant(config.google_test_account, config.google_client_id)
        if isinstance(google, GoogleOAuthStandin)
        else None
    )
    vault.put(
        admin,
        VAULT_TENANT,
        "google",
        config.google_test_account,
        config.google_calendar_token,
        refresh_token=refresh,
        expires_at=now + timedelta(days=7),
        scopes=["https://www.googleapis.com/auth/calendar.readonly"],
    )
    vault.put(
        admin,
        VAULT_TENANT,
        "microsoft",
        config.microsoft_test_account,
        config.microsoft_calendar_token,
        expires_at=now + timedelta(days=7),
        scopes=["https://graph.microsoft.com/Calendars.ReadWrite", "offline_access"],
    )
    vault.close()


def _checkpoint(m: Manifest, store: Store, event: Event, at: datetime) -> None:
    from checks.presentation.report_build import record_checkpoint

    cp = record_checkpoint(m, store, title=event.checkpoint, now=at)
    if event.decision is not None:
        decision, rationale = event.decision
        store.record_decision(cp.id, decision, RELEASE_MANAGER, at + timedelta(minutes=30), rationale)


# -------------------------------------------------------------------------------------- reuse and reset

_OWNED = (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", f"{DB_FILE}-journal", MANIFEST_FILE, MARKER_FILE)


def _clear(directory: Path) -> None:
    for name in _OWNED:
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()


def reset_demo(directory: Path) -> None:
    """Delete what the demo made under ``directory`` (its database, manifest copy, marker and vault key)."""
    _clear(directory)
    with contextlib.suppress(FileNotFoundError):
        (directory / "vault.key").unlink()
    with contextlib.suppress(OSError):
        directory.rmdir()  # only when nothing else lives there


def _marker(m: Manifest) -> dict[str, Any]:
    return {"story": STORY_VERSION, "manifest_digest": m.digest}


def _reusable(directory: Path, m: Manifest) -> bool:
    try:
        saved = json.loads((directory / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    same = isinstance(saved, dict) and all(saved.get(k) == v for k, v in _marker(m).items())
    return same and (directory / DB_FILE).is_file() and (directory / MANIFEST_FILE).is_file()


def _write_marker(directory: Path, m: Manifest, runs: int, verdict: str) -> None:
    info = {**_marker(m), "runs": runs, "verdict": verdict, "start": START.isoformat(), "end": END.isoformat()}
    (directory / MARKER_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def demo_info(directory: Path) -> dict[str, Any]:
    """What the marker of a built demo says (runs, verdict), or ``{}``."""
    try:
        saved = json.loads((directory / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def demo_dashboard_env(
    directory: Path, server_url: str, base: Mapping[str, str], *, role: str = "release_manager"
) -> dict[str, str]:
    """The dashboard's environment for the demo: ``base`` without any provider or Readiness variable of the
    user's, then the demo's (stand-ins, manifest copy, database, role, the clock pinned at the story's end)."""
    from checks.standins import demo_config

    drop = ("GOOGLE_", "MICROSOFT_", "RETELL_", "TWILIO_", "TOKEN_VAULT_", "GHL_", "READINESS_")
    env = {k: v for k, v in base.items() if not k.startswith(drop)}
    env.update(demo_environment(server_url, config=demo_config(directory)))
    env.update(
        {
            "READINESS_MANIFEST": str((directory / MANIFEST_FILE).resolve()),
            "READINESS_DB_URL": db_url(directory),
            "READINESS_DASHBOARD_ROLE": role,
            "READINESS_DASHBOARD_USER": RELEASE_MANAGER,
            "READINESS_DASHBOARD_NOW": DASHBOARD_NOW.isoformat(),
        }
    )
    return env
