"""The library's objects draw themselves in Jupyter (``_repr_html_``): the verdict word and its colour class,
areas with passed/total, reasons, a results table with status text; every outside string escaped."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from checks import Decision, Run, Verdict
from checks.core.result import CheckResult, Result
from checks.core.run import AreaSummary
from checks.core.status import Severity, Status
from checks.presentation.notebook_html import CheckHistory
from checks.presentation.report import AreaStatus, Changes, Report
from checks.storage.history import Store

ROOT_MANIFEST = Path(__file__).resolve().parents[2] / "readiness.toml"
HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
AT = datetime(2025, 10, 17, 18, 0, tzinfo=UTC)
CLASS = {Decision.GO: "verdict go", Decision.CONDITIONAL: "verdict conditional", Decision.NO_GO: "verdict nogo"}


def make_run(decision: Decision) -> Run:
    results = [
        CheckResult("google.app", "oauth.google", "oauth", "oauth_google", Severity.BLOCKING,
                    Result(Status.FAIL, f"provider said {HOSTILE}")),
        CheckResult("env.vars", "environment.variables", "env", "env", Severity.BLOCKING,
                    Result(Status.PASS, "all 12 variables set")),
    ]  # fmt: skip
    verdict = Verdict(
        decision,
        [f"google.app failed: {HOSTILE}"],
        [AreaSummary("oauth", f"OAuth {HOSTILE}", Status.FAIL, 1, 2, "PARTIAL")],
    )
    return Run("a" * 32, AT, AT, "digest", results, verdict, trigger="notebook")


def assert_safe(html: str) -> None:
    assert "<script>" not in html
    assert ESCAPED in html


@pytest.mark.parametrize("decision", list(Decision), ids=lambda d: d.value)
def test_run_draws_the_go_no_go_view(decision):
    html = make_run(decision)._repr_html_()
    assert CLASS[decision] in html
    assert f">{decision.value} · " in html  # the word, not colour alone
    assert "1/2 passed" in html and "PARTIAL" in html  # areas
    assert "<h4>Reasons</h4>" in html
    assert ">fail</span>" in html and ">pass</span>" in html  # status as text in the results table
    assert "<code>google.app</code>" in html and "1 of 2 blocking checks pass" in html
    assert "Results: 1 not passing of 2" in html
    assert html.index("<details><summary>Passing: 1</summary>") < html.index("<code>env.vars</code>")  # folded
    assert_safe(html)


@pytest.mark.parametrize("decision", list(Decision), ids=lambda d: d.value)
def test_verdict_draws_word_colour_areas_and_reasons(decision):
    html = make_run(decision).verdict._repr_html_()
    assert CLASS[decision] in html and f">{decision.value}" in html
    assert "1/2 passed" in html
    assert_safe(html)


def make_report(decision: Decision) -> Report:
    area = AreaStatus(1, "oauth", f"OAuth {HOSTILE}", "critical", "PARTIAL", 1, 2, "", "", [])
    return Report(
        story="STORY-ONB-05", title=f"Onboarding {HOSTILE}", issue_url="", release_manager="Rohan",
        run=make_run(decision), summary=f"summary {HOSTILE}", areas=[area], risks=[], escalations=[],
        escalation_rules=[], contacts=[], actions=[], milestones=[], changes=Changes("none", None),
        next_review=date(2025, 10, 24), next_review_title="", decision_point=date(2025, 10, 20),
        decision_text="", generated_at=AT, checkpoints=[], item_titles={},
    )  # fmt: skip


@pytest.mark.parametrize("decision", list(Decision), ids=lambda d: d.value)
def test_report_draws_the_status_line(decision):
    report = make_report(decision)
    html = report._repr_html_()
    assert CLASS[decision] in html
    assert f"STATUS: {report.status_line}" in html and decision.value in report.status_line
    assert "1. OAuth" in html and "1/2 passed" in html
    assert ">fail</span>" in html
    assert_safe(html)


def test_check_history_frame_wrapper_draws_newest_first_and_escapes():
    frame = pd.DataFrame(
        {
            "run_id": ["r1", "r2"],
            "started_at": pd.to_datetime(["2025-10-06 06:00", "2025-10-07 06:00"], utc=True),
            "status": ["fail", "pass"],
            "severity": ["blocking", "blocking"],
            "waived": [True, False],
            "summary": [f"old {HOSTILE}", "now fine"],
            "remediation": ["", ""],
            "duration_ms": [12.0, 30.0],
        }
    )
    html = CheckHistory(f"google.app{HOSTILE}", frame)._repr_html_()
    assert_safe(html)
    assert html.index("2025-10-07 06:00") < html.index("2025-10-06 06:00")
    assert "1 of 2 runs passed" in html and ">waived</span>" in html
    assert 'Now <span class="badge pass">pass</span>' in html


def test_check_history_from_the_store(tmp_path):
    from checks.presentation import analysis

    url = f"sqlite:///{tmp_path / 'h.db'}"
    with Store.open(url) as store:
        store.record_run(make_run(Decision.NO_GO))
        history = analysis.check_history(store, "google.app")
        empty = analysis.check_history(store, "nothing.here")
    assert list(history.frame["status"]) == ["fail"]
    html = history._repr_html_()
    assert_safe(html)
    assert 'Now <span class="badge fail">fail</span>' in html
    assert "No recorded result" in empty._repr_html_()


def test_history_or_demo_reads_recorded_runs_and_says_so(tmp_path):
    from checks.shell import notebook

    url = f"sqlite:///{tmp_path / 'h.db'}"
    with Store.open(url) as store:
        store.record_run(make_run(Decision.GO))
    history = notebook.history_or_demo(url)
    try:
        assert history.source == "recorded"
        assert history.note.startswith(f"History: the runs recorded in {url}") and "GO" in history.note
        assert history.store.latest_run() is not None
    finally:
        history.close()


def test_history_or_demo_with_run_sweep_sweeps_first_instead_of_the_demo(tmp_path, monkeypatch):
    from checks.shell import notebook

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'none' / 'h.db'}"
    history = notebook.history_or_demo(url, run_sweep=True)
    try:
        assert history.source == "sweep"
        assert history.note == (
            f"No history in {url}: sweeping now (run_sweep=True) with this process's environment, recorded there"
        )
        assert not (tmp_path / ".readiness").exists()  # no demo built
    finally:
        history.close()


def test_looking_for_history_creates_no_database(tmp_path, monkeypatch):
    from checks.shell.notebook import _has_runs

    assert not _has_runs(f"sqlite:///{tmp_path / 'missing.db'}")
    assert not (tmp_path / "missing.db").exists()
    url = "postgresql+psycopg://u:hunter2@db.example/x"
    from checks.shell.notebook import _shown

    assert "hunter2" not in _shown(url)


def test_sweep_runs_inside_a_running_event_loop(tmp_path):
    """A Jupyter kernel runs an event loop in the cell's thread: ``checks.sweep(...)`` must still work there."""
    import asyncio

    from checks import load_manifest, sweep

    async def in_a_cell():
        return sweep(load_manifest(ROOT_MANIFEST), record=False, environ={}, env_file=str(tmp_path / "none.env"))

    run = asyncio.run(in_a_cell())
    assert run.results and "verdict" in run._repr_html_()
