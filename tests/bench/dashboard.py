"""Benchmark the dashboard: time to the first complete render of Overview and Trends over a year of history.

The history: 9,000 hourly sweeps of 40 checks on SQLite (the frozen story manifest, tests/fixtures/
story_manifest.toml, whose 32 checks are padded to 40 with eight more ``[[env]]`` variables), then two
single-check re-runs as "re-run this check" records them. Statuses evolve over the year: each check
starts failing or pending, turns green at its own hour (some never do), regresses now and then (``fail``
or a timeout's ``error`` for 1-36 hours), and skips while what it depends on is not met. Verdicts come
from the real :func:`checks.core.verdict.decide` with the waivers and attestations in force at each run, so
areas, criteria and escalations are what the engine would have written (decided once per distinct
combination of statuses, waivers in force and attestation ages); weekly checkpoints are recorded with
:func:`checks.presentation.report_build.record_checkpoint`. Rows go in with one SQLAlchemy Core ``executemany`` per
table into a temporary directory; it is a fixture, built once per run of this script.

Measured with ``streamlit.testing.v1.AppTest``: a fresh AppTest per render, ``st.cache_data`` cleared
first (the state a visitor meets once the 30 s TTL has expired). Rounds are interleaved with the same
renders against a small history (50 sweeps, same generator): the ratio is the cost of the history.
A second series also clears ``st.cache_resource`` (engine, migration check, manifest validation): the
first visitor after a restart. Loader times (``results_frame``, ``runs_frame``) and each page's steps
outside Streamlit are reported too.

Run: python tests/bench/dashboard.py [--runs 9000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from checks import Attestation, Waiver, load_manifest  # noqa: E402
from checks.core.manifest import Manifest  # noqa: E402
from checks.core.result import CheckResult, Condition, Result  # noqa: E402
from checks.core.status import Severity, Status  # noqa: E402
from checks.core.verdict import decide  # noqa: E402
from checks.presentation.report_build import record_checkpoint  # noqa: E402
from checks.presentation.views import latest, oauth, trends  # noqa: E402
from checks.storage.frames import results_frame, runs_frame  # noqa: E402
from checks.storage.history import Store, _result_row  # noqa: E402
from checks.storage.schema import ResultRecord, RunRecord  # noqa: E402

STORY_MANIFEST = ROOT / "tests" / "fixtures" / "story_manifest.toml"
DASH = ROOT / "dashboard"
END = datetime(2025, 10, 18, 9, 0, tzinfo=UTC)
"""The last sweep (the story's week 2); the dashboard's clock is pinned 30 minutes later."""
NOW = END + timedelta(minutes=30)
TARGET_S = 2.0
SMALL_RUNS = 50
CHECKS = 40
BY = "rohan"

# Eight more variables a real deployment would also check, to reach 40 checks.
PADDING = [
    ("DATABASE_URL", "url", "blocking"),
    ("REDIS_URL", "url", "major"),
    ("PORTAL_BASE_URL", "url", "blocking"),
    ("OAUTH_CALLBACK_BASE_URL", "url", "blocking"),
    ("WEBHOOK_SIGNING_SECRET", "api_key", "major"),
    ("SENTRY_DSN", "url", "minor"),
    ("SMTP_URL", "url", "minor"),
    ("FEATURE_FLAGS_URL", "url", "minor"),
]


def write_manifest(directory: Path) -> Path:
    extra = "".join(
        f'\n[[env]]\nname = "{name}"\ntype = "{kind}"\ngroup = "Platform"\nitem = "environment.variables"\n'
        f'severity = "{severity}"\n'
        for name, kind, severity in PADDING
    )
    target = directory / "readiness.toml"
    target.write_text(STORY_MANIFEST.read_text() + extra)
    return target


# ------------------------------------------------------------------------------------------ history


def timelines(m: Manifest, n: int, rng: random.Random) -> dict[str, list[Status]]:
    """Each check's status in each of ``n`` hourly sweeps: failing or pending until its own hour of turning
    green (blocking checks all get there within the first three quarters; 15% of the others never do), a
    placeholder (``warn``) for a while for some variables, regressions now and then, ``skipped`` while a
    prerequisite is not met."""
    out: dict[str, list[Status]] = {}
    for c in m.all_checks:
        blocking = c.severity is Severity.BLOCKING
        before = Status.FAIL if c.kind == "env" or blocking else Status.PENDING
        if blocking:
            green = n * rng.uniform(0.02, 0.75)
        else:
            green = n * rng.uniform(0.05, 0.95) if rng.random() > 0.15 else float("inf")
        line = [Status.PASS if t >= green else before for t in range(n)]
        if green < n and c.kind == "env" and rng.random() < 0.3:  # a placeholder first
            for t in range(int(green), min(n, int(green + rng.uniform(24, 24 * 14)))):
                line[t] = Status.WARN
        for _ in range(rng.randint(0, 3 if blocking else 6)):  # a revoked key, a provider timing out
            if green >= n - 1:
                break
            start = int(rng.uniform(green, n))
            bad = Status.ERROR if rng.random() < 0.3 else Status.FAIL
            for t in range(start, min(n, start + rng.randint(1, 36))):
                line[t] = bad
        out[c.id] = line
    for c in m.all_checks:
        for dep in c.depends_on:
            line, parent = out[c.id], out[dep]
            for t in range(n):
                if not parent[t].ok:
                    line[t] = Status.SKIPPED
    return out


def outcome(c: Any, status: Status) -> tuple[str, dict[str, Any], str, tuple[Condition, ...]]:
    """What a check of ``c``'s kind reports for ``status``: summary, evidence, remediation, conditions."""
    p = c.params
    if status is Status.ERROR:
        summary = f"{c.id} timed out after 10.0 s"
        evidence: dict[str, Any] = {"timeout_s": 10.0, "error": "ReadTimeout"}
    elif c.kind == "env":
        var, kind = p["variable"], p.get("type", "string")
        evidence = {"variable": var, "type": kind, "source": "environment"}
        if status is Status.PASS:
            summary = f"{var} is set and looks like a {kind}"
            evidence["fingerprint"] = "sha256:" + hashlib.sha256(var.encode()).hexdigest()[:16]
        elif status is Status.WARN:
            summary = f"{var} is set but holds a placeholder"
        else:
            summary = f"{var} is not set: add it to the deployment's environment"
    else:
        evidence = {"item": c.item, "attested": status.value, "by": BY, "source": "attestation"}
        summary = f"{c.title}: {status.value}" + ("" if status.ok else f" (expected: {p.get('expect', 'attested')})")
    remediation = "" if status.ok else f"See the runbook for {c.item}; re-run the check when done."
    conditions = (Condition("present", status is not Status.FAIL, ""),) if c.kind == "env" else ()
    return summary, evidence, remediation, conditions


def build_history(url: str, m: Manifest, n: int, seed: int = 5) -> dict[str, Any]:
    """Write ``n`` hourly sweeps ending at END, two single-check re-runs, waivers, attestations and weekly
    checkpoints into a fresh database at ``url``."""
    t0 = time.perf_counter()
    rng = random.Random(seed)
    store = Store.open(url)
    area_of = {c.id: m.items_by_id[c.item].area for c in m.all_checks}
    lines = timelines(m, n, rng)
    first = END - timedelta(hours=n - 1)
    at = [first + timedelta(hours=t) for t in range(n)]

    # Attestations behind the OAuth checks, at the hours those turn green (the Gantt and the escalation).
    attestations: list[Attestation] = []
    for app, created, approved in [
        ("oauth.google", "oauth.google.submitted", "oauth.google.approved"),
        ("oauth.microsoft", "oauth.microsoft.created", "oauth.microsoft.approved"),
    ]:
        for check, status in [(created, "created"), (created, "submitted"), (approved, "approved")]:
            hit = next((t for t, s in enumerate(lines[check]) if s.ok), None)
            if hit is not None:
                when = at[hit] - timedelta(hours=1 if status != "submitted" else 0)
                attestations.append(Attestation(app, status, BY, when, effective=when.date()))
    for a in attestations:
        store.add_attestation(a)
    # The GHL proxy's validation waived for the ten days before it turned green ("validated next week").
    ghl = next((t for t, s in enumerate(lines["oauth.ghl.validated"]) if s.ok), n - 1)
    waiver = Waiver(
        "oauth.ghl.validated", "proxy validated next week", BY, at[ghl] + timedelta(days=2), at[max(0, ghl - 240)]
    )
    waivers = [store.add_waiver(waiver)]

    run_rows: list[dict[str, Any]] = []
    result_rows: list[dict[str, Any]] = []
    outcomes: dict[tuple[str, Status], tuple[str, dict[str, Any], str, tuple[Condition, ...]]] = {}
    verdicts: dict[tuple[Any, ...], Any] = {}
    limits = sorted({timedelta(days=e.when.older_than_days) for e in m.escalations})

    def add(run_id: str, started: datetime, statuses: list[tuple[Any, Status]], trigger: str) -> None:
        finished = started + timedelta(seconds=2)
        results = []
        for c, status in statuses:
            summary, evidence, remediation, conditions = outcomes.setdefault((c.id, status), outcome(c, status))
            observed = started + timedelta(seconds=1)
            result = Result(status, summary, evidence, remediation, conditions, rng.uniform(0.05, 40.0), observed)
            results.append(CheckResult(c.id, c.item, area_of[c.id], c.kind, c.severity, result))
        latest = {a.item: a for a in attestations if a.at <= finished}
        in_force = tuple(w.id for w in waivers if w.in_force(finished))
        # The verdict depends only on the statuses, the waivers in force and the attestations' ages against
        # the escalation limits: decide once per distinct combination (a year holds a few thousand).
        key = (
            tuple(s for _, s in statuses),
            in_force,
            tuple((a.item, a.status, tuple(a.age(finished) > lim for lim in limits)) for a in latest.values()),
        )
        verdict = verdicts.get(key)
        if verdict is None:
            verdict = verdicts[key] = decide(m, results, now=finished, waivers=waivers, attestations=latest)[0]
        waived = set(verdict.waived)
        run_rows.append(
            {
                "id": run_id,
                "seq": len(run_rows) + 1,  # recording order, as Store.record_run numbers runs
                "started_at": started,
                "finished_at": finished,
                "verdict": verdict.decision.value,
                "reasons": list(verdict.reasons),
                "manifest_digest": m.digest,
                "trigger": trigger,
                "areas": [a.to_dict() for a in verdict.areas],
                "escalations": [e.to_dict() for e in verdict.escalations],
                "criteria": [c.to_dict() for c in verdict.criteria],
            }
        )
        for r in results:
            row = _result_row(run_id, r)
            row["waived"] = r.id in waived
            result_rows.append(row)

    checks = m.all_checks
    ids: list[str] = []
    for t in range(n):
        ids.append(uuid.UUID(int=rng.getrandbits(128)).hex)
        add(ids[-1], at[t], [(c, lines[c.id][t]) for c in checks], "schedule")
    # Two "re-run this check" after the last sweep: the Overview lays them over it.
    for k, c in enumerate([checks[0], checks[-1]]):
        add(
            uuid.UUID(int=rng.getrandbits(128)).hex,
            at[-1] + timedelta(minutes=10 * (k + 1)),
            [(c, Status.PASS)],
            "dashboard",
        )
    generated = time.perf_counter() - t0

    with store.engine.begin() as conn:
        conn.execute(sa.insert(RunRecord), run_rows)
        conn.execute(sa.insert(ResultRecord), result_rows)
    inserted = time.perf_counter() - t0 - generated
    for t in range(n - 1, -1, -168):  # weekly checkpoints, the last sweep's included
        record_checkpoint(
            m, store, ids[t], title=f"Checkpoint {at[t].date().isoformat()}", now=at[t] + timedelta(hours=1)
        )
    store.close()
    return {
        "runs": len(run_rows),
        "results": len(result_rows),
        "verdicts": {v: sum(1 for r in run_rows if r["verdict"] == v) for v in ("GO", "CONDITIONAL", "NO-GO")},
        "distinct_verdicts_decided": len(verdicts),
        "generate_s": round(generated, 2),
        "insert_s": round(inserted, 2),
        "total_s": round(time.perf_counter() - t0, 2),
    }


# ------------------------------------------------------------------------------------------ measure


def render(page: str, clear_resources: bool = False) -> tuple[float, Any]:
    """One first render of ``page`` with fresh caches; returns its wall time and the AppTest."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()
    if clear_resources:
        st.cache_resource.clear()
    at = AppTest.from_file(str(DASH / page), default_timeout=120)
    t0 = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - t0
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    if page == "overview.py":
        labels = {m.label for m in at.metric}
        assert {"Decision point", "Blocking checks passing"} <= labels, labels
        assert any(s.value == "Success criteria" for s in at.subheader)
    else:
        assert len(at.get("plotly_chart")) == 4
    return elapsed, at


def use(url: str, manifest: Path) -> None:
    os.environ.update(
        {
            "READINESS_DB_URL": url,
            "READINESS_MANIFEST": str(manifest),
            "READINESS_DASHBOARD_NOW": NOW.isoformat(),
            "READINESS_DASHBOARD_ROLE": "viewer",
            "READINESS_STANDINS_URL": "http://127.0.0.1:9",
        }
    )
    os.environ.pop("READINESS_DASHBOARD_USER", None)


def timed(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def steps(url: str, m: Manifest, repeat: int) -> dict[str, float]:
    """Each page's work outside Streamlit, median seconds: where a render's time goes."""
    import plotly.io as pio
    from plotly import tools

    from checks.presentation import plots

    store = Store.open(url)
    runs = runs_frame(store)
    results = results_frame(store)
    freq = trends.heatmap_freq(runs["started_at"].iloc[0], runs["started_at"].iloc[-1])
    heat = trends.heatmap_frame(results, m, freq)
    share = trends.blocking_share(runs)
    green = trends.time_to_green(results, m, NOW)
    marks = trends.checkpoint_points(store.checkpoints())
    figs = [
        plots.blocking_trend(share, marks),
        plots.status_heatmap(heat),
        plots.time_to_green(green),
        plots.approval_gantt(oauth.gantt_rows(m, store.attestations(), NOW), now=NOW),
    ]

    def overview_data() -> None:
        base, newer = latest.pick_base_run(store.runs(limit=50), len(m.all_checks))
        run = store.get_run(base)
        rechecks = [store.get_run(i) for i in newer]
        if rechecks:
            store.status_since([r.id for r in run.results])

    out = {
        "runs_frame_s": timed(lambda: runs_frame(store), repeat),
        "results_frame_s": timed(lambda: results_frame(store), repeat),
        "checkpoints_s": timed(store.checkpoints, repeat),
        "heatmap_frame_s": timed(lambda: trends.heatmap_frame(results, m, freq), repeat),
        "time_to_green_s": timed(lambda: trends.time_to_green(results, m, NOW), repeat),
        "blocking_trend_figure_s": timed(lambda: plots.blocking_trend(trends.blocking_share(runs), marks), repeat),
        "other_figures_s": timed(
            lambda: (
                plots.status_heatmap(heat),
                plots.time_to_green(green),
                plots.approval_gantt(oauth.gantt_rows(m, store.attestations(), NOW), now=NOW),
            ),
            repeat,
        ),
        # What st.plotly_chart does with each figure: rebuild it validated, then serialise it.
        "plotly_chart_serialise_s": timed(
            lambda: [pio.to_json(tools.return_figure_from_figure_or_data(f, True), validate=False) for f in figs],
            repeat,
        ),
        "overview_store_reads_s": timed(overview_data, repeat),
    }
    store.close()
    return {k: round(v, 4) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="readiness-bench-") as tmp:
        root = Path(tmp)
        manifest_path = write_manifest(root)
        m = load_manifest(manifest_path)
        assert len(m.all_checks) == CHECKS, len(m.all_checks)
        urls = {"large": f"sqlite:///{root / 'large.db'}", "small": f"sqlite:///{root / 'small.db'}"}
        built = {
            name: build_history(url, m, args.runs if name == "large" else SMALL_RUNS) for name, url in urls.items()
        }

        use(urls["small"], manifest_path)  # warm up: imports, Streamlit's own first-run cost
        for page in ("overview.py", "trends.py"):
            render(page)

        times: dict[tuple[str, str, str], list[float]] = {}
        for _ in range(args.rounds):
            for mode in ("data", "cold"):
                for name, url in urls.items():
                    use(url, manifest_path)
                    for page in ("overview.py", "trends.py"):
                        elapsed, _at = render(page, clear_resources=mode == "cold")
                        times.setdefault((mode, name, page), []).append(elapsed)
        med = {key: statistics.median(v) for key, v in times.items()}

        breakdown = {name: steps(url, m, 3) for name, url in urls.items()}
        size_mb = round(os.path.getsize(root / "large.db") / 2**20, 1)

    def page_figures(page: str) -> dict[str, Any]:
        large, small = med[("data", "large", page)], med[("data", "small", page)]
        return {
            "large_s": round(large, 3),
            "small_s": round(small, 3),
            "large_over_small": round(large / small, 2),
            "large_cold_s": round(med[("cold", "large", page)], 3),
            "small_cold_s": round(med[("cold", "small", page)], 3),
            "large_rounds_s": [round(x, 3) for x in times[("data", "large", page)]],
            "under_target": large < TARGET_S,
        }

    loaders = breakdown["large"]
    print(
        json.dumps(
            {
                "benchmark": "dashboard",
                "history": {"checks": CHECKS, "large": built["large"], "small": built["small"], "large_db_mb": size_mb},
                "rounds": args.rounds,
                "target_s": TARGET_S,
                "overview": page_figures("overview.py"),
                "trends": page_figures("trends.py"),
                "loaders_large": {
                    "results_frame_s": loaders["results_frame_s"],
                    "runs_frame_s": loaders["runs_frame_s"],
                },
                "steps_large": loaders,
                "steps_small": breakdown["small"],
            }
        )
    )


if __name__ == "__main__":
    main()
