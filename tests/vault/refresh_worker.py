"""One refresher process for the multi-process test in ``test_refresh.py`` (not a test module itself).

Usage: ``python tests/vault/refresh_worker.py DB_URL STANDINS_URL OWNER PROVIDER CLIENT_ID [BATCH]``, with
``TOKEN_VAULT_ENCRYPTION_KEY`` (the vault key, base64) and ``REFRESH_WORKER_CLIENT_SECRET`` in the
environment (never on the command line). Opens the vault, prints ``ready``, waits for a line on stdin
(so all workers start together), runs one refresh cycle and prints its counts as one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import time

from vault import Actor, Role, SystemClock, Vault
from vault.keys import EnvKeySource
from vault.refresh import ProviderEndpoint, Refresher, standins_rewriter

_FACTORIES = {"google": ProviderEndpoint.google, "ghl": ProviderEndpoint.ghl}


def main(argv: list[str]) -> int:
    db_url, standins_url, owner, provider, client_id = argv[:5]
    batch = int(argv[5]) if len(argv) > 5 else 10
    secret = os.environ.pop("REFRESH_WORKER_CLIENT_SECRET")
    endpoint = _FACTORIES[provider](client_id, secret)
    vault = Vault.open(db_url, EnvKeySource())
    refresher = Refresher(
        vault,
        Actor(f"refresher-{owner}", Role.ADMIN),
        clock=SystemClock(),
        endpoints={provider: endpoint},
        owner=owner,
        batch=batch,
        url_rewriter=standins_rewriter(standins_url),
    )
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    report = refresher.run_once()
    elapsed = time.perf_counter() - started
    refresher.close()
    vault.close()
    print(
        json.dumps(
            {
                "owner": owner,
                "elapsed_s": elapsed,
                "refreshed": report.refreshed,
                "skipped_already_fresh": report.skipped_already_fresh,
                "needs_reauth": report.needs_reauth,
                "backed_off": report.backed_off,
                "errors": report.errors,
                "ids": [o.credential_id for o in report.outcomes if o.result == "refreshed"],
                "results": sorted({o.result for o in report.outcomes}),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
