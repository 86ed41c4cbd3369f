"""The trends' loaders: history as frames read from the rollups (:mod:`checks.storage.rollups`), never from every
result, so a year of hourly sweeps loads in a fraction of what :func:`~checks.storage.frames.results_frame` takes.

* :func:`history_end`: when the newest run started (where a period is counted back from);
* :func:`checkpoint_runs_frame`: the checkpoints with their runs' counts (the trend's marks);
* :func:`run_items_frame`: one row per run and item since a time (the hourly heatmap of a history of a few days);
* :func:`daily_runs_frame`, :func:`daily_items_frame`: one row per UTC day (and item), long ranges; they
  survive ``readiness history prune``.
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa

from checks.storage.frames import _frame, _raw, _UTCStamp
from checks.storage.history import Store
from checks.storage.schema import CheckpointRecord, DailyItemRecord, DailyRunRecord, RunItemRecord, RunRecord

_INTS = ("passed", "total", "waiting", "pending")
# A day is its ISO text on both databases (cast, not _UTCStamp: a date has no time zone to convert).


def history_end(store: Store) -> datetime | None:
    """The start of the newest run (by start time), or None when nothing is recorded."""
    with store.engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.max(RunRecord.started_at)))


def checkpoint_runs_frame(store: Store) -> pd.DataFrame:
    """Each checkpoint with its run's counts, oldest first: ``at`` (UTC), ``title``, ``verdict``,
    ``blocking_passed``, ``blocking_total``. A checkpoint freezes its run's results and verdict, so these are its
    snapshot's, read without decoding the snapshots (54 of them took a tenth of a second)."""
    c, run = CheckpointRecord, RunRecord
    stmt = (
        sa.select(
            _UTCStamp(c.at).label("at"),
            c.title,
            run.verdict,
            _raw(run.blocking_passed).label("blocking_passed"),
            _raw(run.blocking_total).label("blocking_total"),
        )
        .join(run, run.id == c.run_id)
        .order_by(c.at, c.id.desc())  # as checkpoint_points orders Store.checkpoints()
    )
    frame = _frame(store, stmt, ["at"])
    for name in ("blocking_passed", "blocking_total"):
        frame[name] = frame[name].astype("int64")
    return frame


def run_items_frame(store: Store, since: datetime | None = None) -> pd.DataFrame:
    """One row per run and item (runs started at or after ``since``), oldest run first.

    Columns: ``run_id``, ``started_at`` (UTC), ``item``, ``area``, ``passed`` (results met), ``total``,
    ``waiting`` (``pending`` or ``skipped``), ``pending``. The item is green in the run when ``passed == total``.
    """
    i, run = RunItemRecord, RunRecord
    stmt = (
        sa.select(
            i.run_id,
            _UTCStamp(run.started_at).label("started_at"),
            i.item,
            i.area,
            *(_raw(getattr(i, n)).label(n) for n in _INTS),
        )
        .join(run, run.id == i.run_id)
        .order_by(run.started_at, run.seq, i.item)
    )
    if since is not None:
        stmt = stmt.where(run.started_at >= since)
    frame = _frame(store, stmt, ["started_at"])
    for name in _INTS:
        frame[name] = frame[name].astype("int64")
    return frame


def daily_runs_frame(store: Store, since: date | None = None) -> pd.DataFrame:
    """One row per UTC day with runs (from ``since`` when given), oldest first.

    Columns: ``day`` (UTC midnight), ``runs``, ``first_at``, ``last_at``, ``last_verdict``, ``go``,
    ``conditional``, ``no_go`` (runs per verdict), ``share_mean``, ``share_min``, ``share_max`` (blocking
    checks passing, %, over the day's runs with any; NaN when none had).
    """
    d = DailyRunRecord
    stmt = sa.select(
        sa.cast(d.day, sa.String).label("day"),
        _raw(d.runs).label("runs"),
        _UTCStamp(d.first_at).label("first_at"),
        _UTCStamp(d.last_at).label("last_at"),
        d.last_verdict,
        *(_raw(getattr(d, n)).label(n) for n in ("go", "conditional", "no_go", "blocking_runs")),
        _raw(d.share_sum).label("share_sum"),
        _raw(d.share_min).label("share_min"),
        _raw(d.share_max).label("share_max"),
    ).order_by(d.day)
    if since is not None:
        stmt = stmt.where(d.day >= since)
    frame = _frame(store, stmt, ["day", "first_at", "last_at"])
    for name in ("runs", "go", "conditional", "no_go", "blocking_runs"):
        frame[name] = frame[name].astype("int64")
    for name in ("share_sum", "share_min", "share_max"):
        frame[name] = frame[name].astype(float)
    frame["share_mean"] = frame["share_sum"] / frame["blocking_runs"].where(frame["blocking_runs"] > 0)
    columns = ["day", "runs", "first_at", "last_at", "last_verdict", "go", "conditional", "no_go"]
    return frame[[*columns, "share_mean", "share_min", "share_max"]]


def daily_items_frame(store: Store, since: date | None = None) -> pd.DataFrame:
    """One row per UTC day and item (from ``since`` when given), oldest first.

    Columns: ``day``, ``item``, ``area``, ``runs``, ``first_at``, ``last_at`` (the day's first and last run of the
    item), ``passed``, ``total``, ``waiting``, ``pending`` (its last run that day), ``last_green`` (bool),
    ``red_last_at`` (the day's last run in which it was not green, NaT if none), ``green_after`` (the day's first
    green run after that, NaT if none).
    """
    d = DailyItemRecord
    stmt = sa.select(
        sa.cast(d.day, sa.String).label("day"),
        d.item,
        d.area,
        _raw(d.runs).label("runs"),
        _UTCStamp(d.first_at).label("first_at"),
        _UTCStamp(d.last_at).label("last_at"),
        *(_raw(getattr(d, n)).label(n) for n in _INTS),
        _raw(d.last_green).label("last_green"),
        _UTCStamp(d.red_last_at).label("red_last_at"),
        _UTCStamp(d.green_after).label("green_after"),
    ).order_by(d.day, d.item)
    if since is not None:
        stmt = stmt.where(d.day >= since)
    frame = _frame(store, stmt, ["day", "first_at", "last_at", "red_last_at", "green_after"])
    for name in ("runs", *_INTS):
        frame[name] = frame[name].astype("int64")
    frame["last_green"] = frame["last_green"].astype(bool)
    return frame
