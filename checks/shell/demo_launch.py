"""Launching the demo's dashboard: the Streamlit command, waiting until it answers, stopping it cleanly."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

__all__ = []


# ------------------------------------------------------------------------------------------ launching


def streamlit_command(*, port: int, address: str) -> list[str]:
    """``streamlit run`` of the dashboard app: headless (the caller opens a browser), no usage statistics, and
    the toolbar in viewer mode (no "Deploy" button, no developer menu: this is a product, not a sketch)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(dashboard_app()),
        "--server.port", str(port),
        "--server.address", address,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
    ]  # fmt: skip


def dashboard_app() -> Path:
    """The dashboard's ``app.py`` (``dashboard.app_path()``; found through the package's path when an editable
    install made before the package existed sees it as a namespace package)."""
    import dashboard

    finder = getattr(dashboard, "app_path", None)
    if callable(finder):
        return Path(finder())
    return Path(next(iter(dashboard.__path__))) / "app.py"


def wait_until_up(url: str, *, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None) -> bool:
    """Poll ``url`` (e.g. Streamlit's ``/_stcore/health``) until it answers 200; False on timeout or when
    ``process`` exits first."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0, trust_env=False).status_code == 200:
                return True
        time.sleep(0.25)
    return False


def run_until_interrupted(process: subprocess.Popen[bytes]) -> int:
    """Wait for ``process``; on Ctrl-C (or any exit from here) stop it, politely first. Returns its exit code."""
    try:
        return process.wait()
    except KeyboardInterrupt:
        return stop_process(process)
    finally:
        if process.poll() is None:
            stop_process(process)


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> int:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()
