"""History into pandas for the notebooks: tidy frames derived from the :mod:`checks.storage.history` loaders.

Every function here takes a :class:`~checks.storage.history.Store` and returns a :class:`pandas.DataFrame` with the
columns its docstring lists (an empty history gives an empty frame with those columns). Each reads the
database with one SQL query through the history loaders (:func:`~checks.storage.frames.results_frame` and
friends), never by loading ORM objects, and derives the rest in pandas. Times are the runs' start times,
timezone-aware UTC; a check "passes" when its status is ``pass`` or ``warn`` (``Status.ok``).

* :func:`time_to_green`: per item, area or check, hours from the first non-pass to the first pass after it;
* :func:`flaky_checks`: checks whose pass/not-pass state flips between consecutive runs;
* :func:`recovery_times`: every regression (pass -> not pass) and how long it took to pass again;
* :func:`provider_latency` and :func:`latency_samples`: ``duration_ms`` per check or kind;
* :func:`waiver_use`: the waivers, whether each is in force, and how many runs each covered a gap in;
* :func:`checkpoint_diff` and :func:`changes_frame`: :func:`checks.presentation.report_build.compare` as a frame;
* :func:`write_html`: the checkpoint report as one self-contained page (the weekly notebook calls it);
* :func:`check_history`: one check's history, drawn as a table in a notebook.

What opens a notebook's history (or builds the demo's) and sweeps before a checkpoint report composes the
stand-ins and the sweep, so it lives in the shell: :mod:`checks.shell.notebook`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import sqlalchemy as sa

from checks.core.clock import SystemClock, utc
from checks.core.result import CheckResult, Result
from checks.core.status import Severity, Status
from checks.presentation.notebook_html import CheckHistory
from checks.storage.frames import check_frame, results_frame
from checks.storage.schema import WaiverRecord

if TYPE_CHECKING:
    from checks.core.manifest import Manifest
    from checks.presentation.report import Changes, Report
    from checks.storage.history import Checkpoint, Store

__all__ = [
    "CHANGE_KINDS",
    "changes_frame",
    "check_history",
    "checkpoint_diff",
    "flaky_checks",
    "latency_samples",
    "provider_latency",
    "recovery_times",
    "time_to_green",
    "waiver_use",
    "write_html",
]

CHANGE_KINDS = ("newly_green", "regressed", "newly_waived", "still_blocking")
"""The values of ``change`` in :func:`changes_frame`, in the report's order."""

_OK = [s.value for s in Status if s.ok]
_KEYS = {"item": "item", "area": "area", "check": "check_id"}


def _results(store: Store) -> pd.DataFrame:
    frame = results_frame(store)
    frame["ok"] = frame["status"].isin(_OK)
    return frame


def _empty(columns: Mapping[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


def _hours(delta: pd.Series) -> pd.Series:
    hours: pd.Series = delta.dt.total_seconds().astype(float) / 3600.0
    return hours


# ---------------------------------------------------------------------------------------- time to green


def time_to_green(
    store: Store, by: Literal["item", "area", "check"] = "item", manifest: Manifest | None = None
) -> pd.DataFrame:
    """How long each item, area or check took to turn green: from its first run that was not green to the
    first green run after it. A key is green in a run when every one of its results passes.

    Columns, one row per key sorted by it:

    * the key: ``item``, ``area`` or ``check_id`` (per ``by``); ``area`` also for items and checks,
      ``item`` also for checks;
    * ``first_seen``: its first run;
    * ``first_red``: its first run that was not green (NaT when it was green from the start);
    * ``green_at``: the first green run after ``first_red`` (``first_seen`` when never red; NaT when it
      has not turned green yet);
    * ``hours``: ``green_at - first_red`` in hours (0.0 when never red; NaN when not green yet);
    * ``green_now`` (bool): green in its latest run;
    * ``runs``: runs it appeared in;
    * ``title`` (only with ``manifest``): the item's, area's or check's title (its id when it has none).
    """
    if by not in _KEYS:
        raise ValueError(f"by: expected 'item', 'area' or 'check', got {by!r}")
    key = _KEYS[by]
    extra = {"check": ["item", "area"], "item": ["area"], "area": []}[by]
    columns = {key: "object", **dict.fromkeys(extra, "object")}
    columns |= {"first_seen": "datetime64[ns, UTC]", "first_red": "datetime64[ns, UTC]"}
    columns |= {"green_at": "datetime64[ns, UTC]", "hours": "float64", "green_now": "bool", "runs": "int64"}
    if manifest is not None:
        columns["title"] = "object"
    res = _results(store)
    if res.empty:
        return _empty(columns)
    agg: dict[str, Any] = {"started_at": ("started_at", "first"), "green": ("ok", "all")}
    agg |= {name: (name, "first") for name in extra}
    per = res.groupby([key, "run_id"], sort=False).agg(**agg).reset_index()
    per = per.sort_values("started_at", kind="stable")
    groups = per.groupby(key)
    out = groups.agg(
        **{name: (name, "first") for name in extra},
        first_seen=("started_at", "min"),
        green_now=("green", "last"),
        runs=("run_id", "nunique"),
    )
    out["first_red"] = per[~per["green"]].groupby(key)["started_at"].min()
    later = per.join(out["first_red"], on=key)
    later = later[later["green"] & (later["first_red"].isna() | (later["started_at"] > later["first_red"]))]
    out["green_at"] = later.groupby(key)["started_at"].min()
    out["hours"] = _hours(out["green_at"] - out["first_red"])
    never_red = out["first_red"].isna()
    out.loc[never_red, "green_at"] = out.loc[never_red, "first_seen"]
    out.loc[never_red, "hours"] = 0.0
    out = out.reset_index().sort_values(key, kind="stable", ignore_index=True)
    out["green_now"] = out["green_now"].astype(bool)
    out["runs"] = out["runs"].astype("int64")
    result: pd.DataFrame = out[[name for name in columns if name != "title"]]
    if manifest is not None:
        result = result.assign(title=[_titles(manifest, by).get(k, k) for k in result[key]])
    return result


def _titles(manifest: Manifest, by: str) -> dict[str, str]:
    if by == "area":
        return {a.id: a.title for a in manifest.areas}
    if by == "item":
        return {i.id: i.title for i in manifest.items}
    return {c.id: c.title or c.id for c in manifest.all_checks}


# ------------------------------------------------------------------------------------------------- flaky


def flaky_checks(store: Store, min_flips: int = 2) -> pd.DataFrame:
    """Checks whose state flips between passing and not passing from one of their runs to the next.

    Columns, one row per check with at least ``min_flips`` flips, most flips first:
    ``check_id``, ``item``, ``area``, ``kind``, ``severity``, ``runs`` (runs it appeared in), ``flips``
    (pass <-> not-pass changes between consecutive runs: pass, fail, pass is 2), ``flip_rate``
    (``flips / (runs - 1)``, in [0, 1]), ``changes`` (any status change, e.g. fail -> error counts here
    but is not a flip), ``last_status``.
    """
    columns = {"check_id": "object", "item": "object", "area": "object", "kind": "object", "severity": "object"}
    columns |= {"runs": "int64", "flips": "int64", "flip_rate": "float64", "changes": "int64", "last_status": "object"}
    res = _results(store)
    if res.empty:
        return _empty(columns)
    groups = res.groupby("check_id", sort=False)
    prev_ok = groups["ok"].shift()
    prev_status = groups["status"].shift()
    res["flip"] = prev_ok.notna() & (res["ok"] != prev_ok)
    res["change"] = prev_status.notna() & (res["status"] != prev_status)
    out = res.groupby("check_id").agg(
        item=("item", "last"),
        area=("area", "last"),
        kind=("kind", "last"),
        severity=("severity", "last"),
        runs=("run_id", "size"),
        flips=("flip", "sum"),
        changes=("change", "sum"),
        last_status=("status", "last"),
    )
    out["flip_rate"] = (out["flips"] / (out["runs"] - 1).clip(lower=1)).astype(float)
    out = out[out["flips"] >= min_flips].reset_index()
    out = out.sort_values(["flips", "flip_rate", "check_id"], ascending=[False, False, True], ignore_index=True)
    for name in ("runs", "flips", "changes"):
        out[name] = out[name].astype("int64")
    return out[list(columns)]


# ---------------------------------------------------------------------------------------------- recovery


def recovery_times(store: Store) -> pd.DataFrame:
    """Every regression, a check that passed in one run and not in its next, and when it passed again.

    Columns, one row per regression, oldest first: ``check_id``, ``item``, ``area``, ``severity``,
    ``status`` (what it regressed to), ``regressed_at`` (the first run not passing), ``recovered_at`` (the
    next run passing; NaT while it has not recovered), ``hours`` (``recovered_at - regressed_at``; NaN while
    not recovered), ``recovered`` (bool).
    """
    columns = {"check_id": "object", "item": "object", "area": "object", "severity": "object", "status": "object"}
    columns |= {"regressed_at": "datetime64[ns, UTC]", "recovered_at": "datetime64[ns, UTC]"}
    columns |= {"hours": "float64", "recovered": "bool"}
    res = _results(store)
    if res.empty:
        return _empty(columns)
    prev_ok = res.groupby("check_id", sort=False)["ok"].shift()
    starts = res[~res["ok"] & prev_ok.eq(True)]
    ends = res.loc[res["ok"] & prev_ok.eq(False), ["check_id", "started_at"]]
    if starts.empty:
        return _empty(columns)
    starts = starts.rename(columns={"started_at": "regressed_at"}).sort_values("regressed_at", kind="stable")
    ends = ends.rename(columns={"started_at": "recovered_at"}).sort_values("recovered_at", kind="stable")
    # After a regression the check's next passing run is necessarily a not-pass -> pass change: the next end.
    out = pd.merge_asof(
        starts,
        ends.assign(key=ends["recovered_at"]),
        left_on="regressed_at",
        right_on="key",
        by="check_id",
        direction="forward",
        allow_exact_matches=False,
    )
    out["hours"] = _hours(out["recovered_at"] - out["regressed_at"])
    out["recovered"] = out["recovered_at"].notna()
    out = out.sort_values(["regressed_at", "check_id"], kind="stable", ignore_index=True)
    return out[list(columns)]


# ---------------------------------------------------------------------------------------------- latency


def latency_samples(store: Store, exclude_kinds: Collection[str] = ("env", "manual")) -> pd.DataFrame:
    """Every timed result, for a distribution plot: ``check_id``, ``kind``, ``started_at``, ``status``,
    ``duration_ms``. Skipped results (nothing was called) and the kinds in ``exclude_kinds`` (by default the
    ones that call no provider: ``env``, ``manual``) are left out."""
    res = results_frame(store)
    keep = (res["status"] != Status.SKIPPED.value) & ~res["kind"].isin(list(exclude_kinds))
    return res.loc[keep, ["check_id", "kind", "started_at", "status", "duration_ms"]].reset_index(drop=True)


def provider_latency(
    store: Store, by: Literal["check", "kind"] = "check", exclude_kinds: Collection[str] = ("env", "manual")
) -> pd.DataFrame:
    """The ``duration_ms`` distribution per check (``by="check"``) or per kind (one kind per provider API).

    Columns: ``check_id`` (only ``by="check"``), ``kind``, ``count``, ``p50``, ``p90``, ``p99``, ``max``
    (milliseconds; percentiles interpolated linearly), sorted by ``p90``, slowest first. Samples as in
    :func:`latency_samples`.
    """
    if by not in ("check", "kind"):
        raise ValueError(f"by: expected 'check' or 'kind', got {by!r}")
    keys = ["check_id", "kind"] if by == "check" else ["kind"]
    columns = {name: "object" for name in keys}
    columns |= {"count": "int64", "p50": "float64", "p90": "float64", "p99": "float64", "max": "float64"}
    samples = latency_samples(store, exclude_kinds)
    if samples.empty:
        return _empty(columns)
    ms = samples.groupby(keys)["duration_ms"]
    out = ms.agg(["count", "max"])
    for q in (50, 90, 99):
        out[f"p{q}"] = ms.quantile(q / 100)
    out = out.reset_index().sort_values(["p90", *keys], ascending=[False, *[True] * len(keys)], ignore_index=True)
    out["count"] = out["count"].astype("int64")
    for name in ("p50", "p90", "p99", "max"):
        out[name] = out[name].astype(float)
    return out[list(columns)]


# ------------------------------------------------------------------------------------------------ waivers


def waiver_use(store: Store, now: datetime | None = None) -> pd.DataFrame:
    """Every waiver ever granted (revoked ones too) and how much it was used.

    Columns, oldest first: ``waiver_id``, ``check`` (a check id or an fnmatch pattern), ``reason``, ``by``,
    ``created``, ``until``, ``revoked`` (NaT when not revoked), ``days`` (``until - created`` in days),
    ``in_force_now`` (bool: created, not expired and not revoked at ``now``, default the wall clock),
    ``times_used`` (runs in which it covered a gap: a matching result that did not pass was marked waived
    while the waiver was in force; a run covered by two overlapping waivers counts for both).
    """
    columns = {"waiver_id": "int64", "check": "object", "reason": "object", "by": "object"}
    columns |= {"created": "datetime64[ns, UTC]", "until": "datetime64[ns, UTC]", "revoked": "datetime64[ns, UTC]"}
    columns |= {"days": "float64", "in_force_now": "bool", "times_used": "int64"}
    w = WaiverRecord
    stmt = sa.select(
        w.id.label("waiver_id"),
        w.check_id.label("check"),
        w.reason,
        w.by,
        w.created_at.label("created"),
        w.until,
        w.revoked_at.label("revoked"),
    ).order_by(w.created_at, w.id)
    with store.engine.connect() as conn:
        waivers = pd.read_sql(stmt, conn)
    if waivers.empty:
        return _empty(columns)
    for name in ("created", "until", "revoked"):
        waivers[name] = pd.to_datetime(waivers[name], utc=True)
    at = pd.Timestamp(utc(now or SystemClock().now()))
    waivers["days"] = _hours(waivers["until"] - waivers["created"]) / 24.0
    live = waivers["revoked"].isna() | (waivers["revoked"] > at)
    waivers["in_force_now"] = (waivers["created"] <= at) & (at < waivers["until"]) & live
    res = _results(store)
    covered = res[res["waived"] & ~res["ok"]]
    used = []
    for pattern, created, until, revoked in zip(
        waivers["check"], waivers["created"], waivers["until"], waivers["revoked"], strict=True
    ):
        at_run = covered["started_at"]
        window = (at_run >= created) & (at_run < until) & (at_run < revoked if pd.notna(revoked) else True)
        mine = covered[window]
        matches = [fnmatch.fnmatchcase(str(cid), str(pattern)) for cid in mine["check_id"]]
        used.append(int(mine.loc[matches, "run_id"].nunique()))
    waivers["times_used"] = pd.Series(used, index=waivers.index, dtype="int64")
    waivers["waiver_id"] = waivers["waiver_id"].astype("int64")
    waivers["in_force_now"] = waivers["in_force_now"].astype(bool)
    return waivers[list(columns)]


# ------------------------------------------------------------------------------------------- checkpoints


def changes_frame(changes: Changes) -> pd.DataFrame:
    """A :class:`checks.presentation.report.Changes` (e.g. ``report.changes``) as a frame.

    Columns, one row per check and change: ``check_id``, ``title``, ``item``, ``severity``, ``before``
    (status in the baseline; None when the check is new), ``after``, ``change`` (one of
    :data:`CHANGE_KINDS`), ``waived`` (bool: a waiver covers it now), ``summary``. A regression that is
    now waived appears twice, as ``regressed`` and as ``newly_waived``.
    """
    rows = [
        {
            "check_id": c.check,
            "title": c.title,
            "item": c.item,
            "severity": c.severity.value,
            "before": c.before.value if c.before is not None else None,
            "after": c.after.value,
            "change": kind,
            "waived": c.waived,
            "summary": c.summary,
        }
        for kind in CHANGE_KINDS
        for c in getattr(changes, kind)
    ]
    columns = ["check_id", "title", "item", "severity", "before", "after", "change", "waived", "summary"]
    out = pd.DataFrame(rows, columns=columns)
    out["waived"] = out["waived"].astype(bool)
    return out


def checkpoint_diff(store: Store, manifest: Manifest, as_of: datetime | None = None) -> pd.DataFrame:
    """What changed between the latest two checkpoints (recorded at or before ``as_of`` when given), by
    :func:`~checks.presentation.report_build.compare` on their frozen snapshots. Columns as in
    :func:`changes_frame`; empty when fewer than two checkpoints exist. ``attrs["baseline"]`` and
    ``attrs["current"]`` hold the two checkpoints' titles (None when missing)."""
    from checks.presentation.report import Baseline, Changes
    from checks.presentation.report_build import compare

    checkpoints = [c for c in store.checkpoints() if as_of is None or c.at <= utc(as_of)]  # newest first
    if len(checkpoints) < 2:
        out = changes_frame(Changes("checkpoint", None))
        out.attrs.update(baseline=None, current=checkpoints[0].title if checkpoints else None)
        return out
    current, previous = checkpoints[0], checkpoints[1]
    snapshot = previous.snapshot
    base = Baseline(
        label=f'checkpoint #{previous.id} "{previous.title}"',
        at=previous.at,
        verdict=str(snapshot.get("verdict", "")),
        results={r["id"]: (Status(r["status"]), bool(r.get("waived"))) for r in snapshot.get("results", [])},
        checkpoint_id=previous.id,
    )
    out = changes_frame(compare(manifest, base, _snapshot_results(current), since="checkpoint"))
    out.attrs.update(baseline=previous.title, current=current.title)
    return out


def _snapshot_results(checkpoint: Checkpoint) -> list[CheckResult]:
    return [
        CheckResult(
            r["id"],
            r["item"],
            r["area"],
            r["kind"],
            Severity(r["severity"]),
            Result(Status(r["status"]), r.get("summary", ""), duration_ms=float(r.get("duration_ms", 0.0))),
            bool(r.get("waived")),
        )
        for r in checkpoint.snapshot.get("results", [])
    ]


# ---------------------------------------------------------------------------------- the weekly notebook


def write_html(report: Report, store: Store | None, path: str | Path | None) -> Path | None:
    """Write :func:`checks.presentation.report_html.render_html` of ``report`` to ``path`` (parents created);
    None when no path."""
    if path is None or str(path) == "":
        return None
    from checks.presentation.report_html import render_html

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(report, store), encoding="utf-8")
    return target


def check_history(store: Store, check_id: str, limit: int = 50) -> CheckHistory:
    """One check's recorded history (:func:`checks.storage.frames.check_frame` in ``.frame``); in a notebook it draws
    as the latest status and a table of its runs, newest first (at most ``limit``)."""
    return CheckHistory(check_id, check_frame(store, check_id), limit)
