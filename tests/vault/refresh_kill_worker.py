"""One refresher process for the kill tests (``test_refresh_crash.py``, ``tests/bench/refresh_kill.py``).

Usage: ``python tests/vault/refresh_kill_worker.py DB_URL STANDINS_URL PROVIDER CLIENT_ID OFFSET_S OWNER``
with ``TOKEN_VAULT_ENCRYPTION_KEY`` (base64) and ``REFRESH_WORKER_CLIENT_SECRET`` in the environment.
The clock is the wall clock plus ``OFFSET_S`` seconds, so a test can move a "restarted" refresher past the
dead one's lease, or a whole run a day ahead so every credential is due again, without sleeping.
Opens the vault, prints ``ready``, waits for a line on stdin, runs one cycle and prints its counts as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta

from vault import Actor, Role, Vault
from vault.keys import EnvKeySource
from vault.refresh import ProviderEndpoint, Refresher, standins_rewriter


class OffsetClock:
    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def endpoint(provider: str, client_id: str, secret: str) -> ProviderEndpoint:
    if provider == "microsoft":
        return ProviderEndpoint.microsoft(os.environ["REFRESH_WORKER_TENANT"], client_id, secret)
    return {"google": ProviderEndpoint.google, "ghl": ProviderEndpoint.ghl}[provider](client_id, secret)


def main(argv: list[str]) -> int:
    db_url, standins_url, provider, client_id, offset, owner = argv[:6]
    clock = OffsetClock(timedelta(seconds=float(offset)))
    secret = os.environ.pop("REFRESH_WORKER_CLIENT_SECRET")
    vault = Vault.open(db_url, EnvKeySource(), clock)
    refresher = Refresher(
        vault,
        Actor(f"refresher-{owner}", Role.ADMIN),
        clock=clock,
        owner=owner,
        batch=20,
        endpoints={provider: endpoint(provider, client_id, secret)},
        url_rewriter=standins_rewriter(standins_url),
    )
    print("ready", flush=True)
    sys.stdin.readline()
    report = refresher.run_once()
    refresher.close()
    vault.close()
    print(
        json.dumps(
            {
                "owner": owner,
                "refreshed": report.refreshed,
                "needs_reauth": report.needs_reauth,
                "skipped": report.skipped_already_fresh,
                "backed_off": report.backed_off,
                "errors": report.errors,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
