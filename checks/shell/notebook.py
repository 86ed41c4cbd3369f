"""What a notebook opens: the recorded history, or the demo's when none is recorded yet, and the weekly
checkpoint report, swept first when asked.

These compose the sweep, the stand-ins and the demo, so they live in the shell; the frames and charts they
feed come from :mod:`checks.presentation.analysis` and :mod:`checks.presentation.plots`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd
import sqlalchemy as sa

from checks.core.clock import Clock, FixedClock, SystemClock
from checks.core.errors import ReadinessError
from checks.storage.frames import runs_frame

if TYPE_CHECKING:
    from checks.core.manifest import Manifest
    from checks.presentation.report import Report
    from checks.storage.history import Store

__all__ = ["DEMO_DIR", "NotebookHistory", "checkpoint_report", "history_or_demo"]


def checkpoint_report(
    manifest: Manifest,
    store: Store,
    checkpoint_date: date | str | None = None,
    *,
    run_sweep: bool = False,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
) -> Report:
    """The weekly checkpoint report (:func:`checks.presentation.report_build.build_report`, compared with the previous
    checkpoint).

    With ``run_sweep`` a sweep runs first (and is recorded) at ``clock``'s time, with ``environ`` (default:
    the process environment). The report is of the latest run started on or before ``checkpoint_date``
    (a date or ``YYYY-MM-DD``; default: the latest run), as seen at the end of that day or now, whichever
    is earlier. Raises :class:`~checks.core.errors.ReadinessError` when there is no such run.
    """
    from checks.presentation.report_build import build_report
    from checks.shell.sweep import sweep

    clock = clock or SystemClock()
    if run_sweep:
        sweep(manifest, store=store, clock=clock, environ=environ, trigger="notebook")
    now = clock.now()
    if checkpoint_date is None or checkpoint_date == "":
        return build_report(manifest, store, now=now)
    day = date.fromisoformat(checkpoint_date) if isinstance(checkpoint_date, str) else checkpoint_date
    end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    runs = runs_frame(store)
    runs = runs[runs["started_at"] < pd.Timestamp(end)]
    if runs.empty:
        raise ReadinessError(f"no run recorded on or before {day.isoformat()}: pick a later checkpoint_date")
    return build_report(manifest, store, run=str(runs["run_id"].iloc[-1]), now=min(now, end - timedelta(seconds=1)))


# ------------------------------------------------------------------------------ which history a notebook reads

DEMO_DIR = Path(".readiness/demo")
"""Where :func:`history_or_demo` builds the demo, as ``readiness demo`` does (relative to the working directory)."""


@dataclass
class NotebookHistory:
    """The history a notebook reads, and a sentence saying which one it is (print it)."""

    store: Store
    manifest: Manifest
    note: str
    """E.g. ``No history in sqlite:///...: built the demo's three scripted weeks ...``."""
    source: Literal["recorded", "sweep", "demo"]
    """``recorded``: runs were there; ``sweep``: none, and the notebook sweeps first; ``demo``: the demo's."""
    db_url: str
    """The database read, password hidden."""
    clock: Clock
    """The wall clock, or for the demo the story's end (so "days left" reads as at the Week 2 checkpoint)."""

    def close(self) -> None:
        self.store.close()

    def __str__(self) -> str:
        return self.note


def _shown(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(READINESS_DB_URL, not a database URL; value not shown)"


def _has_runs(url: str) -> bool:
    """Whether ``url`` holds a recorded run; a SQLite file that does not exist is not created to find out."""
    from checks.storage.history import Store

    parsed = sa.make_url(url)
    database = parsed.database or ""
    local = parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:")
    if local and not database.startswith("file:") and not Path(database).expanduser().is_file():
        return False
    with Store.open(url) as store:
        return bool(store.runs(limit=1))


def _dir_text(directory: Path) -> str:
    return f"{directory.as_posix().rstrip('/')}/" if directory.is_absolute() else f"./{directory.as_posix()}/"


def history_or_demo(
    db_url: str | None = None,
    manifest_path: str | Path | None = None,
    *,
    run_sweep: bool = False,
    demo_dir: str | Path = DEMO_DIR,
    step_hours: float = 24.0,
) -> NotebookHistory:
    """Open the history at ``db_url`` (else ``READINESS_DB_URL``, else SQLite under ``./.readiness/``).

    With no run recorded there, a newcomer still gets the checkpoint: with ``run_sweep`` the notebook sweeps
    first (``checkpoint_report(..., run_sweep=True)``) into that database; without, the demo's three scripted
    weeks are built (or reused) with the real checks against the local provider stand-ins and fake
    credentials, in ``demo_dir`` as ``readiness demo`` does, and read instead. ``note`` says which.
    ``manifest_path`` is the manifest (default: the usual lookup); the demo works on its own copy of it.
    ``step_hours``: hours between the demo's sweeps (one a day, plus the checkpoints: a minute or so; ``readiness
    demo`` sweeps every 6 hours, four times the work).
    """
    from checks.core.manifest_load import default_manifest_path, load_manifest
    from checks.storage.history import Store
    from checks.storage.schema import DEFAULT_DB_URL

    url = db_url or os.environ.get("READINESS_DB_URL") or DEFAULT_DB_URL
    shown = _shown(url)
    if _has_runs(url):
        store = Store.open(url)
        latest = store.runs(limit=1)[0]
        note = (
            f"History: the runs recorded in {shown} (latest {latest.id[:12]} of "
            f"{latest.started_at:%Y-%m-%d %H:%M} UTC, {latest.verdict.value})"
        )
        return NotebookHistory(store, load_manifest(manifest_path), note, "recorded", shown, SystemClock())
    if run_sweep:
        note = f"No history in {shown}: sweeping now (run_sweep=True) with this process's environment, recorded there"
        return NotebookHistory(Store.open(url), load_manifest(manifest_path), note, "sweep", shown, SystemClock())

    from checks.shell.demo import build_demo, demo_info
    from checks.shell.demo import db_url as demo_db_url
    from checks.shell.demo_story import DASHBOARD_NOW, MANIFEST_FILE
    from checks.standins import demo_server

    directory = Path(demo_dir)
    before = demo_info(directory)
    source = Path(manifest_path) if manifest_path is not None else default_manifest_path()
    with demo_server(directory) as server:
        build_demo(directory, server=server, step_hours=step_hours, manifest=source)
    # build_demo rewrites its marker only when it builds: an unchanged marker means the demo was reused.
    verb = (
        "reused the demo's three scripted weeks built"
        if before and demo_info(directory) == before
        else "built the demo's three scripted weeks"
    )
    note = f"No history in {shown}: {verb} against the local stand-ins (fake credentials) in {_dir_text(directory)}"
    demo_url = demo_db_url(directory)
    return NotebookHistory(
        Store.open(demo_url),
        load_manifest(directory / MANIFEST_FILE),
        note,
        "demo",
        _shown(demo_url),
        FixedClock(DASHBOARD_NOW),
    )
