"""Retention (``readiness history prune``): runs and their results older than a cutoff are deleted, except those
the history still needs.

Kept whatever their age: the runs a checkpoint froze (the checkpoint report and its snapshot point at them), the
:data:`KEEP_LATEST` most recently recorded runs (the Overview builds the current state from them, even when no
sweep ran for weeks), and everything that is not a run: the daily rollups (``daily_runs``, ``daily_items``: the
long ranges of the trends), each check's streak (``check_streaks``: escalations still count from when a status
began), waivers, attestations, checkpoints. A run's ``run_items`` go with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from checks.storage.history import Store
from checks.storage.schema import CheckpointRecord, ResultRecord, RunRecord

KEEP_LATEST = 50
"""The newest runs never pruned: what :func:`checks.presentation.views.latest.pick_base_run` looks through."""


@dataclass(frozen=True)
class PruneReport:
    """What a prune removed (or, dry, would remove)."""

    cutoff: datetime
    runs: int
    results: int
    kept_old: int
    """Runs older than the cutoff kept: checkpointed or among the latest."""
    dry_run: bool


def prune(store: Store, keep_days: int, now: datetime, dry_run: bool = False) -> PruneReport:
    """Delete the runs started before ``now - keep_days`` (and their results) that nothing needs; with
    ``dry_run``, only count them. One transaction; on SQLite the file is compacted (``VACUUM``) afterwards."""
    if keep_days < 0:
        raise ValueError("keep_days must be 0 or more")
    cutoff = now - timedelta(days=keep_days)
    run = RunRecord
    with store.engine.begin() as conn:
        newest = conn.scalar(sa.select(sa.func.max(run.seq))) or 0
        old = run.started_at < cutoff
        doomed = sa.and_(
            old,
            run.seq <= newest - KEEP_LATEST,
            run.id.not_in(sa.select(CheckpointRecord.run_id).distinct()),
        )
        ids = sa.select(run.id).where(doomed)
        n_runs = conn.scalar(sa.select(sa.func.count()).select_from(run).where(doomed)) or 0
        n_old = conn.scalar(sa.select(sa.func.count()).select_from(run).where(old)) or 0
        n_results = conn.scalar(sa.select(sa.func.count(ResultRecord.id)).where(ResultRecord.run_id.in_(ids))) or 0
        if not dry_run and n_runs:
            conn.execute(sa.delete(ResultRecord).where(ResultRecord.run_id.in_(ids)))
            conn.execute(sa.delete(run).where(doomed))  # run_items cascade
    if not dry_run and n_runs and store.engine.dialect.name == "sqlite":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM")
    return PruneReport(cutoff, n_runs, n_results, n_old - n_runs, dry_run)
