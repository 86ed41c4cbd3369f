"""What ``readiness check`` and ``readiness history`` print on a terminal or into a CI log.

Laid out to read at 80 columns as well as wide: one line per check (``STATUS  id  (severity)``) with its
summary wrapped and indented below, grouped by area; the verdict with its counts at the end. Ids, run ids
and dates are never cut; summaries wrap, never truncate.

Every string from outside (provider answers, manifest titles, ids) goes into a :class:`rich.text.Text`,
which rich never parses as markup: a summary naming ``[oauth_apps.microsoft]`` prints it as written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.text import Text

from checks.core.run import Decision, Run
from checks.core.status import Severity

__all__ = ["print_history", "print_check_history", "print_run", "verdict_line"]

STATUS_STYLE = {
    "pass": "green",
    "warn": "yellow",
    "pending": "cyan",
    "skipped": "dim",
    "fail": "red",
    "error": "magenta",
}
VERDICT_STYLE = {"GO": "bold white on green", "CONDITIONAL": "bold black on yellow", "NO-GO": "bold white on red"}
INDENT = 4  # continuation lines of the footer
ROW = 2  # a check's line under its area's heading
SUMMARY = 6  # a check's summary under its line
LABEL = 9  # the widest status label, "SKIPPED"/"PENDING", and two spaces
MEASURE = 120  # wider than this, wrapped prose gets hard to follow


def verdict_line(run: Run) -> str:
    """The verdict with its counts, e.g. ``NO-GO: 17 of 17 blocking checks open``.

    ``open`` means not passing (``pass`` and ``warn`` pass) and not covered by a waiver in force.
    """
    blocking = [r for r in run.results if r.severity is Severity.BLOCKING]
    gaps = [r for r in blocking if not r.status.ok]
    waived = sum(1 for r in gaps if r.waived)
    open_ = len(gaps) - waived
    noun = "blocking check" if len(blocking) == 1 else "blocking checks"
    decision = run.verdict.decision
    if decision is Decision.GO:
        if not blocking:
            return "GO: no blocking check in this run"
        return f"GO: all {len(blocking)} {noun} pass"
    if decision is Decision.CONDITIONAL:
        return f"CONDITIONAL: {len(gaps)} of {len(blocking)} {noun} open, all {len(gaps)} covered by a waiver"
    more = f", {waived} more waived" if waived else ""
    return f"{decision.value}: {open_} of {len(blocking)} {noun} open{more}"


def print_run(console: Console, run: Run) -> None:
    """Every check by area, then the verdict, the open blocking checks, waivers, escalations, the run id."""
    v = run.verdict
    by_area: dict[str, list[Any]] = {}
    for r in run.results:
        by_area.setdefault(r.area, []).append(r)
    titles = {a.id: a for a in v.areas}
    order = [a.id for a in v.areas] + [a for a in by_area if a not in titles]
    first = True
    for area_id in order:
        results = by_area.get(area_id)
        if not results:
            continue
        if not first:
            console.print()
        first = False
        area = titles.get(area_id)
        heading = Text(area.title if area else area_id, style="bold")
        if area is not None:
            heading.append(f"  {area.state}: {area.tally}", style="bold")
        _wrapped(console, heading, 0)
        for r in results:
            _print_result(console, r)

    console.print()
    decision = v.decision.value
    line = verdict_line(run)
    text = Text(decision, style=VERDICT_STYLE.get(decision, "bold"))
    text.append(line[len(decision) :], style="bold")
    _wrapped(console, text, 0)
    ordered = [r for area_id in order for r in by_area.get(area_id, [])]
    open_ids = [r.id for r in ordered if r.severity is Severity.BLOCKING and not r.status.ok and not r.waived]
    if open_ids:
        _wrapped(console, Text("open: " + ", ".join(open_ids)), INDENT, hanging=True)
    for reason in v.reasons:
        if reason.startswith("Waived until "):  # checks.core.verdict.decide's words for a waiver in force
            _wrapped(console, Text(reason), INDENT, hanging=True)
    majors = [r for r in ordered if r.severity is Severity.MAJOR and not r.status.ok and not r.waived]
    if majors:
        noun = "check is" if len(majors) == 1 else "checks are"
        _wrapped(console, Text(f"{len(majors)} major {noun} not passing (they do not block)"), INDENT, hanging=True)
    for e in v.escalations:
        esc = Text("ESCALATE ", style="bold red")
        esc.append(f"{e.title or e.rule}: {e.item} since {e.since.date().isoformat()} → {e.contact}")
        _wrapped(console, esc, INDENT, hanging=True)
    _wrapped(console, Text(f"run {run.id}", style="dim"), 0)


def _print_result(console: Console, r: Any) -> None:
    status = r.status.value
    head = Text(" " * ROW)
    head.append(status.upper(), style=STATUS_STYLE.get(status, ""))
    head.append(" " * (LABEL - len(status)))
    head.append(r.id, style="bold")
    head.append(f"  ({r.severity.value}{', waived' if r.waived else ''})", style="dim")
    _wrapped(console, head, ROW + LABEL, hanging=True)
    if r.result.summary:
        _wrapped(console, Text(r.result.summary), SUMMARY)


def _wrapped(console: Console, text: Text, indent: int, *, hanging: bool = False) -> None:
    """Print ``text`` wrapped at the console's width, each line indented by ``indent`` columns.

    With ``hanging`` the first line is printed as it is (it carries its own indent) and only the
    continuation lines are indented. No line is padded with trailing spaces.
    """
    width = max(min(console.width, MEASURE), 40)
    text = text.copy()
    text.overflow = "fold"  # a word longer than the line (a URL) is folded, never cut
    if hanging:
        first_width = width
        lines = list(text.wrap(console, first_width))
        if len(lines) > 1:
            for line in lines:
                line.rstrip()
            rest = Text(" ").join(lines[1:])
            lines = lines[:1] + list(rest.wrap(console, width - indent))
        for n, line in enumerate(lines):
            line.rstrip()
            console.print(Text(" " * indent) + line if n else line, soft_wrap=True, highlight=False)
        return
    for line in text.wrap(console, width - indent):
        line.rstrip()
        console.print(Text(" " * indent) + line, soft_wrap=True, highlight=False)


def print_history(console: Console, frame: Any) -> None:
    """Runs, newest first: start time (UTC, to the minute), verdict, blocking and overall passing, run id."""
    header = f"{'started (UTC)':16}  {'verdict':11} {'blocking':>8} {'passing':>7}  run"
    console.print(Text(header, style="bold"), soft_wrap=True, highlight=False)
    for row in _newest_first(frame):
        blocking = f"{row['blocking_passed']}/{row['blocking_total']}"
        passing = f"{row['passed']}/{row['total']}"
        line = f"{_when(row['started_at']):16}  {row['verdict']:11} {blocking:>8} {passing:>7}  {row['run_id']}"
        text = Text(line)
        text.stylize(VERDICT_STYLE.get(str(row["verdict"]), ""), 18, 18 + len(str(row["verdict"])))
        console.print(text, soft_wrap=True, highlight=False)


def print_check_history(console: Console, check_id: str, frame: Any) -> None:
    """One check's results, newest first: when, status (waived), run id, then the summary wrapped below."""
    _wrapped(console, Text(f"history of {check_id}, newest first", style="bold"), INDENT, hanging=True)
    for row in _newest_first(frame):
        status = str(row["status"])
        head = Text(_when(row["started_at"]) + "  ")
        head.append(status.upper() + (" (waived)" if row["waived"] else ""), style=STATUS_STYLE.get(status, ""))
        head.append(f"  run {row['run_id']}", style="dim")
        _wrapped(console, head, INDENT, hanging=True)
        if row["summary"]:
            _wrapped(console, Text(str(row["summary"])), INDENT)


def _newest_first(frame: Any) -> Iterable[dict[str, Any]]:
    """The frame's rows as dicts, newest first (the loaders return oldest first)."""
    rows: list[dict[str, Any]] = frame.to_dict("records")
    return rows[::-1]


def _when(value: Any) -> str:
    if not hasattr(value, "strftime"):
        return str(value)
    try:
        return str(value.strftime("%Y-%m-%d %H:%M"))
    except ValueError:  # NaT
        return "-"
