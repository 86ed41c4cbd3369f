"""The checkpoint report in Markdown, with the seed's headings, for an issue tracker: :func:`render_markdown`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from checks.presentation.formats import STATUS_ICON, md_text

if TYPE_CHECKING:
    pass

from checks.presentation.report import DECISION_ICON, MANIFEST_CHANGED, Change, Report, day_text

__all__ = ["render_markdown"]


def _cell(text: str) -> str:
    return md_text(text)


def _change_line(c: Change, titles: Mapping[str, str]) -> str:
    before = f"{STATUS_ICON[c.before]} {c.before.value}" if c.before else "new"
    return (
        f"- **{titles.get(c.item, c.item)}** `{c.check}` ({c.severity.value}): {before} → "
        f"{STATUS_ICON[c.after]} {c.after.value}{' (waived)' if c.waived else ''}: {_cell(c.summary)}"
    )


def render_markdown(report: Report) -> str:
    """The report as GitHub-flavoured Markdown with the seed's sections and headings, in the seed's order."""
    r, run = report, report.run
    issue = r.issue_url.rstrip("/").rsplit("/", 1)[-1]
    story = f"[#{issue}]({r.issue_url}) " if r.issue_url and issue.isdigit() else ""
    out = [
        f"# {r.heading}",
        "",
        f"**Release Manager**: {r.release_manager}  ",
        f"**Assessment Date**: {r.assessment_date.isoformat()}  ",
        f"**Story**: {story}{r.story} — {r.title}  ",
        f"**Run**: `{run.id[:12]}` ({run.started_at:%Y-%m-%d %H:%M} UTC, {len(run.results)} checks)",
        "",
        *([f"> **Note**: {MANIFEST_CHANGED}", ""] if r.manifest_changed else []),
        "## Executive Summary",
        "",
        f"**STATUS: {DECISION_ICON[r.decision]} {r.status_line}**",
        "",
        _cell(r.summary),
        "",
    ]
    if r.reasons:
        out += ["**Reasons**:", ""] + [f"- {_cell(reason)}" for reason in r.reasons] + [""]
    out += ["## Detailed Assessment", ""]
    for a in r.areas:
        out += [f"### {a.number}. {a.title}", f"**Status**: {a.icon} {a.status_line}  ", f"**Impact**: {a.impact}  "]
        if a.timeline:
            out.append(f"**Timeline Required**: {a.timeline}")
        out[-1] = out[-1].rstrip()
        out.append("")
        for i in a.items:
            out += [f"#### {i.title}", f"- **Status**: {i.icon} {i.words}"]
            if i.blocks:
                out.append(f"- **Blocks**: {', '.join(i.blocks)}")
            out.append(f"- **Owner**: {i.owner}")
            for label, text in [("Expected Duration", i.expected), ("Mitigation", i.mitigation)]:
                if text:
                    out.append(f"- **{label}**: {text}")
            if i.contingency:
                out.append(f"- **Contingency**: {i.contingency}")
            for label, value in i.details:
                if isinstance(value, list):
                    out += [f"- **{label}**:"] + [f"  - {v}" for v in value]
                else:
                    out.append(f"- **{label}**: {_cell(value)}")
            if i.checks:
                out.append("- **Checks**:")
                for c in i.checks:
                    flag = " (waived)" if c.waived else ""
                    status = f"{STATUS_ICON[c.status]} {c.status.value}{flag}"
                    out.append(f"  - {status} `{c.id}` ({c.severity.value}): {_cell(c.summary)}")
            out.append("")
    out += ["## Risk Analysis", ""]
    for category, heading in [("critical_path", "Critical Path Risks"), ("dependency", "Dependency Risks")]:
        risks = [k for k in r.risks if k.category == category]
        if not risks:
            continue
        out += [f"### {heading}"]
        for n, k in enumerate(risks, start=1):
            state = "in force" if k.in_force else "retired: its items are green"
            text = f": {k.text}" if k.text else ""
            out.append(f"{n}. **{k.title}** ({state}){text}")
            for label, value in [
                ("Mitigation", k.mitigation),
                ("Contingency", k.contingency),
                ("Impact", k.impact),
                ("Resolution", k.resolution),
            ]:
                if value:
                    out.append(f"   - **{label}**: {value}")
            if k.open_items:
                out.append(f"   - **Open**: {', '.join(k.open_items)}")
            out.append("")
    out += ["## Escalations", "", "### In Force"]
    if r.escalations:
        for e in r.escalations:
            what = f": {e.text}" if e.text else ""
            item = r.item_titles.get(e.item, e.item)
            since = e.since.date().isoformat()
            out.append(f"- 🚨 **{e.title or e.rule}** ({item}) since {since}{what}; contact {e.contact}")
    else:
        out.append("None in force.")
    out += ["", "### Escalation Rules"] + [f"- **{t}**: {x} ({c})" for t, x, c in r.escalation_rules]
    out += ["", "### Escalation Contacts"] + [f"- **{n}**: {s}" for n, s in r.contacts] + [""]
    out += ["## Immediate Action Plan", ""]
    titles = {m.id: m for m in r.milestones}
    if not r.actions:
        out += ["Nothing open: every action's items are green.", ""]
    for ms_id in dict.fromkeys(a.milestone for a in r.actions):
        ms = titles.get(ms_id)
        due = f" (due {day_text(ms.due)})" if ms and ms.due else ""
        out.append(f"### {ms.title if ms else ms_id}{due}")
        for n, act in enumerate([a for a in r.actions if a.milestone == ms_id], start=1):
            urgent = "URGENT - " if act.urgent else ""
            owners = f" (owner: {', '.join(act.owners)})" if act.owners else ""
            out.append(f"{n}. **{urgent}{act.title}**{owners}:")
            out += [f"   - {s}" for s in act.steps]
            if act.open_items:
                out.append(f"   - _Open_: {', '.join(act.open_items)}")
        out.append("")
    out += ["## Success Criteria", ""]
    for ms in r.milestones:
        out.append(f"### {ms.title}")
        out += [f"- [{'x' if c.met else ' '}] {c.text}" for c in ms.criteria]
        out.append("")
    out += _changes_md(r)
    review = f" - {r.next_review_title}" if r.next_review_title else ""
    out += [
        "---",
        "",
        f"**Next Review**: {day_text(r.next_review)}{review}  ",
        f"**Critical Decision Point**: {r.decision_text or 'Go/No-go'} "
        f"({day_text(r.decision_point)}, {r.decision_when})",
        "",
        f"*Assessment regenerated from run `{run.id[:12]}` on {r.generated_at:%Y-%m-%d %H:%M} UTC "
        f"for {r.release_manager}*",
    ]
    return "\n".join(out) + "\n"


def _changes_md(r: Report) -> list[str]:
    ch = r.changes
    heading = "Changes Since Last Checkpoint" if ch.since in ("checkpoint", "none") else f"Changes Since {ch.since}"
    out = [f"## {heading}", ""]
    if ch.baseline is None:
        return [*out, ch.note, ""]
    out += [f"Compared with {ch.baseline.label}: {ch.baseline.verdict} → {r.decision.value}.", ""]
    for title, changes in [
        ("Newly Green", ch.newly_green),
        ("Regressed", ch.regressed),
        ("Newly Waived", ch.newly_waived),
        ("Still Blocking", ch.still_blocking),
    ]:
        out.append(f"### {title}")
        out += [_change_line(c, r.item_titles) for c in changes] or ["None."]
        out.append("")
    return out
