"""Rich HTML for Jupyter: what ``_repr_html_`` of a Run, its Verdict, a Report and a check's history returns.

The dashboard's look in a cell: the verdict as a coloured banner that also carries the word (GO green,
CONDITIONAL amber, NO-GO red), the areas with passed/total, the reasons, and a results table whose status
is written out, never colour alone. Every string that came from outside (summaries, reasons, titles) is
HTML-escaped here; results are already scrubbed of secrets when they are made, and escaping is the
second line. The CSS is scoped under ``.readiness-nb`` so it does not restyle the notebook around it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checks.core.run import AreaSummary, Decision, Run, Verdict
from checks.core.status import Status
from checks.presentation.html_parts import STATE_CLASS, VERDICT_CLASS
from checks.presentation.html_parts import badge as _badge
from checks.presentation.html_parts import esc as _e

if TYPE_CHECKING:
    import pandas as pd

    from checks.core.result import CheckResult
    from checks.presentation.report import Report

__all__ = ["CheckHistory", "check_history_html", "report_html", "run_html", "verdict_html"]

CSS = """
.readiness-nb { --pass:#1a7f37; --warn:#9a6700; --pending:#0969da; --skipped:#6e7781; --fail:#cf222e;
  --error:#8250df; --line:#d1d9e0; --muted:#59636e; font: 14px/1.45 system-ui, -apple-system, "Segoe UI",
  "DejaVu Sans", sans-serif; color:#1f2328; max-width: 1080px; }
.readiness-nb .verdict { border-radius: 8px; padding: 10px 16px; color: #fff; font-size: 18px; font-weight: 700;
  margin: 4px 0 8px; }
.readiness-nb .verdict.go { background: var(--pass); } .readiness-nb .verdict.conditional { background: #bf8700; }
.readiness-nb .verdict.nogo { background: var(--fail); }
.readiness-nb .meta { color: var(--muted); margin: 2px 0 8px; }
.readiness-nb .areas { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.readiness-nb .area { border: 1px solid var(--line); border-radius: 8px; padding: 6px 10px; min-width: 200px;
  background: #f6f8fa; }
.readiness-nb .area .t { font-weight: 600; }
.readiness-nb .badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; font-weight: 700;
  color: #fff; white-space: nowrap; line-height: 19px; }
.readiness-nb .pass { background: var(--pass); } .readiness-nb .warn { background: var(--warn); }
.readiness-nb .pending { background: var(--pending); } .readiness-nb .skipped { background: var(--skipped); }
.readiness-nb .fail { background: var(--fail); } .readiness-nb .error { background: var(--error); }
.readiness-nb .tag { font-size: 12px; border: 1px solid var(--line); border-radius: 10px; padding: 0 7px;
  color: var(--muted); }
.readiness-nb table { border-collapse: collapse; width: 100%; margin: 6px 0; }
.readiness-nb th, .readiness-nb td { text-align: left; border-bottom: 1px solid var(--line); padding: 3px 8px;
  vertical-align: top; }
.readiness-nb th { color: var(--muted); font-weight: 600; } .readiness-nb td.when { white-space: nowrap; }
.readiness-nb code { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; }
.readiness-nb h3, .readiness-nb h4 { margin: 10px 0 4px; }
"""


def _frame(body: Iterable[str]) -> str:
    return f'<div class="readiness-nb"><style>{CSS}</style>' + "".join(body) + "</div>"


def _banner(decision: Decision, headline: str = "") -> str:
    # The word always leads the banner: the colour repeats it, it never replaces it.
    tail = f" · {_e(headline)}" if headline else ""
    cls = VERDICT_CLASS[decision]
    return f'<div class="verdict {cls}" title="verdict {_e(decision.value)}">{_e(decision.value)}{tail}</div>'


def _areas(areas: Sequence[AreaSummary]) -> str:
    if not areas:
        return ""
    cards = "".join(
        f'<div class="area"><div class="t">{_e(a.title)}</div>{_badge(STATE_CLASS.get(a.state, "fail"), a.state)} '
        f"<span>{a.passed}/{a.total} passed</span></div>"
        for a in areas
    )
    return f'<div class="areas">{cards}</div>'


def _reasons(reasons: Sequence[str]) -> str:
    if not reasons:
        return ""
    return "<h4>Reasons</h4><ul>" + "".join(f"<li>{_e(r)}</li>" for r in reasons) + "</ul>"


def _rows(results: Iterable[CheckResult]) -> str:
    rows = []
    for r in sorted(results, key=lambda r: (r.status.rank, r.severity.value, r.id)):
        waived = ' <span class="tag">waived</span>' if r.waived else ""
        rows.append(
            f"<tr><td>{_badge(r.status)}{waived}</td><td><code>{_e(r.id)}</code></td><td>{_e(r.area)}</td>"
            f"<td>{_e(r.severity.value)}</td><td>{_e(r.result.summary)}</td></tr>"
        )
    head = "<tr><th>Status</th><th>Check</th><th>Area</th><th>Severity</th><th>Summary</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _results(results: Sequence[CheckResult]) -> str:
    """Every result not passing, worst first; the passing ones folded below (a click opens them)."""
    if not results:
        return ""
    gaps = [r for r in results if r.status is not Status.PASS]
    passing = [r for r in results if r.status is Status.PASS]
    out = f"<h4>Results: {len(gaps)} not passing of {len(results)}</h4>" + (_rows(gaps) if gaps else "")
    if passing:
        out += f"<details><summary>Passing: {len(passing)}</summary>{_rows(passing)}</details>"
    return out


def _blocking_line(results: Sequence[CheckResult]) -> str:
    blocking = [r for r in results if r.severity.value == "blocking"]
    passed = sum(1 for r in blocking if r.status.ok)
    return f"{passed} of {len(blocking)} blocking checks pass" if blocking else ""


def verdict_html(verdict: Verdict) -> str:
    """The verdict alone: the banner, the areas (passed/total) and the reasons."""
    waived = f"{len(verdict.waived)} waived" if verdict.waived else ""
    return _frame([_banner(verdict.decision, waived), _areas(verdict.areas), _reasons(verdict.reasons)])


def run_html(run: Run) -> str:
    """A sweep: the verdict banner, when it ran, the areas, the reasons and every result (worst first)."""
    v = run.verdict
    meta = (
        f'<p class="meta">Run <code>{_e(run.id[:12])}</code> · {run.started_at:%Y-%m-%d %H:%M} UTC · '
        f"{_e(run.trigger)} · {len(run.results)} checks</p>"
    )
    body = [_banner(v.decision, _blocking_line(run.results)), meta, _areas(v.areas), _reasons(v.reasons)]
    return _frame([*body, _results(run.results)])


def report_html(report: Report) -> str:
    """The checkpoint report, compact: heading, STATUS line, summary, areas, reasons, results.

    The full page with every section is :func:`checks.presentation.report_html.render_html`
    (``analysis.write_html``)."""
    run = report.run
    head = f"<h3>{_e(report.heading)}</h3>"
    meta = (
        f'<p class="meta">{_e(report.story)} · {_e(report.title)} · run <code>{_e(run.id[:12])}</code> of '
        f"{run.started_at:%Y-%m-%d %H:%M} UTC · release manager {_e(report.release_manager)}</p>"
    )
    banner = f'<div class="verdict {VERDICT_CLASS[report.decision]}">STATUS: {_e(report.status_line)}</div>'
    cards = "".join(
        f'<div class="area"><div class="t">{a.number}. {_e(a.title)}</div>'
        f"{_badge(STATE_CLASS.get(a.state, 'fail'), a.state)} <span>{a.passed}/{a.total} passed</span></div>"
        for a in report.areas
    )
    areas = f'<div class="areas">{cards}</div>' if cards else ""
    body = [head, meta, banner, f"<p>{_e(report.summary)}</p>", areas, _reasons(report.reasons)]
    return _frame([*body, _results(run.results)])


@dataclass(frozen=True)
class CheckHistory:
    """One check's recorded history (:func:`checks.storage.frames.check_frame`), drawn as a table in a notebook.

    ``frame`` holds the data (``run_id``, ``started_at``, ``status``, ``severity``, ``waived``, ``summary``,
    ...), oldest first; :func:`checks.presentation.analysis.check_history` makes one."""

    check_id: str
    frame: pd.DataFrame
    limit: int = 50
    """At most this many runs (the latest) are drawn; ``frame`` keeps them all."""

    def _repr_html_(self) -> str:
        return check_history_html(self)


def check_history_html(history: CheckHistory) -> str:
    """The latest status as a badge, then one row per run, newest first: when, status, waived, summary."""
    f = history.frame
    title = f"<h4>History of <code>{_e(history.check_id)}</code></h4>"
    if f.empty:
        return _frame([title, "<p>No recorded result for this check.</p>"])
    latest = str(f["status"].iloc[-1])
    passed = sum(1 for s in f["status"] if Status(str(s)).ok)
    meta = f'<p class="meta">Now {_badge(latest)} · {passed} of {len(f)} runs passed</p>'
    rows = []
    recent = f.iloc[::-1].head(history.limit)
    for at, status, waived_, summary, ms in zip(
        recent["started_at"], recent["status"], recent["waived"], recent["summary"], recent["duration_ms"], strict=True
    ):
        waived = ' <span class="tag">waived</span>' if bool(waived_) else ""
        rows.append(
            f'<tr><td class="when">{at:%Y-%m-%d %H:%M}</td><td>{_badge(str(status))}{waived}</td>'
            f"<td>{_e(summary)}</td><td>{float(ms):.0f}</td></tr>"
        )
    head = "<tr><th>Run (UTC)</th><th>Status</th><th>Summary</th><th>ms</th></tr>"
    return _frame([title, meta, f"<table>{head}{''.join(rows)}</table>"])
