"""Kill refresher processes with SIGKILL mid-cycle and count the credentials the crash cost.

Shared by ``test_refresh_crash.py`` (a few kills) and ``tests/bench/refresh_kill.py`` (many). One *run*:
a refresher process (``refresh_kill_worker.py``) starts refreshing every due credential against a token
endpoint stand-in on loopback and is killed with SIGKILL; a second process, its clock past the dead one's
lease, then does what is left; a credential that ends in ``needs_reauth`` was lost to the crash. Each run
moves the clock two days on, so every credential is due again; a lost one is re-granted (a user consenting
again) before the next run.

Kill modes: ``random`` (a uniform delay within the time an unkilled run takes, measured by a first,
unkilled calibration run) and ``window`` (inside the stand-in, after it issued the ``kill_on``-th new token
and before it answers: the irreducible window, hit on purpose).
"""

from __future__ import annotations

import base64
import json
import os
import random
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from checks.standins.oauth import GhlOAuthStandin, GoogleOAuthStandin, MicrosoftOAuthStandin
from checks.standins.server import StandinServer
from vault import Actor, Role, StaticKeySource, Vault

KEY = bytes(range(40, 72))
ADMIN = Actor("ada", Role.ADMIN)
TENANT_ID = "7f3c1a52-8d4e-4b8a-9c1e-2f6b7d9e0a13"
WORKER = Path(__file__).with_name("refresh_kill_worker.py")
RUN_SPACING = timedelta(days=2)  # longer than any stand-in token lives (GHL: a day)
PAST_LEASE = timedelta(minutes=3)  # the refresher's default lease is two minutes
INTERRUPTED = "interrupted"

_CLASSES = {"ghl": GhlOAuthStandin, "microsoft": MicrosoftOAuthStandin, "google": GoogleOAuthStandin}
_CLIENTS = {
    "ghl": "66f1e2d3c4b5a69788-mkill",
    "microsoft": "0d2f4b6a-1c3e-4a5b-8d7f-9e0a1b2c3d4e",
    "google": "123456789012-kill.apps.googleusercontent.com",
}


class OffsetClock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def killing_standin(provider: str) -> Any:
    """The provider's stand-in (GHL rotates and retires; Microsoft rotates and keeps the old token valid;
    Google does not rotate), able to kill ``victim`` right after issuing its ``kill_on``-th new token."""
    base = _CLASSES[provider]

    class Killing(base):  # type: ignore[valid-type,misc]
        victim: subprocess.Popen[str] | None = None
        kill_on: int | None = None
        served = 0

        def _refreshed(self, token: str, grant: Any, *, omit: bool) -> Any:
            answer = super()._refreshed(token, grant, omit=omit)
            self.served += 1
            if self.victim is not None and self.served == self.kill_on:
                self.victim.kill()  # the new token now lives only in the stand-in and in nobody's vault
                self.victim.wait()
            return answer

    return Killing()


@dataclass
class KillResult:
    db: str
    provider: str
    credentials: int
    mode: str
    runs: int = 0
    kills: int = 0
    lost: int = 0
    lost_explained: int = 0
    errors: list[str] = field(default_factory=list)
    per_run: list[dict[str, Any]] = field(default_factory=list)
    calibration_s: float | None = None
    wall_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def kill_runs(
    db_url: str,
    *,
    provider: str = "ghl",
    n: int = 40,
    runs: int = 3,
    mode: str = "random",
    seed: int = 0,
    timeout: float = 120.0,
) -> KillResult:
    """``runs`` killed runs (after one unkilled calibration run in ``random`` mode); see the module doc."""
    rng = random.Random(seed)
    client_id, secret = _CLIENTS[provider], "sec-" + secrets.token_urlsafe(24)
    standin = killing_standin(provider)
    extra = {"tenant": TENANT_ID} if provider == "microsoft" else {}
    standin.register_client(client_id, secret, **extra)
    clock = OffsetClock()
    result = KillResult(db=db_url.split(":")[0].split("+")[0], provider=provider, credentials=n, mode=mode)
    started = time.perf_counter()
    vault = Vault.init(db_url, StaticKeySource(KEY), clock)
    env = {
        **os.environ,
        "TOKEN_VAULT_ENCRYPTION_KEY": base64.b64encode(KEY).decode(),
        "REFRESH_WORKER_CLIENT_SECRET": secret,
        "REFRESH_WORKER_TENANT": TENANT_ID,
    }
    try:
        with StandinServer([standin]) as server:
            accounts = [f"acct_{i:04d}" for i in range(n)]
            for account in accounts:
                _consent(vault, standin, clock, provider, account, client_id, timedelta(0))
            total_runs = runs + (1 if mode == "random" else 0)
            for r in range(total_runs):
                base = RUN_SPACING * r
                calibrating = mode == "random" and r == 0
                # both processes start together (imports take seconds on a busy machine); the restart
                # waits for its "go" until the first one is dead
                worker = _spawn(db_url, server.url, provider, client_id, base, f"k{r}", env)
                restart = _spawn(db_url, server.url, provider, client_id, base + PAST_LEASE, f"r{r}", env)
                _ready(worker)
                _ready(restart)
                standin.served = 0
                if mode == "window" and not calibrating:
                    standin.victim, standin.kill_on = worker, rng.randint(1, n)
                t0 = time.perf_counter()
                _go(worker)
                killed = False
                if calibrating:
                    _finish(worker, timeout)
                    result.calibration_s = time.perf_counter() - t0
                elif mode == "random":
                    assert result.calibration_s is not None
                    time.sleep(rng.uniform(0.0, result.calibration_s))
                    killed = worker.poll() is None
                    worker.kill()
                    worker.wait()
                else:
                    deadline = time.monotonic() + timeout
                    while worker.poll() is None and time.monotonic() < deadline:
                        time.sleep(0.01)
                    killed = worker.returncode == -9
                    standin.victim = None
                    if worker.poll() is None:
                        worker.kill()
                        worker.wait()
                _go(restart)
                after = _finish(restart, timeout)
                lost = [i for i in vault.list(ADMIN) if i.state == "needs_reauth"]
                explained = [i for i in lost if INTERRUPTED in (i.last_refresh_error or "")]
                if not calibrating:
                    result.runs += 1
                    result.kills += killed
                    result.lost += len(lost)
                    result.lost_explained += len(explained)
                    result.errors += [i.last_refresh_error or "" for i in lost]
                    result.per_run.append({"killed": killed, "lost": len(lost), "restart": after})
                for info in lost:  # the user consents again
                    _consent(vault, standin, clock, provider, info.account, client_id, base + RUN_SPACING)
            result.wall_s = round(time.perf_counter() - started, 2)
            _check_survivors(vault, standin, provider, accounts)
    finally:
        vault.close()
    return result


def _consent(
    vault: Vault, standin: Any, clock: OffsetClock, provider: str, account: str, client_id: str, at: timedelta
) -> None:
    """A grant stored as if issued 55 minutes before ``at`` with an hour's life: due at ``at``."""
    extra = {"tenant": TENANT_ID} if provider == "microsoft" else {}
    refresh = standin.grant(account, client_id, **extra)
    clock.offset = at - timedelta(minutes=55)
    vault.put(
        ADMIN,
        "acme",
        provider,
        account,
        "old-access-" + secrets.token_urlsafe(16),
        refresh,
        expires_at=datetime.now(UTC) + at + timedelta(minutes=5),
    )
    clock.offset = timedelta(0)


def _spawn(
    db_url: str, url: str, provider: str, client_id: str, offset: timedelta, owner: str, env: dict[str, str]
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), db_url, url, provider, client_id, str(offset.total_seconds()), owner],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _ready(worker: subprocess.Popen[str]) -> None:
    assert worker.stdout is not None
    line = worker.stdout.readline().strip()
    if line != "ready":
        worker.kill()
        raise RuntimeError(f"refresher worker did not start: {line} {worker.stderr.read() if worker.stderr else ''}")


def _go(worker: subprocess.Popen[str]) -> None:
    assert worker.stdin is not None
    worker.stdin.write("go\n")
    worker.stdin.flush()


def _finish(worker: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    out, err = worker.communicate(timeout=timeout)
    if worker.returncode != 0:
        raise RuntimeError(f"refresher worker failed ({worker.returncode}): {err[-2000:]}")
    return dict(json.loads(out.strip().splitlines()[-1]))


def _check_survivors(vault: Vault, standin: Any, provider: str, accounts: list[str]) -> None:
    """Every active credential holds a refresh token the provider still honours."""
    for info in vault.list(ADMIN):
        if info.state != "active":
            continue
        with vault.get(ADMIN, info.tenant, info.id) as tokens:
            assert tokens.refresh_token is not None
            assert standin.is_live(tokens.refresh_token.reveal()), f"{info.account} holds a dead refresh token"
