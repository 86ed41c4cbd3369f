"""History for the dashboard tests, made by the real engine over fixed dates (as in tests/checks/test_report.py).

Week 0 (Oct 6): nothing registered, only the GHL proxy configured; checkpoint "Week 0".
Week 1 (Oct 11): apps created, Google submitted (effective Oct 7), sandboxes requested, vault design in
review, variables set except the GHL proxy key (a placeholder), the GHL check waived; checkpoint "Week 1".
Oct 15: the same again; Google has waited more than 7 days, so the OAuth escalation is in force.
Week 2 (Oct 18, only with ``weeks=2``): approvals, vault live, development configured; Twilio denied.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from checks import Attestation, FixedClock, Waiver, load_manifest, sweep
from checks.presentation.report_build import record_checkpoint
from checks.storage.history import Store
from tests.valid_env import VALID_ENV

ROOT = Path(__file__).resolve().parents[2]
STORY_MANIFEST = Path(__file__).parents[1] / "fixtures" / "story_manifest.toml"
"""The STORY-ONB-05 manifest as the engine first shipped it (env and manual checks only), frozen here so the
figures below do not move when provider probes join ``readiness.toml``; one page test runs the real one."""
W0 = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)
W1 = datetime(2025, 10, 11, 9, 0, tzinfo=UTC)
D15 = datetime(2025, 10, 15, 9, 0, tzinfo=UTC)
W2 = datetime(2025, 10, 18, 9, 0, tzinfo=UTC)
# Provider probes the manifest may gain go to a closed loopback port, never to the Internet.
NOWHERE = {"READINESS_STANDINS_URL": "http://127.0.0.1:9"}
PROXY_ONLY = {**NOWHERE, **{k: VALID_ENV[k] for k in ("GHL_PROXY_URL", "GHL_PROXY_API_KEY")}}
WEEK1_ENV = {**NOWHERE, **VALID_ENV, "GHL_PROXY_API_KEY": "changeme"}
WEEK2_ENV = {**NOWHERE, **VALID_ENV}
SANDBOXES = ["google_workspace", "microsoft365", "retell", "twilio", "ghl"]
BY = "rohan"


def copy_manifest(directory: Path, source: Path = STORY_MANIFEST) -> Path:
    """The story's manifest (or ``source``), copied where no ``.env`` sits next to it."""
    target = directory / "readiness.toml"
    shutil.copyfile(source, target)
    return target


def run_at(manifest, store, at, environ):
    return sweep(manifest, store=store, clock=FixedClock(at), environ=environ, env_file=os.devnull)


def attest(store, item, status, at, effective=None, note=""):
    store.add_attestation(Attestation(item, status, BY, at, note=note, effective=effective))


def make_history(db_url: str, manifest_path: Path, weeks: int = 1) -> None:
    manifest = load_manifest(manifest_path)
    store = Store.open(db_url)
    try:
        run_at(manifest, store, W0, PROXY_ONLY)
        record_checkpoint(manifest, store, title="Week 0", now=W0 + timedelta(hours=1))

        day = datetime(2025, 10, 8, 10, 0, tzinfo=UTC)
        attest(store, "oauth.google", "created", day - timedelta(days=1), effective=date(2025, 10, 6))
        attest(store, "oauth.google", "submitted", day, effective=date(2025, 10, 7), note="all documents sent")
        attest(store, "oauth.microsoft", "created", day)
        attest(store, "vault.security_review", "in_review", day)
        for sb in SANDBOXES:
            attest(store, f"sandbox.{sb}", "requested", day)
        store.add_waiver(Waiver("oauth.ghl.validated", "proxy validated next week", BY, W2 + timedelta(days=2), day))
        run_at(manifest, store, W1, WEEK1_ENV)
        record_checkpoint(manifest, store, title="Week 1", now=W1 + timedelta(hours=1))
        run_at(manifest, store, D15, WEEK1_ENV)

        if weeks >= 2:
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
            run_at(manifest, store, W2, WEEK2_ENV)
    finally:
        store.close()


def stop_group(proc) -> None:
    """SIGTERM a process started in its own session (and its children), SIGKILL if it lingers."""
    import os
    import signal
    import subprocess

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
