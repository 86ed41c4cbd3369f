"""The checkpoint report, from history made by the real engine over three scripted weeks.

Week 0 (Oct 6): nothing registered, only the existing GHL proxy configured (the seed's state).
Week 1 (Oct 11): apps created, Google submitted, sandboxes requested, vault design in review; the
variables set, except the GHL proxy key, which regressed to a placeholder; the GHL check waived.
Week 2 (Oct 18): approvals, vault live, development configured; Twilio denied a sandbox.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from checks import Attestation, FixedClock, ReadinessError, Waiver, load_manifest, parse_manifest, sweep
from checks.presentation.report_build import build_report, record_checkpoint
from checks.presentation.report_html import render_html
from checks.presentation.report_markdown import render_markdown
from checks.storage.history import Store
from tests.valid_env import VALID_ENV

ROOT = Path(__file__).resolve().parents[2]
# The frozen env+manual manifest: exact counts, no network (see the fixture header).
MANIFEST = load_manifest(ROOT / "tests" / "fixtures" / "story_manifest.toml")
W0 = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)
W1 = datetime(2025, 10, 11, 9, 0, tzinfo=UTC)
W2 = datetime(2025, 10, 18, 9, 0, tzinfo=UTC)
PROXY_ONLY = {k: VALID_ENV[k] for k in ("GHL_PROXY_URL", "GHL_PROXY_API_KEY")}
SANDBOXES = ["google_workspace", "microsoft365", "retell", "twilio", "ghl"]

# The seed's section headings, in the order the report writes them (the seed's "Escalation Points"
# section is "Escalations" here, next to the risks it escalates).
SEED_HEADINGS = [
    "# STORY-ONB-05 Infrastructure Prerequisites Assessment",
    "## Executive Summary",
    "## Detailed Assessment",
    "### 1. OAuth Application Registrations",
    "#### Google OAuth application",
    "#### Microsoft OAuth application",
    "#### GHL OAuth proxy",
    "### 2. Token Vault Service Architecture",
    "### 3. Provider Sandbox Accounts",
    "### 4. Development Environment Setup",
    "## Risk Analysis",
    "### Critical Path Risks",
    "### Dependency Risks",
    "## Escalations",
    "## Immediate Action Plan",
    "## Success Criteria",
    "### Week 1 Completion",
    "### Week 2 Completion",
    "## Changes Since Last Checkpoint",
]


# ------------------------------------------------------------------------------------- the story


@pytest.fixture
def store(db_url):
    s = Store.open(db_url)
    yield s
    s.close()


def run_at(store, at, environ):
    # os.devnull is not a regular file, so no .env next to the manifest leaks into the run
    return sweep(MANIFEST, store=store, clock=FixedClock(at), environ=environ, env_file=os.devnull)


def attest(store, item, status, at, effective=None):
    store.add_attestation(Attestation(item, status, "rohan", at, note="", effective=effective))


def week0(store, checkpoint=True):
    run = run_at(store, W0, PROXY_ONLY)
    if checkpoint:
        record_checkpoint(MANIFEST, store, title="Week 0", now=W0 + timedelta(hours=1))
    return run


def week1(store, checkpoint=False):
    day = datetime(2025, 10, 8, 10, 0, tzinfo=UTC)
    attest(store, "oauth.google", "submitted", day, effective=date(2025, 10, 7))
    attest(store, "oauth.microsoft", "created", day)
    attest(store, "vault.security_review", "in_review", day)
    for sb in SANDBOXES:
        attest(store, f"sandbox.{sb}", "requested", day)
    store.add_waiver(Waiver("oauth.ghl.validated", "proxy validated next week", "rohan", W2 + timedelta(days=2), day))
    run = run_at(store, W1, {**VALID_ENV, "GHL_PROXY_API_KEY": "changeme"})
    if checkpoint:
        record_checkpoint(MANIFEST, store, title="Week 1", now=W1 + timedelta(hours=1))
    return run


def week2(store):
    day = datetime(2025, 10, 15, 10, 0, tzinfo=UTC)
    for item, status in [
        ("oauth.google", "approved"),
        ("oauth.microsoft", "approved"),
        ("vault.security_review", "approved"),
        ("vault.service", "implemented"),
        ("environment.variables", "configured"),
        ("environment.dev_team", "active"),
    ]:
        attest(store, item, status, day)
    for sb in SANDBOXES:
        attest(store, f"sandbox.{sb}", "denied" if sb == "twilio" else "operational", day)
    return run_at(store, W2, VALID_ENV)


def section(md: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    start = md.index(heading + "\n") + len(heading) + 1
    stop = re.compile(rf"^#{{1,{len(level)}}} |^---$", re.M).search(md, start)
    return md[start : stop.start() if stop else len(md)]


def box(md: str, text: str) -> str:
    found = re.findall(rf"^- \[([ x])\] {re.escape(text)}$", md, re.M)
    assert len(found) == 1, f"criterion {text!r} appears {len(found)} times"
    return found[0]


# ------------------------------------------------------------------------------------ markdown


def test_markdown_has_the_seed_sections_in_order(store):
    week0(store, checkpoint=False)
    md = render_markdown(build_report(MANIFEST, store, now=W0))
    headings = [line for line in md.splitlines() if line.startswith("#")]
    positions = [headings.index(h) for h in SEED_HEADINGS]
    assert positions == sorted(positions), headings
    assert "**Release Manager**: release_manager.rohan-patel" in md
    assert "**Assessment Date**: 2025-10-06" in md
    assert "[#19](https://github.com/raming/max-ai-platform/issues/19) STORY-ONB-05 — Portal Connect Accounts" in md
    assert "**STATUS: 🔴 NO-GO" in md
    oauth = section(md, "### 1. OAuth Application Registrations")
    assert "**Status**: 🔴 NOT STARTED - HIGH PRIORITY (0 passed, 2 not checked, 3 failing of 5)" in oauth
    assert "**Impact**: Blocks development work on issues #65 and #66" in oauth
    assert "**Timeline Required**: 5-10 business days" in oauth
    google = section(md, "#### Google OAuth application")
    assert "- **Status**: ❌ NOT STARTED" in google
    assert "- **Blocks**: #65, #66" in google and "- **Owner**: Platform Team" in google
    assert "- **Expected Duration**: 3-7 business days" in google
    assert "- **Contingency**: Implement mock OAuth flows for initial development" in google
    assert "`oauth.google.submitted` (blocking): No attestation for oauth.google yet" in google
    assert "`https://www.googleapis.com/auth/calendar.readonly`" in google
    assert "**Next Review**: Oct 11, 2025 - Infrastructure status checkpoint" in md
    assert (
        "**Critical Decision Point**: Go/No-go for development team work beginning Week 2 (Oct 13, 2025, in 7 days)"
        in md
    )
    assert "No earlier checkpoint" in section(md, "## Changes Since Last Checkpoint")


def test_criteria_boxes_follow_the_results(store):
    run_at(store, W0, {})
    md = render_markdown(build_report(MANIFEST, store, now=W0))
    assert box(md, "Google OAuth application created and submitted for verification") == " "
    assert all(c.met is False for c in build_report(MANIFEST, store, now=W0).run.verdict.criteria)

    at = W0 + timedelta(hours=2)
    attest(store, "oauth.google", "submitted", at)
    attest(store, "vault.security_review", "in_review", at)  # pending: its check does not pass
    for sb in SANDBOXES[:-1]:  # four of five sandboxes: the criterion needs every matching check
        attest(store, f"sandbox.{sb}", "requested", at)
    run_at(store, at + timedelta(minutes=5), {})
    report = build_report(MANIFEST, store, now=at)
    md = render_markdown(report)
    assert box(md, "Google OAuth application created and submitted for verification") == "x"
    assert box(md, "Token vault architecture designed and approved by security team") == " "
    assert box(md, "Microsoft OAuth application created and configured") == " "
    assert box(md, "Provider sandbox accounts requested and setup initiated") == " "
    for crit in report.run.verdict.criteria:  # every box is the verdict's own
        assert box(md, crit.text) == ("x" if crit.met else " ")
    html = render_html(report)
    assert '<input type="checkbox" disabled checked>Google OAuth application created and submitted' in html
    assert '<input type="checkbox" disabled>Token vault architecture designed and approved' in html

    attest(store, "sandbox.ghl", "requested", at + timedelta(minutes=10))
    run_at(store, at + timedelta(minutes=15), {})
    md = render_markdown(build_report(MANIFEST, store, now=at))
    assert box(md, "Provider sandbox accounts requested and setup initiated") == "x"


def test_changes_between_checkpoints(store):
    week0(store)
    week1(store)
    report = build_report(MANIFEST, store, now=W1)
    ch = report.changes
    assert ch.baseline is not None and "checkpoint #" in ch.baseline.label and '"Week 0"' in ch.baseline.label
    assert {"oauth.google.submitted", "env.GOOGLE_OAUTH_CLIENT_ID"} <= {c.check for c in ch.newly_green}
    assert [c.check for c in ch.regressed] == ["env.GHL_PROXY_API_KEY"]
    assert [c.check for c in ch.newly_waived] == ["oauth.ghl.validated"]
    assert {c.check for c in ch.still_blocking} == {"vault.security_review.approved", "environment.dev_configured"}

    md = render_markdown(report)
    changes = section(md, "## Changes Since Last Checkpoint")
    assert "Compared with checkpoint #" in changes and "NO-GO → NO-GO" in changes
    assert "`oauth.google.submitted` (blocking): ❌ fail → ✅ pass" in section(changes, "### Newly Green")
    assert "`env.GHL_PROXY_API_KEY` (blocking): ✅ pass → ❌ fail" in section(changes, "### Regressed")
    assert "`oauth.ghl.validated`" in section(changes, "### Newly Waived")
    assert "`environment.dev_configured`" in section(changes, "### Still Blocking")
    assert "`env.GHL_PROXY_API_KEY`" not in section(changes, "### Still Blocking")

    # The meeting records week 1's checkpoint; the report still compares with the one before.
    record_checkpoint(MANIFEST, store, title="Week 1", now=W1 + timedelta(hours=1))
    again = build_report(MANIFEST, store, now=W1 + timedelta(hours=2)).changes
    assert again.baseline is not None and '"Week 0"' in again.baseline.label

    week2(store)
    ch = build_report(MANIFEST, store, now=W2).changes
    assert ch.baseline is not None and '"Week 1"' in ch.baseline.label
    assert {"env.GHL_PROXY_API_KEY", "vault.security_review.approved", "oauth.google.approved"} <= {
        c.check for c in ch.newly_green
    }
    assert [c.check for c in ch.regressed] == ["sandbox.twilio.requested"]  # requested, then denied
    assert ch.newly_waived == []
    assert ch.still_blocking == []


def test_under_a_pinned_clock_the_previous_checkpoint_is_the_earlier_recorded_run(store):
    # Every run starts at the same instant (the demo's clock); the checkpoint is taken after the first.
    week0(store)
    again = run_at(store, W0, PROXY_ONLY)
    md = render_markdown(build_report(MANIFEST, store, run=again.id, now=W0 + timedelta(hours=2)))
    changes = section(md, "## Changes Since Last Checkpoint")
    assert 'Compared with checkpoint #1 "Week 0"' in changes and "NO-GO → NO-GO" in changes


def test_since_a_date_compares_with_the_last_run_before_it(store):
    week0(store, checkpoint=False)
    week1(store)
    report = build_report(MANIFEST, store, since=date(2025, 10, 8), now=W1)
    assert report.changes.baseline is not None
    assert "the last run before 2025-10-08" in report.changes.baseline.label
    assert [c.check for c in report.changes.regressed] == ["env.GHL_PROXY_API_KEY"]
    md = render_markdown(report)
    assert "## Changes Since 2025-10-08" in md and "`env.GHL_PROXY_API_KEY`" in section(md, "### Regressed")

    early = build_report(MANIFEST, store, since=date(2025, 10, 1), now=W1)
    assert early.changes.baseline is None and "No run recorded before 2025-10-01" in render_markdown(early)
    none = build_report(MANIFEST, store, since=None, now=W1)
    assert none.changes.baseline is None and "Not compared" in render_markdown(none)


def test_escalations_risks_and_actions_follow_the_state(store):
    week0(store)
    md = render_markdown(build_report(MANIFEST, store, now=W0))
    assert "None in force." in section(md, "### In Force")
    assert "1. **URGENT - OAuth Applications** (owner: Platform Team):" in md
    assert "**Google OAuth Approval Delays** (in force)" in md

    week1(store)
    week2(store)
    report = build_report(MANIFEST, store, now=W2)
    md = render_markdown(report)
    assert report.decision.value == "CONDITIONAL"  # only the waived GHL proxy check is open
    assert "**STATUS: 🟡 CONDITIONAL - 1 BLOCKING GAP(S) WAIVED**" in md
    in_force = section(md, "### In Force")
    assert "🚨 **Provider Account Blocks** (Twilio development account) since 2025-10-15" in in_force
    assert "contact Platform Team" in in_force
    assert "**Google OAuth Approval Delays** (retired: its items are green)" in md
    assert "**Multi-Provider Integration Timing** (in force)" in md
    actions = section(md, "## Immediate Action Plan")
    assert "OAuth Applications" not in actions and "Token Vault Design" not in actions
    assert "**Provider Outreach** (owner: Platform Team)" in actions
    assert "_Open_: Twilio development account" in actions


def test_an_overdue_google_verification_escalates(store):
    attest(store, "oauth.google", "submitted", W0, effective=date(2025, 10, 1))
    run_at(store, W1, {})
    in_force = section(render_markdown(build_report(MANIFEST, store, now=W1)), "### In Force")
    assert "🚨 **OAuth Approval Delays** (Google OAuth application) since 2025-10-01" in in_force
    assert "If Google/Microsoft approval takes >7 days; contact Platform Team" in in_force


def test_no_secret_value_reaches_the_report(store):
    week0(store)
    week1(store, checkpoint=True)
    run_at(store, W1 + timedelta(hours=3), {**VALID_ENV, "TWILIO_AUTH_TOKEN": VALID_ENV["TWILIO_AUTH_TOKEN"][:12]})
    report = build_report(MANIFEST, store, now=W1 + timedelta(hours=4))
    md, html = render_markdown(report), render_html(report, store)
    secrets = [VALID_ENV[n] for n in VALID_ENV if (var := MANIFEST.env_var(n)) is not None and var.is_secret]
    assert len(secrets) >= 5
    for value in [*VALID_ENV.values(), VALID_ENV["TWILIO_AUTH_TOKEN"][:12]]:
        assert value not in md and value not in html, value


def test_html_is_one_offline_page_with_the_trend_chart(store):
    week0(store)
    week1(store, checkpoint=True)
    week2(store)
    report = build_report(MANIFEST, store, now=W2)
    html = render_html(report, store)
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert 'id="trend-chart"' in html and 'class="plotly-graph-div"' in html and "Plotly.newPlot" in html
    assert get_plotlyjs()[:300] in html  # plotly.js itself, inline
    assert not re.search(r"<script[^>]*\bsrc=", html), "no external script"
    assert "<link" not in html and "cdn.plot.ly" not in html.replace(get_plotlyjs(), "")
    for title in ["Executive Summary", "Detailed Assessment", "Risk Analysis", "Escalations"]:
        assert f"<h2>{title}</h2>" in html
    for title in ["Immediate Action Plan", "Success Criteria", "Changes Since Last Checkpoint"]:
        assert f"<h2>{title}</h2>" in html
    assert "STATUS: CONDITIONAL - 1 BLOCKING GAP(S) WAIVED" in html
    assert "Week 0" in html and "Week 1" in html  # the checkpoint markers' labels
    # Without a store the chart falls back to the checkpoints and the report's own run.
    assert 'id="trend-chart"' in render_html(report)


def test_a_report_needs_a_run(store):
    with pytest.raises(ReadinessError, match=r"run `readiness check` first"):
        build_report(MANIFEST, store)
    week0(store, checkpoint=False)
    with pytest.raises(ReadinessError, match="no run with id nope"):
        build_report(MANIFEST, store, run="nope")


def test_a_checkpoint_freezes_the_run_waivers_and_attestations(store):
    week0(store)
    week1(store)
    cp = record_checkpoint(MANIFEST, store, now=W1 + timedelta(hours=1))
    latest = store.latest_run()
    assert cp.run_id == latest.id and cp.manifest_digest == MANIFEST.digest
    assert cp.title == "Infrastructure status checkpoint 2025-10-11"
    assert [w["check"] for w in cp.snapshot["waivers"]] == ["oauth.ghl.validated"]
    assert {a["item"] for a in cp.snapshot["attestations"]} >= {"oauth.google", "sandbox.twilio"}
    assert len(cp.snapshot["results"]) == len(latest.results)
    # Report on an older run: compared with nothing older than it.
    old = build_report(MANIFEST, store, run=store.runs()[-1].id, now=W1)
    assert old.run.started_at == W0 and old.changes.baseline is None


def test_a_run_under_another_manifest_is_flagged(store):
    edited = parse_manifest((ROOT / "readiness.toml").read_text() + "\n# edited\n", source="edited.toml")
    sweep(edited, store=store, clock=FixedClock(W0), environ={}, env_file=os.devnull)
    assert "> **Note**: The manifest has changed since this run" in render_markdown(build_report(MANIFEST, store))
    run_at(store, W1, {})
    assert "manifest has changed" not in render_markdown(build_report(MANIFEST, store))


# ------------------------------------------------------------------------------------------ CLI


def readiness(*args, cwd):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOOGLE_", "MICROSOFT_", "RETELL_", "TWILIO_", "TOKEN_VAULT_", "GHL_", "READINESS_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "checks.shell.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        timeout=120,
    )


def test_cli_report_and_checkpoint_need_a_run(tmp_path, db_url):
    manifest = str(ROOT / "readiness.toml")
    for command in ("report", "checkpoint"):
        proc = readiness(command, "--manifest", manifest, "--db", db_url, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert "no runs recorded yet: run `readiness check` first" in proc.stderr


def test_cli_checkpoint_then_report_to_files(tmp_path, db_url):
    with Store.open(db_url) as store:
        week0(store)
        week1(store)
    manifest = str(ROOT / "readiness.toml")
    proc = readiness("checkpoint", "--title", "Week 1", "--manifest", manifest, "--db", db_url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert '"Week 1"' in proc.stdout and "NO-GO" in proc.stdout and "8 attestations" in proc.stdout

    out = tmp_path / "reports" / "week1.md"
    proc = readiness("report", "--manifest", manifest, "--db", db_url, "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    md = out.read_text(encoding="utf-8")
    assert md.startswith("# STORY-ONB-05 Infrastructure Prerequisites Assessment\n")
    assert '"Week 0"' in section(md, "## Changes Since Last Checkpoint")  # week 1's own checkpoint is skipped
    assert f"wrote {out}" in proc.stdout.replace("\n", "")

    html = tmp_path / "week1.html"
    proc = readiness(
        "report", "--format", "html", "-o", str(html), "--db", db_url, "--manifest", manifest, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert 'id="trend-chart"' in html.read_text(encoding="utf-8")

    proc = readiness("report", "--since", "2025-10-08", "--db", db_url, "--manifest", manifest, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "## Changes Since 2025-10-08" in proc.stdout
    for value in VALID_ENV.values():
        assert value not in proc.stdout

    proc = readiness("report", "--since", "last week", "--db", db_url, "--manifest", manifest, cwd=tmp_path)
    assert proc.returncode == 2 and "expected a date as YYYY-MM-DD" in proc.stderr


# ------------------------------------------------------------------ provider text in Markdown is inert


@pytest.mark.parametrize(
    "hostile, must_not",
    [
        ("<img src=x onerror=alert(1)>", "<img"),
        ("<!-- hide --> text", "<!--"),
        ("[click me](https://evil.example/phish)", "](https://"),
        ("**urgent** _now_", "**urgent**"),
        ("| a | b |\n# heading", "| a |"),
        ("see https://evil.example/x for details", " https://evil.example/x "),
        ("`code` breaks out", "`code`"),
    ],
)
def test_md_text_neutralises_provider_markup(hostile, must_not):
    from checks.presentation.formats import md_text

    out = md_text(hostile)
    assert must_not not in out
    assert "\n" not in out


def test_md_text_keeps_the_words():
    from checks.presentation.formats import md_text

    out = md_text("Twilio said: account suspended (code 20403) - contact support")
    for word in ("Twilio said", "account suspended", "code 20403", "contact support"):
        assert word in out
