"""The checkpoint report as one self-contained HTML page: inline CSS, the same sections as the Markdown,
and a Plotly chart of the share of blocking checks passing over time with the checkpoints marked.

plotly.js is embedded in the page (no CDN), so the file opens offline and sends no request. Status is
drawn with CSS badges rather than emoji, which a headless or locked-down machine may lack fonts for.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from checks.presentation.html_parts import STATE_CLASS, VERDICT_CLASS
from checks.presentation.html_parts import badge as _badge
from checks.presentation.html_parts import esc as _e
from checks.presentation.report import MANIFEST_CHANGED, Change, Report, day_text

if TYPE_CHECKING:
    import plotly.graph_objects as go  # type: ignore[import-untyped]  # plotly ships no type hints

    from checks.storage.history import Store

__all__ = ["render_html", "trend_figure"]

VERDICT_COLOR = {"GO": "#1a7f37", "CONDITIONAL": "#bf8700", "NO-GO": "#cf222e"}

CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#f6f8fa; --pass:#1a7f37; --warn:#9a6700;
  --pending:#0969da; --skipped:#6e7781; --fail:#cf222e; --error:#8250df; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--fg);
  background: #fff; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 8px; }
h2 { font-size: 21px; border-bottom: 1px solid var(--line); padding-bottom: 6px; margin: 36px 0 14px; }
h3 { font-size: 17px; margin: 24px 0 8px; }
h4 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: var(--muted); display: flex; flex-wrap: wrap; gap: 4px 22px; margin: 0; }
.meta b { color: var(--fg); font-weight: 600; }
.verdict { border-radius: 8px; padding: 14px 18px; color: #fff; font-size: 20px; font-weight: 700;
  letter-spacing: .3px; }
.verdict.go { background: var(--pass); } .verdict.conditional { background: #bf8700; }
.verdict.nogo { background: var(--fail); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(230px, 1fr)); gap: 12px; margin: 16px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; background: var(--bg); }
.card .t { font-weight: 600; margin-bottom: 6px; }
.bar { height: 6px; background: var(--line); border-radius: 3px; overflow: hidden; margin-top: 8px; }
.bar i { display: block; height: 100%; background: var(--pass); }
.badge { display: inline-block; border-radius: 10px; padding: 0 9px; font-size: 12px; font-weight: 700; color: #fff;
  white-space: nowrap; line-height: 20px; vertical-align: 1px; }
.pass { background: var(--pass); } .warn { background: var(--warn); } .pending { background: var(--pending); }
.skipped { background: var(--skipped); } .fail { background: var(--fail); } .error { background: var(--error); }
.muted { color: var(--muted); }
ul.reasons { padding-left: 20px; margin: 8px 0; } ul.reasons li { margin: 2px 0; }
.area-line { margin: 4px 0; }
.item { border-left: 3px solid var(--line); padding: 2px 0 2px 14px; margin: 12px 0 18px; }
.item.green { border-left-color: var(--pass); }
dl.facts { display: grid; grid-template-columns: 170px 1fr; gap: 2px 12px; margin: 6px 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; } dl.facts ul { margin: 0; padding-left: 18px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; font-size: 14px; }
th, td { text-align: left; border-bottom: 1px solid var(--line); padding: 5px 8px; vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.change { white-space: nowrap; }
code { font: 13px ui-monospace, "DejaVu Sans Mono", monospace; background: var(--bg); padding: 1px 4px;
  border-radius: 4px; }
.tag { font-size: 12px; border: 1px solid var(--line); border-radius: 10px; padding: 0 8px; color: var(--muted); }
.tag.on { border-color: var(--fail); color: var(--fail); }
ul.boxes { list-style: none; padding-left: 0; } ul.boxes li { margin: 4px 0; }
ul.boxes input { margin-right: 8px; }
.chart { border: 1px solid var(--line); border-radius: 8px; padding: 4px; }
footer { margin-top: 36px; border-top: 1px solid var(--line); padding-top: 12px; }
"""


def trend_figure(points: list[tuple[datetime, float, str]], report: Report) -> go.Figure:
    """Share (%) of blocking checks passing per run, coloured by verdict, with a marker per checkpoint."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[p[0] for p in points],
            y=[p[1] for p in points],
            mode="lines+markers",
            name="blocking checks passing",
            line={"color": "#57606a", "width": 2},
            marker={"color": [VERDICT_COLOR.get(p[2], "#57606a") for p in points], "size": 7},
            text=[p[2] for p in points],
            hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>%{y:.0f}% passing<br>%{text}<extra></extra>",
        )
    )
    marks = [m for m in report.checkpoints if m.blocking_total]
    if marks:
        fig.add_trace(
            go.Scatter(
                x=[_naive(m.at) for m in marks],
                y=[100 * m.blocking_passed / m.blocking_total for m in marks],
                mode="markers+text",
                name="checkpoints",
                marker={"symbol": "diamond", "size": 13, "color": "#0969da", "line": {"color": "#fff", "width": 1}},
                text=[m.title for m in marks],
                textposition="top center",
                hovertemplate="%{text}<br>%{x|%Y-%m-%d %H:%M} UTC<br>%{y:.0f}% passing<extra>checkpoint</extra>",
            )
        )
        for m in marks:
            fig.add_shape(
                type="line",
                x0=_naive(m.at),
                x1=_naive(m.at),
                y0=0,
                y1=1,
                yref="paper",
                line={"color": "#0969da", "width": 1, "dash": "dot"},
            )
    fig.update_layout(
        template="plotly_white",
        height=340,
        margin={"l": 50, "r": 20, "t": 30, "b": 40},
        yaxis={"title": {"text": "blocking checks passing (%)"}, "range": [0, 110], "ticksuffix": "%"},
        xaxis={"title": {"text": "UTC"}},
        legend={"orientation": "h", "y": 1.12, "x": 0},
        showlegend=True,
    )
    return fig


def _naive(at: datetime) -> datetime:
    return at.replace(tzinfo=None)  # every stored time is UTC; plotly.js ignores offsets anyway


def _points(report: Report, store: Store | None) -> list[tuple[datetime, float, str]]:
    """Every run up to the report's (from the store), else the checkpoints and the report's own run."""
    if store is not None:
        import pandas as pd

        from checks.storage.frames import runs_frame

        frame = runs_frame(store)
        frame = frame[(frame["started_at"] <= pd.Timestamp(report.run.started_at)) & (frame["blocking_total"] > 0)]
        return [
            (ts.to_pydatetime().replace(tzinfo=None), 100.0 * bp / bt, str(v))
            for ts, bp, bt, v in zip(
                frame["started_at"], frame["blocking_passed"], frame["blocking_total"], frame["verdict"], strict=True
            )
        ]
    pts = [
        (_naive(m.at), 100.0 * m.blocking_passed / m.blocking_total, m.verdict)
        for m in report.checkpoints
        if m.blocking_total and m.run_id != report.run.id
    ]
    passed, total = report.blocking
    if total:
        pts.append((_naive(report.run.started_at), 100.0 * passed / total, report.decision.value))
    return sorted(pts)


def _chart(report: Report, store: Store | None) -> str:
    fig = trend_figure(_points(report, store), report)
    # include_plotlyjs=True embeds plotly.js itself (the "inline" mode): no CDN, the page works offline.
    return str(
        fig.to_html(
            full_html=False,
            include_plotlyjs=True,
            include_mathjax=False,
            div_id="trend-chart",
            default_height="340px",
            config={"displaylogo": False, "responsive": True},
        )
    )


def _change_row(c: Change, titles: dict[str, str]) -> str:
    before = _badge(c.before) if c.before else '<span class="muted">new</span>'
    waived = ' <span class="tag">waived</span>' if c.waived else ""
    return (
        f"<tr><td>{_e(titles.get(c.item, c.item))}</td><td><code>{_e(c.check)}</code></td>"
        f'<td>{_e(c.severity.value)}</td><td class="change">{before} → {_badge(c.after)}{waived}</td>'
        f"<td>{_e(c.summary)}</td></tr>"
    )


def render_html(report: Report, store: Store | None = None) -> str:
    """The page. With ``store`` the chart shows every run up to the report's; without, the checkpoints."""
    r, run = report, report.run
    h: list[str] = []
    add = h.append
    issue = r.issue_url.rstrip("/").rsplit("/", 1)[-1]
    link = f"#{issue} {r.story}" if issue.isdigit() else r.story
    story = f'<a href="{_e(r.issue_url)}">{_e(link)}</a>' if r.issue_url else _e(r.story)
    add(f'<header><h1>{_e(r.heading)}</h1><p class="meta">')
    add(f"<span><b>Release Manager</b>: {_e(r.release_manager)}</span>")
    add(f"<span><b>Assessment Date</b>: {r.assessment_date.isoformat()}</span>")
    add(f"<span><b>Story</b>: {story} — {_e(r.title)}</span>")
    add(f"<span><b>Run</b>: <code>{_e(run.id[:12])}</code> {run.started_at:%Y-%m-%d %H:%M} UTC</span></p></header>")

    if r.manifest_changed:
        add(f'<p class="muted"><b>Note</b>: {_e(MANIFEST_CHANGED)}</p>')
    add('<section id="executive-summary"><h2>Executive Summary</h2>')
    add(f'<div class="verdict {VERDICT_CLASS[r.decision]}" id="verdict">STATUS: {_e(r.status_line)}</div>')
    add(f'<p>{_e(r.summary)}</p><div class="cards">')
    for a in r.areas:
        share = 100 * a.passed / a.total if a.total else 0
        add(
            f'<div class="card"><div class="t">{a.number}. {_e(a.title)}</div>'
            f"{_badge(STATE_CLASS.get(a.state, 'fail'), a.state)} "
            f'<span class="muted">{_e(str(a.tally))}</span>'
            f'<div class="bar"><i style="width:{share:.0f}%"></i></div></div>'
        )
    add("</div>")
    add(f'<h3>Blocking checks passing over time</h3><div class="chart">{_chart(r, store)}</div>')
    if r.reasons:
        add('<h3>Reasons</h3><ul class="reasons">' + "".join(f"<li>{_e(x)}</li>" for x in r.reasons) + "</ul>")
    add("</section>")

    add('<section id="detailed-assessment"><h2>Detailed Assessment</h2>')
    for a in r.areas:
        add(f"<h3>{a.number}. {_e(a.title)}</h3>")
        state = _badge(STATE_CLASS.get(a.state, "fail"), a.state)
        add(f'<p class="area-line"><b>Status</b>: {state} {_e(a.priority_line)}</p>')
        add(f'<p class="area-line"><b>Impact</b>: {_e(a.impact)}</p>')
        if a.timeline:
            add(f'<p class="area-line"><b>Timeline Required</b>: {_e(a.timeline)}</p>')
        for i in a.items:
            add(f'<div class="item{" green" if i.green else ""}"><h4>{_e(i.title)}</h4><dl class="facts">')
            cls = STATE_CLASS.get(i.state, "skipped")
            add(f"<dt>Status</dt><dd>{_badge(cls, i.state)} {_e(i.detail)}</dd>")
            facts: list[tuple[str, str | list[str]]] = [("Blocks", ", ".join(i.blocks)), ("Owner", i.owner)]
            facts += [("Expected Duration", i.expected), ("Mitigation", i.mitigation), ("Contingency", i.contingency)]
            for label, value in [*facts, *i.details]:
                if not value:
                    continue
                if isinstance(value, list):
                    body = "<ul>" + "".join(f"<li><code>{_e(v.strip('`'))}</code></li>" for v in value) + "</ul>"
                else:
                    body = _e(value)
                add(f"<dt>{_e(label)}</dt><dd>{body}</dd>")
            add("</dl>")
            if i.checks:
                add("<table><tr><th>Status</th><th>Check</th><th>Severity</th><th>Summary</th></tr>")
                for c in i.checks:
                    waived = ' <span class="tag">waived</span>' if c.waived else ""
                    add(
                        f"<tr><td>{_badge(c.status)}{waived}</td><td><code>{_e(c.id)}</code></td>"
                        f"<td>{_e(c.severity.value)}</td><td>{_e(c.summary)}</td></tr>"
                    )
                add("</table>")
            add("</div>")
    add("</section>")

    add('<section id="risk-analysis"><h2>Risk Analysis</h2>')
    for category, heading in [("critical_path", "Critical Path Risks"), ("dependency", "Dependency Risks")]:
        risks = [k for k in r.risks if k.category == category]
        if not risks:
            continue
        add(f"<h3>{heading}</h3><ol>")
        for k in risks:
            tag = '<span class="tag on">in force</span>' if k.in_force else '<span class="tag">retired</span>'
            add(f"<li><b>{_e(k.title)}</b> {tag} {_e(k.text)}<ul>")
            for label, value in [
                ("Mitigation", k.mitigation),
                ("Contingency", k.contingency),
                ("Impact", k.impact),
                ("Resolution", k.resolution),
                ("Open", ", ".join(k.open_items)),
            ]:
                if value:
                    add(f"<li><b>{label}</b>: {_e(value)}</li>")
            add("</ul></li>")
        add("</ol>")
    add("</section>")

    add('<section id="escalations"><h2>Escalations</h2><h3>In Force</h3>')
    if r.escalations:
        add("<ul>")
        for e in r.escalations:
            item = r.item_titles.get(e.item, e.item)
            add(
                f"<li>{_badge('fail', 'ESCALATE')} <b>{_e(e.title or e.rule)}</b> ({_e(item)}) since "
                f"{e.since.date().isoformat()}: {_e(e.text)}; contact <b>{_e(e.contact)}</b></li>"
            )
        add("</ul>")
    else:
        add("<p>None in force.</p>")
    rules = "".join(f"<li><b>{_e(t)}</b>: {_e(x)} ({_e(c)})</li>" for t, x, c in r.escalation_rules)
    add(f"<h3>Escalation Rules</h3><ul>{rules}")
    add("</ul><h3>Escalation Contacts</h3><ul>" + "".join(f"<li><b>{_e(n)}</b>: {_e(s)}</li>" for n, s in r.contacts))
    add("</ul></section>")

    add('<section id="immediate-action-plan"><h2>Immediate Action Plan</h2>')
    milestones = {m.id: m for m in r.milestones}
    if not r.actions:
        add("<p>Nothing open: every action's items are green.</p>")
    for ms_id in dict.fromkeys(a.milestone for a in r.actions):
        ms = milestones.get(ms_id)
        due = f" (due {day_text(ms.due)})" if ms and ms.due else ""
        add(f"<h3>{_e(ms.title if ms else ms_id)}{_e(due)}</h3><ol>")
        for act in [a for a in r.actions if a.milestone == ms_id]:
            urgent = _badge("fail", "URGENT") + " " if act.urgent else ""
            owners = f' <span class="muted">owner: {_e(", ".join(act.owners))}</span>' if act.owners else ""
            add(f"<li>{urgent}<b>{_e(act.title)}</b>{owners}<ul>" + "".join(f"<li>{_e(s)}</li>" for s in act.steps))
            if act.open_items:
                add(f"<li><i>Open</i>: {_e(', '.join(act.open_items))}</li>")
            add("</ul></li>")
        add("</ol>")
    add("</section>")

    add('<section id="success-criteria"><h2>Success Criteria</h2>')
    for ms in r.milestones:
        add(f'<h3>{_e(ms.title)}</h3><ul class="boxes">')
        for crit in ms.criteria:
            checked = " checked" if crit.met else ""
            add(f'<li><label><input type="checkbox" disabled{checked}>{_e(crit.text)}</label></li>')
        add("</ul>")
    add("</section>")

    ch = r.changes
    heading = "Changes Since Last Checkpoint" if ch.since in ("checkpoint", "none") else f"Changes Since {ch.since}"
    add(f'<section id="changes"><h2>{_e(heading)}</h2>')
    if ch.baseline is None:
        add(f"<p>{_e(ch.note)}</p>")
    else:
        label = ch.baseline.label.replace("`", "")
        add(f"<p>Compared with {_e(label)}: {_e(ch.baseline.verdict)} → {_e(r.decision.value)}.</p>")
        for title, changes in [
            ("Newly Green", ch.newly_green),
            ("Regressed", ch.regressed),
            ("Newly Waived", ch.newly_waived),
            ("Still Blocking", ch.still_blocking),
        ]:
            add(f"<h3>{title}</h3>")
            if not changes:
                add('<p class="muted">None.</p>')
                continue
            add("<table><tr><th>Item</th><th>Check</th><th>Severity</th><th>Change</th><th>Now</th></tr>")
            add("".join(_change_row(c, r.item_titles) for c in changes) + "</table>")
    add("</section>")

    review = f" - {r.next_review_title}" if r.next_review_title else ""
    add(f"<footer><p><b>Next Review</b>: {_e(day_text(r.next_review) + review)}<br>")
    when = f"{day_text(r.decision_point)}, {r.decision_when}"
    add(f"<b>Critical Decision Point</b>: {_e(r.decision_text or 'Go/No-go')} ({_e(when)})</p>")
    add(
        f'<p class="muted"><i>Assessment regenerated from run <code>{_e(run.id[:12])}</code> on '
        f"{r.generated_at:%Y-%m-%d %H:%M} UTC for {_e(r.release_manager)}</i></p></footer>"
    )
    title = f"{r.heading}: {r.decision.value}"
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_e(title)}</title>'
        f"<style>{CSS}</style></head><body><main>\n" + "\n".join(h) + "\n</main></body></html>\n"
    )
