"""The demo: three scripted weeks made by the real sweeps against the real stand-ins (checks.shell.demo), and the
``readiness standins`` command.

The story is built once per module into a temporary directory, sweeping every 12 hours (the demo itself
sweeps every 6) to keep the module fast.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from checks import load_manifest
from checks.core.status import Severity, Status
from checks.shell.demo import build_demo, db_url, demo_dashboard_env, demo_info
from checks.shell.demo_story import DB_FILE, END, START, apply_phase, story_environment
from checks.standins import DEMO_SECRET_VARIABLES, demo_config, demo_environment, demo_server
from checks.storage.history import Store

ROOT = Path(__file__).resolve().parents[2]
STEP = 12.0
AREAS = [
    "OAuth Application Registrations",
    "Token Vault Service Architecture",
    "Provider Sandbox Accounts",
    "Development Environment Setup",
]


class Demo:
    def __init__(self, directory: Path, server, progress: list, seconds: float) -> None:
        self.directory = directory
        self.server = server
        self.progress = progress
        self.seconds = seconds
        self.config = demo_config(directory)
        self.store = Store.open(db_url(directory))
        self.summaries = list(reversed(self.store.runs()))  # oldest first

    def run_at(self, at: datetime):
        """The last run started at or before ``at``."""
        chosen = [s for s in self.summaries if s.started_at <= at][-1]
        return self.store.get_run(chosen.id)

    def result(self, run, check_id: str):
        return next(r for r in run.results if r.id == check_id)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo") / "demo"
    progress: list = []
    started = time.monotonic()
    with demo_server(directory) as server:
        build_demo(
            directory, server=server, step_hours=STEP, manifest=ROOT / "readiness.toml", on_progress=progress.append
        )
        d = Demo(directory, server, progress, time.monotonic() - started)
        try:
            yield d
        finally:
            d.store.close()


def day(month_day: str, hour: int = 0) -> datetime:
    month, dd = (int(x) for x in month_day.split("-"))
    return datetime(2025, month, dd, hour, tzinfo=UTC)


# ------------------------------------------------------------------------------------------------- history


def test_runs_span_the_three_weeks(demo):
    # written out, not asked of checks.shell.demo.schedule: every 12 hours from Oct 6 06:00 to Oct 17 18:00,
    # plus the two checkpoints that fall between sweeps (Oct 6 and Oct 11 at noon; Week 2's is the last sweep)
    times = sorted(
        [day(f"10-{d:02d}", h) for d in range(6, 18) for h in (6, 18)] + [day("10-06", 12), day("10-11", 12)]
    )
    assert len(times) == 26
    assert [s.started_at for s in demo.summaries] == times
    assert demo.summaries[0].started_at == START and demo.summaries[-1].started_at == END
    assert {s.trigger for s in demo.summaries} == {"demo"}
    sweeps = [p for p in demo.progress if p.verdict is not None]
    assert [p.done for p in sweeps] == list(range(1, len(times) + 1))
    assert demo_info(demo.directory)["runs"] == len(times)


def test_week0_is_the_seeds_no_go(demo):
    run = demo.run_at(day("10-06", 6))
    assert run.verdict.decision.value == "NO-GO"
    reasons = "\n".join(run.verdict.reasons)
    for name in (
        "GOOGLE_OAUTH_CLIENT_ID",
        "GOOGLE_OAUTH_CLIENT_SECRET",
        "MICROSOFT_OAUTH_CLIENT_ID",
        "MICROSOFT_TENANT_ID",
    ):
        assert f"{name} is not set" in reasons
    assert "Google OAuth application [fail] oauth.google.submitted: oauth.google: not_created" in reasons
    assert "Microsoft OAuth application [fail] oauth.microsoft.created: oauth.microsoft: not_created" in reasons
    # the GHL proxy exists already (the seed's "EXISTING - NEEDS VALIDATION"): its probe passes from day one
    assert demo.result(run, "oauth.ghl.proxy").status is Status.PASS
    states = {a.title: a.state for a in run.verdict.areas}
    assert list(states) == AREAS
    assert states["OAuth Application Registrations"] == "PARTIAL"
    assert states["Provider Sandbox Accounts"] == "NOT STARTED"


def test_week1_apps_created_staging_uri_missing_then_fixed(demo):
    oct9 = demo.run_at(day("10-09", 6))
    staging = demo.result(oct9, "oauth.google.redirect.staging")
    assert staging.status is Status.FAIL
    assert "redirect_uri_mismatch" in staging.result.summary and "staging" in staging.result.summary
    assert demo.result(oct9, "oauth.google.client").status is Status.PASS
    assert demo.result(oct9, "oauth.google.redirect.dev").status is Status.PASS
    assert demo.result(oct9, "oauth.google.approved").status is Status.PENDING
    oct10 = demo.run_at(day("10-10", 18))
    assert demo.result(oct10, "oauth.google.redirect.staging").status is Status.PASS
    assert demo.result(oct10, "vault.security_review.approved").status is Status.PASS
    # Business Profile access waits on Google's approval: quota 0, 429 RESOURCE_EXHAUSTED
    assert demo.result(oct10, "oauth.google.apis").status is Status.PENDING


def test_week1_checkpoint_is_no_go_for_the_ghl_proxy_and_the_environment(demo):
    run = demo.run_at(day("10-11", 12))
    assert run.verdict.decision.value == "NO-GO"
    gaps = {r.id for r in run.results if r.severity is Severity.BLOCKING and not r.status.ok}
    assert gaps == {"oauth.ghl.validated", "environment.dev_configured"}


def test_week2_ends_conditional_with_the_ghl_waiver(demo):
    run = demo.run_at(END)
    v = run.verdict
    assert v.decision.value == "CONDITIONAL"
    assert v.waived == ["oauth.ghl.validated"]
    blocking = [r for r in run.results if r.severity is Severity.BLOCKING]
    assert [r.id for r in blocking if not r.status.ok] == ["oauth.ghl.validated"]
    assert any(r.startswith("Waived until 2025-10-24 by rohan-patel: oauth.ghl.validated") for r in v.reasons)
    # the vault is live: the Workspace calendar probe reads the sandbox with the test account's token from it
    calendar = demo.result(run, "sandbox.google_workspace.calendar")
    assert calendar.status is Status.PASS, calendar.result.summary
    assert calendar.result.evidence["token_fingerprint"].startswith("hmac:")
    assert demo.result(run, "oauth.google.apis").status is Status.PASS
    assert demo.result(run, "sandbox.ghl.locations").status is Status.PASS
    assert demo.result(run, "sandbox.retell.agents").status is Status.PASS
    twilio = demo.result(run, "sandbox.twilio.account")
    assert twilio.status is Status.FAIL and "suspended" in twilio.result.summary
    assert [(e.rule, e.item) for e in v.escalations] == [("provider_account_blocks", "sandbox.twilio")]
    assert demo_info(demo.directory)["verdict"] == "CONDITIONAL"


def test_escalations_appear_in_week2(demo):
    seen: dict[str, list[datetime]] = {}
    for s in demo.summaries:
        for e in demo.store.get_run(s.id).verdict.escalations:
            seen.setdefault(e.rule, []).append(s.started_at)
    # Google submitted on Oct 8, approved on Oct 16 at 15:00: more than 7 days in between
    # the only sweep of Oct 16 before 15:00 is the 06:00 one (sweeps every 12 hours from 06:00)
    assert seen["oauth_approval_delays"] == [day("10-16", 6)]
    assert min(seen["provider_account_blocks"]) >= day("10-14", 16)
    assert all(t >= day("10-13") for times in seen.values() for t in times)


def test_checkpoints_and_decisions(demo):
    cps = sorted(demo.store.checkpoints(), key=lambda cp: cp.at)
    assert [(cp.title, cp.at, cp.snapshot["verdict"]) for cp in cps] == [
        ("Week 0: the seed's assessment", day("10-06", 12), "NO-GO"),
        ("Week 1 checkpoint", day("10-11", 12), "NO-GO"),
        ("Week 2 checkpoint", END, "CONDITIONAL"),
    ]
    by_title = {cp.title: cp for cp in cps}
    assert by_title["Week 1 checkpoint"].decision == "NO-GO"
    assert by_title["Week 1 checkpoint"].decided_by == "rohan-patel"
    assert by_title["Week 2 checkpoint"].decision is None  # left for the demo's release manager
    assert [w["check"] for w in by_title["Week 2 checkpoint"].snapshot["waivers"]] == ["oauth.ghl.validated"]


def test_no_demo_secret_in_the_database_files(demo):
    google = demo.server.provider("oauth2.googleapis.com")
    secrets = [*demo.config.secret_values(), *google.issued_tokens()]
    assert len(secrets) >= 11
    files = [p for p in demo.directory.iterdir() if p.name.startswith(DB_FILE)]
    assert files
    blob = b"".join(p.read_bytes() for p in files)
    for secret in secrets:
        assert secret.encode() not in blob, f"a demo secret ({len(secret)} chars) is in the database files"
    # ...though the vault holds the test accounts' tokens there, sealed
    with Store.open(db_url(demo.directory)) as store, store.engine.connect() as conn:
        import sqlalchemy as sa

        assert conn.scalar(sa.text("select count(*) from credentials where state = 'active'")) == 2


def test_vault_key_file_is_private(demo):
    key = demo.directory / "vault.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert demo.config.vault_key in key.read_text()


def test_an_existing_demo_is_reused_and_the_standins_reach_the_final_state(demo):
    demo.server.provider("api.twilio.com").set_scenario("valid")
    build_demo(demo.directory, server=demo.server, step_hours=STEP, manifest=ROOT / "readiness.toml")
    assert len(demo.store.runs()) == len(demo.summaries)
    assert demo.server.provider("api.twilio.com").scenario == "suspended"


def test_story_phases_drive_the_standins(demo):
    env = story_environment(demo.server.url, demo.config, START)
    assert set(env) == {"READINESS_STANDINS_URL", "GHL_PROXY_URL", "GHL_PROXY_API_KEY"}
    apply_phase(demo.server, demo.config, START)
    client_id = demo.config.google_client_id
    answer = httpx.get(
        f"{demo.server.url}/accounts.google.com/o/oauth2/v2/auth",
        params={"client_id": client_id, "redirect_uri": "https://dev.maxai-platform.com/x", "scope": "openid"},
        follow_redirects=False,
    )
    assert "/signin/oauth/error" in answer.headers["location"]  # week 0: Google knows no such client
    apply_phase(demo.server, demo.config, END)
    assert demo.server.provider("api.twilio.com").scenario == "suspended"


def test_demo_environment_covers_the_manifest(tmp_path):
    manifest = load_manifest(ROOT / "readiness.toml")
    env = demo_environment("http://127.0.0.1:9", tmp_path / "d")
    required = {e.name for e in manifest.env if e.required}
    assert required <= set(env)
    assert env["GHL_PROXY_URL"] == "http://127.0.0.1:9/ghl-proxy.standin.local"
    assert set(DEMO_SECRET_VARIABLES) <= set(env)
    config = demo_config(tmp_path / "d")
    assert "***" in repr(config) and config.vault_key not in repr(config)
    dash = demo_dashboard_env(
        tmp_path / "d", "http://127.0.0.1:9", {"GOOGLE_OAUTH_CLIENT_SECRET": "mine", "PATH": "/bin"}
    )
    assert dash["GOOGLE_OAUTH_CLIENT_SECRET"] == config.google_client_secret and dash["PATH"] == "/bin"
    assert dash["READINESS_DASHBOARD_ROLE"] == "release_manager"


# ------------------------------------------------------------------------------------- readiness standins


def test_standins_command_serves_until_stopped(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("READINESS_", "GOOGLE_", "TOKEN_VAULT_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "checks.shell.cli", "standins", "--port", "0", "--dir", str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        first = proc.stdout.readline().decode()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", first)
        assert match, first
        url = match.group(1)
        health = httpx.get(f"{url}/_standins/health", timeout=5).json()
        assert health["ok"] is True and len(health["providers"]) == 13
        rest = b""
        deadline = time.monotonic() + 10
        while b"Ctrl-C" not in rest and time.monotonic() < deadline:
            rest += proc.stdout.readline()
        text = rest.decode()
        config = demo_config(tmp_path / "d")
        assert "export GHL_PROXY_URL=" in text and "--print-env" in text
        for secret in config.secret_values():
            assert secret not in first + text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_standins_print_env_is_evaluable(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "checks.shell.cli",
            "standins",
            "--print-env",
            "--port",
            "8765",
            "--dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    lines = [ln for ln in out.splitlines() if ln.startswith("export ")]
    assert out.startswith("# Readiness stand-ins at http://127.0.0.1:8765: demo-only fake credentials")
    env = subprocess.run(
        ["bash", "-c", out + "\nenv -0"], capture_output=True, text=True, check=True, env={"PATH": os.environ["PATH"]}
    ).stdout
    evaluated = dict(item.split("=", 1) for item in env.split("\0") if item)
    key_file = (tmp_path / "d" / "vault.key").read_text().splitlines()
    (vault_key,) = [ln for ln in key_file if ln and not ln.startswith("#")]  # the one generated value
    expected = {  # the demo story's fixed, fake values, pointing at the port asked for
        "READINESS_STANDINS_URL": "http://127.0.0.1:8765",
        "GOOGLE_OAUTH_CLIENT_ID": "480215637902-rd3m0onlyfakeclient7q2x.apps.googleusercontent.com",
        "GOOGLE_OAUTH_CLIENT_SECRET": "GOCSPX-DemoOnlyNotReal_k3Yq9Lw2Pz7Vb",
        "GOOGLE_CLOUD_PROJECT": "maxai-readiness",
        "GOOGLE_SERVICE_USAGE_TOKEN": "ya29.a0DemoOnlyServiceUsageNotReal4f8e2c1a9b",
        "MICROSOFT_OAUTH_CLIENT_ID": "c2d9e4f1-7a36-4b8c-9e05-d1a2b3c4e5f6",
        "MICROSOFT_OAUTH_CLIENT_SECRET": "Qm8~DemoOnlyNotReal.u5Tk2Hy7Wc3Rn9Lp4Xs6Zd",
        "MICROSOFT_TENANT_ID": "3f6c2a9e-8b41-4d7a-a5e2-91c0d4b7e6f3",
        "RETELL_API_KEY": "key_d3m0NotReal7c4e1a9f5b2d8c6e0a3f",
        "TWILIO_ACCOUNT_SID": "ACd3e0a1b2c3d4e5f6d3e0a1b2c3d4e5f6",
        "TWILIO_AUTH_TOKEN": "0d3e4f5a6b7c8d9e0d3e4f5a6b7c8d9e",
        "TOKEN_VAULT_URL": "http://127.0.0.1:8765/token-vault.standin.local",
        "TOKEN_VAULT_ENCRYPTION_KEY": vault_key,
        "TOKEN_VAULT_ACTOR": "readiness-probe:service:sandbox",
        "GHL_PROXY_URL": "http://127.0.0.1:8765/ghl-proxy.standin.local",
        "GHL_PROXY_API_KEY": "ghlpx_demo_NotReal_9b2e7c4a1f6d",
        "GHL_TEST_LOCATION_IDS": "ve9EPM428h8vShlRW1KT,Kx2pQ7mN4bV8cZ1aR6tY",
    }
    assert [ln.split("=", 1)[0].removeprefix("export ") for ln in lines] == list(expected)
    assert {name: evaluated.get(name) for name in expected} == expected


def test_standins_print_env_needs_a_port(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "checks.shell.cli",
            "standins",
            "--print-env",
            "--port",
            "0",
            "--dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2 and "--print-env needs the port" in done.stderr
