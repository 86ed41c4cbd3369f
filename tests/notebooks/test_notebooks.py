"""The notebooks are committed without outputs, and both execute headless (papermill) against a history
database the provider stand-ins produce.

The history comes from :func:`checks.shell.demo.build_demo` (the real checks swept against the demo stand-ins
through the scripted three weeks, one sweep a day here). Where the demo is not available, the fallback
runs the real engine over fixed dates against the stand-ins, as ``tests/checks/test_report.py`` does.

The kernel: papermill runs the notebooks with ``kernel_name="python3"``. jupyter_client resolves that
name to the native kernel of the interpreter running the tests (ipykernel, installed by the ``[dev]``
extra, ships its spec with the package), and starts it with ``sys.executable``; nothing is installed in
the user's Jupyter directories. Jupyter's data, config and runtime directories and IPython's point under
``tmp_path`` while a notebook runs, so a user's own ``python3`` kernel cannot shadow this one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WEEKLY = ROOT / "notebooks" / "weekly_checkpoint.ipynb"
HISTORY = ROOT / "notebooks" / "history_analysis.ipynb"
KERNEL = "python3"
PLOTLY = "application/vnd.plotly.v1+json"
LOGIC = re.compile(r"^\s*(def|class|for|while|if|elif|try|with|lambda)\b|^\s*@", re.M)


# ------------------------------------------------------------------------------ committed without outputs


def test_both_notebooks_are_there():
    assert WEEKLY in NOTEBOOKS and HISTORY in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    dirty = [n for n, c in enumerate(code) if c.outputs or c.execution_count is not None]
    assert not dirty, f"{path.name}: code cells {dirty} keep outputs or execution counts; clear them before committing"
    assert nb.metadata["kernelspec"]["name"] == KERNEL


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_parameters_cell_and_no_logic_in_cells(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code", "papermill needs one cell tagged `parameters`"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not LOGIC.search(cell.source), f"{path.name}: logic in a cell, move it to checks:\n{cell.source}"


# ------------------------------------------------------------------------------------------- the history


@dataclass(frozen=True)
class History:
    db_url: str
    manifest: Path
    secrets: list[str]
    source: str
    """``demo`` or ``sweeps`` (the fallback)."""
    seconds: float


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> History:
    """One history database for the module, made by the real checks against the stand-ins."""
    directory = tmp_path_factory.mktemp("notebook-history") / "demo"
    started = time.monotonic()
    try:
        from checks.shell.demo import build_demo, db_url
        from checks.standins import demo_config, demo_server
    except ImportError:
        return _sweeps(directory.parent, started)
    with demo_server(directory) as server:
        build_demo(directory, server=server, step_hours=24, manifest=ROOT / "readiness.toml")
    return History(
        db_url(directory),
        directory / "readiness.toml",
        list(demo_config(directory).secret_values()),
        "demo",
        time.monotonic() - started,
    )


def _providers() -> list:
    """Every provider stand-in that can be made without arguments (the fallback's world)."""
    import importlib

    names = {
        "ghl": ["GhlProxyStandin"],
        "google": ["GoogleAccountsStandin", "ServiceUsageStandin", "BusinessAccountsStandin", "CalendarStandin"],
        "microsoft": ["GraphStandin"],
        "oauth": ["GoogleOAuthStandin", "MicrosoftOAuthStandin", "GhlOAuthStandin"],
        "retell": ["RetellStandin"],
        "twilio": ["TwilioStandin"],
        "secretmanager": ["SecretManagerStandin"],
    }
    out = []
    for module, classes in names.items():
        try:
            mod = importlib.import_module(f"checks.standins.{module}")
        except ImportError:
            continue
        for name in classes:
            try:
                out.append(getattr(mod, name)())
            except (AttributeError, TypeError):
                continue
    return out


def _sweeps(directory: Path, started: float) -> History:
    """The fallback: three weeks of real sweeps over fixed dates against the stand-ins (no demo module)."""
    from checks import Attestation, FixedClock, Waiver, load_manifest, sweep
    from checks.presentation.report_build import record_checkpoint
    from checks.standins import StandinServer
    from checks.storage.history import Store
    from tests.valid_env import VALID_ENV

    manifest_path = directory / "readiness.toml"
    shutil.copyfile(ROOT / "readiness.toml", manifest_path)  # no .env sits next to the copy
    manifest = load_manifest(manifest_path)
    url = f"sqlite:///{directory / 'readiness.db'}"
    w0 = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)
    sandboxes = ["google_workspace", "microsoft365", "retell", "twilio", "ghl"]
    with StandinServer(_providers()) as server, Store.open(url) as store:
        routed = {"READINESS_STANDINS_URL": server.url}
        proxy_only = {**routed, **{k: VALID_ENV[k] for k in ("GHL_PROXY_URL", "GHL_PROXY_API_KEY")}}
        week1 = {**routed, **VALID_ENV, "GHL_PROXY_API_KEY": "changeme"}
        week2 = {**routed, **VALID_ENV}

        def run(at, environ):
            sweep(manifest, store=store, clock=FixedClock(at), environ=environ, env_file=os.devnull)

        def attest(item, status, at):
            store.add_attestation(Attestation(item, status, "rohan", at))

        run(w0, proxy_only)
        run(w0 + timedelta(days=1), proxy_only)
        record_checkpoint(manifest, store, title="Week 0", now=w0 + timedelta(days=1, hours=1))
        day = w0 + timedelta(days=2)
        attest("oauth.google", "submitted", day)
        attest("oauth.microsoft", "created", day)
        attest("vault.security_review", "in_review", day)
        for sb in sandboxes:
            attest(f"sandbox.{sb}", "requested", day)
        store.add_waiver(Waiver("oauth.ghl.validated", "validated next week", "rohan", w0 + timedelta(days=14), day))
        run(w0 + timedelta(days=3), week1)
        run(w0 + timedelta(days=5), week1)
        record_checkpoint(manifest, store, title="Week 1", now=w0 + timedelta(days=5, hours=1))
        day = w0 + timedelta(days=9)
        for item, status in [
            ("oauth.google", "approved"),
            ("oauth.microsoft", "approved"),
            ("vault.security_review", "approved"),
            ("vault.service", "implemented"),
            ("environment.variables", "configured"),
            ("environment.dev_team", "active"),
        ]:
            attest(item, status, day)
        for sb in sandboxes:
            attest(f"sandbox.{sb}", "denied" if sb == "twilio" else "operational", day)
        run(w0 + timedelta(days=10), week2)
        run(w0 + timedelta(days=12), week2)
        record_checkpoint(manifest, store, title="Week 2", now=w0 + timedelta(days=12, hours=1))
    return History(url, manifest_path, secret_env_values(), "sweeps", time.monotonic() - started)


def secret_env_values() -> list[str]:
    """The values in tests/valid_env.py of the variables the manifest calls secret (client ids are not)."""
    from checks import load_manifest
    from tests.valid_env import VALID_ENV

    manifest = load_manifest(ROOT / "readiness.toml")
    secret = set(manifest.iter_secret_env())
    assert {"GOOGLE_OAUTH_CLIENT_SECRET", "TWILIO_AUTH_TOKEN"} <= secret
    return [value for name, value in VALID_ENV.items() if name in secret]


def test_the_history_spans_the_story(history):
    import importlib.util

    from checks.storage.history import Store

    if importlib.util.find_spec("checks.shell.demo") is not None:
        assert history.source == "demo", "checks.shell.demo exists: the history should come from it"

    with Store.open(history.db_url) as store:
        runs = store.runs()
        assert len(runs) >= 6 and len(store.checkpoints()) >= 3
        assert {r.started_at.date() for r in runs} >= {date(2025, 10, 6), date(2025, 10, 11)}


# ------------------------------------------------------------------------------------------- execution


@pytest.fixture
def kernel(tmp_path, monkeypatch) -> str:
    """The kernel name, after checking it resolves to this interpreter's ipykernel.

    Jupyter's data, config and runtime directories and IPython's go under ``tmp_path``: a ``python3`` kernel
    the user installed elsewhere cannot shadow ours, and nothing is written to the user's directories.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    for name, sub in [
        ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("JUPYTER_CONFIG_DIR", "jupyter-config"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
        ("IPYTHONDIR", "ipython"),
    ]:
        monkeypatch.setenv(name, str(tmp_path / sub))
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        pytest.fail("no `python3` Jupyter kernel: `pip install -e '.[dev]'` installs ipykernel, which provides it")
    # jupyter_client starts a spec whose argv[0] is "python" with sys.executable: this interpreter.
    assert spec.argv[0] in ("python", "python3", sys.executable), f"python3 kernel runs {spec.argv[0]}"
    return KERNEL


def execute(notebook: Path, out: Path, parameters: dict, kernel: str) -> nbformat.NotebookNode:
    import papermill

    papermill.execute_notebook(
        str(notebook),
        str(out),
        parameters=parameters,
        kernel_name=kernel,
        cwd=str(out.parent),
        progress_bar=False,
        execution_timeout=180,
    )
    return nbformat.read(out, as_version=4)


def outputs(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def stream_text(nb) -> str:
    return "".join(o.get("text", "") for o in outputs(nb) if o.output_type == "stream")


def html_text(nb) -> str:
    return "".join(o["data"].get("text/html", "") for o in outputs(nb) if "data" in o)


def headings(nb) -> list[str]:
    return [ln for c in nb.cells if c.cell_type == "markdown" for ln in c.source.splitlines() if ln.startswith("#")]


def assert_clean(nb, history):
    outs = outputs(nb)
    assert not [o for o in outs if o.output_type == "error"]
    text = json.dumps(outs)
    leaked = [s for s in [*history.secrets, *secret_env_values()] if s and s in text]
    assert not leaked, f"{len(leaked)} secret value(s) reached the notebook's outputs"


def expected_report(history, checkpoint_date=None):
    from checks import load_manifest
    from checks.shell.notebook import checkpoint_report
    from checks.storage.history import Store

    with Store.open(history.db_url) as store:
        return checkpoint_report(load_manifest(history.manifest), store, checkpoint_date)


@pytest.mark.parametrize("checkpoint_date", [None, "2025-10-11"], ids=["latest", "week1"])
def test_weekly_checkpoint_runs_headless_and_writes_the_report(history, kernel, tmp_path, checkpoint_date):
    report = expected_report(history, checkpoint_date)
    html_path = tmp_path / "reports" / "checkpoint.html"
    nb = execute(
        WEEKLY,
        tmp_path / "weekly.ipynb",
        {
            "manifest_path": str(history.manifest),
            "db_url": history.db_url,
            "checkpoint_date": checkpoint_date,
            "output_html": str(html_path),
        },
        kernel,
    )
    assert headings(nb)[:2] == ["# Weekly checkpoint", "## Verdict"]
    for heading in ["## Changes since the previous checkpoint", "## Charts", "## HTML report"]:
        assert heading in headings(nb)
    text = stream_text(nb)
    assert f"STATUS: {report.status_line}" in text
    assert f"Run {report.run.id[:12]} of {report.run.started_at:%Y-%m-%d %H:%M} UTC" in text
    for reason in report.reasons:
        assert reason in text
    figures = [o for o in outputs(nb) if PLOTLY in o.get("data", {})]
    titles = {o["data"][PLOTLY]["layout"].get("title", {}).get("text") for o in figures}
    assert {"Blocking checks passing", "Areas over time", "Time to green per item"} <= titles
    assert_clean(nb, history)

    html = html_path.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and 'id="trend-chart"' in html
    assert f"STATUS: {report.status_line}" in html and report.decision.value in html
    assert str(html_path) in json.dumps(outputs(nb))  # write_html's result
    for value in [*history.secrets, *secret_env_values()]:
        assert value not in html


def test_history_analysis_runs_headless(history, kernel, tmp_path):
    nb = execute(
        HISTORY,
        tmp_path / "history.ipynb",
        {"db_url": history.db_url, "manifest_path": str(history.manifest)},
        kernel,
    )
    expected = [
        "# History analysis",
        "## Latest run",
        "## Time to green per area",
        "## Time to green per item",
        "## Flaky checks",
        "## Time to recover from regressions",
        "## Provider latency",
        "## Waiver use",
    ]
    assert headings(nb) == expected
    figures = [o["data"][PLOTLY] for o in outputs(nb) if PLOTLY in o.get("data", {})]
    titles = [f["layout"]["title"]["text"] for f in figures]
    assert len(titles) == 6 and titles[0] == "Time to green per area (hours)" and titles[-2] == "Provider latency (ms)"
    latency = figures[-2]
    assert {trace["type"] for trace in latency["data"]} == {"box"}
    tables = html_text(nb)
    for column in ["first_red", "flip_rate", "recovered_at", "p90", "times_used"]:
        assert f"<th>{column}</th>" in tables
    assert "Provider Sandbox Accounts" in tables  # area titles from the manifest
    assert_clean(nb, history)


# ------------------------------------------------------------------------------------ on a fresh clone

BUILT = (
    "No history in sqlite:///./.readiness/readiness.db: built the demo's three scripted weeks against the local "
    "stand-ins (fake credentials) in ./.readiness/demo/"
)
REUSED = (
    "No history in sqlite:///./.readiness/readiness.db: reused the demo's three scripted weeks built against the "
    "local stand-ins (fake credentials) in ./.readiness/demo/"
)


def run_as_is(notebook: Path, cwd: Path, kernel: str) -> tuple[nbformat.NotebookNode, float]:
    """Execute the committed notebook as a newcomer would: no parameter injected, kernel started in ``cwd``."""
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    started = time.monotonic()
    NotebookClient(nb, kernel_name=kernel, timeout=900, resources={"metadata": {"path": str(cwd)}}).execute()
    return nb, time.monotonic() - started


def test_on_a_fresh_clone_both_notebooks_use_the_demo_and_say_so(kernel, tmp_path):
    """No READINESS_DB_URL (the autouse fixture strips it), no ./.readiness: the weekly notebook builds the demo's
    history, the history notebook reuses it; each says which, and draws the verdict as HTML."""
    from checks.presentation.report_html import VERDICT_CLASS
    from checks.standins import demo_config
    from checks.storage.history import Store

    clone = tmp_path / "clone"
    (clone / "notebooks").mkdir(parents=True)
    shutil.copyfile(ROOT / "readiness.toml", clone / "readiness.toml")
    for path in NOTEBOOKS:
        shutil.copyfile(path, clone / "notebooks" / path.name)
    cwd = clone / "notebooks"  # Jupyter starts a notebook's kernel in the notebook's directory
    assert "READINESS_DB_URL" not in os.environ and not (cwd / ".readiness").exists()

    weekly, weekly_s = run_as_is(cwd / WEEKLY.name, cwd, kernel)
    history, history_s = run_as_is(cwd / HISTORY.name, cwd, kernel)
    print(f"fresh clone: weekly_checkpoint {weekly_s:.1f}s (builds the demo), history_analysis {history_s:.1f}s")

    assert BUILT in stream_text(weekly)
    assert REUSED in stream_text(history)
    assert not (cwd / ".readiness" / "readiness.db").exists(), "looking for history created an empty database"
    with Store.open(f"sqlite:///{cwd / '.readiness' / 'demo' / 'readiness.db'}") as store:
        latest = store.latest_run()
    assert latest is not None
    decision = latest.verdict.decision
    secrets = list(demo_config(cwd / ".readiness" / "demo").secret_values())
    for nb in (weekly, history):
        html = html_text(nb)
        assert f'class="verdict {VERDICT_CLASS[decision]}"' in html
        assert decision.value in html
        assert not [o for o in outputs(nb) if o.output_type == "error"]
        text = json.dumps(outputs(nb))
        assert not [v for v in secrets if v and v in text], "a demo secret reached the outputs"
    assert "STATUS: " in html_text(weekly)
