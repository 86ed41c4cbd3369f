"""``readiness dashboard`` / ``readiness demo`` on an address other machines can reach, as real subprocesses.

A writable role with nobody signing in on a non-loopback address is refused (exit 2, one line, nothing
started) unless ``--allow-unauthenticated-writes`` says it is meant; then the dashboard really serves.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.dashboard.story import copy_manifest, stop_group

REFUSAL = "refusing to serve a writable dashboard"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The test's environment without the dashboard's variables; HOME points at ``home`` so no
    ``~/.streamlit/secrets.toml`` of the machine's decides whether an identity provider is configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("READINESS_", "TOKEN_VAULT_"))}
    return {**env, "HOME": str(home), **extra}


def readiness(*args: str, cwd: Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "checks.shell.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize(
    ("address", "role_args", "env_role"),
    [
        ("0.0.0.0", ["--role", "release_manager"], None),
        ("::", ["--role", "admin"], None),
        ("0.0.0.0", [], "admin"),  # the role from READINESS_DASHBOARD_ROLE
    ],
    ids=["ipv4-any-release-manager", "ipv6-any-admin", "role-from-environment"],
)
def test_dashboard_refuses_unauthenticated_writes_off_loopback(tmp_path, address, role_args, env_role):
    port = free_port()
    extra = {"READINESS_DASHBOARD_ROLE": env_role} if env_role else {}
    started = time.monotonic()
    done = readiness(
        "dashboard",
        "--address",
        address,
        "--port",
        str(port),
        *role_args,
        cwd=tmp_path,
        env=clean_env(tmp_path, **extra),
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert REFUSAL in lines[0] and "without sign-in" in lines[0] and "--allow-unauthenticated-writes" in lines[0]
    assert "Traceback" not in done.stderr
    assert "Dashboard on" not in done.stdout  # refused before anything was started
    assert not listening(port)
    assert time.monotonic() - started < 30


def test_demo_refuses_unauthenticated_writes_off_loopback(tmp_path):
    port = free_port()
    directory = tmp_path / "demo"
    done = readiness(
        "demo", "--no-browser", "--address", "0.0.0.0", "--port", str(port), "--dir", str(directory),
        cwd=tmp_path, env=clean_env(tmp_path),
    )  # fmt: skip
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert REFUSAL in done.stderr and "--allow-unauthenticated-writes" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not directory.exists()  # no stand-ins, no history built
    assert not listening(port)


@pytest.mark.parametrize("with_auth", [False, True], ids=["no-auth-section", "auth-section"])
def test_identity_provider_is_detected_from_streamlit_secrets(tmp_path, with_auth):
    if with_auth:
        (tmp_path / ".streamlit").mkdir()
        (tmp_path / ".streamlit" / "secrets.toml").write_text(
            '[auth]\nredirect_uri = "https://readiness.example/oauth2callback"\ncookie_secret = "x"\n'
            'client_id = "id"\nclient_secret = "s"\n'
            'server_metadata_url = "https://accounts.example/.well-known/openid-configuration"\n'
        )
    done = subprocess.run(
        [sys.executable, "-c", "from checks.shell.access import identity_provider_configured as f; print(f())"],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == str(with_auth), done.stderr


def test_override_flag_serves_for_real(tmp_path):
    port = free_port()
    manifest = copy_manifest(tmp_path)
    log = tmp_path / "dashboard.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "checks.shell.cli", "dashboard",
                "--address", "0.0.0.0", "--port", str(port), "--role", "release_manager",
                "--allow-unauthenticated-writes",
                "--manifest", str(manifest), "--db", f"sqlite:///{tmp_path / 'h.db'}",
            ],
            cwd=tmp_path,
            env=clean_env(tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        assert f"Dashboard on http://0.0.0.0:{port} as release_manager" in log.read_text()
    finally:
        stop_group(proc)
    assert not listening(port)
