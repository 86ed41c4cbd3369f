"""A hostile provider reflects everything we send; no secret may come back out by any route.

Every stand-in of the demo world is switched to the hostile scenario (checks/standins/hostile.py): it
echoes request headers, query strings and bodies raw, base64, URL-encoded, JSON-escaped and hex, in JSON,
HTML and plain text, after fillers that make them straddle every cut. The vault holds the sandbox test
accounts' tokens, which the calendar probes reveal and send. Then every command and output is searched for
every form of every secret: ``check`` in each format, ``history``, ``report`` (Markdown and HTML),
``vault list``, the history/vault database's bytes on disk and the dashboard's pages.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from streamlit.testing.v1 import AppTest

from checks.core.clock import FixedClock
from checks.shell.demo import _init_vault, db_url
from checks.standins import demo_config, demo_environment, demo_server
from checks.standins.hostile import forms_reflected

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 10, 17, 12, tzinfo=UTC)
WINDOW = 14  # no piece of a secret's form this long may appear anywhere


def secret_forms(config) -> dict[str, str]:
    """form -> which secret it is a form of, for every secret of the demo world."""
    forms: dict[str, str] = {}
    for secret in config.secret_values():
        name = secret[:6] + "…"
        for form in {*forms_reflected(secret), quote_plus(secret), json.dumps(json.dumps(secret))}:
            forms[form] = name
    pair = f"{config.twilio_account_sid}:{config.twilio_auth_token}"
    # the Basic header's base64, from the first group that carries auth-token bytes (the SID is not secret)
    start = (len(config.twilio_account_sid) + 1) // 3 * 4 + 4
    forms[base64.b64encode(pair.encode()).decode()[start:]] = "twilio basic"
    return forms


def leaks(text: str, forms: dict[str, str]) -> list[str]:
    """Each secret of which a piece of WINDOW characters (of any form) is in ``text``."""
    found = set()
    for form, name in forms.items():
        if len(form) < WINDOW:
            if form in text:
                found.add(name)
            continue
        for i in range(0, len(form) - WINDOW + 1):
            if form[i : i + WINDOW] in text:
                found.add(f"{name} ({form[:4]}… at {i})")
                break
    return sorted(found)


def attest_everything(url: str) -> None:
    from checks import Attestation, load_manifest
    from checks.storage.history import Store

    manifest = load_manifest(ROOT / "readiness.toml")
    manual = [c for c in manifest.checks if c.kind == "manual"]
    store = Store.open(url)
    for item in sorted({c.params.get("attest") or c.item for c in manual}):
        on_item = [set(c.params["pass_on"]) for c in manual if (c.params.get("attest") or c.item) == item]
        status = sorted(set.intersection(*on_item))[0]
        store.add_attestation(Attestation(item=item, status=status, by="rohan", at=NOW))
    store.close()


@pytest.fixture(scope="module")
def hostile_world(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hostile")
    config = demo_config(directory)
    with demo_server(config=config) as server:
        _init_vault(server, config, FixedClock(NOW), directory)
        attest_everything(db_url(directory))  # so every probe runs, the calendar probes with vault tokens
        server.hostile = True
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("READINESS_DB", "TOKEN_VAULT_"))},
            **demo_environment(server.url, config=config),
            "READINESS_DB_URL": db_url(directory),
            "COLUMNS": "200",
        }
        outputs: dict[str, str] = {}

        def cli(name: str, *args: str, ok=(0, 1)) -> str:
            proc = subprocess.run(
                [sys.executable, "-m", "checks.shell.cli", *args],
                env=env,
                cwd=directory,
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert proc.returncode in ok, (name, proc.returncode, proc.stderr[-2000:])
            outputs[name] = proc.stdout + proc.stderr
            return proc.stdout

        manifest = str(ROOT / "readiness.toml")
        cli("check json", "check", "--manifest", manifest, "--format", "json")
        for fmt in ("junit", "markdown", "table"):
            cli(f"check {fmt}", "check", "--manifest", manifest, "--format", fmt, "--no-record")
        cli("history", "history")
        cli("history json", "history", "--format", "json")
        check = "sandbox.twilio.account"
        cli("history check", "history", "--check", check, "--format", "json")
        cli("report md", "report", "--manifest", manifest, "--format", "md")
        html_file = directory / "report.html"
        cli("report html", "report", "--manifest", manifest, "--format", "html", "-o", str(html_file))
        outputs["report html file"] = html_file.read_text()
        cli("vault list", "vault", "list", "--as", "auditor:auditor", ok=(0,))
        cli("vault list json", "vault", "list", "--as", "auditor:auditor", "--format", "json", ok=(0,))
        reflected = server.reflector().reflected
        yield config, env, directory, outputs, reflected


def test_the_hostile_stand_in_reflects_what_it_is_sent(hostile_world):
    config, _, _, outputs, reflected = hostile_world
    assert reflected >= 10  # the probes really met the hostile scenario
    run = json.loads(
        outputs["check json"].split("\n", 1)[1] if not outputs["check json"].startswith("{") else outputs["check json"]
    )
    probes = [r for r in run["results"] if r["kind"] not in ("env", "manual")]
    assert probes and not any(r["status"] == "pass" for r in probes if r["id"].startswith("sandbox.twilio"))
    # what the providers said is still shown (scrubbed), not dropped: the release manager sees the echo
    excerpts = " ".join(json.dumps(r["evidence"]) for r in probes)
    assert "you sent" in excerpts


@pytest.mark.parametrize(
    "name",
    [
        "check json",
        "check junit",
        "check markdown",
        "check table",
        "history",
        "history json",
        "history check",
        "report md",
        "report html",
        "report html file",
        "vault list",
        "vault list json",
    ],
)
def test_no_secret_in_any_command_output(hostile_world, name):
    config, _, _, outputs, _ = hostile_world
    assert not leaks(outputs[name], secret_forms(config)), name


def test_no_secret_in_the_database_bytes(hostile_world):
    config, _, directory, _, _ = hostile_world
    blob = b"".join(p.read_bytes() for p in directory.glob("*.db*"))
    assert blob  # the run was recorded
    text = blob.decode("latin-1")
    assert not leaks(text, secret_forms(config))


def test_markdown_report_is_inert(hostile_world):
    _, _, _, outputs, _ = hostile_world
    md = outputs["report md"] + outputs["check markdown"]
    assert "<html" not in md and "<pre>" not in md and "<!--" not in md  # the provider's HTML is escaped
    assert "&lt;pre&gt;" in md or "you sent" in md


def test_no_secret_on_the_dashboard(hostile_world, monkeypatch):
    config, env, directory, _, _ = hostile_world
    for name, value in env.items():
        if name.startswith(("READINESS_", "TOKEN_VAULT_", "GOOGLE_", "MICROSOFT_", "TWILIO_", "RETELL_", "GHL_")):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("READINESS_MANIFEST", str(ROOT / "readiness.toml"))
    monkeypatch.setenv("READINESS_DASHBOARD_ROLE", "auditor")
    from tests.dashboard.test_pages import DASH, PAGES, everything

    at = AppTest.from_file(str(DASH / "app.py"), default_timeout=60).run()
    assert not at.exception
    seen = [everything(at)]
    for page in PAGES[1:]:
        at.switch_page(page).run()
        assert not at.exception, page
        seen.append(everything(at))
    blob = "\n".join(seen)
    # Every stored summary, reflections included, is on the pages (which answers reflect what depends on the
    # order requests reach the stand-in, so the test does not name one), and no secret is.
    from checks.storage.history import Store

    with Store.open(env["READINESS_DB_URL"]) as store:
        run = store.latest_run()
    assert run is not None and len(run.results) > 20

    def bare(text: str) -> str:  # the page's element dump escapes quotes
        return re.sub(r"[\\\"']", "", text)

    missing = [r.id for r in run.results if bare(r.result.summary) not in bare(blob)]
    assert missing == []
    assert not leaks(blob, secret_forms(config))


def test_standins_command_serves_the_hostile_scenario(tmp_path):
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "checks.shell.cli",
            "standins",
            "--scenario",
            "hostile",
            "--port",
            str(port),
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                health = httpx.get(f"{url}/_standins/health", timeout=1).json()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert health["hostile"] is True
        answer = httpx.get(
            f"{url}/api.twilio.com/2010-04-01/Accounts/AC1.json",
            headers={"Authorization": "Basic QUMxOnRva2VuLXZhbHVl"},
        )
        assert "QUMxOnRva2VuLXZhbHVl" in answer.text and "AC1:token-value" in answer.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
