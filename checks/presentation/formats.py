"""Renderings of a :class:`~checks.core.run.Run` for ``readiness check --format``: json, junit, markdown.

The ``table`` format is drawn with rich in :mod:`checks.shell.cli`.
"""

from __future__ import annotations

import json
import re

from checks.core.result import CheckResult
from checks.core.run import Run
from checks.core.status import Status

__all__ = ["to_json", "to_junit", "to_markdown", "md_text", "STATUS_ICON"]

STATUS_ICON = {
    Status.PASS: "✅",
    Status.WARN: "🟡",
    Status.PENDING: "⏳",
    Status.SKIPPED: "⏭️",
    Status.FAIL: "❌",
    Status.ERROR: "⚠️",
}


def to_json(run: Run) -> str:
    return json.dumps(run.to_json(), indent=2, ensure_ascii=False, default=str)


def to_junit(run: Run) -> str:
    """JUnit XML: one testsuite per area, one testcase per check.

    ``fail`` is a failure, ``error`` an error, ``pending`` and ``skipped`` are skipped; ``warn`` passes.
    A waived gap is reported as skipped with the waiver in the message, so a CI gate reads it as not failing.
    """
    import xml.etree.ElementTree as ET  # only the JUnit format needs it

    suites = ET.Element("testsuites", name=f"readiness {run.verdict.decision.value}")
    by_area: dict[str, list[CheckResult]] = {}
    for r in run.results:
        by_area.setdefault(r.area, []).append(r)
    total_failures = total_errors = total_tests = 0
    for area, results in by_area.items():
        suite = ET.SubElement(suites, "testsuite", name=area, timestamp=run.started_at.isoformat())
        failures = errors = skipped = 0
        for r in results:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"readiness.{area}.{r.item}",
                name=r.id,
                time=f"{r.result.duration_ms / 1000:.3f}",
            )
            message = r.result.summary
            if r.waived:
                ET.SubElement(case, "skipped", message=f"waived: {message}")
                skipped += 1
            elif r.status is Status.FAIL:
                el = ET.SubElement(case, "failure", message=message, type=r.severity.value)
                el.text = r.result.remediation
                failures += 1
            elif r.status is Status.ERROR:
                el = ET.SubElement(case, "error", message=message, type=r.severity.value)
                el.text = r.result.remediation
                errors += 1
            elif r.status in (Status.PENDING, Status.SKIPPED):
                ET.SubElement(case, "skipped", message=f"{r.status.value}: {message}")
                skipped += 1
            out = ET.SubElement(case, "system-out")
            out.text = json.dumps(r.result.evidence, ensure_ascii=False, default=str)
        suite.set("tests", str(len(results)))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", str(skipped))
        total_failures += failures
        total_errors += errors
        total_tests += len(results)
    suites.set("tests", str(total_tests))
    suites.set("failures", str(total_failures))
    suites.set("errors", str(total_errors))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]()#!|~{}+-])")
_URL = re.compile(r"(?i)\b(?:https?|ftp|mailto|javascript|data):[^\s]*|\bwww\.[^\s]+")


def md_text(text: str) -> str:
    """Text from outside (a summary, a reason, a provider's message) as inert Markdown on one line.

    HTML is entity-escaped (no tag, no comment, no image survives), Markdown punctuation is backslash-
    escaped (no emphasis, link, heading, table cell or list breaks out), and anything URL-shaped is shown
    in a code span, so a tracker cannot turn a provider's text into a link.
    """
    flat = re.sub(r"\s+", " ", text).strip()
    out, pos = [], 0
    for m in _URL.finditer(flat):
        out.append(_md_plain(flat[pos : m.start()]))
        out.append("`" + m.group(0).replace("`", "'") + "`")
        pos = m.end()
    out.append(_md_plain(flat[pos:]))
    return "".join(out)


def _md_plain(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _cell(text: str) -> str:
    return md_text(text)


def to_markdown(run: Run) -> str:
    """A Markdown summary that pastes into an issue tracker."""
    v = run.verdict
    lines = [
        f"## Readiness: **{v.decision.value}**",
        "",
        f"Run `{run.id[:12]}` finished {run.finished_at.strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
    ]
    if v.reasons:
        lines += ["### Reasons", ""] + [f"- {_cell(r)}" for r in v.reasons] + [""]
    lines += ["### Areas", "", "| Area | State | Checks |", "|---|---|---|"]
    lines += [f"| {a.title} | {a.state} | {a.tally} |" for a in v.areas]
    lines += ["", "### Checks", "", "| | Check | Severity | Summary |", "|---|---|---|---|"]
    for r in run.results:
        waived = " (waived)" if r.waived else ""
        status = f"{STATUS_ICON[r.status]} {r.status.value}{waived}"
        lines.append(f"| {status} | `{r.id}` | {r.severity.value} | {_cell(r.result.summary)} |")
    if v.escalations:
        lines += ["", "### Escalations", ""]
        lines += [
            f"- **{e.title or e.rule}** ({e.item}) since {e.since.date().isoformat()}: contact {e.contact}"
            for e in v.escalations
        ]
    if v.criteria:
        lines += ["", "### Success criteria", ""]
        for c in v.criteria:
            lines.append(f"- [{'x' if c.met else ' '}] {c.milestone}: {_cell(c.text)}")
    return "\n".join(lines) + "\n"
